/* SPDX-License-Identifier: MIT */
/*
 * replay_main: run a libFuzzer target without libFuzzer (gcc builds, TSan).
 *
 * Every file named on the command line, and every regular file directly inside every directory
 * named there (in name order), goes through LLVMFuzzerTestOneInput() once; then a number of
 * random inputs drawn from the run's seed (pt_seed(): PATLAB_SEED reruns one), scaled by
 * PATLAB_STRESS_SCALE and reduced under TSan. The target aborts on a mismatch; this driver
 * says which input it was running first (pt_note(), printed by the watchdog too).
 *
 * Exit 0 when every input passed, 1 when a path cannot be read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX_BYTES (1u << 20)
/* Where a failing input is saved: the target's name (CMake sets it per target). */
#ifndef CRASH_FILE
#define CRASH_FILE "fuzz_chan-crash.bin"
#endif

/* The input being run, for the abort handler. */
static const uint8_t *cur_data;
static size_t cur_len;
static char cur_what[512];

/*
 * On abort (the target found a mismatch), save the input to CRASH_FILE in the working
 * directory, so `fuzz_chan CRASH_FILE` reruns exactly it. Async-signal-safe calls only.
 */
static void on_abort(int sig)
{
	static const char msg[] = "replay: input saved to " CRASH_FILE ": ";
	int fd;

	if (write(2, msg, sizeof(msg) - 1) < 0 || write(2, cur_what, strlen(cur_what)) < 0 ||
	    write(2, "\n", 1) < 0)
		_exit(134);
	fd = open(CRASH_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, cur_data, cur_len) < 0)
			_exit(134);
		close(fd);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void run_one(const uint8_t *data, size_t len)
{
	cur_data = data;
	cur_len = len;
	pt_note("%s", cur_what);
	LLVMFuzzerTestOneInput(data, len);
}

static size_t run_file(const char *path)
{
	static uint8_t buf[INPUT_MAX_BYTES];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	snprintf(cur_what, sizeof(cur_what), "corpus file %s (%zu bytes)", path, n);
	/* A private copy of exactly n bytes, so ASan sees reads past the end of the input. */
	uint8_t *copy = malloc(n ? n : 1);
	CHECK(copy != NULL);
	memcpy(copy, buf, n);
	run_one(copy, n);
	free(copy);
	return 1;
}

static size_t run_path(const char *path)
{
	struct stat st;
	struct dirent **names;
	size_t count = 0;
	int n;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: cannot list %s: %s\n", path, strerror(errno));
		exit(1);
	}
	for (int i = 0; i < n; i++) {
		char full[4096];

		snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
			count += run_file(full);
		free(names[i]);
	}
	free(names);
	return count;
}

int main(int argc, char **argv)
{
	uint64_t state = pt_seed();
	size_t files = 0;
	long random_inputs = (long)((pt_tsan() ? 500 : 4000) * pt_scale());
	uint8_t *buf;

	signal(SIGABRT, on_abort);
	pt_watchdog_start(120);
	for (int i = 1; i < argc; i++)
		files += run_path(argv[i]);
	printf("replay: %zu corpus file(s) passed\n", files);

	for (long i = 0; i < random_inputs; i++) {
		/* Mostly short programs; now and then a long one (bursts, wrap-around). */
		size_t len = 3 + pt_rand(&state) % (i % 16 == 0 ? 2048 : 128);

		buf = malloc(len);
		CHECK(buf != NULL);
		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)pt_rand(&state);
		snprintf(cur_what, sizeof(cur_what),
			 "random input %ld (%zu bytes) of PATLAB_SEED=%" PRIu64, i, len, pt_seed());
		run_one(buf, len);
		free(buf);
	}
	printf("replay: %ld random input(s) passed\n", random_inputs);
	return 0;
}
