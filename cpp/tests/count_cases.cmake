# Guard run by ctest: ctest must run exactly the Catch2 cases the test executables list. A case
# whose name ctest's discovery mangles (a ';' splits it in two) would otherwise "pass" without
# running anything. Called as
#   cmake -DTEST_EXECUTABLES=a|b|c -DBUILD_DIR=<build root> -DCTEST=<ctest> -P count_cases.cmake
string(REPLACE "|" ";" executables "${TEST_EXECUTABLES}")
set(listed 0)
foreach(exe IN LISTS executables)
  execute_process(COMMAND "${exe}" --list-test-names-only OUTPUT_VARIABLE names RESULT_VARIABLE status)
  if(NOT status GREATER_EQUAL 0)
    message(FATAL_ERROR "${exe} --list-test-names-only failed: ${status}")
  endif()
  string(REPLACE ";" "," names "${names}")  # one line, one list element
  string(REGEX MATCHALL "[^\n]+" lines "${names}")
  list(LENGTH lines count)
  math(EXPR listed "${listed} + ${count}")
endforeach()
execute_process(COMMAND "${CTEST}" -N --test-dir "${BUILD_DIR}" OUTPUT_VARIABLE ctest_list)
if(NOT ctest_list MATCHES "Total Tests: ([0-9]+)")
  message(FATAL_ERROR "cannot read the number of tests from 'ctest -N':\n${ctest_list}")
endif()
math(EXPR registered "${CMAKE_MATCH_1} - 1")  # less this guard
if(NOT registered EQUAL listed)
  message(FATAL_ERROR "ctest has ${registered} Catch2 entries, the executables list ${listed} cases: "
          "a test name is split or lost by discovery (';' in a name?)")
endif()
message(STATUS "ctest runs all ${listed} Catch2 cases")
