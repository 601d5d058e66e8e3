/* SPDX-License-Identifier: MIT */
/*
 * Shutdown trials: patlab-svc as a real child process, a real SIGTERM or SIGINT at swept moments
 * across submit bursts, in half the trials a second signal after it, and the ledger against
 * every client's answers (never use this as a benchmark). The bugs it hunts: work lost or done
 * twice at shutdown, an exit status that does not match the ledger, a second signal that kills
 * the service instead of making it exit 4.
 *
 * Usage: stress_svc PATH-TO-patlab-svc (CTest passes $<TARGET_FILE:patlab_svc>).
 *
 * Each trial starts the service with random workers (1..3), queue depth (1..256), grace (over
 * at once, 1 ms, 5 ms, 30 ms, 300 ms) and BUSY or --block on a full queue. Several clients
 * connect and, from a common start, each writes a burst of 2..16 jobs (ids client << 32 |
 * sequence, random costs from 0 to 5 ms, mostly under 0.5 ms) every millisecond while reading
 * its answers: more than the workers can do, so queues fill and some jobs are turned away.
 * (Before the start each client's first job, costing nothing, is answered: the service has
 * accepted every connection before the signal can come.) The signal comes at
 * start + k * step + jitter for trial k: the sweep walks the moment across the bursts in small
 * steps (before the first one, inside one, between two), with a seeded jitter. The second
 * signal, when the trial has one, follows after a random delay up to the grace plus 2 ms
 * (during the drain, at its very end, or after it), or once every client saw the service close
 * its connection, plus up to 1 ms (the drain is over and the service is tearing down, where a
 * signal once killed it). Clients write three more bursts after the first signal, then only
 * read until the service closes their connection. Once a client has seen a REFUSED, a late
 * client connects and sends a job: it must hear "ERR shutting-down" (or find the service gone)
 * and its job must not be in the ledger.
 *
 * Checked after each trial:
 * - the service exited by itself (never killed by a signal) within the grace plus a generous
 *   slack; the status is the ledger's: 0 when every line is "done", 3 when some line is
 *   "cancelled" or "returned"; or 4, only when a second signal was sent; the socket file was
 *   removed; the child's log has no sanitizer report;
 * - the ledger parses line by line, no id twice (nothing done twice), every id one a client sent;
 * - every acknowledged job (OK, CANCELLED, NOTPROCESSED) is in the ledger with the matching
 *   word (OK = done, CANCELLED = cancelled, NOTPROCESSED = returned); every ledger id was
 *   answered, unless the exit was forced (4: answers not yet sent are lost);
 * - every BUSY or REFUSED id, and every id never answered (outside a forced exit), is absent
 *   from the ledger; no id got two answers; no ERR (clients send only valid lines) except
 *   "ERR shutting-down" as the only line of a connection the service had not accepted yet when
 *   it began draining;
 * - per client, in send order: after the first REFUSED every answered job is REFUSED (nothing is
 *   accepted once shutdown began).
 *
 * 100 trials, times PATLAB_STRESS_SCALE (10000 at 100), in every build (two clients instead of
 * three under sanitizers); the seed is logged (PATLAB_SEED reruns the same choices); a watchdog
 * reports where a trial hung.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <patlab/ctx.h>

#include "check.h"
#include "helpers.h"
#include "svc_harness.h"

/* Totals over all trials, printed at the end (coverage: each outcome must occur somewhere). */
static struct {
	uint64_t rounds_drained, rounds_cut, rounds_forced, second_signals, sent, answers[6],
	    late_refused, conn_refused;
	int64_t exit_max_ns; /* the longest first signal -> exit, beyond the grace */
} totals;

#define MAX_CLIENTS	  3
#define BURSTS_AFTER_KILL 3

enum ans {
	A_NONE = 0,
	A_OK,
	A_CANCELLED,
	A_NOTPROCESSED,
	A_BUSY,
	A_REFUSED,
};

