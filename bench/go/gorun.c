/* SPDX-License-Identifier: MIT */
/*
 * The "go" kind: Go's own channels, measured by bench/go/patlab-go in the same sweep.
 *
 * The go runner (runner.h): a point whose kind is "go" is not run through the pattern vtable
 * (Go's channels are not a C kind): go_run() forks and execs patlab-go once per point and
 * repetition with the point's parameters on its command line, waits for it, and turns its
 * result block (bench/go/main.go documents it) into a struct pl_result that the sweep stores
 * like any other, so the CSV writer, its schema and the summary stay the C side's alone. The
 * latency comes back as the histogram itself (its non-empty buckets, exact count, sum, min and
 * max), merged into the caller's pl_hist: the percentiles in a Go row are computed by the same
 * pl_hist_summarize() as every C row (and Go's port of the bucketing is checked against C's by
 * tests/go/test_go_hist.c).
 *
 * Process per point: the start gate, the warm-up and the window all run inside patlab-go,
 * after its main() began, so process creation is outside the measured window; the start-up
 * (exec -> main, from a CLOCK_MONOTONIC stamp passed as -t0) is recorded for meta.json. The
 * driver meanwhile sleeps in poll() on the child's stdout: it uses no CPU during the window.
 * The child ignores SIGINT (so a first Ctrl-C lets the point finish, as for C points; Go keeps
 * a signal ignored at exec ignored); a child that outlives its deadline is killed.
 *
 * GOMAXPROCS: by default the C side's thread budget for that point, min(online CPUs, the
 * threads the C workload runs) (struct pl_pattern.threads), so Go may run as many goroutines in
 * parallel as the C kinds run threads in parallel; `--gomaxprocs LIST` sweeps it instead.
 * The value in effect is in every Go row's extras (gomaxprocs=N).
 *
 * Where the binary is: $PATLAB_GO if set, else go/patlab-go beside this executable (the build
 * tree's layout: bench/patlab and bench/go/patlab-go). Probed once (go_probe()); without it
 * every go point is skipped with the reason, and `--chan all` leaves go out.
 *
 * Everything here runs on the main thread, between points.
 */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define GO_PROTOCOL   1
#define GO_PROBE_NS   (10 * INT64_C(1000000000))
#define GO_MAX_OUTPUT (1u << 20)
#define GO_PATTERNS   16

/* struct go_info - patlab-go, as probed once: where, which Go, which workloads. */
struct go_info {
	bool available;
	char path[PATH_MAX];
	char version[64]; /* e.g. "go1.19.8" */
	char why[384];	  /* when not available: why, and what to do */
	size_t n_patterns;
	char patterns[GO_PATTERNS][32];
};

static struct go_info go_info;
static bool go_probed;

