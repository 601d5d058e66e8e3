# SPDX-License-Identifier: MIT
# Fan-out / fan-in: scatter/gather, errgroup and merge (unit), and their stress tests.
patlab_test(test_fanout unit 300 patterns/fanout_fanin/test_fanout.c)
patlab_test(test_group unit 300 patterns/fanout_fanin/test_group.c)
patlab_test(test_merge unit 300 patterns/fanout_fanin/test_merge.c)
patlab_test(stress_gather stress 600 patterns/fanout_fanin/stress_gather.c)
patlab_test(stress_group stress 600 patterns/fanout_fanin/stress_group.c)
patlab_test(stress_merge stress 600 patterns/fanout_fanin/stress_merge.c)
# The same against futex waits that return early at random: every wait loop must re-check.
patlab_test(test_fanout_spurious unit 300 patterns/fanout_fanin/test_fanout.c LIB patlab_spurious)
patlab_test(stress_group_spurious stress 600 patterns/fanout_fanin/stress_group.c
  LIB patlab_spurious)
patlab_test(stress_merge_spurious stress 600 patterns/fanout_fanin/stress_merge.c
  LIB patlab_spurious)