static const char *const ans_names[] = {"(none)",	"OK",	"CANCELLED",
					"NOTPROCESSED", "BUSY", "REFUSED"};

struct round;

struct client {
	struct round *r;
	unsigned idx;
	int fd;
	uint64_t rng;
	pthread_t tid;
	/* Written by the client thread; read by main after the join. */
	uint32_t nsent, cap;
	uint8_t *ans;  /* per sequence number: the answer */
	uint8_t *nans; /* per sequence number: how many answers */
	uint64_t nanswers;
	bool conn_refused; /* "ERR shutting-down": the connection itself was refused */
	unsigned errs;
	char bad[160]; /* the first answer line that made no sense */
};

struct round {
	unsigned nclients;
	unsigned burst_min, burst_max;
	int64_t gap_ns;
	/* Set by main (seq_cst), polled by the clients. */
	_Atomic int go;
	_Atomic int killed;
	/* Set by a client that read a REFUSED (seq_cst), polled by main. */
	_Atomic int refused_seen;
	_Atomic unsigned clients_done;
	_Atomic unsigned ready; /* clients whose hello was answered */
	int64_t t_start;	/* written before @go is set; read after it is seen */
	struct client c[MAX_CLIENTS];
};

static int64_t draw_cost_us(uint64_t *rng)
{
	uint64_t x = pt_rand(rng) % 100;

	if (x < 60)
		return (int64_t)(pt_rand(rng) % 50);
	if (x < 95)
		return 50 + (int64_t)(pt_rand(rng) % 450);
	return 1000 + (int64_t)(pt_rand(rng) % 4000);
}

static void take_answer(struct client *c, const char *line)
{
	static const struct {
		const char *word;
		enum ans a;
	} words[] = {
	    {"OK ", A_OK},     {"CANCELLED ", A_CANCELLED}, {"NOTPROCESSED ", A_NOTPROCESSED},
	    {"BUSY ", A_BUSY}, {"REFUSED ", A_REFUSED},
	};
	unsigned long long id;
	char tail[32] = "";
	int n;

	/*
	 * A connection the service had not accepted yet when it began draining is refused as a
	 * whole (its jobs were never read): that is its only line.
	 */
	if (strcmp(line, "ERR shutting-down") == 0 && c->nanswers == 0 && !c->conn_refused) {
		c->conn_refused = true;
		atomic_store(&c->r->refused_seen, 1);
		return;
	}
	if (c->conn_refused)
		goto bad;
	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		size_t wl = strlen(words[w].word);

		if (strncmp(line, words[w].word, wl) != 0)
			continue;
		n = sscanf(line + wl, "%llu %31s", &id, tail);
		if (n < 1 || (words[w].a == A_REFUSED) != (n == 2) ||
		    (n == 2 && strcmp(tail, "shutting-down") != 0) || (id >> 32) != c->idx ||
		    (uint32_t)id >= c->nsent)
			break;
		c->ans[(uint32_t)id] = (uint8_t)words[w].a;
		c->nans[(uint32_t)id]++;
		c->nanswers++;
		if (words[w].a == A_REFUSED)
			atomic_store(&c->r->refused_seen, 1);
		return;
	}
bad:
	c->errs++;
	if (c->bad[0] == '\0')
		snprintf(c->bad, sizeof(c->bad), "%.150s", line);
}

