# Helpers that keep every module's CMakeLists.txt short and alike.

# ccd_add_module(NAME SOURCES ... LIBS ...): a static library ccd_<NAME>.
function(ccd_add_module name)
  cmake_parse_arguments(A "" "" "SOURCES;LIBS" ${ARGN})
  add_library(ccd_${name} STATIC ${A_SOURCES})
  target_link_libraries(ccd_${name} PUBLIC ccd_warnings ${A_LIBS})
endfunction()

# ccd_add_test(NAME SOURCES ... LIBS ... LABELS ... [TIMEOUT s] [COST s] [ENV k=v ...]):
# a cmocka (or plain) test executable registered with ctest, linked with the
# shared test helpers (test/common/ccd_test.h: deadlines scaled by
# CCD_TEST_TIMEOUT_MULTIPLIER, wait-until that fails the test).
# Labels: unit | integration, plus threaded for tests that TSan must see.
function(ccd_add_test name)
  cmake_parse_arguments(A "" "TIMEOUT;COST" "SOURCES;LIBS;LABELS;ENV;ARGS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ccd_warnings ccd_testutil PkgConfig::CMOCKA ${A_LIBS})
  add_test(NAME ${name} COMMAND ${name} ${A_ARGS})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT})
  if(A_ENV)
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "${A_ENV}")
  endif()
  # COST: about how many seconds the test takes; ctest -jN starts the costliest first, so a
  # long test does not begin last and stretch the run (a fresh build has no timing history).
  if(A_COST)
    set_tests_properties(${name} PROPERTIES COST ${A_COST})
  endif()
endfunction()

# ccd_add_bench(NAME SOURCES ... LIBS ...): an executable named after the benchmark.
function(ccd_add_bench name)
  cmake_parse_arguments(A "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ccd_warnings ${A_LIBS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endfunction()