static int why(struct pl_result *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int why(struct pl_result *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return err;
}

/*
 * run_child - run @argv with stdout captured into *@out (NUL-terminated, malloc'd; the
 * caller frees it) and stderr shared, for at most @timeout_ns. *@status is waitpid()'s.
 * @cpu >= 0 confines the child to that CPU before the exec (it exits 125 if refused).
 * Returns 0, -ETIMEDOUT (the child was killed), -EMSGSIZE (too much output; killed) or -errno.
 */
static int run_child(char *const argv[], int64_t timeout_ns, int cpu, char **out, int *status)
{
	int fd[2], err = 0;
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	int64_t deadline = pl_now_ns() + timeout_ns;
	pid_t pid;

	*out = NULL;
	if (buf == NULL)
		return -ENOMEM;
	if (pipe2(fd, O_CLOEXEC) != 0) {
		free(buf);
		return -errno;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(fd[0]);
		close(fd[1]);
		free(buf);
		return err;
	}
	if (pid == 0) {
		/* The child: async-signal-safe calls only. */
		struct sigaction ign = {.sa_handler = SIG_IGN};

		sigaction(SIGINT, &ign, NULL);
		if (dup2(fd[1], STDOUT_FILENO) < 0)
			_exit(126);
		if (cpu >= 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			if (sched_setaffinity(0, sizeof(set), &set) != 0)
				_exit(125);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd[1]);
	for (;;) {
		struct pollfd pfd = {.fd = fd[0], .events = POLLIN};
		int64_t left = deadline - pl_now_ns();
		ssize_t got;
		int rc;

		if (left <= 0) {
			err = -ETIMEDOUT;
			break;
		}
		/* Sleeps until the child writes or exits (EOF), waking once a second at most to
		 * check the deadline: the driver takes no CPU from the child's window. */
		rc = poll(&pfd, 1, left > 1000000000 ? 1000 : (int)(left / 1000000) + 1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			err = -errno;
			break;
		}
		if (rc == 0)
			continue;
		if (len + 4096 + 1 > cap) {
			char *nb;

			if (cap >= GO_MAX_OUTPUT) {
				err = -EMSGSIZE;
				break;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		got = read(fd[0], buf + len, cap - len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = -errno;
			break;
		}
		if (got == 0)
			break; /* EOF: the child closed its stdout (exited) */
		len += (size_t)got;
	}
	close(fd[0]);
	if (err != 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	buf[len] = '\0';
	if (err != 0) {
		free(buf);
		return err;
	}
	*out = buf;
	return 0;
}

static void go_path(char *buf, size_t n)
{
	const char *env = getenv("PATLAB_GO");
	char exe[PATH_MAX];
	ssize_t len;
	char *slash;

	if (env != NULL && env[0] != '\0') {
		snprintf(buf, n, "%s", env);
		return;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0) {
		snprintf(buf, n, "go/patlab-go");
		return;
	}
	exe[len] = '\0';
	slash = strrchr(exe, '/');
	if (slash != NULL)
		*slash = '\0';
	snprintf(buf, n, "%.*s/go/patlab-go", (int)sizeof(exe) - 64, exe);
}

/* go_probe - find and ask patlab-go (once; later calls return the same answer). */
static const struct go_info *go_probe(void)
{
	struct go_info *g = &go_info;
	char *out = NULL, *save = NULL, *line;
	char *argv[3];
	int status = 0, proto = 0, e;

	if (go_probed)
		return g;
	go_probed = true;
	go_path(g->path, sizeof(g->path));
	if (access(g->path, X_OK) != 0) {
		snprintf(g->why, sizeof(g->why),
			 "go not installed: no patlab-go at %.200s (install golang-go, e.g. "
			 "scripts/deps, and rebuild; or set PATLAB_GO)",
			 g->path);
		return g;
	}
	argv[0] = g->path;
	argv[1] = "version";
	argv[2] = NULL;
	e = run_child(argv, GO_PROBE_NS, -1, &out, &status);
	if (e != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    sscanf(out, "patlab-go protocol %d %63s", &proto, g->version) != 2 ||
	    proto != GO_PROTOCOL) {
		snprintf(g->why, sizeof(g->why),
			 "go: %.200s does not answer 'version' with protocol %d (rebuild it)",
			 g->path, GO_PROTOCOL);
		free(out);
		return g;
	}
	free(out);
	argv[1] = "patterns";
	e = run_child(argv, GO_PROBE_NS, -1, &out, &status);
	if (e != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(g->why, sizeof(g->why), "go: %.200s patterns failed", g->path);
		free(out);
		return g;
	}
	for (line = strtok_r(out, "\n", &save); line != NULL && g->n_patterns < GO_PATTERNS;
	     line = strtok_r(NULL, "\n", &save))
		snprintf(g->patterns[g->n_patterns++], sizeof(g->patterns[0]), "%s", line);
	free(out);
	g->available = true;
	return g;
}

static const char *const go_kind_names[] = {"go", NULL};

static const char *const *go_kinds(void)
{
	return go_kind_names;
}

static bool go_available(void)
{
	return go_probe()->available;
}

/* Go's channels: unbuffered (capacity 0) is a rendezvous; no unbounded channel; no spin. */
static int go_kind_info(const char *kind, struct pl_chan_kind_info *out)
{
	if (strcmp(kind, go_kind_names[0]) != 0)
		return -EINVAL;
	*out = (struct pl_chan_kind_info){
	    .name = go_kind_names[0],
	    .summary = "Go's own channels, goroutines for threads: bench/go/patlab-go",
	    .rendezvous = true,
	};
	return 0;
}

static bool go_supports(const struct pl_pattern *pat)
{
	const struct go_info *g = go_probe();

	for (size_t i = 0; i < g->n_patterns; i++)
		if (strcmp(g->patterns[i], pat->name) == 0)
			return true;
	return false;
}

static void go_list(FILE *f)
{
	const struct go_info *g = go_probe();

	fprintf(f,
		"  %-10s Go's own channels (%s), goroutines for threads: bench/go/patlab-go\n"
		"  %-10s capacities: 0 (unbuffered), 1..; GOMAXPROCS: --gomaxprocs; %s\n",
		go_kind_names[0], g->available ? g->version : "not built", "",
		g->available ? "'--chan all' includes it" : g->why);
}

/* go_auto_procs - the default GOMAXPROCS: min(online CPUs, the C workload's threads). */
static unsigned go_auto_procs(const struct pl_pattern *pat, const struct pl_params *p)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned t = pb_pattern_threads(pat, p);

	if (cpus < 1)
		cpus = 1;
	if (t > (unsigned)cpus)
		t = (unsigned)cpus;
	return t < 1 ? 1 : t;
}

/*
 * go_check - can the point run: patlab-go present, the pattern one of its, a bounded depth,
 * and the checks every pattern shares. 0, or -ENOTSUP / -EINVAL with @r->why.
 */
static int go_check(const struct pl_pattern *pat, const struct pl_params *p, struct pl_result *r)
{
	const struct go_info *g = go_probe();
	struct pl_pattern generic = *pat;

	if (!g->available)
		return why(r, -ENOTSUP, "%s", g->why);
	if (!go_supports(pat))
		return why(r, -ENOTSUP, "go: patlab-go does not implement the %s pattern",
			   pat->name);
	if (p->queue_depth == PL_CHAN_UNBOUNDED)
		return why(r, -ENOTSUP, "go: Go channels have no unbounded capacity");
	if (p->pin == PL_PIN_SPREAD)
		return why(r, -ENOTSUP,
			   "go: --pin spread places threads, and Go's scheduler moves goroutines "
			   "between its threads (pin none and single apply)");
	/* The checks every pattern shares, less the C kind's (Go's are not in the registry);
	 * patlab-go checks the pattern's own limits and skips or fails the point itself. */
	generic.params &= ~(unsigned)PL_PARAM_CHAN_KIND;
	return pl_pattern_check_params(&generic, p, 1, 1, r);
}

/*
 * go_cpu - the CPU patlab-go is confined to for @pin, or -1 for none. PL_PIN_SINGLE: the
 * whole process on the first CPU the driver may use, as pl_pattern_run() does for C points.
 */
static int go_cpu(enum pl_pin pin)
{
	cpu_set_t set;

	if (pin != PL_PIN_SINGLE || sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return -1;
}

/* intern - extras names must outlive the row: a small table of the names Go reported. */
static const char *intern(const char *name)
{
	static char names[64][32];
	static size_t n;

	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return names[i];
	if (n == 64 || strlen(name) >= sizeof(names[0]))
		return NULL;
	snprintf(names[n], sizeof(names[0]), "%s", name);
	return names[n++];
}

/* parse_buckets - "i:c,i:c" into @h (count, sum, min, max already set); false if malformed. */
static bool parse_buckets(char *s, pl_hist *h)
{
	uint64_t total = 0;
	char *save = NULL, *tok;

	if (strcmp(s, "-") == 0)
		return h->count == 0;
	for (tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		unsigned long long i, c;
		char tail;

		if (sscanf(tok, "%llu:%llu%c", &i, &c, &tail) != 2 || i >= PL_HIST_BUCKETS)
			return false;
		h->bucket[i] += c;
		total += c;
	}
	return total == h->count;
}

/* parse_result - the result block in @out into @r; @r->latency gets the histogram. */
static int parse_result(char *out, struct pl_result *r, int64_t *start_ns)
{
	char *save = NULL, *line, status[16] = "";
	pl_hist h;
	bool ended = false, header = false;
	unsigned long long u;
	long long ll;

	memset(&h, 0, sizeof(h));
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *val = strchr(line, ' ');

		if (val == NULL) {
			ended = strcmp(line, "end") == 0;
			continue;
		}
		*val++ = '\0';
		if (strcmp(line, "patlab-go") == 0)
			header = atoi(val) == GO_PROTOCOL;
		else if (strcmp(line, "status") == 0)
			snprintf(status, sizeof(status), "%s", val);
		else if (strcmp(line, "why") == 0)
			snprintf(r->why, sizeof(r->why), "%s", val);
		else if (strcmp(line, "messages") == 0 && sscanf(val, "%llu", &u) == 1)
			r->messages = u;
		else if (strcmp(line, "seconds") == 0)
			r->seconds = strtod(val, NULL);
		else if (strcmp(line, "lost") == 0 && sscanf(val, "%llu", &u) == 1)
			r->lost = u;
		else if (strcmp(line, "dropped") == 0 && sscanf(val, "%llu", &u) == 1)
			r->dropped = u;
		else if (strcmp(line, "rejected") == 0 && sscanf(val, "%llu", &u) == 1)
			r->rejected = u;
		else if (strcmp(line, "gomaxprocs") == 0 && sscanf(val, "%llu", &u) == 1)
			/* First among the extras, so a pattern's full set cannot crowd it out. */
			pl_result_extra(r, "gomaxprocs", (double)u);
		else if (strcmp(line, "start_ns") == 0 && sscanf(val, "%lld", &ll) == 1)
			*start_ns = ll;
		else if (strcmp(line, "lat_count") == 0 && sscanf(val, "%llu", &u) == 1)
			h.count = u;
		else if (strcmp(line, "lat_sum") == 0)
			h.sum = strtod(val, NULL);
		else if (strcmp(line, "lat_min") == 0 && sscanf(val, "%lld", &ll) == 1)
			h.min = ll;
		else if (strcmp(line, "lat_max") == 0 && sscanf(val, "%lld", &ll) == 1)
			h.max = ll;
		else if (strcmp(line, "lat_buckets") == 0 && !parse_buckets(val, &h))
			return why(r, -EPROTO, "go: malformed histogram from patlab-go");
		else if (strcmp(line, "extra") == 0) {
			char *num = strchr(val, ' ');
			const char *name;

			if (num == NULL)
				return why(r, -EPROTO, "go: malformed extra from patlab-go");
			*num++ = '\0';
			name = intern(val);
			if (name != NULL)
				pl_result_extra(r, name, strtod(num, NULL));
		}
	}
	if (!header || !ended)
		return why(r, -EPROTO, "go: no complete result block from patlab-go");
	if (strcmp(status, "skip") == 0)
		return -ENOTSUP; /* r->why says why */
	if (strcmp(status, "ok") != 0)
		return -EIO;
	if (r->latency != NULL)
		pl_hist_merge(r->latency, &h);
	return 0;
}

/*
 * go_run - run the point once in a patlab-go process and fill @r as pl_pattern_run() would
 * (@r->latency, when not NULL, receives the histogram; the extras start with gomaxprocs).
 * *@spawn_ms: patlab-go's start-up (exec -> main), NAN when it did not say.
 */
static int go_run(const struct pl_pattern *pat, const struct pl_params *p, unsigned procs,
		  struct pl_result *r, double *spawn_ms)
{
	const struct go_info *g = go_probe();
	char a[16][48], depth[32], *argv[40], *out = NULL;
	const char *policy = p->policy;
	int64_t start_ns = 0, limit;
	int argc = 0, status = 0, e;

	if (!g->available)
		return why(r, -ENOTSUP, "%s", g->why);
	if (policy == NULL)
		policy = pat->policies != NULL ? pat->policies[0] : "-";
	if (p->queue_depth == PL_CHAN_UNBOUNDED)
		snprintf(depth, sizeof(depth), "unbounded");
	else
		snprintf(depth, sizeof(depth), "%zu", p->queue_depth);
	snprintf(a[0], sizeof(a[0]), "%u", p->producers);
	snprintf(a[1], sizeof(a[1]), "%u", p->consumers);
	snprintf(a[2], sizeof(a[2]), "%u", p->stages);
	snprintf(a[3], sizeof(a[3]), "%lld", (long long)p->work_ns);
	snprintf(a[4], sizeof(a[4]), "%.17g", p->rate_target);
	snprintf(a[5], sizeof(a[5]), "%lld", (long long)p->timeout_ns);
	snprintf(a[6], sizeof(a[6]), "%llu", (unsigned long long)p->messages);
	snprintf(a[7], sizeof(a[7]), "%.17g", p->seconds);
	snprintf(a[8], sizeof(a[8]), "%.17g", p->warmup_s);
	snprintf(a[9], sizeof(a[9]), "%llu", (unsigned long long)p->seed);
	snprintf(a[10], sizeof(a[10]), "-latency=%s", r->latency != NULL ? "true" : "false");
	snprintf(a[11], sizeof(a[11]), "%u", procs);
	snprintf(a[13], sizeof(a[13]), "%llu", (unsigned long long)p->lat_sample);
	argv[argc++] = (char *)g->path;
	argv[argc++] = "run";
	argv[argc++] = "-pattern";
	argv[argc++] = (char *)pat->name;
#define ARG(flag, val)                                                                             \
	do {                                                                                       \
		argv[argc++] = flag;                                                               \
		argv[argc++] = (char *)(val);                                                      \
	} while (0)
	ARG("-producers", a[0]);
	ARG("-consumers", a[1]);
	ARG("-stages", a[2]);
	ARG("-depth", depth);
	ARG("-work-ns", a[3]);
	ARG("-rate", a[4]);
	ARG("-policy", policy);
	ARG("-timeout-ns", a[5]);
	ARG("-messages", a[6]);
	ARG("-seconds", a[7]);
	ARG("-warmup", a[8]);
	ARG("-seed", a[9]);
	ARG("-gomaxprocs", a[11]);
	ARG("-lat-sample", a[13]);
#undef ARG
	argv[argc++] = a[10];
	argv[argc++] = "-t0";
	snprintf(a[12], sizeof(a[12]), "%lld", (long long)pl_now_ns());
	argv[argc++] = a[12];
	argv[argc] = NULL;

	/* Go's own stall check fails a hung point after 10 s; this only catches a wedged
	 * process. Messages mode has no known length: an hour. */
	limit = p->messages > 0
		    ? 3600 * INT64_C(1000000000)
		    : (int64_t)((p->warmup_s + p->seconds) * 4e9) + 60 * INT64_C(1000000000);
	e = run_child(argv, limit, go_cpu(p->pin), &out, &status);
	if (e == -ETIMEDOUT)
		return why(r, -ETIMEDOUT, "go: patlab-go did not finish within %lld s (killed)",
			   (long long)(limit / 1000000000));
	if (e != 0)
		return why(r, e, "go: cannot run %s: %s", g->path, strerror(-e));
	e = parse_result(out, r, &start_ns);
	free(out);
	if (e == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		e = why(r, -EIO, "go: patlab-go exited with status %d", status);
	if (e == -EPROTO && WIFSIGNALED(status))
		e = why(r, -EIO, "go: patlab-go killed by signal %d", WTERMSIG(status));
	else if (e == -EPROTO && WIFEXITED(status) && WEXITSTATUS(status) != 0)
		e = why(r, -EIO, "go: patlab-go exited with status %d (see its stderr above)",
			WEXITSTATUS(status));
	if (e != 0)
		return e;
	*spawn_ms = start_ns > 0 ? (double)start_ns / 1e6 : NAN;
	return 0;
}

/*
 * go_meta - meta.json's "go" object: patlab-go (binary, Go version), GOMAXPROCS as asked for
 * and the values the Go rows ran with (their first extra, row by row), and patlab-go's
 * process start-up (exec -> main), which happens before its start gate, outside the window.
 */
static void go_meta(const struct pb_run *run, struct pb_buf *b)
{
	const struct go_info *g = go_probe();
	unsigned used[64];
	size_t n_used = 0, go_rows = 0;

	for (size_t i = 0; i < run->n_rows; i++) {
		const struct pb_row *w = &run->rows[i];
		double v;
		bool seen = false;

		if (strcmp(w->kind, go_kind_names[0]) != 0)
			continue;
		go_rows++;
		if (!pb_row_extra(w, pb_runner_go.procs, &v))
			continue;
		for (size_t k = 0; k < n_used && !seen; k++)
			seen = used[k] == (unsigned)v;
		if (!seen && n_used < sizeof(used) / sizeof(used[0]))
			used[n_used++] = (unsigned)v;
	}
	pb_buf_printf(b, "  \"go\": {\n    \"available\": %s,\n    \"binary\": ",
		      g->available ? "true" : "false");
	pb_json_str(b, g->path);
	pb_buf_printf(b, ",\n    \"version\": ");
	pb_json_str(b, g->available ? g->version : "none");
	if (!g->available) {
		pb_buf_printf(b, ",\n    \"why\": ");
		pb_json_str(b, g->why);
	}
	pb_buf_printf(b, ",\n    \"gomaxprocs\": ");
	pb_json_str(b, run->procs[0] ? run->procs : "auto");
	pb_buf_printf(b, ",\n    \"gomaxprocs_auto\": ");
	pb_json_str(b, "min(online cpus, the threads the C workload runs for the point)");
	pb_buf_printf(b, ",\n    \"gomaxprocs_used\": [");
	for (size_t k = 0; k < n_used; k++)
		pb_buf_printf(b, "%s%u", k ? ", " : "", used[k]);
	pb_buf_printf(b, "],\n    \"rows\": %zu,\n    \"runs\": %zu", go_rows, run->spawns);
	if (run->spawns > 0)
		pb_buf_printf(
		    b, ",\n    \"start_ms\": {\"min\": %.3f, \"mean\": %.3f, \"max\": %.3f}",
		    run->spawn_ms_min, run->spawn_ms_sum / (double)run->spawns, run->spawn_ms_max);
	pb_buf_printf(b, "\n  },\n");
}

const struct pb_runner pb_runner_go = {
    .name = "go",
    .peer = true,
    .procs = "gomaxprocs",
    .kinds_doc = "go: Go's own channels, bench/go",
    .kinds = go_kinds,
    .available = go_available,
    .kind_info = go_kind_info,
    .supports = go_supports,
    .list = go_list,
    .check = go_check,
    .run = go_run,
    .auto_procs = go_auto_procs,
    .meta = go_meta,
};
