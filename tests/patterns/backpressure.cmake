# SPDX-License-Identifier: MIT
# Backpressure: the ingress's policies on every kind, the shedder and the limiter on a fake
# clock, the workload through the vtable (unit); conservation, the bound and FIFO per policy
# and kind, and the limiter's window bound under contention (stress). Both also run against
# the library whose futex waits return early at random (every wait loop must cope).
set(bp_dir ${CMAKE_CURRENT_LIST_DIR}/backpressure)
patlab_test(test_backpressure unit 120 ${bp_dir}/test_backpressure.c)
patlab_test(test_backpressure_spurious unit 120 ${bp_dir}/test_backpressure.c LIB patlab_spurious)
patlab_test(stress_backpressure stress 600 ${bp_dir}/stress_backpressure.c)
patlab_test(stress_backpressure_spurious stress 600 ${bp_dir}/stress_backpressure.c
  LIB patlab_spurious)
foreach(t test_backpressure test_backpressure_spurious)
  target_link_libraries(${t} PRIVATE m)
endforeach()
