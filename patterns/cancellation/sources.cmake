# SPDX-License-Identifier: MIT
# Context cancellation: signal contexts (public, patlab/signals.h: Go's signal.NotifyContext,
# with its one dispatcher thread) and the "cancellation" workload (cancel a context tree).
list(APPEND PATLAB_SOURCES
  patterns/cancellation/signals.c
  patterns/cancellation/workload.c)
