# SPDX-License-Identifier: MIT
# Timers: Go's time.Timer and time.Ticker (public, patlab/timer.h), delivering on channels, over
# the process's one timer thread (patterns/sync/timerq.c).
list(APPEND PATLAB_SOURCES
  patterns/timer/timer.c)

