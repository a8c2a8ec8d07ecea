# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(testbed.up "/work/main/deploy/testbed.sh" "up" "/work/main/build/testbed")
set_tests_properties(testbed.up PROPERTIES  FIXTURES_SETUP "testbed" LABELS "integration" TIMEOUT "600" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;29;add_test;/work/main/tests/CMakeLists.txt;0;")
add_test(testbed.down "/work/main/deploy/testbed.sh" "down" "/work/main/build/testbed")
set_tests_properties(testbed.down PROPERTIES  FIXTURES_CLEANUP "testbed" LABELS "integration" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;31;add_test;/work/main/tests/CMakeLists.txt;0;")
