/* SPDX-License-Identifier: MIT */
/*
 * patlab-paths - the single-threaded code paths whose instruction counts the gate checks
 * (the performance gate's deterministic mode; scripts/icount drives it).
 *
 *   patlab-paths --list                 the path names, one per line
 *   patlab-paths --info                 what built it: compiler, build type, planted delay
 *   patlab-paths [--iters N] PATH       run PATH N times (default 20000)
 *
 * Each path runs once as a warm-up of 1000 iterations (lazy symbol binding, the first
 * allocation of a size class, cold branches), then exactly N times inside pb_paths_measure(),
 * the one function `valgrind --tool=callgrind --toggle-collect=pb_paths_measure` counts:
 * instructions / N is the path's cost per operation, the same on every run of the same binary
 * (no threads, no clock, no randomness; hardware counters are not available on the VMs this
 * runs on, and callgrind counts exactly what the CPU would retire).
 *
 * Paths:
 *   chan/<kind>/send_recv    pl_chan_send then pl_chan_recv on a capacity-64 channel, no
 *                            context: the uncontended cost of one message, per kind
 *   ctx/create_cancel        a cancellable child of a live parent, cancelled and released
 *   ctx/err                  pl_ctx_err() on a live context with a deadline
 *   hist/record              pl_hist_record() of a spread of latencies (about 1 us .. 1 ms)
 *
 * Exit: 0, 1 when a path cannot be set up (e.g. a kind refuses the channel), 2 bad arguments.
 */
#include <patlab/patlab.h>

#include "build_info.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARMUP_ITERS 1000

struct state {
	pl_chan *ch;
	pl_ctx *ctx;
	pl_hist *hist;
	int sink;
};

struct path {
	char name[64];
	const char *kind; /* chan paths: the kind; else NULL */
	void (*op)(struct state *st, uint64_t i);
};

static void op_send_recv(struct state *st, uint64_t i)
{
	void *m;

	if (pl_chan_send(st->ch, (void *)(uintptr_t)i, NULL) != 0 ||
	    pl_chan_recv(st->ch, &m, NULL) != 0)
		st->sink++;
}

static void op_ctx_create_cancel(struct state *st, uint64_t i)
{
	pl_ctx *c = pl_ctx_with_cancel(st->ctx);

	(void)i;
	pl_ctx_cancel(c);
	pl_ctx_release(c);
}

static void op_ctx_err(struct state *st, uint64_t i)
{
	(void)i;
	st->sink += pl_ctx_err(st->ctx);
}

static void op_hist_record(struct state *st, uint64_t i)
{
	/* A fixed spread over ~1 us .. 1 ms, so most buckets and both index branches are used. */
	pl_hist_record(st->hist, 1000 + (int64_t)((i * 2654435761u) % 1000000));
}

/* The paths, chan ones first (one per registered kind). Returns how many. */
static size_t paths_all(struct path *out, size_t max)
{
	size_t n = 0;

	for (const char *const *k = pl_chan_kinds(); *k != NULL && n < max; k++) {
		snprintf(out[n].name, sizeof(out[n].name), "chan/%s/send_recv", *k);
		out[n].kind = *k;
		out[n].op = op_send_recv;
		n++;
	}
	if (n + 3 > max)
		return n;
	out[n++] = (struct path){"ctx/create_cancel", NULL, op_ctx_create_cancel};
	out[n++] = (struct path){"ctx/err", NULL, op_ctx_err};
	out[n++] = (struct path){"hist/record", NULL, op_hist_record};
	return n;
}

/* pb_paths_measure - the counted loop; callgrind collects only inside this function. */
void pb_paths_measure(const struct path *p, struct state *st, uint64_t iters);

__attribute__((noinline)) void pb_paths_measure(const struct path *p, struct state *st,
						uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++)
		p->op(st, i);
}

