/* SPDX-License-Identifier: MIT */
/*
 * patlab-svc's line framer and request parser, and the CPU burner its jobs (and the
 * graceful_shutdown workload's) run: see proto.h.
 *
 * The framer never stores more than PL_SVC_LINE_MAX bytes: it looks for the newline with
 * memchr() in what it was given, copies at most up to the limit, and once a line passed the
 * limit it switches to discarding, where it only searches for the newline. The parser works on
 * the bytes it is given (no NUL terminator needed, NUL bytes are just invalid characters).
 *
 * The burner's calibration: how many PAUSE instructions take about BURN_CHUNK_NS, measured
 * once (the fastest of a few trials, so a preempted trial cannot inflate the chunk). A job
 * then alternates a chunk of PAUSEs with one clock read and one context check; the clock, not
 * the count, decides when the cost is paid, so a slow chunk (preemption, another VM) makes
 * the job late to notice a cancel by that much, never short.
 */
#include "graceful_shutdown/proto.h"

#include <pthread.h>
#include <string.h>

#include "sync/park.h"
#include "sync/die.h"

/* A job polls its context about this often. */
#define BURN_CHUNK_NS 2000

static const char *const reasons[PL_SVC_E__COUNT] = {
    [PL_SVC_OK] = "internal",
    [PL_SVC_E_MALFORMED] = "malformed",
    [PL_SVC_E_UNKNOWN] = "unknown-command",
    [PL_SVC_E_COST] = "cost-too-large",
    [PL_SVC_E_TOO_LONG] = "line-too-long",
    [PL_SVC_E_DUPLICATE] = "duplicate-id",
    [PL_SVC_E_SHUTTING_DOWN] = "shutting-down",
    [PL_SVC_E_TOO_MANY] = "too-many-clients",
};

const char *pl__svc_reason(enum pl__svc_err e)
{
	if ((unsigned)e >= PL_SVC_E__COUNT)
		return "internal";
	return reasons[e];
}

/* ------------------------------------------------------------------ parser */

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* next_field - the next run of non-blanks at or after *@pos: its start and length (0: none). */
static size_t next_field(const char *s, size_t len, size_t *pos, const char **start)
{
	size_t i = *pos, b;

	while (i < len && blank(s[i]))
		i++;
	b = i;
	while (i < len && !blank(s[i]))
		i++;
	*start = s + b;
	*pos = i;
	return i - b;
}

/* decimal - a field of digits only, no sign, at most UINT64_MAX. */
static bool decimal(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

enum pl__svc_err pl__svc_parse(const char *line, size_t len, uint64_t max_cost_us,
			       struct pl__svc_req *req)
{
	const char *f;
	size_t pos = 0, n;
	uint64_t id, cost;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	n = next_field(line, len, &pos, &f);
	if (n == 0)
		return PL_SVC_E_MALFORMED; /* empty or blank line */
	if (n != 3 || memcmp(f, "JOB", 3) != 0)
		return PL_SVC_E_UNKNOWN;
	n = next_field(line, len, &pos, &f);
	if (!decimal(f, n, &id))
		return PL_SVC_E_MALFORMED;
	n = next_field(line, len, &pos, &f);
	if (!decimal(f, n, &cost))
		return PL_SVC_E_MALFORMED;
	if (next_field(line, len, &pos, &f) != 0)
		return PL_SVC_E_MALFORMED; /* an extra field */
	if (cost > max_cost_us)
		return PL_SVC_E_COST;
	req->id = id;
	req->cost_us = cost;
	return PL_SVC_OK;
}

/* ------------------------------------------------------------------ framer */

enum pl__svc_frame pl__svc_frame(struct pl__svc_framer *f, const char *data, size_t n, size_t *used,
				 size_t *len)
{
	const char *nl = memchr(data, '\n', n);
	size_t take = nl != NULL ? (size_t)(nl - data) : n; /* bytes before the newline */

	if (f->discarding) {
		if (nl == NULL) {
			*used = n;
			return PL_SVC_FRAME_MORE;
		}
		f->discarding = false;
		*used = take + 1;
		return PL_SVC_FRAME_MORE;
	}
	/* The line's content may be PL_SVC_LINE_MAX - 1 bytes: its newline makes it full. */
	if (f->len + take > PL_SVC_LINE_MAX - 1) {
		f->len = 0;
		if (nl != NULL) {
			*used = take + 1; /* the newline ends it: nothing left to drop */
		} else {
			f->discarding = true;
			*used = n;
		}
		return PL_SVC_FRAME_TOO_LONG;
	}
	memcpy(f->line + f->len, data, take);
	f->len += take;
	if (nl == NULL) {
		*used = n;
		return PL_SVC_FRAME_MORE;
	}
	*used = take + 1;
	*len = f->len;
	f->len = 0;
	return PL_SVC_FRAME_LINE;
}

/* ------------------------------------------------------------------ burner */

static pthread_once_t calibrate_once = PTHREAD_ONCE_INIT;
/* PAUSEs per chunk; written once under calibrate_once, which orders it for every reader. */
static unsigned chunk_spins;

static void calibrate(void)
{
	const unsigned trial = 4096;
	int64_t best = INT64_MAX;

	for (int t = 0; t < 5; t++) {
		int64_t t0 = pl_now_ns(), dt;

		for (unsigned i = 0; i < trial; i++)
			pl__cpu_relax();
		dt = pl_now_ns() - t0;
		if (dt > 0 && dt < best)
			best = dt;
	}
	if (best == INT64_MAX)
		best = 1;
	uint64_t spins = (uint64_t)trial * BURN_CHUNK_NS / (uint64_t)best;
	chunk_spins = spins < 16 ? 16 : spins > (1u << 20) ? (1u << 20) : (unsigned)spins;
}

int pl__svc_burn(int64_t ns, pl_ctx *cx)
{
	int64_t end;

	if (ns <= 0)
		return 0;
	PL_CHECK(pthread_once(&calibrate_once, calibrate));
	end = pl_now_ns() + ns;
	for (;;) {
		int err = pl_ctx_err(cx);

		if (err != 0)
			return err;
		for (unsigned i = 0; i < chunk_spins; i++)
			pl__cpu_relax();
		if (pl_now_ns() >= end)
			return 0;
	}
}
