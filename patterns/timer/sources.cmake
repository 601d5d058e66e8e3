# SPDX-License-Identifier: MIT
# Timers: Go's time.Timer and time.Ticker (public, patlab/timer.h), delivering on channels, over
# the process's one timer thread (patterns/sync/timerq.c).
list(APPEND PATLAB_SOURCES
  patterns/timer/timer.c)

# patlab-timer-lateness: how late timers and tickers fire here (a measurement, never a test).
add_executable(patlab_timer_lateness ${CMAKE_CURRENT_LIST_DIR}/lateness.c)
set_target_properties(patlab_timer_lateness PROPERTIES OUTPUT_NAME patlab-timer-lateness)
target_link_libraries(patlab_timer_lateness PRIVATE patlab patlab_warnings patlab_sanitize)
