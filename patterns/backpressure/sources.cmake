# SPDX-License-Identifier: MIT
# Backpressure: the bounded ingress, the token-bucket limiter and the CoDel shedder (public,
# patlab/backpressure.h), and the "backpressure" workload.
list(APPEND PATLAB_SOURCES
  patterns/backpressure/ingress.c
  patterns/backpressure/limiter.c
  patterns/backpressure/shedder.c
  patterns/backpressure/workload.c)
