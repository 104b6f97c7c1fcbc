# qwen3_add_gtest(<name> SOURCES <files...> LIBS <targets...>)
# One GoogleTest executable per source folder; every TEST becomes its own CTest entry.
include(GoogleTest)
find_package(GTest REQUIRED)

function(qwen3_add_gtest name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    QWEN3_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data"
    QWEN3_BUILD_DATA_DIR="${PROJECT_BINARY_DIR}/test_data")
  # Passive OpenMP waiting: ctest -j runs several multi-threaded tests on few cores, and threads
  # spinning at barriers while their partners are descheduled made a 0.1 s test take 5 s.
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_WAIT_POLICY=passive")
endfunction()