static int setup(const struct path *p, struct state *st)
{
	memset(st, 0, sizeof(*st));
	if (p->kind != NULL) {
		st->ch = pl_chan_new(p->kind, 64);
		if (st->ch == NULL)
			return -errno;
	} else if (strncmp(p->name, "ctx/", 4) == 0) {
		st->ctx = pl_ctx_with_timeout(NULL, (int64_t)3600 * 1000000000);
		if (st->ctx == NULL)
			return -errno;
	} else {
		st->hist = pl_hist_new();
		if (st->hist == NULL)
			return -errno;
	}
	return 0;
}

static void teardown(struct state *st)
{
	pl_chan_free(st->ch);
	pl_ctx_release(st->ctx);
	pl_hist_free(st->hist);
}

static void print_info(void)
{
	printf("compiler=");
#if defined(__clang__)
	printf("clang %d.%d.%d", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
	printf("gcc %d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
	printf("unknown");
#endif
	printf("\nbuild_type=%s%s%s\n", PATLAB_BUILD_TYPE,
	       PATLAB_SANITIZER[0] ? " sanitized build " : "", PATLAB_SANITIZER);
#ifdef PATLAB_PLANT_DELAY_NS
	printf("planted_delay_ns=%d\n", PATLAB_PLANT_DELAY_NS);
#else
	printf("planted_delay_ns=0\n");
#endif
}

static int usage(FILE *f, int rc)
{
	fputs("usage: patlab-paths --list | --info | [--iters N] PATH\n"
	      "Runs one single-threaded code path N times (default 20000) inside\n"
	      "pb_paths_measure(), for `valgrind --tool=callgrind "
	      "--toggle-collect=pb_paths_measure`\n"
	      "(scripts/icount). --list names the paths.\n",
	      f);
	return rc;
}

int main(int argc, char **argv)
{
	struct path paths[32];
	size_t n = paths_all(paths, sizeof(paths) / sizeof(paths[0]));
	const char *name = NULL;
	uint64_t iters = 20000;
	struct state st;
	void (*volatile warm_op)(struct state *, uint64_t);
	int e;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage(stdout, 0);
		if (strcmp(argv[i], "--list") == 0) {
			for (size_t j = 0; j < n; j++)
				printf("%s\n", paths[j].name);
			return 0;
		}
		if (strcmp(argv[i], "--info") == 0) {
			print_info();
			return 0;
		}
		if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
			char *end;

			errno = 0;
			iters = strtoull(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || argv[i][0] == '-' || iters == 0 ||
			    iters > 100000000) {
				fprintf(stderr, "patlab-paths: --iters: bad value '%s' (1..1e8)\n",
					argv[i]);
				return 2;
			}
			continue;
		}
		if (argv[i][0] == '-' || name != NULL) {
			fprintf(stderr, "patlab-paths: unexpected argument '%s'\n", argv[i]);
			return usage(stderr, 2);
		}
		name = argv[i];
	}
	if (name == NULL)
		return usage(stderr, 2);
	for (size_t j = 0; j < n; j++) {
		if (strcmp(paths[j].name, name) != 0)
			continue;
		e = setup(&paths[j], &st);
		if (e != 0) {
			fprintf(stderr, "patlab-paths: %s: setup failed: %s\n", name, strerror(-e));
			teardown(&st);
			return 1;
		}
		/* The warm-up calls through a volatile pointer, so it never shares code with the
		 * counted loop (identical-code folding could otherwise merge the two). */
		warm_op = paths[j].op;
		for (uint64_t i = 0; i < WARMUP_ITERS; i++)
			warm_op(&st, i);
		pb_paths_measure(&paths[j], &st, iters);
		teardown(&st);
		if (st.sink != 0 && paths[j].kind != NULL) {
			fprintf(stderr, "patlab-paths: %s: %d send/recv failed\n", name, st.sink);
			return 1;
		}
		printf("%s %llu\n", name, (unsigned long long)iters);
		return 0;
	}
	fprintf(stderr, "patlab-paths: unknown path '%s' (see --list)\n", name);
	return 2;
}