static void grow(struct client *c, uint32_t need)
{
	if (need <= c->cap)
		return;
	uint32_t cap = c->cap ? c->cap : 1024;

	while (cap < need)
		cap *= 2;
	c->ans = realloc(c->ans, cap);
	c->nans = realloc(c->nans, cap);
	CHECK(c->ans != NULL && c->nans != NULL);
	memset(c->ans + c->cap, 0, cap - c->cap);
	memset(c->nans + c->cap, 0, cap - c->cap);
	c->cap = cap;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct round *r = c->r;
	char *out = NULL;
	size_t out_off = 0, out_len = 0, out_cap = 0;
	struct line_buf rb = {.off = 0, .len = 0};
	char line[256];
	bool sending = true, eof = false;
	unsigned after_kill = 0;
	int64_t next;

	/*
	 * Hello: job 0, costing nothing, answered before the start, so the service has accepted
	 * this connection before any signal can come (a connection still in its backlog when it
	 * begins draining is refused as a whole; the late client covers that).
	 */
	do { /* BUSY while the other clients' hellos fill a tiny queue: again */
		uint32_t seq = c->nsent;

		grow(c, seq + 1);
		c->nsent++;
		snprintf(line, sizeof(line), "JOB %llu 0\n",
			 (unsigned long long)((uint64_t)c->idx << 32 | seq));
		CHECK_EQ(send_all(c->fd, line, strlen(line)), 0);
		CHECK(read_line(c->fd, &rb, line, sizeof(line), -1) >= 0);
		take_answer(c, line);
		CHECK(c->ans[seq] == A_OK || c->ans[seq] == A_BUSY);
	} while (c->ans[c->nsent - 1] != A_OK);
	atomic_fetch_add(&r->ready, 1);
	while (!atomic_load(&r->go))
		pt_sleep_ns(50000);
	next = r->t_start;
	while (!eof) {
		int64_t now = pl_now_ns();

		if (sending && out_off == out_len && now >= next) {
			if (atomic_load(&r->killed) && after_kill++ >= BURSTS_AFTER_KILL)
				sending = false;
			if (sending) {
				unsigned b =
				    r->burst_min + (unsigned)(pt_rand(&c->rng) %
							      (r->burst_max - r->burst_min + 1));

				out_off = out_len = 0;
				if (out_cap < (size_t)b * 48) {
					out_cap = (size_t)b * 48;
					out = realloc(out, out_cap);
					CHECK(out != NULL);
				}
				grow(c, c->nsent + b);
				for (unsigned i = 0; i < b; i++) {
					uint64_t id = (uint64_t)c->idx << 32 | c->nsent++;

					out_len += (size_t)snprintf(
					    out + out_len, out_cap - out_len, "JOB %llu %lld\n",
					    (unsigned long long)id,
					    (long long)draw_cost_us(&c->rng));
				}
				next += r->gap_ns;
			}
		}
		if (out_off < out_len) {
			ssize_t n = send(c->fd, out + out_off, out_len - out_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0) {
				out_off += (size_t)n;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* EPIPE/ECONNRESET: the service closed us; keep reading. */
				sending = false;
				out_off = out_len;
			}
		}

		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int64_t wait_ns = 100 * INT64_C(1000000);

		if (out_off < out_len)
			pfd.events |= POLLOUT;
		if (sending && out_off == out_len)
			wait_ns = next - pl_now_ns();
		if (wait_ns < 0)
			wait_ns = 0;
		struct timespec ts = {.tv_sec = wait_ns / 1000000000,
				      .tv_nsec = wait_ns % 1000000000};
		int rc = ppoll(&pfd, 1, &ts, NULL);

		if (rc < 0 && errno == EINTR)
			continue;
		CHECK(rc >= 0);
		if (rc == 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		/* Take every complete line now buffered, then one more recv at most. */
		for (;;) {
			int n = read_line(c->fd, &rb, line, sizeof(line), 0);

			if (n == -2)
				break; /* nothing more right now */
			if (n == -1) {
				eof = true;
				break;
			}
			take_answer(c, line);
		}
	}
	free(out);
	atomic_fetch_add(&r->clients_done, 1);
	return NULL;
}

/* late_client - after shutdown began: a new connection must be refused, its job not taken. */
static void late_client(struct svc_proc *p, uint64_t late_id)
{
	struct line_buf rb = {.off = 0, .len = 0};
	char req[64], line[256];
	int fd = svc_connect(p->sock), n;

	if (fd < 0) {
		/* The service already closed its socket (it is finishing): as good as refused. */
		CHECK(fd == -ENOENT || fd == -ECONNREFUSED);
		return;
	}
	snprintf(req, sizeof(req), "JOB %llu 0\n", (unsigned long long)late_id);
	(void)send_all(fd, req, strlen(req)); /* may fail: the service closes refused clients */
	n = read_line(fd, &rb, line, sizeof(line), -1);
	if (n >= 0 && strcmp(line, "ERR shutting-down") != 0)
		pt_fail(__FILE__, __LINE__, "a client arriving while draining got '%s'", line);
	totals.late_refused += n >= 0;
	close(fd);
}

static void check_round(struct round *r, struct svc_proc *p, int status, bool second,
			uint64_t late_id)
{
	struct ledger_entry *led;
	size_t nled = ledger_read(p->ledger, &led);
	struct stat st;
	uint64_t answered = 0, accepted = 0;
	bool all_done = true;

	for (size_t i = 0; i < nled; i++)
		all_done &= led[i].state == PL_LEDGER_DONE;
	if (status != (all_done ? 0 : 3) && !(second && status == 4)) {
		svc_print_log(p);
		pt_fail(__FILE__, __LINE__,
			"patlab-svc exited with %d; the ledger has %s, so want %d%s", status,
			all_done ? "every job done" : "jobs not done", all_done ? 0 : 3,
			second ? " (or 4: a second signal was sent)" : "");
	}
	svc_check_log(p);
	CHECK(stat(p->sock, &st) != 0 && errno == ENOENT); /* removed at exit */
	CHECK(ledger_find(led, nled, late_id) == NULL);

	for (size_t i = 0; i < nled; i++) {
		uint64_t id = led[i].id;
		unsigned ci = (unsigned)(id >> 32);
		uint32_t seq = (uint32_t)id;

		if (ci >= r->nclients || seq >= r->c[ci].nsent)
			pt_fail(__FILE__, __LINE__, "ledger holds job %llu that nobody sent",
				(unsigned long long)id);
	}
	for (unsigned ci = 0; ci < r->nclients; ci++) {
		struct client *c = &r->c[ci];
		bool refused = false;

		if (c->errs != 0)
			pt_fail(__FILE__, __LINE__, "client %u: %u unexpected answers, first '%s'",
				ci, c->errs, c->bad);
		for (uint32_t seq = 0; seq < c->nsent; seq++) {
			uint64_t id = (uint64_t)ci << 32 | seq;
			const struct ledger_entry *e = ledger_find(led, nled, id);
			enum ans a = (enum ans)c->ans[seq];
			enum ans want = A_NONE;

			if (c->nans[seq] > 1)
				pt_fail(__FILE__, __LINE__, "job %llu answered %u times",
					(unsigned long long)id, c->nans[seq]);
			if (e != NULL)
				want = e->state == PL_LEDGER_DONE	 ? A_OK
				       : e->state == PL_LEDGER_CANCELLED ? A_CANCELLED
									 : A_NOTPROCESSED;
			/* A forced exit (4) loses the answers not yet sent, never a record. */
			if (e != NULL ? a != want && !(status == 4 && a == A_NONE)
				      : (a != A_NONE && a != A_BUSY && a != A_REFUSED))
				pt_fail(__FILE__, __LINE__,
					"job %llu: the client heard %s, the ledger says %s",
					(unsigned long long)id, ans_names[a],
					e ? pl_ledger_state_name(e->state) : "nothing");
			totals.sent++;
			totals.answers[a]++;
			if (a != A_NONE)
				answered++;
			if (e != NULL)
				accepted++;
			if (refused && a != A_NONE && a != A_REFUSED)
				pt_fail(__FILE__, __LINE__,
					"client %u: job %llu answered %s after an earlier job was "
					"REFUSED",
					ci, (unsigned long long)id, ans_names[a]);
			if (a == A_REFUSED)
				refused = true;
		}
	}
	CHECK_EQ(accepted, nled);
	for (unsigned ci = 0; ci < r->nclients; ci++)
		totals.conn_refused += r->c[ci].conn_refused;
	if (status == 0)
		totals.rounds_drained++;
	else if (status == 3)
		totals.rounds_cut++;
	else
		totals.rounds_forced++;
	(void)answered;
	free(led);
}

static void run_round(const char *bin, unsigned k, uint64_t *rng, int64_t step_ns, bool sanitized)
{
	static const char *const graces[] = {"0s", "1ms", "5ms", "30ms", "300ms"};
	static const char *const queues[] = {"1", "4", "16", "64", "256"};
	static const char *const workers[] = {"1", "2", "3"};
	struct round *r = calloc(1, sizeof(*r));
	struct svc_proc p;
	const char *args[16];
	unsigned na = 0;
	const char *queue = queues[pt_rand(rng) % 5];
	const char *nworkers = workers[pt_rand(rng) % 3];
	bool block = pt_rand(rng) % 10 < 3;
	static const int64_t grace_ns[] = {0, 1000000, 5000000, 30000000, 300000000};
	unsigned gi = (unsigned)(pt_rand(rng) % 5);
	int sig = pt_rand(rng) % 5 == 0 ? SIGINT : SIGTERM;
	int sig2 = pt_rand(rng) % 5 == 0 ? SIGINT : SIGTERM;
	/* A second signal in half the trials: during the drain, or as it ends. */
	enum {
		NONE,
		DURING,
		AT_END
	} second = pt_rand(rng) % 2 != 0 ? NONE : pt_rand(rng) % 2 ? DURING : AT_END;
	int64_t delay = (int64_t)k * step_ns + (int64_t)(pt_rand(rng) % (uint64_t)step_ns);
	int64_t delay2 = (int64_t)(pt_rand(rng) % (uint64_t)(grace_ns[gi] + 2000000));
	int64_t t_sig, slack_ns = (sanitized ? 30 : 10) * INT64_C(1000000000);
	uint64_t late_id = (uint64_t)(MAX_CLIENTS + 1) << 32;
	int status;

	CHECK(r != NULL);
	r->nclients = sanitized ? 2 : MAX_CLIENTS;
	r->burst_min = 2;
	r->burst_max = 16;
	r->gap_ns = 1000000;
	args[na++] = "--workers";
	args[na++] = nworkers;
	args[na++] = "--queue";
	args[na++] = queue;
	args[na++] = "--grace";
	args[na++] = graces[gi];
	args[na++] = "--max-clients";
	args[na++] = "16";
	if (block)
		args[na++] = "--block";
	args[na] = NULL;
	pt_note("trial %u: workers %s, queue %s, grace %s, %s, %s after %.3f ms%s%s", k, nworkers,
		queue, graces[gi], block ? "block" : "busy", sig == SIGINT ? "SIGINT" : "SIGTERM",
		(double)delay / 1e6, second ? (sig2 == SIGINT ? ", SIGINT" : ", SIGTERM") : "",
		second == DURING   ? " again later"
		: second == AT_END ? " again at the end"
				   : "");
	svc_start(&p, bin, args);

	for (unsigned i = 0; i < r->nclients; i++) {
		struct client *c = &r->c[i];

		c->r = r;
		c->idx = i;
		c->rng = pt_rand(rng);
		c->fd = svc_connect(p.sock);
		CHECK(c->fd >= 0);
		CHECK(pthread_create(&c->tid, NULL, client_main, c) == 0);
	}
	while (atomic_load(&r->ready) < r->nclients)
		pt_sleep_ns(100000);
	r->t_start = pl_now_ns() + 1000000;
	atomic_store(&r->go, 1);
	pt_sleep_ns(r->t_start + delay - pl_now_ns() > 0 ? r->t_start + delay - pl_now_ns() : 0);
	svc_signal(&p, sig);
	t_sig = pl_now_ns();
	atomic_store(&r->killed, 1);
	if (second == DURING)
		pt_sleep_ns(delay2);
	/*
	 * At the end: once every client saw its connection closed, the service's event loop is
	 * over and it is tearing down: the last moment it may die of a signal by mistake.
	 */
	while (second == AT_END && atomic_load(&r->clients_done) < r->nclients)
		pt_sleep_ns(20000);
	if (second == AT_END)
		pt_sleep_ns(delay2 % 1000000); /* across the teardown */
	if (second != NONE) {
		/* Not reaped yet: a child that exited meanwhile is a zombie; kill() is harmless. */
		svc_signal(&p, sig2);
		totals.second_signals++;
	}

	/* Once some client was refused, the service is draining: try to join it late. */
	while (!atomic_load(&r->refused_seen) && atomic_load(&r->clients_done) < r->nclients)
		pt_sleep_ns(200000);
	if (atomic_load(&r->refused_seen) && !svc_exited(&p))
		late_client(&p, late_id);

	for (unsigned i = 0; i < r->nclients; i++) {
		CHECK(pthread_join(r->c[i].tid, NULL) == 0);
		close(r->c[i].fd);
	}
	status = svc_wait(&p);
	t_sig = pl_now_ns() - t_sig - grace_ns[gi];
	pt_note("trial %u: checking (exit %d)", k, status);
	if (t_sig > slack_ns) {
		svc_print_log(&p);
		pt_fail(__FILE__, __LINE__,
			"trial %u: exit %.3f s after the grace (at most %.0f s)", k,
			(double)t_sig / 1e9, (double)slack_ns / 1e9);
	}
	if (t_sig > totals.exit_max_ns)
		totals.exit_max_ns = t_sig;
	check_round(r, &p, status, second != NONE, late_id);
	svc_cleanup(&p);
	for (unsigned i = 0; i < r->nclients; i++) {
		free(r->c[i].ans);
		free(r->c[i].nans);
	}
	free(r);
}

int main(int argc, char **argv)
{
	uint64_t rng;
	bool sanitized = pt_sanitized();
	unsigned rounds;
	int64_t step_ns;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-patlab-svc\n", argv[0]);
		return 2;
	}
	rng = pt_seed();
	pt_watchdog_start(60);
	/* The sweep covers ~8 bursts either way, in steps that shrink as the trials grow. */
	rounds = (unsigned)(100 * pt_scale());
	if (rounds < 2)
		rounds = 2;
	step_ns = 8 * INT64_C(1000000) / rounds;
	if (step_ns < 1)
		step_ns = 1;
	for (unsigned k = 0; k < rounds; k++)
		run_round(argv[1], k, &rng, step_ns, sanitized);
	printf("stress_svc: %u trials passed (exit 0: %llu, exit 3: %llu, exit 4: %llu; second "
	       "signals %llu); jobs sent %llu: OK %llu, CANCELLED %llu, NOTPROCESSED %llu, BUSY "
	       "%llu, REFUSED %llu, unanswered %llu; connections refused %llu, late clients "
	       "refused %llu; slowest exit %.3f s past the grace\n",
	       rounds, (unsigned long long)totals.rounds_drained,
	       (unsigned long long)totals.rounds_cut, (unsigned long long)totals.rounds_forced,
	       (unsigned long long)totals.second_signals, (unsigned long long)totals.sent,
	       (unsigned long long)totals.answers[A_OK],
	       (unsigned long long)totals.answers[A_CANCELLED],
	       (unsigned long long)totals.answers[A_NOTPROCESSED],
	       (unsigned long long)totals.answers[A_BUSY],
	       (unsigned long long)totals.answers[A_REFUSED],
	       (unsigned long long)totals.answers[A_NONE], (unsigned long long)totals.conn_refused,
	       (unsigned long long)totals.late_refused, (double)totals.exit_max_ns / 1e9);
	return 0;
}
