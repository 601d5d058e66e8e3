# SPDX-License-Identifier: MIT
# Worker pool: the pool (public, patlab/pool.h) and the "worker_pool" workload.
list(APPEND PATLAB_SOURCES
  patterns/worker_pool/pool.c
  patterns/worker_pool/workload.c)
