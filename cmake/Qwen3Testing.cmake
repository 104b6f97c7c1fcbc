# qwen3_add_gtest(<name> SOURCES <files...> LIBS <targets...> [ISA_LEVELS [ISA_LEVEL_TESTS <gtest filter>]]
#                 [NAMED_PARAMS] [LABELS <labels...>] [PROPERTIES <property> <value>...])
# One GoogleTest executable per source folder; every TEST becomes its own CTest entry. With
# ISA_LEVELS, tests are registered once more per lower instruction-set level (below): all of them, or
# with ISA_LEVEL_TESTS only those the filter selects. Repeat only tests whose kernels the level
# chooses (select_kernels(Auto), oneDNN): a test that names its kernel table (scalar_kernels(), one
# variant, or every host variant in a loop) computes the same thing, or a subset of it, at every level.
# LABELS and PROPERTIES (RUN_SERIAL, RESOURCE_LOCK, TIMEOUT ...) go to every entry of the executable, at
# every level. NAMED_PARAMS: the parameterized tests name their cases themselves, and CTest uses those
# names as they are (not with the printed parameter value in place of an index).
include(GoogleTest)
find_package(GTest REQUIRED)

# Instruction-set levels the suite runs at besides "auto", whatever CPU it runs on. QWEN3_MAX_ISA caps
# our kernels and, unless ONEDNN_MAX_CPU_ISA is set, oneDNN too (kernels/cpu_features.hpp). Tests of
# these levels are named isa_<level>.<test>.
#   avx2:   AVX2 kernels, oneDNN at AVX2 (no bf16 matmul: bf16 weights prefill on widened tiles)
#   scalar: scalar kernels, oneDNN at SSE4.1, its lowest level
# (The CLI cases set oneDNN's own variables as well: tests/cli/cli_case.cpp.)
set(QWEN3_ISA_LEVELS avx2 scalar)

# Properties of every test that starts MPI processes (mpiexec, srun): one such test at a time, since
# each one oversubscribes the cores with its ranks. Under the sanitizers their processes also unwind
# the stack of each allocation the slow way: Open MPI's libraries have no frame pointers, and the fast
# unwinder loses the caller of their allocations, so that a leak report names no module that
# tests/sanitizers/lsan.supp could match. Every other test keeps the fast unwinder (the slow one made
# allocation-heavy tests such as loading the Qwen3 tokenizer 9x slower under ASan).
set(QWEN3_MPI_TEST_PROPERTIES RESOURCE_LOCK mpi)
if(QWEN3_SANITIZE)
  list(APPEND QWEN3_MPI_TEST_PROPERTIES ENVIRONMENT_MODIFICATION "ASAN_OPTIONS=string_append::fast_unwind_on_malloc=0")
endif()

# main() of every suite binary: GoogleTest's, except that a filter selecting no test fails
# (tests/test_main.cpp says why).
if(NOT TARGET qwen3_test_main)
  add_library(qwen3_test_main STATIC ${PROJECT_SOURCE_DIR}/tests/test_main.cpp)
  target_link_libraries(qwen3_test_main PUBLIC GTest::gtest)
endif()

function(qwen3_add_gtest name)
  cmake_parse_arguments(ARG "ISA_LEVELS;NAMED_PARAMS" "ISA_LEVEL_TESTS" "SOURCES;LIBS;LABELS;PROPERTIES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest qwen3_test_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    QWEN3_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data"
    QWEN3_BUILD_DATA_DIR="${PROJECT_BINARY_DIR}/test_data")
  set(pretty "")
  if(ARG_NAMED_PARAMS)
    set(pretty NO_PRETTY_VALUES)
  endif()
  # Passive OpenMP waiting: ctest -j runs several multi-threaded tests on few cores, and threads
  # spinning at barriers while their partners are descheduled made a 0.1 s test take 5 s.
  gtest_discover_tests(${name} ${pretty} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_WAIT_POLICY=passive"
                       TEST_LIST ${name}_auto_TESTS)
  _qwen3_gtest_properties(${name}_auto_TESTS "${ARG_LABELS}" "${ARG_PROPERTIES}")
  if(ARG_ISA_LEVELS)
    set(_filter)
    if(ARG_ISA_LEVEL_TESTS)
      set(_filter TEST_FILTER "${ARG_ISA_LEVEL_TESTS}")
    endif()
    foreach(level IN LISTS QWEN3_ISA_LEVELS)
      gtest_discover_tests(${name} ${pretty} TEST_PREFIX "isa_${level}." DISCOVERY_TIMEOUT 60 ${_filter}
                           PROPERTIES TIMEOUT 300 TEST_LIST ${name}_${level}_TESTS)
      _qwen3_gtest_properties(${name}_${level}_TESTS "${ARG_LABELS};isa_${level}" "${ARG_PROPERTIES}"
                              "QWEN3_MAX_ISA=${level};OMP_WAIT_POLICY=passive")
    endforeach()
  endif()
endfunction()

# Sets `labels`, `properties` and (optional 4th argument) the ENVIRONMENT list on the tests that
# gtest_discover_tests lists in `list_var`, when ctest reads the tests. (gtest_discover_tests passes its
# PROPERTIES through a command line, which splits a list-valued one such as two labels or two
# variables into separate arguments; a script of our own runs after its own.)
function(_qwen3_gtest_properties list_var labels properties)
  set(environment "")
  if(ARGC GREATER 3)  # (ARGV3 alone would read the caller's fourth argument when there is none)
    set(environment "${ARGV3}")
  endif()
  list(REMOVE_ITEM labels "")
  if(NOT labels AND NOT properties AND NOT environment)
    return()
  endif()
  set(props "")
  if(labels)
    string(APPEND props " LABELS [==[${labels}]==]")
  endif()
  if(environment)
    string(APPEND props " ENVIRONMENT [==[${environment}]==]")
  endif()
  foreach(item IN LISTS properties)
    string(APPEND props " [==[${item}]==]")
  endforeach()
  set(script ${CMAKE_CURRENT_BINARY_DIR}/${list_var}_properties.cmake)
  file(WRITE ${script} "if(${list_var})\n  set_tests_properties(\${${list_var}} PROPERTIES${props})\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${script})
endfunction()

# How tests start MPI jobs on this one machine: more ranks than cores (--oversubscribe), and
# --allow-run-as-root only where the tests run as root (CI containers do). Debian's Open MPI.
find_package(MPI REQUIRED COMPONENTS CXX)
set(QWEN3_MPIEXEC_PREFIX ${MPIEXEC_EXECUTABLE} --oversubscribe)
execute_process(COMMAND id -u OUTPUT_VARIABLE _qwen3_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_qwen3_uid STREQUAL "0")
  list(APPEND QWEN3_MPIEXEC_PREFIX --allow-run-as-root)
endif()
