#!/usr/bin/env bash
# Install patlab into a temporary prefix, then build a consumer three ways: pkg-config
# (dynamic flags), pkg-config --static, and CMake's find_package(patlab).
# Usage: test_install.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CC=${CC:-cc}

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/patlab/patlab.h"
libdir=$(ls -d "$tmp/prefix"/lib*/ | head -n 1)
test -f "$libdir/libpatlab.a"

cat >"$tmp/consumer.c" <<'C'
#include <patlab/patlab.h>
#include <stdio.h>

int main(void)
{
	pl_chan *ch = pl_chan_new("urcu", 4);
	void *m = NULL;
	int x = 42;

	if (!ch || pl_chan_send(ch, &x, NULL) || pl_chan_recv(ch, &m, NULL) || m != &x)
		return 1;
	pl_chan_free(ch);
	puts("consumer ok");
	return 0;
}
C
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# Sanitizer builds need the sanitizer runtime at link time too.
extra=$(sed -n 's/^CMAKE_C_FLAGS:STRING=//p' "$build/CMakeCache.txt")
san=""
grep -q '^PATLAB_SANITIZE:STRING=address' "$build/CMakeCache.txt" && san="-fsanitize=address,undefined"
grep -q '^PATLAB_SANITIZE:STRING=thread' "$build/CMakeCache.txt" && san="-fsanitize=thread"
grep -q '^PATLAB_LIBFUZZER:BOOL=ON' "$build/CMakeCache.txt" && san="$san -fsanitize=fuzzer-no-link"

# shellcheck disable=SC2046,SC2086
$CC $extra $san -o "$tmp/consumer_static" "$tmp/consumer.c" $(pkg-config --cflags patlab) \
	$(pkg-config --static --libs patlab)
"$tmp/consumer_static"

mkdir -p "$tmp/cm"
cat >"$tmp/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.22)
project(consumer C)
find_package(patlab REQUIRED)
add_executable(consumer $tmp/consumer.c)
target_compile_options(consumer PRIVATE $san)
target_link_options(consumer PRIVATE $san)
target_link_libraries(consumer PRIVATE patlab::patlab)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_C_COMPILER="$CC" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm/build" >/dev/null
"$tmp/cm/build/consumer"
echo "install: headers, libpatlab.a, patlab.pc (--static) and find_package(patlab) all work"
