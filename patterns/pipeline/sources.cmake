# SPDX-License-Identifier: MIT
# Pipeline: the primitive and the "pipeline" workload.
list(APPEND PATLAB_SOURCES
  patterns/pipeline/pipeline.c
  patterns/pipeline/workload.c)
