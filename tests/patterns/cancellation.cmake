# SPDX-License-Identifier: MIT
# Context cancellation: signal contexts (unit: one promise per case, a real child process for
# the second Ctrl-C; stress: create/stop from several threads under a rain of signals), the
# cancellation of random context trees with a worker blocked at every leaf (stress, also
# against spurious futex wakeups) and the "cancellation" workload (unit).
patlab_test(test_signals unit 120 patterns/cancellation/test_signals.c)
patlab_test(test_cancel_workload unit 300 patterns/cancellation/test_cancel_workload.c)
patlab_test(stress_signals stress 300 patterns/cancellation/stress_signals.c)
patlab_test(stress_cancel_tree stress 600 patterns/cancellation/stress_cancel_tree.c)
patlab_test(stress_cancel_tree_spurious stress 600 patterns/cancellation/stress_cancel_tree.c
  LIB patlab_spurious)
