# SPDX-License-Identifier: MIT
# Graceful shutdown: the unit test (parser, framer, ledger, shutdown controller, burner,
# workload) and the tests that drive patlab-svc as a real child process. Those two take the
# service binary as their argument, so they are declared here rather than with patlab_test()
# (which adds a test without arguments), with the same properties.
set(gs_dir ${CMAKE_CURRENT_LIST_DIR}/graceful_shutdown)

patlab_test(test_shutdown_unit unit 120 ${gs_dir}/test_shutdown_unit.c)

function(patlab_svc_test name label timeout)
  add_executable(${name} ${ARGN} ${gs_dir}/svc_harness.c)
  target_link_libraries(${name} PRIVATE patlab_testlib patlab)
  add_dependencies(${name} patlab_svc)
  add_test(NAME ${name} COMMAND ${name} $<TARGET_FILE:patlab_svc>)
  set_tests_properties(${name} PROPERTIES LABELS ${label} TIMEOUT ${timeout} SKIP_RETURN_CODE 77)
endfunction()

patlab_svc_test(test_svc_cases unit 300 ${gs_dir}/test_svc_cases.c)
patlab_svc_test(stress_svc stress 600 ${gs_dir}/stress_svc.c)
