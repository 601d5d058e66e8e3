# SPDX-License-Identifier: MIT
# The performance regression gate (bench/check.c, bench/stats.c, scripts/icount).
# Included from tests/CMakeLists.txt. None of these tests times anything.

# Statistics against published tables and independent computations; bootstrap determinism.
patlab_test(test_gate_stats unit 60 gate/test_stats.c ${PROJECT_SOURCE_DIR}/bench/stats.c)
target_include_directories(test_gate_stats PRIVATE ${PROJECT_SOURCE_DIR}/bench)
target_link_libraries(test_gate_stats PRIVATE m)

if(PATLAB_BUILD_BENCH)
  # `patlab check` on synthetic results: A/A passes, planted slowdowns fail, mismatches exit 2.
  # Cheap, so it runs in every preset (check.c under ASan and TSan too).
  add_test(NAME test_gate_check
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gate/test_check.sh $<TARGET_FILE:patlab_cli>)
  set_tests_properties(test_gate_check PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77)

  # The deterministic mode: callgrind instruction counts, A/A exact and a planted delay caught.
  # Only without sanitizers: valgrind cannot run sanitized binaries, and their counts would
  # mean nothing. The planted paths binary links its own chan.c compiled with the delay
  # ahead of libpatlab.a: the linker then never pulls the archive's chan.o (every symbol it
  # defines is already defined), so only the dispatch differs from the normal build, at the
  # cost of one extra object instead of a second library.
  if(PATLAB_SANITIZE STREQUAL "")
    add_executable(gate_paths_planted ${PROJECT_SOURCE_DIR}/bench/paths.c
      ${PROJECT_SOURCE_DIR}/patterns/chan/chan.c)
    target_compile_definitions(gate_paths_planted PRIVATE PATLAB_PLANT_DELAY_NS=100)
    target_include_directories(gate_paths_planted PRIVATE ${PROJECT_BINARY_DIR}/bench
      ${PROJECT_SOURCE_DIR}/patterns)
    target_link_libraries(gate_paths_planted PRIVATE patlab patlab_warnings)
    add_test(NAME test_gate_icount
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gate/test_icount.sh $<TARGET_FILE:patlab_cli>
        $<TARGET_FILE:patlab_paths> $<TARGET_FILE:gate_paths_planted>
        ${PROJECT_SOURCE_DIR}/scripts/icount)
    set_tests_properties(test_gate_icount PROPERTIES LABELS unit TIMEOUT 300
      SKIP_RETURN_CODE 77)
  endif()
endif()
