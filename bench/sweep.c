/* SPDX-License-Identifier: MIT */
/*
 * Sweeps: from the command line to a plan (a grid of points), and from the plan to rows.
 *
 * A plan is one sub-grid per pattern. A sub-grid starts from the preset's (quick by default)
 * and every list given on the command line replaces that dimension in every sub-grid whose
 * pattern reads it (a pattern never sees a parameter it does not use: its lists collapse to
 * the default). Every combination of a sub-grid's lists is a point; the channel kind is the
 * innermost dimension, so the points of one "scenario" (everything but the kind) are adjacent.
 *
 * Fairness: repetitions are the outer loop, so every point runs once
 * before any runs twice and slow drift of the machine spreads over all kinds; inside a
 * scenario the kinds run in an order rotated by the repetition, so no kind always runs first
 * (or right after the most expensive one).
 *
 * A point that cannot run is found before the sweep starts (the pattern's check) or at setup
 * (a kind refusing a capacity), reported once with its reason, and never run again.
 *
 * Presets are grids written in the command line's own syntax: the quick preset is every
 * pattern's own (struct pl_pattern.quick, in registry order), full and ci are written here.
 * A preset grid is parsed strictly: an option its pattern does not read, or a policy it does
 * not have, is an error (a unit test parses every pattern's), never silently dropped.
 *
 * Points run through the runner of their kind (runner.h): a runner whose points take a
 * process-wide parallelism (go: GOMAXPROCS) gets one point per --gomaxprocs value.
 *
 * Numbers on the command line are plain decimals (integers where --help says so), list items
 * are never empty, and an option no chosen pattern reads is parsed all the same (a note says
 * it is ignored; a malformed value is an error). A point the library refuses as nonsense
 * (-EINVAL: "work_ns ... at most 1 s") is bad input: pb_plan_refused() finds those before
 * anything runs. Progress goes to stderr: a line per run, and while a long run is measured a
 * heartbeat every HEARTBEAT_S seconds from a thread of its own (the only thread of bench/'s;
 * it only prints).
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile int pb_stop_requested;

/* The full preset: the raw workloads at length (depth 0 only where a kind has a rendezvous). */
static const struct pb_preset_grid full_grids[] = {
    {"chan", "--ratio 1:1,2:2,4:1,1:4,4:4,8:8,16:16 --depth rendezvous,1,4,16,64,256,1024,4096"},
    {"chan", "--ratio 1:1,4:4 --depth 64 --spin 0,1000,10000,50000,200000"},
    {"pingpong", "--depth rendezvous,1,64"},
    {NULL, NULL},
};

/*
 * The grid `patlab check` gates on in CI (scripts/perf-check; results/baseline/README.md has
 * the measurements behind it): chan at 1p1c and 2p2c, depth 1024, each point twice:
 *   pin single: every thread on one CPU. The kind's send and receive paths, with the
 *     hand-offs batched by the deep channel and no cache line crossing cores: within a few
 *     percent from run to run and from hour to hour, so the gate can hold it to ~10-15%;
 *   pin none: the multi-core figure (cache-line traffic, wake-ups), which a shared VM moves by
 *     2-28x with its wake-up regime: only gross regressions can be told from that noise.
 * Shallow channels and pingpong are not gated (perf-ab, which runs both sides alternately,
 * handles them: give it --preset quick). patlab's own kinds are named: a kind added later (or
 * Go's, when built) does not change the gate's grid until the baseline is refreshed with it.
 * Changing the grid invalidates results/baseline/ci.csv (patlab check names the configurations
 * that differ): refresh the baseline in the same commit. 14 live points (spsc has no 2p2c) x
 * 8 reps x ~0.36 s: about 40 s on 2 cores.
 */
static const struct pb_preset_grid ci_grids[] = {
    {"chan", "--chan mutex,lockfree,urcu,spsc --ratio 1:1,2:2 --depth 1024 --pin single,none"},
    {NULL, NULL},
};

/*
 * quick: every pattern and every kind in about two minutes on 2 cores: the raw workloads over
 * topologies and depths (what lock-free vs lock-based is decided on), then each pattern at the
 * few points that tell its story (scripts/plot draws them). 117 live points x 3 reps x 0.3 s.
 */
const struct pb_preset pb_presets[] = {
    {"quick",
     "the default, ~2 min on 2 cores: chan at 1p1c 2p2c 4p1c 16p16c x depth "
     "(0) 1 64 1024, pingpong at depth 1, and each pattern at the points of its story "
     "(workers, hedging, order, policies x rate, ways of waiting, jobs in flight); every "
     "kind (go too, when built); 3 reps of 0.25 s after 0.05 s warm-up",
     3, 0.25, 0.05, NULL},
    {"full",
     "~25 min: chan at 7 topologies x 8 depths, a spin-budget sweep, pingpong at "
     "depths 0 1 64; every kind; 5 reps of 1 s after 0.2 s warm-up",
     5, 1.0, 0.2, full_grids},
    {"ci",
     "the regression gate's grid (scripts/perf-check), ~40 s: chan at 1p1c 2p2c x "
     "depth 1024 x pin single, none; kinds mutex lockfree urcu spsc; 8 reps of 0.3 s "
     "after 0.05 s warm-up",
     8, 0.3, 0.05, ci_grids},
    {NULL, NULL, 0, 0, 0, NULL},
};

/* ---------------------------------------------------------------- parsing */

enum num_kind {
	NUM_COUNT,  /* integer >= 1 (threads, stages, reps) */
	NUM_DEPTH,  /* integer >= 0, or "unbounded" */
	NUM_NS,	    /* integer >= 0 nanoseconds */
	NUM_SPIN,   /* integer >= 0 nanoseconds, or "default" */
	NUM_RATE,   /* real >= 0 per second (0: closed loop) */
	NUM_SECONDS /* real > 0 */
};

/*
 * plain - @s is a plain decimal: digits, and (@fraction) an optional dot followed by digits.
 * No sign, space, exponent, hexadecimal or "inf": what --help documents, nothing else.
 */
