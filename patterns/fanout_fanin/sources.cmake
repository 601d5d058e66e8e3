# SPDX-License-Identifier: MIT
# Fan-out / fan-in: scatter/gather, errgroup, merge, and the "fanout_fanin" workload.
list(APPEND PATLAB_SOURCES
  patterns/fanout_fanin/fanout.c
  patterns/fanout_fanin/group.c
  patterns/fanout_fanin/merge.c
  patterns/fanout_fanin/workload.c)
