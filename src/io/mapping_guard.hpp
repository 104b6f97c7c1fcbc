#pragma once
// A checkpoint is read through mmap. If another process truncates a shard while it is mapped, the
// next read of a lost page is SIGBUS, which would end the run with "Bus error" and a core dump. These
// turn it into one line naming the file. Only a fault inside a registered mapping is caught; any other
// SIGBUS keeps its default action.
#include <cstddef>
#include <string>

namespace qwen3 {

// Installs the SIGBUS handler (again: updates the prefix). `prefix` starts each message, e.g.
// "qwen3_mpi: error: rank 1: ". Call once at start-up, before any file is mapped.
void guard_mapped_files(const std::string& prefix);

// MappedFile registers each mapping while it lives. A mapping that finds no free slot (over 1024
// files at once) is simply not guarded.
void register_mapping(const void* begin, std::size_t size, const std::string& path);
void unregister_mapping(const void* begin);

}  // namespace qwen3