static bool plain(const char *s, bool fraction)
{
	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9')
		s++;
	if (fraction && *s == '.') {
		if (*++s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static bool parse_one(const char *s, enum num_kind k, double *out)
{
	bool real = k == NUM_RATE || k == NUM_SECONDS;
	uint64_t u;
	double v;

	if (k == NUM_DEPTH && strcmp(s, "unbounded") == 0) {
		*out = INFINITY;
		return true;
	}
	if (k == NUM_SPIN && strcmp(s, "default") == 0) {
		*out = PL_SPIN_KIND_DEFAULT;
		return true;
	}
	if (!plain(s, real))
		return false;
	if (real) {
		if (!pb_parse_real(s, 0, &v) || v > 1e15)
			return false;
	} else {
		if (!pb_parse_u64(s, 0, 1000000000000000ull, &u))
			return false;
		v = (double)u;
	}
	if ((k == NUM_COUNT || k == NUM_SECONDS) && v <= 0)
		return false;
	*out = v;
	return true;
}

static const char *num_help(enum num_kind k)
{
	switch (k) {
	case NUM_COUNT:
		return "integers >= 1";
	case NUM_DEPTH:
		return "integers >= 0, 'unbounded' or 'rendezvous'";
	case NUM_NS:
		return "integers >= 0 (ns)";
	case NUM_SPIN:
		return "integers >= 0 (ns) or 'default'";
	case NUM_RATE:
		return "numbers >= 0 (messages/s; 0 = closed loop)";
	case NUM_SECONDS:
		return "numbers > 0 (s)";
	}
	return "numbers";
}

/*
 * parse_nums - "1,2,8", ranges "a..b" (doubling), "a..b*k" (geometric), "a..b+k"
 * (arithmetic), mixed freely. Duplicates are kept out; order is as written.
 */
static int parse_nums(const char *opt, const char *str, enum num_kind k, struct pb_nums *out,
		      char *err, size_t n)
{
	char buf[1024], *items[PB_MAX_LIST * 4];
	int count = pb_list_split(opt, str, buf, sizeof(buf), items, PB_MAX_LIST * 4, err, n);

	if (count < 0)
		return count;
	out->n = 0;
	for (int it = 0; it < count; it++) {
		char *item = items[it];
		char *dots = strstr(item, "..");
		double a, b, step = 2;
		bool geometric = true;

		if (dots == NULL) {
			if (!parse_one(item, k, &a))
				return pb_einval(err, n,
						 "%s: bad value '%s' (valid: %s; ranges a..b, "
						 "a..b*k, a..b+k)",
						 opt, item, num_help(k));
			b = a;
		} else {
			char *op;

			*dots = '\0';
			op = strpbrk(dots + 2, "*+");
			if (op != NULL) {
				geometric = *op == '*';
				*op = '\0';
				if (!parse_one(op + 1, NUM_RATE, &step))
					return pb_einval(
					    err, n, "%s: bad step in range '%s..%s%c%s'", opt, item,
					    dots + 2, geometric ? '*' : '+', op + 1);
			}
			if (!parse_one(item, k, &a) || !parse_one(dots + 2, k, &b) || isinf(a) ||
			    isinf(b) || a < 0 || b < a || (geometric && (a <= 0 || step <= 1)) ||
			    (!geometric && step <= 0))
				return pb_einval(err, n,
						 "%s: bad range '%s..%s' (valid: a..b with "
						 "0 < a <= b, a..b*k with k > 1, a..b+k "
						 "with k > 0; values %s)",
						 opt, item, dots + 2, num_help(k));
		}
		/* b's own tolerance, also for 'default' (a == b == -1: b * (1 + e) is below b). */
		for (double v = a; v <= b + fabs(b) * 1e-12; v = geometric ? v * step : v + step) {
			bool dup = false;

			if (k != NUM_RATE && k != NUM_SECONDS && !isinf(v))
				v = floor(v + 0.5);
			for (size_t i = 0; i < out->n; i++)
				dup |= out->v[i] == v;
			if (dup)
				continue;
			if (out->n == PB_MAX_LIST)
				return pb_einval(err, n, "%s: more than %d values", opt,
						 PB_MAX_LIST);
			out->v[out->n++] = v;
			if (a == b)
				break;
		}
	}
	if (out->n == 0)
		return pb_einval(err, n, "%s: empty list (valid: %s)", opt, num_help(k));
	return 0;
}

static void names_joined(const char *const *names, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (; *names != NULL && len < n; names++)
		len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", *names);
}

static bool has_kind(const struct pb_subgrid *g, const char *kind)
{
	for (size_t k = 0; k < g->n_kinds; k++)
		if (strcmp(g->kinds[k], kind) == 0)
			return true;
	return false;
}

/*
 * shares_channel - @kind of @r can run @pat with several threads on one channel: not a
 * single-producer/single-consumer kind, and a runner that implements the pattern.
 */
static bool shares_channel(const struct pb_runner *r, const char *kind,
			   const struct pl_pattern *pat)
{
	struct pl_chan_kind_info info;

	return r->kind_info(kind, &info) == 0 && !info.spsc &&
	       (r->supports == NULL || r->supports(pat));
}

/*
 * add_class - every kind of every available runner ("all"), or those sharing a channel
 * ("multi"), that @g does not have yet, in runner order.
 */
static int add_class(struct pb_subgrid *g, bool multi, char *err, size_t n)
{
	for (const struct pb_runner *const *r = pb_runners(); *r != NULL; r++) {
		if (!pb_runner_available(*r))
			continue;
		for (const char *const *k = (*r)->kinds(); *k != NULL; k++) {
			if (has_kind(g, *k) || (multi && !shares_channel(*r, *k, g->pat)))
				continue;
			if (g->n_kinds == PB_MAX_KINDS)
				return pb_einval(err, n, "--chan: too many kinds");
			g->kinds[g->n_kinds++] = *k; /* the runner's string: lives forever */
		}
	}
	return 0;
}

/*
 * parse_kinds - --chan LIST: kind names, 'all' (every kind that can run here), 'multi' (those
 * several threads may share, for @g's pattern), -KIND (leave out a kind listed before).
 */
static int parse_kinds(const char *str, struct pb_subgrid *g, char *err, size_t n)
{
	char buf[512], *items[PB_MAX_LIST];
	int e, count = pb_list_split("--chan", str, buf, sizeof(buf), items, PB_MAX_LIST, err, n);

	if (count < 0)
		return count;
	g->n_kinds = 0;
	for (int it = 0; it < count; it++) {
		char *item = items[it];
		const char *name = item[0] == '-' ? item + 1 : item;
		const struct pb_runner *const *r;
		const char *const *k = NULL;

		if (strcmp(item, "all") == 0 || strcmp(item, "multi") == 0) {
			if ((e = add_class(g, item[0] == 'm', err, n)) != 0)
				return e;
			continue;
		}
		for (r = pb_runners(); *r != NULL; r++) {
			for (k = (*r)->kinds(); *k != NULL && strcmp(*k, name) != 0; k++)
				;
			if (*k != NULL)
				break;
		}
		if (*r == NULL) {
			char valid[256], others[256] = "";
			size_t len = 0;

			names_joined(pb_runner_lib.kinds(), valid, sizeof(valid));
			for (r = pb_runners(); *r != NULL; r++)
				if (*r != &pb_runner_lib && len < sizeof(others))
					len += (size_t)snprintf(others + len, sizeof(others) - len,
								"; and %s", (*r)->kinds_doc);
			return pb_einval(
			    err, n,
			    "--chan: unknown channel kind '%s' (valid: %s, all, multi, "
			    "-KIND%s)",
			    name, valid, others);
		}
		if (item[0] == '-') {
			size_t m = 0;

			for (size_t i = 0; i < g->n_kinds; i++)
				if (strcmp(g->kinds[i], name) != 0)
					g->kinds[m++] = g->kinds[i];
			g->n_kinds = m;
			continue;
		}
		if (g->n_kinds == PB_MAX_KINDS)
			return pb_einval(err, n, "--chan: too many kinds");
		g->kinds[g->n_kinds++] = *k; /* the runner's string: lives forever */
	}
	if (g->n_kinds == 0)
		return pb_einval(err, n, "--chan: empty list");
	return 0;
}

static int parse_ratio(const char *str, struct pb_subgrid *g, char *err, size_t n)
{
	char buf[1024], *items[PB_MAX_LIST * 2];
	int count = pb_list_split("--ratio", str, buf, sizeof(buf), items, PB_MAX_LIST * 2, err, n);

	if (count < 0)
		return count;
	g->n_topos = 0;
	for (int it = 0; it < count; it++) {
		char *item = items[it], *colon = strchr(item, ':');
		uint64_t p = 0, c = 0;

		if (colon != NULL)
			*colon = '\0';
		if (colon == NULL || !pb_parse_u64(item, 1, 1024, &p) ||
		    !pb_parse_u64(colon + 1, 1, 1024, &c)) {
			if (colon != NULL)
				*colon = ':';
			return pb_einval(err, n,
					 "--ratio: bad pair '%s' (valid: P:C with 1 <= P, C "
					 "<= 1024, e.g. 1:1,4:1,1:4)",
					 item);
		}
		if (g->n_topos == PB_MAX_LIST)
			return pb_einval(err, n, "--ratio: more than %d pairs", PB_MAX_LIST);
		g->prod[g->n_topos] = (unsigned)p;
		g->cons[g->n_topos] = (unsigned)c;
		g->n_topos++;
	}
	return 0;
}

static int parse_policies(const char *str, struct pb_subgrid *g, char *err, size_t n)
{
	const char *const *valid = g->pat->policies;
	char buf[512], *items[PB_MAX_LIST * 2];
	int count =
	    pb_list_split("--policy", str, buf, sizeof(buf), items, PB_MAX_LIST * 2, err, n);

	if (count < 0)
		return count;
	g->n_policies = 0;
	for (int it = 0; it < count; it++) {
		const char *item = items[it];
		const char *const *v;

		for (v = valid; v != NULL && *v != NULL && strcmp(*v, item) != 0; v++)
			;
		if (v == NULL || *v == NULL) {
			char names[256] = "none";

			if (valid != NULL)
				names_joined(valid, names, sizeof(names));
			return pb_einval(err, n, "--policy: %s has no policy '%s' (valid: %s)",
					 g->pat->name, item, names);
		}
		if (g->n_policies == PB_MAX_LIST)
			return pb_einval(err, n, "--policy: too many values");
		g->policies[g->n_policies++] = *v;
	}
	return 0;
}

/* parse_pins - placement names (pl_pin_parse) into @out, as enum values; duplicates dropped. */
static int parse_pins(const char *str, struct pb_nums *out, char *err, size_t n)
{
	char buf[256], *items[PB_MAX_LIST], why[256];
	int count =
	    pb_list_split("--pin", str, buf, sizeof(buf), items, PB_MAX_LIST, why, sizeof(why));

	if (count < 0)
		return pb_einval(err, n, "%s (valid: none, spread, single)", why);
	out->n = 0;
	for (int it = 0; it < count; it++) {
		const char *item = items[it];
		enum pl_pin pin;
		bool dup = false;

		if (pl_pin_parse(item, &pin) != 0)
			return pb_einval(
			    err, n, "--pin: unknown placement '%s' (valid: none, spread, single)",
			    item);
		for (size_t i = 0; i < out->n; i++)
			dup |= out->v[i] == (double)pin;
		if (!dup)
			out->v[out->n++] = (double)pin;
	}
	if (out->n == 0)
		return pb_einval(err, n, "--pin: empty list (valid: none, spread, single)");
	return 0;
}

/* ---------------------------------------------------------------- sub-grids */

/* sub_default - one value per list: every kind, 1p1c, depth 64, no work, closed loop. */
static void sub_default(struct pb_subgrid *g, const struct pl_pattern *pat)
{
	char ignored[8];

	memset(g, 0, sizeof(*g));
	g->pat = pat;
	parse_kinds("all", g, ignored, sizeof(ignored));
	g->n_topos = 1;
	g->prod[0] = g->cons[0] = 1;
	g->depth = (struct pb_nums){.n = 1, .v = {64}};
	g->stages = (struct pb_nums){.n = 1, .v = {1}};
	g->work = (struct pb_nums){.n = 1, .v = {0}};
	g->rate = (struct pb_nums){.n = 1, .v = {0}};
	g->spin = (struct pb_nums){.n = 1, .v = {PL_SPIN_KIND_DEFAULT}};
	g->timeout = (struct pb_nums){.n = 1, .v = {0}};
	g->pin = (struct pb_nums){.n = 1, .v = {PL_PIN_NONE}};
	g->n_policies = 0; /* the pattern's default */
}

/*
 * parse_depths - --depth LIST, where 'rendezvous' is capacity 0 on the kinds that have a
 * rendezvous only (elsewhere the point is left out rather than skipped).
 */
static int parse_depths(const char *str, struct pb_subgrid *g, char *err, size_t n)
{
	char buf[1024];
	size_t len = 0;

	g->zero_rendezvous_only = false;
	buf[0] = '\0';
	if (strlen(str) >= sizeof(buf))
		return pb_einval(err, n, "--depth: list too long");
	for (const char *p = str; *p != '\0';) {
		size_t k = strcspn(p, ",");

		if (k == strlen("rendezvous") && strncmp(p, "rendezvous", k) == 0) {
			g->zero_rendezvous_only = true;
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "0");
		} else {
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%.*s", (int)k, p);
		}
		p += k;
		if (*p == ',')
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%c", *p++);
	}
	return parse_nums("--depth", buf, NUM_DEPTH, &g->depth, err, n);
}

/* ---------------------------------------------------------------- plan */

static int parse_count(const char *opt, const char *s, double lo, double hi, double *out,
		       bool integer, char *err, size_t n)
{
	double v = 0;

	if (!plain(s, !integer) || !pb_parse_real(s, 0, &v) || !(v >= lo && v <= hi))
		return pb_einval(err, n, "%s: bad value '%s' (valid: %s from %g to %g)", opt, s,
				 integer ? "an integer" : "a number", lo, hi);
	*out = v;
	return 0;
}

static void label_point(struct pb_point *pt)
{
	const struct pl_params *p = &pt->p;
	unsigned used = pt->pat->params;
	size_t len;
	char *b = pt->label;
	size_t n = sizeof(pt->label);

	len = (size_t)snprintf(b, n, "%s", pt->pat->name);
	if (used & PL_PARAM_CHAN_KIND)
		len += (size_t)snprintf(b + len, n - len, " %s", p->chan_kind);
	if (pt->procs > 0)
		len += (size_t)snprintf(b + len, n - len, "(%s=%u)", pt->runner->procs, pt->procs);
	if (used & (PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS))
		len += (size_t)snprintf(b + len, n - len, " %up%uc", p->producers, p->consumers);
	if (used & PL_PARAM_STAGES)
		len += (size_t)snprintf(b + len, n - len, " %us", p->stages);
	if (used & PL_PARAM_QUEUE_DEPTH) {
		if (p->queue_depth == PL_CHAN_UNBOUNDED)
			len += (size_t)snprintf(b + len, n - len, " d=unbounded");
		else
			len += (size_t)snprintf(b + len, n - len, " d%zu", p->queue_depth);
	}
	if ((used & PL_PARAM_WORK_NS) && p->work_ns != 0)
		len += (size_t)snprintf(b + len, n - len, " work=%lldns", (long long)p->work_ns);
	if ((used & PL_PARAM_RATE) && p->rate_target > 0)
		len += (size_t)snprintf(b + len, n - len, " rate=%g/s", p->rate_target);
	if ((used & PL_PARAM_POLICY) && p->policy != NULL)
		len += (size_t)snprintf(b + len, n - len, " policy=%s", p->policy);
	if ((used & PL_PARAM_SPIN) && p->spin_ns != PL_SPIN_KIND_DEFAULT && len < n)
		len += (size_t)snprintf(b + len, n - len, " spin=%lldns", (long long)p->spin_ns);
	if ((used & PL_PARAM_TIMEOUT) && p->timeout_ns != 0 && len < n)
		len +=
		    (size_t)snprintf(b + len, n - len, " timeout=%lldns", (long long)p->timeout_ns);
	if (p->pin != PL_PIN_NONE && len < n)
		snprintf(b + len, n - len, " pin=%s", pl_pin_name(p->pin));
}

/*
 * apply_overrides - replace the lists of @g that @o gives and that the parameters @used
 * (PL_PARAM_* bits; --pin always) read.
 */
static int apply_overrides(const struct pb_opts *o, struct pb_subgrid *g, unsigned used, char *err,
			   size_t n)
{
	int e;

	if (o->chan && (used & PL_PARAM_CHAN_KIND) && (e = parse_kinds(o->chan, g, err, n)))
		return e;
	if (o->ratio && (used & (PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS)) &&
	    (e = parse_ratio(o->ratio, g, err, n)))
		return e;
	if ((o->producers || o->consumers) && (used & (PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS))) {
		struct pb_nums ps = {.n = 1, .v = {1}}, cs = {.n = 1, .v = {1}};

		if (o->producers &&
		    (e = parse_nums("--producers", o->producers, NUM_COUNT, &ps, err, n)))
			return e;
		if (o->consumers &&
		    (e = parse_nums("--consumers", o->consumers, NUM_COUNT, &cs, err, n)))
			return e;
		if (ps.n * cs.n > PB_MAX_LIST)
			return pb_einval(err, n, "--producers x --consumers: more than %d pairs",
					 PB_MAX_LIST);
		g->n_topos = 0;
		for (size_t i = 0; i < ps.n; i++)
			for (size_t j = 0; j < cs.n; j++) {
				if (ps.v[i] > 1024 || cs.v[j] > 1024)
					return pb_einval(err, n,
							 "--producers/--consumers: at most "
							 "1024 threads each");
				g->prod[g->n_topos] = (unsigned)ps.v[i];
				g->cons[g->n_topos] = (unsigned)cs.v[j];
				g->n_topos++;
			}
	}
	/* Depth 0 asked for as 0 (not 'rendezvous'): a kind without one says why it cannot. */
	if (o->depth && (used & PL_PARAM_QUEUE_DEPTH) && (e = parse_depths(o->depth, g, err, n)))
		return e;
	if (o->stages && (used & PL_PARAM_STAGES) &&
	    (e = parse_nums("--stages", o->stages, NUM_COUNT, &g->stages, err, n)))
		return e;
	if (o->work && (used & PL_PARAM_WORK_NS) &&
	    (e = parse_nums("--work-ns", o->work, NUM_NS, &g->work, err, n)))
		return e;
	if (o->rate && (used & PL_PARAM_RATE) &&
	    (e = parse_nums("--rate", o->rate, NUM_RATE, &g->rate, err, n)))
		return e;
	if (o->spin && (used & PL_PARAM_SPIN) &&
	    (e = parse_nums("--spin", o->spin, NUM_SPIN, &g->spin, err, n)))
		return e;
	if (o->timeout && (used & PL_PARAM_TIMEOUT) &&
	    (e = parse_nums("--timeout-ns", o->timeout, NUM_NS, &g->timeout, err, n)))
		return e;
	if (o->policy && (used & PL_PARAM_POLICY) && (e = parse_policies(o->policy, g, err, n)))
		return e;
	/* Every pattern starts threads, so every pattern reads --pin. */
	if (o->pin && (e = parse_pins(o->pin, &g->pin, err, n)))
		return e;
	return 0;
}

/*
 * The grid options: the command line's field and the parameter a pattern must read for the
 * option to apply (0: every pattern; --ratio as --producers). @listed: in `patlab list`.
 */
static const struct grid_opt {
	const char *name;
	size_t offset;
	unsigned bit;
	bool listed;
} grid_opts[] = {
    {"--chan", offsetof(struct pb_opts, chan), PL_PARAM_CHAN_KIND, true},
    {"--producers", offsetof(struct pb_opts, producers), PL_PARAM_PRODUCERS, true},
    {"--consumers", offsetof(struct pb_opts, consumers), PL_PARAM_CONSUMERS, true},
    {"--ratio", offsetof(struct pb_opts, ratio), PL_PARAM_PRODUCERS, false},
    {"--stages", offsetof(struct pb_opts, stages), PL_PARAM_STAGES, true},
    {"--depth", offsetof(struct pb_opts, depth), PL_PARAM_QUEUE_DEPTH, true},
    {"--work-ns", offsetof(struct pb_opts, work), PL_PARAM_WORK_NS, true},
    {"--rate", offsetof(struct pb_opts, rate), PL_PARAM_RATE, true},
    {"--policy", offsetof(struct pb_opts, policy), PL_PARAM_POLICY, true},
    {"--spin", offsetof(struct pb_opts, spin), PL_PARAM_SPIN, true},
    {"--timeout-ns", offsetof(struct pb_opts, timeout), PL_PARAM_TIMEOUT, true},
    {"--pin", offsetof(struct pb_opts, pin), 0, false},
};

static const char *grid_opt_value(const struct pb_opts *o, const struct grid_opt *g)
{
	const void *field = (const char *)o + g->offset; /* offsetof a const char * */

	return *(const char *const *)field;
}

void pb_grid_options_print(unsigned params, FILE *f)
{
	for (size_t i = 0; i < sizeof(grid_opts) / sizeof(grid_opts[0]); i++)
		if (grid_opts[i].listed && (params & grid_opts[i].bit))
			fprintf(f, " %s", grid_opts[i].name);
}

/* Which given options does no chosen pattern read? Said once, so a typo'd intent shows. */
static void note_ignored(const struct pb_opts *o, const struct pb_plan *plan)
{
	unsigned used = 0;

	for (size_t i = 0; i < plan->n_sub; i++)
		used |= plan->sub[i].pat->params;
	for (size_t i = 0; i < sizeof(grid_opts) / sizeof(grid_opts[0]); i++)
		if (grid_opts[i].bit != 0 && grid_opt_value(o, &grid_opts[i]) != NULL &&
		    !(used & grid_opts[i].bit))
			fprintf(stderr, "patlab: note: %s is ignored: no chosen pattern uses it\n",
				grid_opts[i].name);
}

/*
 * check_unread - the grid options no chosen pattern reads are still parsed, and refused when
 * malformed (`run --pattern pingpong --timeout-ns abc` is an error, not a note): into a
 * scratch sub-grid; a --policy that no chosen pattern has must be some pattern's policy.
 */
static int check_unread(const struct pb_opts *o, const struct pb_plan *plan, char *err, size_t n)
{
	unsigned used = 0;
	struct pb_subgrid g;

	for (size_t i = 0; i < plan->n_sub; i++)
		used |= plan->sub[i].pat->params;
	sub_default(&g, plan->sub[0].pat);
	if (o->policy != NULL && !(used & PL_PARAM_POLICY)) {
		char buf[512], *items[PB_MAX_LIST * 2];
		int count = pb_list_split("--policy", o->policy, buf, sizeof(buf), items,
					  PB_MAX_LIST * 2, err, n);

		for (int it = 0; it < count; it++) {
			bool known = false;

			for (const struct pl_pattern *const *p = pl_patterns(); *p && !known; p++)
				for (const char *const *q = (*p)->policies; q && *q && !known; q++)
					known = strcmp(*q, items[it]) == 0;
			if (!known)
				return pb_einval(err, n, "--policy: no pattern has a policy '%s'",
						 items[it]);
		}
		if (count < 0)
			return count;
	}
	return apply_overrides(o, &g, ~used & ~(unsigned)PL_PARAM_POLICY, err, n);
}

/* The dimensions of a sub-grid besides the kind: topology .. pin, see expand(). */
#define PB_DIMS 9

/*
 * add_procs_points - the point just added (the last one), whose runner takes a process-wide
 * parallelism, gets the first --gomaxprocs value (0: auto, the runner's choice), and one copy
 * of it per further value: one scenario, several points, like kinds.
 */
static int add_procs_points(struct pb_plan *plan, size_t *cap, char *err, size_t n)
{
	size_t tmpl = plan->n_points - 1;

	for (size_t m = 0; m < plan->procs.n; m++) {
		struct pb_point *pt;
		double v = plan->procs.v[m];

		if (m > 0) {
			if (plan->n_points >= 100000)
				return pb_einval(err, n, "the grid has more than 100000 points");
			if (plan->n_points == *cap) {
				*cap *= 2;
				plan->points =
				    pb_xrealloc(plan->points, *cap * sizeof(*plan->points));
			}
			plan->points[plan->n_points++] = plan->points[tmpl];
		}
		pt = &plan->points[m > 0 ? plan->n_points - 1 : tmpl];
		pt->procs = v > 0 ? (unsigned)v : pt->runner->auto_procs(pt->pat, &pt->p);
		label_point(pt);
	}
	return 0;
}

/* add_point - append the point of @g at list indexes @ix (see expand()) and kind @k. */
static int add_point(struct pb_plan *plan, const struct pb_subgrid *g, const size_t ix[PB_DIMS],
		     size_t k, size_t scenario, size_t *cap, char *err, size_t n)
{
	const struct pb_runner *runner = pb_runner_of(g->pat, g->kinds[k]);
	struct pl_chan_kind_info info;
	struct pb_point *pt;
	double depth = g->depth.v[ix[1]];

	/* --depth rendezvous: depth 0 only where it means something, kinds with a rendezvous. */
	if (depth == 0 && g->zero_rendezvous_only && (g->pat->params & PL_PARAM_CHAN_KIND) &&
	    (runner->kind_info(g->kinds[k], &info) != 0 || !info.rendezvous))
		return 0;
	if (plan->n_points >= 100000)
		return pb_einval(err, n, "the grid has more than 100000 points");
	if (plan->n_points == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		plan->points = pb_xrealloc(plan->points, *cap * sizeof(*plan->points));
	}
	pt = &plan->points[plan->n_points++];
	memset(pt, 0, sizeof(*pt));
	pt->pat = g->pat;
	pt->runner = runner;
	pt->scenario = scenario;
	pl_params_init(&pt->p);
	pt->p.chan_kind = g->kinds[k];
	pt->p.producers = g->prod[ix[0]];
	pt->p.consumers = g->cons[ix[0]];
	pt->p.queue_depth = isinf(depth) ? PL_CHAN_UNBOUNDED : (size_t)depth;
	pt->p.stages = (unsigned)g->stages.v[ix[2]];
	pt->p.work_ns = (int64_t)g->work.v[ix[3]];
	pt->p.rate_target = g->rate.v[ix[4]];
	pt->p.policy = g->n_policies ? g->policies[ix[5]] : NULL;
	pt->p.spin_ns = (int64_t)g->spin.v[ix[6]];
	pt->p.timeout_ns = (int64_t)g->timeout.v[ix[7]];
	pt->p.pin = (enum pl_pin)g->pin.v[ix[8]];
	pt->p.seconds = plan->seconds;
	pt->p.messages = plan->messages;
	pt->p.warmup_s = plan->warmup_s;
	pt->p.seed = plan->seed;
	pt->p.lat_sample = plan->lat_sample;
	label_point(pt);
	if (runner->procs != NULL)
		return add_procs_points(plan, cap, err, n);
	return 0;
}

/*
 * expand - every combination of every sub-grid's lists, in the order topology, depth,
 * stages, work, rate, policy, spin, timeout, pin (an odometer whose last wheel turns fastest), and
 * inside each combination (a scenario) every kind.
 */
static int expand(struct pb_plan *plan, bool single, char *err, size_t n)
{
	size_t cap = 0, scenario = 0;

	for (size_t s = 0; s < plan->n_sub; s++) {
		const struct pb_subgrid *g = &plan->sub[s];
		const size_t len[PB_DIMS] = {
		    g->n_topos, g->depth.n,   g->stages.n,
		    g->work.n,	g->rate.n,    g->n_policies ? g->n_policies : 1,
		    g->spin.n,	g->timeout.n, g->pin.n};
		size_t combos = 1;

		for (int d = 0; d < PB_DIMS; d++)
			combos *= len[d];
		if (single && combos * g->n_kinds != 1)
			return pb_einval(err, n,
					 "run: one value per parameter (use sweep for lists)");
		for (size_t c = 0; c < combos; c++, scenario++) {
			size_t ix[PB_DIMS], rest = c;

			for (int d = PB_DIMS - 1; d >= 0; d--) {
				ix[d] = rest % len[d];
				rest /= len[d];
			}
			for (size_t k = 0; k < g->n_kinds; k++) {
				int e = add_point(plan, g, ix, k, scenario, &cap, err, n);

				if (e != 0)
					return e;
			}
		}
	}
	if (plan->n_points == 0)
		return pb_einval(err, n, "the grid is empty");
	return 0;
}

/* ---------------------------------------------------------------- grids as text */

/*
 * The options of `patlab run` and `patlab sweep`: each fills a field of struct pb_opts, a
 * string (the option's value) or, without a value, a bool. --help has no field.
 */
#define STR(field)  offsetof(struct pb_opts, field), required_argument, false
#define FLAG(field) offsetof(struct pb_opts, field), no_argument, false
#define NO_FIELD    SIZE_MAX

static const struct opt_field {
	const char *name;
	size_t offset;
	int has_arg;
	bool sweep_only;
} opt_fields[] = {
    {"pattern", STR(pattern)},
    {"chan", STR(chan)},
    {"producers", STR(producers)},
    {"consumers", STR(consumers)},
    {"workers", STR(consumers)},
    {"ratio", STR(ratio)},
    {"depth", STR(depth)},
    {"stages", STR(stages)},
    {"work-ns", STR(work)},
    {"rate", STR(rate)},
    {"policy", STR(policy)},
    {"spin", STR(spin)},
    {"pin", STR(pin)},
    {"dry-run", offsetof(struct pb_opts, dry_run), no_argument, true},
    {"timeout-ns", STR(timeout)},
    {"reps", STR(reps)},
    {"warmup", STR(warmup)},
    {"seconds", STR(seconds)},
    {"messages", STR(messages)},
    {"seed", STR(seed)},
    {"out", STR(out)},
    {"preset", offsetof(struct pb_opts, preset), required_argument, true},
    {"quiet", FLAG(quiet)},
    {"no-latency", FLAG(no_latency)},
    {"lat-sample", STR(lat_sample)},
    {"gomaxprocs", STR(gomaxprocs)},
    {"help", NO_FIELD, no_argument, false},
};

#undef STR
#undef FLAG

#define N_OPTS (sizeof(opt_fields) / sizeof(opt_fields[0]))

int pb_opts_parse(int argc, char **argv, bool sweep, struct pb_opts *o, char *err, size_t n)
{
	static struct option long_opts[N_OPTS + 1];
	void *field;
	int c;

	for (size_t i = 0; i < N_OPTS; i++)
		long_opts[i] =
		    (struct option){opt_fields[i].name, opt_fields[i].has_arg, NULL, (int)i + 256};
	memset(o, 0, sizeof(*o));
	optind = 0; /* glibc: a full restart, argv may differ from the last call's */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", long_opts, NULL)) != -1) {
		const struct opt_field *f = c >= 256 ? &opt_fields[c - 256] : NULL;

		if (c == ':')
			return pb_einval(err, n, "option '%s' needs a value", argv[optind - 1]);
		if (f == NULL)
			return pb_einval(err, n, "unknown option '%s'", argv[optind - 1]);
		if (f->offset == NO_FIELD)
			return 1;
		/* As the messages always were: "--dry-run is ...", "run: --preset is ...". */
		if (f->sweep_only && !sweep)
			return pb_einval(err, n, "%s--%s is for sweep", f->has_arg ? "run: " : "",
					 f->name);
		if (f->has_arg && optarg[0] == '\0' && f->offset == offsetof(struct pb_opts, out))
			return pb_einval(err, n, "--out: an empty path (give a folder)");
		field = (char *)o + f->offset; /* offsetof a const char * or a bool */
		if (f->has_arg)
			*(const char **)field = optarg;
		else
			*(bool *)field = true;
	}
	if (optind < argc)
		return pb_einval(err, n, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int pb_grid_parse(const struct pl_pattern *pat, const char *grid, struct pb_subgrid *g, char *err,
		  size_t n)
{
	char buf[1024], *argv[64], *save = NULL, why[512];
	int argc = 0, e;
	struct pb_opts o;

	sub_default(g, pat);
	if (strlen(grid) >= sizeof(buf))
		return pb_einval(err, n, "%s grid '%s': too long", pat->name, grid);
	snprintf(buf, sizeof(buf), "%s", grid);
	argv[argc++] = "grid";
	for (char *t = strtok_r(buf, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		if (argc == 63)
			return pb_einval(err, n, "%s grid '%s': too many words", pat->name, grid);
		argv[argc++] = t;
	}
	argv[argc] = NULL;
	e = pb_opts_parse(argc, argv, true, &o, why, sizeof(why));
	if (e > 0 || (e == 0 && (o.pattern || o.preset || o.gomaxprocs || o.reps || o.warmup ||
				 o.seconds || o.messages || o.seed || o.lat_sample || o.out ||
				 o.quiet || o.no_latency || o.dry_run)))
		e = pb_einval(why, sizeof(why),
			      "only grid options (--chan .. --pin) belong in a grid");
	for (size_t i = 0; e == 0 && i < sizeof(grid_opts) / sizeof(grid_opts[0]); i++)
		if (grid_opts[i].bit != 0 && grid_opt_value(&o, &grid_opts[i]) != NULL &&
		    !(pat->params & grid_opts[i].bit))
			e = pb_einval(why, sizeof(why), "%s does not read %s", pat->name,
				      grid_opts[i].name);
	if (e == 0)
		e = apply_overrides(&o, g, pat->params, why, sizeof(why));
	if (e != 0)
		return pb_einval(err, n, "%s grid '%s': %s", pat->name, grid, why);
	return 0;
}

/* preset_grid - append @pat's sub-grid @grid of preset @ps to @plan. */
static int preset_grid(struct pb_plan *plan, const struct pb_preset *ps,
		       const struct pl_pattern *pat, const char *grid, char *err, size_t n)
{
	if (plan->n_sub == PB_MAX_SUB)
		return pb_einval(err, n, "preset %s: more than %d sub-grids", ps->name, PB_MAX_SUB);
	return pb_grid_parse(pat, grid, &plan->sub[plan->n_sub++], err, n);
}

/*
 * preset_load - the sub-grids and settings of the preset @plan->preset: its own grids, or
 * (quick) every pattern's, in registry order.
 */
static int preset_load(struct pb_plan *plan, char *err, size_t n)
{
	const struct pb_preset *ps;
	const char *names[16];
	char valid[256];
	size_t k = 0;
	int e = 0;

	for (ps = pb_presets; ps->name != NULL && strcmp(ps->name, plan->preset) != 0; ps++)
		if (k < 15)
			names[k++] = ps->name;
	if (ps->name == NULL) {
		names[k] = NULL;
		names_joined(names, valid, sizeof(valid));
		return pb_einval(err, n, "--preset: unknown preset '%s' (valid: %s)", plan->preset,
				 valid);
	}
	plan->reps = ps->reps;
	plan->seconds = ps->seconds;
	plan->warmup_s = ps->warmup_s;
	plan->n_sub = 0;
	for (const struct pl_pattern *const *p = pl_patterns(); ps->grids == NULL && *p; p++)
		for (const char *const *q = (*p)->quick; q != NULL && *q != NULL && e == 0; q++)
			e = preset_grid(plan, ps, *p, *q, err, n);
	for (const struct pb_preset_grid *g = ps->grids; g != NULL && g->pattern && e == 0; g++) {
		const struct pl_pattern *pat = pl_pattern_find(g->pattern);

		e = pat ? preset_grid(plan, ps, pat, g->grid, err, n)
			: pb_einval(err, n, "preset %s: no pattern %s", ps->name, g->pattern);
	}
	return e;
}

/*
 * select_pattern - add @pat's sub-grids from the preset @from (several for "full"), or a
 * default sub-grid when the preset has none; nothing when @plan has it already.
 */
static void select_pattern(struct pb_plan *plan, const struct pb_plan *from,
			   const struct pl_pattern *pat)
{
	bool found = false;

	for (size_t s = 0; s < plan->n_sub; s++)
		if (plan->sub[s].pat == pat)
			return;
	for (size_t s = 0; s < from->n_sub && plan->n_sub < PB_MAX_SUB; s++) {
		if (from->sub[s].pat != pat)
			continue;
		plan->sub[plan->n_sub++] = from->sub[s];
		found = true;
	}
	if (!found && plan->n_sub < PB_MAX_SUB)
		sub_default(&plan->sub[plan->n_sub++], pat);
}

/* parse_gomaxprocs - --gomaxprocs LIST: 'auto' (0) and counts >= 1, ranges as elsewhere. */
static int parse_gomaxprocs(const struct pb_opts *o, struct pb_plan *plan, bool single, char *err,
			    size_t n)
{
	char buf[1024], rest[1024] = "", *items[PB_MAX_LIST * 2];
	bool autov = false;
	size_t len = 0;
	int count;

	plan->procs.n = 1;
	plan->procs.v[0] = 0;
	if (o->gomaxprocs == NULL)
		return 0;
	count = pb_list_split("--gomaxprocs", o->gomaxprocs, buf, sizeof(buf), items,
			      PB_MAX_LIST * 2, err, n);
	if (count < 0)
		return count;
	for (int it = 0; it < count; it++) {
		if (strcmp(items[it], "auto") == 0)
			autov = true;
		else
			len += (size_t)snprintf(rest + len, sizeof(rest) - len, "%s%s",
						len ? "," : "", items[it]);
	}
	plan->procs.n = 0;
	if (rest[0] != '\0') {
		char why[512];

		if (parse_nums("--gomaxprocs", rest, NUM_COUNT, &plan->procs, why, sizeof(why)) !=
		    0)
			return pb_einval(err, n, "%s; or 'auto'", why);
		for (size_t i = 0; i < plan->procs.n; i++)
			if (plan->procs.v[i] > 1024)
				return pb_einval(err, n, "--gomaxprocs: at most 1024");
	}
	if (autov) {
		if (plan->procs.n == PB_MAX_LIST)
			return pb_einval(err, n, "--gomaxprocs: more than %d values", PB_MAX_LIST);
		memmove(&plan->procs.v[1], &plan->procs.v[0], plan->procs.n * sizeof(double));
		plan->procs.v[0] = 0;
		plan->procs.n++;
	}
	if (plan->procs.n == 0)
		return pb_einval(err, n, "--gomaxprocs: empty list (valid: 'auto', integers >= 1)");
	if (single && plan->procs.n != 1)
		return pb_einval(err, n, "run: one value per parameter (use sweep for lists)");
	return 0;
}

int pb_plan_make(const struct pb_opts *o, bool single, struct pb_plan *plan, char *err, size_t n)
{
	const struct pl_pattern *const *all = pl_patterns();
	double v = 0;
	int e;

	memset(plan, 0, sizeof(*plan));
	plan->preset = single ? NULL : (o->preset ? o->preset : "quick");
	plan->seed = 1;
	plan->latency = !o->no_latency;
	if (plan->preset == NULL) {
		plan->reps = 1;
		plan->seconds = 1.0;
		plan->warmup_s = 0.1;
	} else if ((e = preset_load(plan, err, n)) != 0) {
		return e;
	}

	/* --pattern: keep the preset's sub-grids of those patterns; others get the default. */
	if (o->pattern != NULL || plan->n_sub == 0) {
		struct pb_plan from = *plan;
		const char *list = o->pattern ? o->pattern : "chan";
		char buf[512], *items[PB_MAX_SUB * 4];
		int count = pb_list_split("--pattern", list, buf, sizeof(buf), items,
					  PB_MAX_SUB * 4, err, n);

		if (count < 0)
			return count;
		plan->n_sub = 0;
		for (int it = 0; it < count; it++) {
			const char *item = items[it];
			const struct pl_pattern *const *pp;
			bool any = false;

			for (pp = all; *pp != NULL; pp++) {
				if (strcmp(item, "all") != 0 && strcmp(item, (*pp)->name) != 0)
					continue;
				any = true;
				select_pattern(plan, &from, *pp);
			}
			if (!any) {
				char valid[256];
				const char *names[32];
				size_t k = 0;

				for (pp = all; *pp != NULL && k < 31; pp++)
					names[k++] = (*pp)->name;
				names[k] = NULL;
				names_joined(names, valid, sizeof(valid));
				return pb_einval(err, n,
						 "--pattern: unknown pattern '%s' (valid: %s, "
						 "all)",
						 item, valid);
			}
		}
		if (plan->n_sub == 0)
			return pb_einval(err, n, "--pattern: empty list");
	}
	if (o->ratio && (o->producers || o->consumers))
		return pb_einval(err, n, "--ratio cannot be combined with --producers/--consumers");
	for (size_t s = 0; s < plan->n_sub; s++) {
		/* `run` measures one point: without --chan, the default kind (mutex), not all. */
		if (single && o->chan == NULL)
			parse_kinds(pl_chan_kinds()[0], &plan->sub[s], err, n);
		if ((e = apply_overrides(o, &plan->sub[s], plan->sub[s].pat->params, err, n)))
			return e;
	}
	if (o->reps) {
		if ((e = parse_count("--reps", o->reps, 1, 1000, &v, true, err, n)))
			return e;
		plan->reps = (unsigned)v;
	}
	if (o->seconds && o->messages)
		return pb_einval(err, n, "--seconds and --messages exclude each other");
	if (o->seconds) {
		if ((e = parse_count("--seconds", o->seconds, 0.001, 3600, &v, false, err, n)))
			return e;
		plan->seconds = v;
	}
	if (o->messages) {
		if ((e = parse_count("--messages", o->messages, 1, 1e12, &v, true, err, n)))
			return e;
		plan->messages = (uint64_t)v;
	}
	if (o->warmup) {
		if ((e = parse_count("--warmup", o->warmup, 0, 600, &v, false, err, n)))
			return e;
		plan->warmup_s = v;
	}
	if (o->seed) {
		if ((e = parse_count("--seed", o->seed, 0, 9007199254740992.0, &v, true, err, n)))
			return e;
		plan->seed = (uint64_t)v;
	}
	if (o->lat_sample && strcmp(o->lat_sample, "auto") != 0) {
		if (parse_count("--lat-sample", o->lat_sample, 1, 1099511627776.0, &v, true, err,
				n) != 0)
			return pb_einval(
			    err, n,
			    "--lat-sample: bad value '%s' (valid: auto, or an integer N "
			    "from 1 to 2^40: time one message in N)",
			    o->lat_sample);
		plan->lat_sample = (uint64_t)v;
	}
	if ((e = check_unread(o, plan, err, n)) != 0)
		return e;
	note_ignored(o, plan);
	if ((e = parse_gomaxprocs(o, plan, single, err, n)) || (e = expand(plan, single, err, n)))
		return e;
	if (o->gomaxprocs != NULL) {
		bool any = false;

		for (size_t i = 0; i < plan->n_points && !any; i++)
			any = plan->points[i].procs > 0;
		if (!any)
			fprintf(stderr, "patlab: note: --gomaxprocs is ignored: no go points (add "
					"--chan ...,go)\n");
	}
	return 0;
}

void pb_plan_free(struct pb_plan *plan)
{
	free(plan->points);
	plan->points = NULL;
	plan->n_points = 0;
}

/* ---------------------------------------------------------------- execution */

static const char *fmt_dur(double s, char *buf, size_t n)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, n, "%.0fs", s);
	else if (s < 3600)
		snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
	else
		snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
	return buf;
}

static void fill_row(struct pb_row *w, const struct pb_point *pt, unsigned rep,
		     const struct pl_result *r)
{
	const struct pl_params *p = &pt->p;
	unsigned used = pt->pat->params;

	pb_utc_now(w->timestamp, sizeof(w->timestamp));
	snprintf(w->pattern, sizeof(w->pattern), "%s", pt->pat->name);
	snprintf(w->kind, sizeof(w->kind), "%s", (used & PL_PARAM_CHAN_KIND) ? p->chan_kind : "-");
	if (!(used & PL_PARAM_POLICY) || pt->pat->policies == NULL)
		snprintf(w->policy, sizeof(w->policy), "-");
	else
		snprintf(w->policy, sizeof(w->policy), "%s",
			 p->policy ? p->policy : pt->pat->policies[0]);
	pb_field_clean(w->kind);
	pb_field_clean(w->policy);
	w->producers = p->producers;
	w->consumers = p->consumers;
	w->stages = p->stages;
	w->depth = p->queue_depth == PL_CHAN_UNBOUNDED ? PB_DEPTH_UNBOUNDED : p->queue_depth;
	w->work_ns = p->work_ns;
	w->rate = p->rate_target;
	w->spin_ns = p->spin_ns == PL_SPIN_KIND_DEFAULT ? PL_CHAN_SPIN_NS_DEFAULT : p->spin_ns;
	w->timeout_ns = p->timeout_ns;
	snprintf(w->pin, sizeof(w->pin), "%s", pl_pin_name(p->pin));
	w->rep = rep + 1;
	w->warmup_s = p->warmup_s;
	w->seed = p->seed;
	w->messages = r->messages;
	w->seconds = r->seconds;
	/* Rounded as results.csv writes it (%.1f), so a summary made from the CSV is the same. */
	w->tput = r->seconds > 0 ? round((double)r->messages / r->seconds * 10) / 10 : 0;
	if (r->latency != NULL)
		w->lat = pl_hist_summarize(r->latency);
	w->dropped = r->dropped;
	w->rejected = r->rejected;
	w->lost = r->lost;
	for (unsigned i = 0; i < r->n_extras; i++)
		pb_row_add_extra(w, r->extras[i].name, r->extras[i].value);
}

static void progress(bool tty, size_t done, size_t total, double eta, unsigned rep, unsigned reps,
		     const char *label, const char *tail)
{
	char d[32];

	fprintf(stderr, "%s[%4zu/%zu %3.0f%% ETA %s] rep %u/%u %s%s%s", tty ? "\r\033[K" : "", done,
		total, total ? 100.0 * (double)done / (double)total : 100.0,
		fmt_dur(eta, d, sizeof(d)), rep, reps, label, tail ? ": " : "", tail ? tail : "");
	if (!tty || tail != NULL)
		fputc(tty && tail == NULL ? '\r' : '\n', stderr);
	fflush(stderr);
}

/* point_check - can @pt run (its runner's check): 0, or -errno with @r->why. */
static int point_check(const struct pb_point *pt, struct pl_result *r)
{
	pl_result_init(r, NULL);
	return pt->runner->check(pt->pat, &pt->p, r);
}

/* spawn_note - a runner's process start-up, for meta.json. */
static void spawn_note(struct pb_run *run, double ms)
{
	if (isnan(ms))
		return;
	if (run->spawns == 0 || ms < run->spawn_ms_min)
		run->spawn_ms_min = ms;
	if (ms > run->spawn_ms_max)
		run->spawn_ms_max = ms;
	run->spawn_ms_sum += ms;
	run->spawns++;
}

void pb_plan_print(const struct pb_plan *plan, FILE *f)
{
	size_t live = 0;
	double per_run = plan->warmup_s + plan->seconds;

	for (size_t i = 0; i < plan->n_points; i++) {
		const struct pb_point *pt = &plan->points[i];
		struct pl_result r;

		if (point_check(pt, &r) == 0) {
			live++;
			fprintf(f, "  %s\n", pt->label);
		} else {
			fprintf(f, "  %s  (not run: %s)\n", pt->label, r.why);
		}
	}
	fprintf(f, "%zu points (%zu to run) x %u reps = %zu runs", plan->n_points, live, plan->reps,
		live * plan->reps);
	if (plan->messages == 0)
		fprintf(f, " of %.3g s (%.3g s warm-up + %.3g s measured): about %.0f s\n", per_run,
			plan->warmup_s, plan->seconds, (double)(live * plan->reps) * per_run);
	else
		fprintf(f, " of %llu messages each\n", (unsigned long long)plan->messages);
}

int pb_plan_refused(const struct pb_plan *plan, char *err, size_t n)
{
	size_t bad = 0, len = 0;

	err[0] = '\0';
	for (size_t i = 0; i < plan->n_points; i++) {
		struct pl_result r;

		if (point_check(&plan->points[i], &r) != -EINVAL)
			continue;
		if (++bad <= 3 && len < n)
			len +=
			    (size_t)snprintf(err + len, n - len, "%s%s: %s", bad > 1 ? "\n  " : "",
					     plan->points[i].label, r.why);
	}
	if (bad > 3 && len < n)
		snprintf(err + len, n - len, "\n  ... and %zu more point(s)", bad - 3);
	return bad > 0 ? -EINVAL : 0;
}

/*
 * The heartbeat: a run blocks the main thread for its warm-up and window (up to an hour), so
 * while one is measured a thread says every HEARTBEAT_S seconds that it goes on. The main
 * thread hands it each run (heartbeat_begin()) and takes it back (heartbeat_end()) before it
 * prints anything itself, all under @lock, so the two never write at once.
 */
#define HEARTBEAT_S 5

struct heartbeat {
	pthread_mutex_t lock;
	pthread_cond_t cond;	     /* waited on by the thread; signalled by heartbeat_begin(),
				      * heartbeat_end() and heartbeat_stop() */
	bool started, running, stop; /* under @lock */
	int64_t begin_ns;	     /* under @lock: when the run began */
	double expect_s; /* under @lock: warm-up + window; 0 when unknown (--messages) */
	char what[192];	 /* under @lock: "[ 3/12  25% ETA 9s] rep 1/3 chan mutex ..." */
	bool tty;
	pthread_t thread;
};

static void *heartbeat_main(void *arg)
{
	struct heartbeat *hb = arg;
	struct timespec until;

	pthread_mutex_lock(&hb->lock);
	while (!hb->stop) {
		int64_t now = pl_now_ns(), beats, wait_ns;

		if (!hb->running) {
			pthread_cond_wait(&hb->cond, &hb->lock);
			continue;
		}
		/* The next whole multiple of HEARTBEAT_S since the run began. */
		beats = (now - hb->begin_ns) / (HEARTBEAT_S * INT64_C(1000000000)) + 1;
		wait_ns = hb->begin_ns + beats * HEARTBEAT_S * INT64_C(1000000000) - now;
		clock_gettime(CLOCK_MONOTONIC, &until);
		wait_ns += until.tv_nsec;
		until.tv_sec += (time_t)(wait_ns / 1000000000);
		until.tv_nsec = (long)(wait_ns % 1000000000);
		if (pthread_cond_timedwait(&hb->cond, &hb->lock, &until) != ETIMEDOUT ||
		    !hb->running || hb->stop)
			continue;
		now = pl_now_ns();
		if (hb->expect_s > 0)
			fprintf(stderr, "%s%s: measuring, %.0f s of about %.0f s%s",
				hb->tty ? "\r\033[K" : "", hb->what,
				(double)(now - hb->begin_ns) / 1e9, hb->expect_s,
				hb->tty ? "" : "\n");
		else
			fprintf(stderr, "%s%s: measuring, %.0f s so far%s",
				hb->tty ? "\r\033[K" : "", hb->what,
				(double)(now - hb->begin_ns) / 1e9, hb->tty ? "" : "\n");
		fflush(stderr);
	}
	pthread_mutex_unlock(&hb->lock);
	return NULL;
}

static void heartbeat_start(struct heartbeat *hb, bool tty)
{
	pthread_condattr_t attr;

	memset(hb, 0, sizeof(*hb));
	hb->tty = tty;
	pthread_mutex_init(&hb->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&hb->cond, &attr);
	pthread_condattr_destroy(&attr);
	/* Without the thread there is no heartbeat, and nothing else changes. */
	hb->started = pthread_create(&hb->thread, NULL, heartbeat_main, hb) == 0;
}

static void heartbeat_begin(struct heartbeat *hb, const char *what, double expect_s)
{
	pthread_mutex_lock(&hb->lock);
	snprintf(hb->what, sizeof(hb->what), "%s", what);
	hb->begin_ns = pl_now_ns();
	hb->expect_s = expect_s;
	hb->running = true;
	pthread_cond_signal(&hb->cond);
	pthread_mutex_unlock(&hb->lock);
}

static void heartbeat_end(struct heartbeat *hb)
{
	pthread_mutex_lock(&hb->lock);
	hb->running = false;
	pthread_cond_signal(&hb->cond);
	pthread_mutex_unlock(&hb->lock);
}

static void heartbeat_stop(struct heartbeat *hb)
{
	pthread_mutex_lock(&hb->lock);
	hb->stop = true;
	pthread_cond_signal(&hb->cond);
	pthread_mutex_unlock(&hb->lock);
	if (hb->started)
		pthread_join(hb->thread, NULL);
	pthread_cond_destroy(&hb->cond);
	pthread_mutex_destroy(&hb->lock);
}

/* execute - pb_plan_execute() with the heartbeat @hb (NULL: quiet). */
static int execute(struct pb_plan *plan, struct pb_run *run, bool quiet,
		   int (*row_done)(struct pb_run *run), struct heartbeat *hb)
{
	pl_hist *hist = plan->latency ? pl_hist_new() : NULL;
	size_t live = 0, done = 0, total;
	bool tty = !quiet && isatty(STDERR_FILENO);
	int64_t t_begin = pl_now_ns();
	double per_run = plan->warmup_s + (plan->messages ? 0.5 : plan->seconds) + 0.02;

	if (plan->latency && hist == NULL) {
		fputs("patlab: out of memory\n", stderr);
		return PB_EXIT_FAILED;
	}
	/* Points the patterns refuse outright: say so once, never run them. */
	for (size_t i = 0; i < plan->n_points; i++) {
		struct pb_point *pt = &plan->points[i];
		struct pl_result r;
		int e;

		e = point_check(pt, &r);
		if (e == 0) {
			live++;
			continue;
		}
		pt->skip = true;
		if (e == -ENOTSUP) {
			pb_run_note(&run->skipped, &run->n_skipped, pt->label, r.why);
			if (!quiet)
				fprintf(stderr, "skip: %s: %s\n", pt->label, r.why);
		} else {
			pb_run_note(&run->failed, &run->n_failed, pt->label, r.why);
			run->n_refused += e == -EINVAL;
			fprintf(stderr, "patlab: %s: %s\n", pt->label, r.why);
		}
	}
	total = live * plan->reps;
	run->points = plan->n_points;
	run->runs_total = total;

	for (unsigned rep = 0; rep < plan->reps; rep++) {
		for (size_t g0 = 0; g0 < plan->n_points;) {
			size_t g1 = g0;

			while (g1 < plan->n_points &&
			       plan->points[g1].scenario == plan->points[g0].scenario)
				g1++;
			for (size_t j = 0; j < g1 - g0; j++) {
				struct pb_point *pt = &plan->points[g0 + (j + rep) % (g1 - g0)];
				struct pl_result r;
				char tail[160], a[32], b[32], c[32];
				double elapsed, eta, spawn_ms = NAN;
				int e;

				if (pt->skip)
					continue;
				if (pb_stop_requested) {
					pl_hist_free(hist);
					return PB_EXIT_INTERRUPT;
				}
				elapsed = (double)(pl_now_ns() - t_begin) / 1e9;
				eta = done ? elapsed / (double)done * (double)(total - done)
					   : per_run * (double)(total - done);
				if (tty)
					progress(tty, done, total, eta, rep + 1, plan->reps,
						 pt->label, NULL);
				if (hist != NULL)
					pl_hist_reset(hist);
				pl_result_init(&r, hist);
				if (hb != NULL) {
					char what[192], d[32];

					snprintf(
					    what, sizeof(what),
					    "[%4zu/%zu %3.0f%% ETA %s] rep %u/%u %s", done, total,
					    total ? 100.0 * (double)done / (double)total : 100.0,
					    fmt_dur(eta, d, sizeof(d)), rep + 1, plan->reps,
					    pt->label);
					heartbeat_begin(
					    hb, what,
					    plan->messages ? 0 : plan->warmup_s + plan->seconds);
				}
				e = pt->runner->run(pt->pat, &pt->p, pt->procs, &r, &spawn_ms);
				if (hb != NULL)
					heartbeat_end(hb);
				if (e == 0)
					spawn_note(run, spawn_ms);
				if (e != 0) {
					pt->skip = true;
					total -= plan->reps - rep;
					if (e == -ENOTSUP) {
						pb_run_note(&run->skipped, &run->n_skipped,
							    pt->label, r.why);
						if (!quiet)
							fprintf(stderr, "%sskip: %s: %s\n",
								tty ? "\r\033[K" : "", pt->label,
								r.why);
					} else {
						pb_run_note(&run->failed, &run->n_failed, pt->label,
							    r.why);
						run->n_refused += e == -EINVAL;
						fprintf(stderr, "%spatlab: FAILED %s: %s\n",
							tty ? "\r\033[K" : "", pt->label, r.why);
					}
					continue;
				}
				fill_row(pb_run_add_row(run), pt, rep, &r);
				done++;
				if (row_done != NULL && row_done(run) != 0) {
					pl_hist_free(hist);
					return PB_EXIT_FAILED;
				}
				if (quiet)
					continue;
				{
					const struct pb_row *w = &run->rows[run->n_rows - 1];

					if (plan->latency)
						snprintf(
						    tail, sizeof(tail), "%s M/s  p50 %s  p99 %s%s",
						    pb_fmt_tput(w->tput, a, sizeof(a)),
						    pb_fmt_ns((double)w->lat.p50, b, sizeof(b)),
						    pb_fmt_ns((double)w->lat.p99, c, sizeof(c)),
						    w->lost ? "  LOST MESSAGES" : "");
					else
						snprintf(tail, sizeof(tail), "%s M/s%s",
							 pb_fmt_tput(w->tput, a, sizeof(a)),
							 w->lost ? "  LOST MESSAGES" : "");
				}
				elapsed = (double)(pl_now_ns() - t_begin) / 1e9;
				eta = elapsed / (double)done * (double)(total - done);
				progress(tty, done, total, eta, rep + 1, plan->reps, pt->label,
					 tail);
			}
			g0 = g1;
		}
	}
	pl_hist_free(hist);
	return PB_EXIT_OK;
}

int pb_plan_execute(struct pb_plan *plan, struct pb_run *run, bool quiet,
		    int (*row_done)(struct pb_run *run))
{
	struct heartbeat hb;
	int rc;

	if (quiet)
		return execute(plan, run, quiet, row_done, NULL);
	heartbeat_start(&hb, isatty(STDERR_FILENO));
	rc = execute(plan, run, quiet, row_done, &hb);
	heartbeat_stop(&hb);
	return rc;
}
