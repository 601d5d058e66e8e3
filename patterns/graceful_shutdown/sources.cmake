# SPDX-License-Identifier: MIT
# Graceful shutdown: the ledger and the signal-driven shutdown controller (public,
# patlab/shutdown.h), patlab-svc's framer/parser and the job burner (internal, proto.h), and the
# workload. The service itself, patlab-svc, is an executable of its own (svc.c).
list(APPEND PATLAB_SOURCES
  patterns/graceful_shutdown/ledger.c
  patterns/graceful_shutdown/shutdown.c
  patterns/graceful_shutdown/proto.c
  patterns/graceful_shutdown/workload.c)

add_executable(patlab_svc ${CMAKE_CURRENT_LIST_DIR}/svc.c)
set_target_properties(patlab_svc PROPERTIES OUTPUT_NAME patlab-svc)
target_include_directories(patlab_svc PRIVATE ${CMAKE_CURRENT_LIST_DIR}/..)
target_link_libraries(patlab_svc PRIVATE patlab patlab_warnings patlab_sanitize)
