# SPDX-License-Identifier: MIT
# Worker pool: the "worker_pool" workload (pool.c itself is in the root list of sources).
list(APPEND PATLAB_SOURCES
  patterns/worker_pool/workload.c)
