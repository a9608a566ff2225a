# m1_add_test_binary(NAME SOURCES ... LIBRARIES ...): one GoogleTest binary per library.
# Test suites whose name contains "Gpu" get the ctest label "gpu", all others "cpu". A test that
# calls GTEST_SKIP (e.g. a gpu test without a device) is reported by ctest as skipped, not passed.
include(GoogleTest)

function(m1_add_test_binary name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBRARIES} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    M1_SOURCE_DIR="${PROJECT_SOURCE_DIR}" M1_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
  # Matches gtest's "[  SKIPPED ]" lines; written without brackets or backslashes because the
  # regex passes through generated CMake code, which CMake 4 re-parses.
  set(skip_regex "  SKIPPED ")
  gtest_discover_tests(${name} TEST_PREFIX "${name}." TEST_FILTER "-*Gpu*"
    DISCOVERY_TIMEOUT 60 PROPERTIES LABELS cpu SKIP_REGULAR_EXPRESSION "${skip_regex}")
  gtest_discover_tests(${name} TEST_PREFIX "${name}." TEST_FILTER "*Gpu*"
    DISCOVERY_TIMEOUT 60 PROPERTIES LABELS gpu SKIP_REGULAR_EXPRESSION "${skip_regex}")
endfunction()
