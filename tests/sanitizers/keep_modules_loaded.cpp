// Preloaded into the processes of the sanitized suite (scripts/test_sanitized.sh): dlclose() keeps
// every module loaded. Open MPI 4.1 unloads its components in MPI_Finalize, after which LeakSanitizer
// cannot say which module allocated a block that was never freed, and so cannot match it against
// the suppressions in lsan.supp; with the modules kept, every such report names its library.
extern "C" int dlclose(void*) { return 0; }
