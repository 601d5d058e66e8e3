# SPDX-License-Identifier: MIT
# Go's own channels in the harness (bench/go). Each test is reported as skipped
# (exit 77), never as passed, when no Go toolchain was found; with one, a missing patlab-go is
# a failure (the build makes it beside the patlab CLI).
#   test_go_hist   Go's port of the latency histogram gives exactly C's figures (C program)
#   test_go_unit   `go test` of bench/go: histogram layout, percentiles, helpers
#   test_go_sweep  a tiny sweep with go beside every C kind: rows pass test_bench_cli.sh's
#                  validation, ratios, meta.json, GOMAXPROCS, the "go not installed" skip
find_program(PATLAB_GO_EXECUTABLE go DOC "the Go toolchain (Debian: golang-go) for bench/go")
if(PATLAB_GO_EXECUTABLE)
  set(PATLAB_GO_FOUND 1)
else()
  set(PATLAB_GO_FOUND 0)
endif()
set(PATLAB_GO_BIN ${PROJECT_BINARY_DIR}/bench/go/patlab-go)

# As patlab_test(), with arguments: patlab-go's path and whether Go was found.
add_executable(test_go_hist go/test_go_hist.c)
target_link_libraries(test_go_hist PRIVATE patlab_testlib patlab m)
add_test(NAME test_go_hist COMMAND test_go_hist ${PATLAB_GO_BIN} ${PATLAB_GO_FOUND})
set_tests_properties(test_go_hist PROPERTIES LABELS "unit;go" TIMEOUT 180 SKIP_RETURN_CODE 77)

if(PATLAB_GO_EXECUTABLE)
  # The same offline environment as the build (bench/go/CMakeLists.txt): nothing is fetched.
  add_test(NAME test_go_unit
    COMMAND ${CMAKE_COMMAND} -E env GOPROXY=off GOTOOLCHAIN=local GOSUMDB=off GOTELEMETRY=off
      GOFLAGS=-mod=readonly GOCACHE=${PROJECT_BINARY_DIR}/bench/go/go-cache
      GOPATH=${PROJECT_BINARY_DIR}/bench/go/go-path CGO_ENABLED=0
      ${PATLAB_GO_EXECUTABLE} test -count=1 .
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/bench/go)
else()
  add_test(NAME test_go_unit COMMAND sh -c "echo 'test_go_unit: SKIP: go not installed'; exit 77")
endif()
set_tests_properties(test_go_unit PROPERTIES LABELS "unit;go" TIMEOUT 300 SKIP_RETURN_CODE 77)

if(PATLAB_BUILD_BENCH)
  add_test(NAME test_go_sweep
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/go/test_go_sweep.sh $<TARGET_FILE:patlab_cli>
      ${PATLAB_GO_FOUND} ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_bench_cli.sh)
  set_tests_properties(test_go_sweep PROPERTIES LABELS "unit;go" TIMEOUT 300
    SKIP_RETURN_CODE 77)
endif()
