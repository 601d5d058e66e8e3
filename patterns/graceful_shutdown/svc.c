/* SPDX-License-Identifier: MIT */
/*
 * patlab-svc: a long-running job service on the worker pool that shuts down gracefully.
 *
 * Protocol, options and exit codes: README.md in this folder (and --help). In short: clients
 * send "JOB <id> <cost_us>\n" on a Unix-domain socket and get one answer line per request:
 * OK / CANCELLED / NOTPROCESSED <id> for accepted jobs (their final state, also written to the
 * ledger), BUSY <id> / REFUSED <id> shutting-down for jobs not accepted, ERR <reason> for bad
 * lines. SIGTERM or SIGINT drains within --grace, a second one during the drain forces exit.
 *
 * Threads (3 + workers):
 * - the IO thread (main) owns every socket and every connection: one epoll set over the
 *   listening socket, the shutdown controller's signal pipe, the completion eventfd and the
 *   clients; it parses requests, submits jobs (pl_pool_try_submit: it never blocks), and
 *   writes every answer;
 * - the pool's workers run jobs: burn the cost polling the job context, append the final state
 *   to the ledger, post the job on the completion queue;
 * - the stopper sleeps in pl_ctx_wait() on the controller's "stopping" context from start-up;
 *   the first signal cancels it, and the stopper runs pl_pool_shutdown(pool, grace, unstarted)
 *   (which blocks for up to the grace), so the IO thread keeps answering meanwhile. Its
 *   unstarted callback records "returned" and posts each never-started job like a worker does.
 *   It exists from the start so that starting a shutdown cannot fail for want of a thread.
 *
 * Answers go from workers to clients through a completion queue, not through locked writes on
 * the sockets: a mutex-protected intrusive list plus an eventfd that is written only when the
 * list goes from empty to non-empty (the IO thread reads the eventfd before taking the list, so
 * a post after its read writes the eventfd again: no lost wakeup). Only the IO thread touches a
 * connection, so connections need no lock and no reference count: @outstanding counts accepted
 * jobs not yet answered, and a connection whose client left is closed at once but its memory
 * is kept ("zombie") until its last job came back.
 *
 * Exactly once. A job is accepted iff pl_pool_try_submit() returned 0 for it. From there the
 * pool promises it runs or is handed to the unstarted callback exactly once; each of those ends
 * in finish(): one ledger record (done, cancelled or returned) *before* the job is posted, so a
 * client that got an OK, CANCELLED or NOTPROCESSED answer can always find that line in the
 * ledger. A job not accepted (BUSY, REFUSED, ERR, a client gone while its job waited for room
 * with --block) is never recorded. Intake stops when the IO thread reads the first signal:
 * from then on it submits nothing; the stopper's close of the pool may even come first, and
 * then a submit fails with -EPIPE and is answered REFUSED, never accepted.
 *
 * Bounded memory, whatever clients do:
 * - a request line is at most PL_SVC_LINE_MAX bytes (proto.c's framer; a longer one gets
 *   "ERR line-too-long" once and its rest is dropped unread into nothing); each connection
 *   reads into a fixed IN_CHUNK buffer;
 * - a connection whose pending output reaches OUT_HIGH is not read until it drains (a client
 *   that does not read its answers stops being served, it does not make us buffer); answers
 *   to jobs already accepted may still arrive, bounded by the pool's capacity; a connection
 *   whose output reaches OUT_HARD anyway is dropped;
 * - jobs in the service: at most queue depth + workers accepted and unfinished (try_submit
 *   answers BUSY beyond), plus, with --block, one waiting per connection (which then is not
 *   read until there is room: the client's own writes block, TCP-style flow control);
 * - at most --max-clients connections; beyond, "ERR too-many-clients" and close; when the
 *   process runs out of descriptors, a reserve descriptor is freed to accept and refuse.
 * SIGPIPE is ignored and every send uses MSG_NOSIGNAL: a client that disappears costs us an
 * EPIPE, after which its answers are discarded; its accepted jobs still finish and are recorded.
 *
 * Shutdown sequence: first SIGTERM/SIGINT -> the IO thread stops intake (REFUSED for requests,
 * waiting --block jobs refused, "ERR shutting-down" for new connections, which are still
 * accepted so they hear it) -> the stopper drains the pool until the grace runs out, then the
 * pool cancels the job context (running jobs stop within ~2 us of CPU) and hands back the rest
 * -> once the stopper returned and every completion was answered, the listening socket is
 * closed and unlinked, pending answers are flushed (for up to LINGER_NS) and connections are
 * closed -> the ledger is fsynced -> SIGTERM and SIGINT are blocked and ignored until the exit
 * (quiesce_signals()) -> exit with the ledger's status: 0 when every accepted job was recorded
 * done, 3 when one was recorded cancelled or returned. The status is counted from what the
 * jobs recorded, not taken from pl_pool_shutdown()'s result: the pool's 0 says every job
 * started, not how each ended (one running as the grace ran out saw the cancel, and may have
 * stopped early or already been writing "done"). A second signal during the drain exits at once:
 * the controller cancels the grace (the pool expires now: running jobs are cancelled, the rest
 * handed back, all recorded), the IO thread gives the stopper at most FORCE_WAIT_NS to finish
 * that (cooperative jobs need microseconds; the bound is for jobs that would not stop), seals
 * the ledger (no record in progress, fsync) and _exit()s with 4. Answers not yet sent are lost;
 * records of jobs that did not stop in time too; no ledger line is ever torn or duplicated. A
 * signal after the drain (once the event loop returned) changes nothing.
 *
 * Start-up validates every argument before it creates anything (a bad one: exit 2 and one line
 * on stderr), then builds the pool, opens and locks the ledger (one service per ledger file:
 * pl__ledger_open_locked()), and binds the socket; a step that fails undoes the earlier ones,
 * down to removing a ledger file this start-up created, and exits 1.
 *
 * Every wait: the IO thread sleeps only in epoll_wait() (woken by a client, the signal pipe,
 * the completion eventfd; bounded by the linger deadline at the end) and, when forced, in a
 * join of the stopper bounded by FORCE_WAIT_NS; the stopper in pl_ctx_wait() (woken by the
 * controller's cancel) and pl_pool_shutdown() (woken by the pool); workers in the pool's
 * channel receive.
 */
#include <patlab/chan.h>
#include <patlab/ctx.h>
#include <patlab/pool.h>
#include <patlab/shutdown.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "graceful_shutdown/proto.h"
#include "sync/die.h"

/* Exit statuses (README.md): 0 and 3 say what the ledger holds. */
enum {
	EXIT_DRAINED = 0, /* every accepted job recorded done */
	EXIT_ERROR = 1,	  /* could not start (nothing created), or the ledger failed */
	EXIT_USAGE = 2,	  /* bad command line */
	EXIT_CUT = 3,	  /* some accepted job recorded cancelled or returned */
	EXIT_FORCED = 4,  /* a second signal during the drain: exited at once */
};

#define IN_CHUNK      1024	    /* bytes per recv(), per connection */
#define OUT_HIGH      (16 * 1024)   /* stop reading requests while this much output waits */
#define OUT_HARD      (1024 * 1024) /* a client this far behind is dropped */
#define ANSWER_MAX    64	    /* longest answer line: "REFUSED <20 digits> shutting-down" */
#define LINGER_NS     (2 * 1000000000LL) /* final flush of answers, at most */
#define FORCE_WAIT_NS (500 * 1000000LL)	 /* forced exit: wait this long for the pool, at most */
#define MAX_EVENTS    64

struct svc;
struct conn;

struct job {
	/* Set by the IO thread before the submit; the pool's channel publishes them. */
	uint64_t id;
	int64_t cost_ns;
	struct svc *svc;
	/* IO thread only. */
	struct conn *conn;
	struct job *hnext; /* in-flight set chain */
	/*
	 * Written by the finisher (a worker, or the stopper for a returned job) before cq_post();
	 * read by the IO thread after it took the queue: the queue's mutex orders them.
	 */
	enum pl_ledger_state state;
	struct job *cnext;
};

/* Everything in a connection belongs to the IO thread. */
struct conn {
	struct svc *svc;
	int fd;			  /* -1 once closed (a zombie waiting for its jobs) */
	uint32_t events;	  /* the epoll interest registered now */
	unsigned outstanding;	  /* accepted jobs not answered yet */
	bool eof;		  /* the client sent EOF: read no more */
	bool dead;		  /* to be closed (or closed): answers are discarded */
	bool dirty;		  /* on svc->dirty */
	struct job *pending;	  /* --block: parsed, waiting for room in the queue */
	struct conn *prev, *next; /* svc->conns, while fd >= 0 */
	struct conn *dnext;	  /* svc->dirty */
	struct conn *rnext;	  /* svc->reap */
	size_t in_off, in_len;	  /* unparsed bytes: in[in_off .. in_len) */
	char *out;
	size_t out_off, out_len, out_cap; /* unsent answers: out[out_off .. out_len) */
	struct pl__svc_framer fr;
	char in[IN_CHUNK];
};

struct opts {
	const char *socket_path;
	const char *ledger_path;
	const char *kind;
	unsigned workers;
	size_t queue;
	int64_t grace_ns;
	bool block;
	unsigned max_clients;
	uint64_t max_cost_us;
};

struct svc {
	struct opts o;
	pl_shutdown *sd;
	pl_ledger *ledger;
	pl_pool *pool;
	int ep, lfd, cqfd, reserve_fd;
	dev_t sock_dev;
	ino_t sock_ino;
	pthread_t stopper;
	bool stopper_started;
	bool ledger_created; /* by this start-up: removed if it fails */
	bool started;	     /* start-up complete: the run began */

	/* IO thread only. */
	struct conn *conns; /* open connections */
	unsigned nconns;
	struct conn *dirty; /* connections to flush / resume / finish at the end of a round */
	struct conn *reap;  /* connections to close at the end of a round */
	unsigned npending;  /* connections with a --block job waiting */
	bool draining;	    /* intake stopped */
	bool final;	    /* the pool stopped and every completion was answered */
	int64_t linger_deadline;
	struct job **buckets; /* in-flight ids: accepted or waiting, not yet answered */
	size_t nbuckets, nset;
	uint64_t accepted, done, cancelled, returned, refused, busy, errors;

	/* The completion queue: @cq_head/@cq_tail under @cq_lock; @cqfd wakes the IO thread. */
	pthread_mutex_t cq_lock;
	struct job *cq_head, **cq_tail;

	/*
	 * Set by the stopper once pl_pool_shutdown() returned (release: publishes @pool_rc and
	 * every post before it; pairs with the acquire load in on_completions()).
	 */
	_Atomic bool pool_stopped;
	int pool_rc;
	/* A ledger record failed (set by finishers, read by the IO thread; seq_cst). */
	_Atomic bool ledger_failed;
};

static const char tag_listen, tag_signal, tag_cq; /* epoll data for the non-client fds */

/* The signals that start, then force, the shutdown. */
static const int shutdown_signals[] = {SIGTERM, SIGINT};
#define NSHUTDOWN_SIGNALS (sizeof(shutdown_signals) / sizeof(shutdown_signals[0]))

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void logmsg(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n] = '\n';
	/* One write per message, so lines from different threads do not mix. */
	fprintf(stderr, "patlab-svc: %.*s", n + 1, buf);
}

/* ------------------------------------------------------------------ completion queue */

static void cq_kick(struct svc *s)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is huge, the IO thread is already due to wake. */
	while (write(s->cqfd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* cq_post - hand a finished job to the IO thread; any thread. */
static void cq_post(struct svc *s, struct job *j)
{
	bool was_empty;

	PL_CHECK(pthread_mutex_lock(&s->cq_lock));
	was_empty = s->cq_head == NULL;
	j->cnext = NULL;
	*s->cq_tail = j;
	s->cq_tail = &j->cnext;
	PL_CHECK(pthread_mutex_unlock(&s->cq_lock));
	if (was_empty)
		cq_kick(s);
}

/* finish - the one way every accepted job ends: record, then post. Worker or stopper. */
static void finish(struct job *j, enum pl_ledger_state st)
{
	struct svc *s = j->svc;
	int rc = pl_ledger_record(s->ledger, j->id, st);

	/* -ESHUTDOWN: sealed by a forced exit, which is under way. */
	if (rc != 0 && rc != -ESHUTDOWN && !atomic_exchange(&s->ledger_failed, true))
		logmsg("ledger: recording job %" PRIu64 " failed: %s; shutting down", j->id,
		       strerror(-rc));
	j->state = st;
	cq_post(s, j);
}

static void job_run(pl_ctx *cx, void *arg)
{
	struct job *j = arg;

	finish(j, pl__svc_burn(j->cost_ns, cx) == 0 ? PL_LEDGER_DONE : PL_LEDGER_CANCELLED);
}

static void job_unstarted(pl_job_fn fn, void *arg, void *user)
{
	(void)fn;
	(void)user;
	finish(arg, PL_LEDGER_RETURNED);
}

static void *stopper_main(void *arg)
{
	struct svc *s = arg;
	int rc;

	/* Woken by the controller's cancel of "stopping" (first signal or pl_shutdown_begin). */
	pl_ctx_wait(pl_shutdown_stopping(s->sd), -1);
	/* Non-NULL from here: the controller publishes the grace before it cancels "stopping". */
	rc = pl_pool_shutdown(s->pool, pl_shutdown_grace(s->sd), job_unstarted, NULL);
	s->pool_rc = rc;
	atomic_store_explicit(&s->pool_stopped, true, memory_order_release);
	cq_kick(s);
	return NULL;
}

/* ------------------------------------------------------------------ in-flight ids */

static size_t bucket_of(const struct svc *s, uint64_t id)
{
	return (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & (s->nbuckets - 1);
}

static bool set_has(const struct svc *s, uint64_t id)
{
	for (struct job *j = s->buckets[bucket_of(s, id)]; j != NULL; j = j->hnext)
		if (j->id == id)
			return true;
	return false;
}

static void set_grow(struct svc *s)
{
	size_t n = s->nbuckets * 2;
	struct job **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return; /* longer chains, still correct */
	struct job **old = s->buckets;
	size_t oldn = s->nbuckets;

	s->buckets = b;
	s->nbuckets = n;
	for (size_t i = 0; i < oldn; i++) {
		struct job *j = old[i], *next;

		for (; j != NULL; j = next) {
			size_t k = bucket_of(s, j->id);

			next = j->hnext;
			j->hnext = b[k];
			b[k] = j;
		}
	}
	free(old);
}

static void set_add(struct svc *s, struct job *j)
{
	size_t k;

	if (s->nset >= s->nbuckets)
		set_grow(s);
	k = bucket_of(s, j->id);
	j->hnext = s->buckets[k];
	s->buckets[k] = j;
	s->nset++;
}

static void set_del(struct svc *s, struct job *j)
{
	struct job **p = &s->buckets[bucket_of(s, j->id)];

	while (*p != j)
		p = &(*p)->hnext;
	*p = j->hnext;
	s->nset--;
}

/* ------------------------------------------------------------------ connections */

static void mark_dirty(struct conn *c)
{
	if (c->dirty || c->dead)
		return;
	c->dirty = true;
	c->dnext = c->svc->dirty;
	c->svc->dirty = c;
}

static void drop_pending(struct conn *c)
{
	struct svc *s = c->svc;

	if (c->pending == NULL)
		return;
	set_del(s, c->pending);
	free(c->pending);
	c->pending = NULL;
	s->npending--;
}

/* kill - the client is gone or must go: discard its output, close it at the end of the round. */
static void conn_kill(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	drop_pending(c); /* never accepted: nothing to record */
	free(c->out);
	c->out = NULL;
	c->out_off = c->out_len = c->out_cap = 0;
	c->rnext = c->svc->reap;
	c->svc->reap = c;
}

/* answer - queue one answer line; a client too far behind is dropped. */
static void answer(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void answer(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->dead)
		return;
	if (c->out_cap - c->out_len < ANSWER_MAX) {
		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		if (c->out_cap - c->out_len < ANSWER_MAX) {
			size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
			char *p;

			if (cap > OUT_HARD) {
				logmsg("dropping a client that does not read its answers");
				conn_kill(c);
				return;
			}
			p = realloc(c->out, cap);
			if (p == NULL) {
				conn_kill(c);
				return;
			}
			c->out = p;
			c->out_cap = cap;
		}
	}
	va_start(ap, fmt);
	n = vsnprintf(c->out + c->out_len, ANSWER_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= ANSWER_MAX)
		pl__die("patlab-svc: an answer longer than ANSWER_MAX");
	c->out_len += (size_t)n;
	mark_dirty(c);
}

static void answer_err(struct conn *c, enum pl__svc_err e)
{
	c->svc->errors++;
	answer(c, "ERR %s\n", pl__svc_reason(e));
}

static bool input_paused(const struct conn *c)
{
	return c->pending != NULL || c->out_len - c->out_off >= OUT_HIGH;
}

/* submit - offer @j (already in the id set) to the pool: accepted, pending (--block), or answered.
 */
static void submit(struct conn *c, struct job *j)
{
	struct svc *s = c->svc;
	int rc = pl_pool_try_submit(s->pool, job_run, j);

	if (rc == 0) {
		c->outstanding++;
		s->accepted++;
		return;
	}
	if ((rc == -EAGAIN || rc == -ENOMEM) && s->o.block && !s->draining) {
		c->pending = j; /* its connection is not read until it is in */
		s->npending++;
		return;
	}
	set_del(s, j);
	if (rc == -EPIPE) { /* the stopper closed the pool before we saw the signal */
		s->refused++;
		answer(c, "REFUSED %" PRIu64 " shutting-down\n", j->id);
	} else { /* -EAGAIN full, -ENOMEM no job record: try again later */
		s->busy++;
		answer(c, "BUSY %" PRIu64 "\n", j->id);
	}
	free(j);
}

static void handle_line(struct conn *c, const char *line, size_t len)
{
	struct svc *s = c->svc;
	struct pl__svc_req req;
	enum pl__svc_err e = pl__svc_parse(line, len, s->o.max_cost_us, &req);
	struct job *j;

	if (e != PL_SVC_OK) {
		answer_err(c, e);
		return;
	}
	if (s->draining) {
		s->refused++;
		answer(c, "REFUSED %" PRIu64 " shutting-down\n", req.id);
		return;
	}
	if (set_has(s, req.id)) {
		answer_err(c, PL_SVC_E_DUPLICATE);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		s->busy++;
		answer(c, "BUSY %" PRIu64 "\n", req.id);
		return;
	}
	j->id = req.id;
	j->cost_ns = (int64_t)req.cost_us * 1000;
	j->svc = s;
	j->conn = c;
	set_add(s, j);
	submit(c, j);
}

/* process_input - parse buffered bytes until they run out or input pauses. */
static void process_input(struct conn *c)
{
	while (!c->dead && !c->svc->final && c->in_off < c->in_len && !input_paused(c)) {
		size_t used = 0, len = 0;
		enum pl__svc_frame ev =
		    pl__svc_frame(&c->fr, c->in + c->in_off, c->in_len - c->in_off, &used, &len);

		c->in_off += used;
		if (ev == PL_SVC_FRAME_LINE)
			handle_line(c, c->fr.line, len);
		else if (ev == PL_SVC_FRAME_TOO_LONG)
			answer_err(c, PL_SVC_E_TOO_LONG);
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
}

/* conn_read - one recv() per readiness event (fairness), after any leftover bytes. */
static void conn_read(struct conn *c)
{
	ssize_t n;

	mark_dirty(c);
	process_input(c);
	if (c->dead || c->eof || c->svc->final || input_paused(c) || c->in_len != 0)
		return;
	for (;;) {
		n = recv(c->fd, c->in, IN_CHUNK, 0);
		if (n > 0) {
			c->in_off = 0;
			c->in_len = (size_t)n;
			process_input(c);
			return;
		}
		if (n == 0) {
			c->eof = true;
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_kill(c); /* ECONNRESET: gone */
		return;
	}
}

static void conn_flush(struct conn *c)
{
	while (!c->dead && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->out_off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return; /* EPOLLOUT will tell */
		} else {
			conn_kill(c); /* EPIPE, ECONNRESET: the client left; its answers go */
			return;
		}
	}
	if (!c->dead)
		c->out_off = c->out_len = 0;
}

static void update_interest(struct conn *c)
{
	struct svc *s = c->svc;
	uint32_t want = 0;

	if (!c->eof && !s->final && !input_paused(c) && c->in_len == 0)
		want |= EPOLLIN;
	if (c->out_off < c->out_len)
		want |= EPOLLOUT;
	if (want != c->events) {
		struct epoll_event ev = {.events = want, .data.ptr = c};

		if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
			pl__die("patlab-svc: epoll_ctl(MOD): %s", strerror(errno));
		c->events = want;
	}
}

/* service - flush, resume reading, close when finished. End of every round. */
static void service_dirty(struct svc *s)
{
	struct conn *c;

	while ((c = s->dirty) != NULL) {
		s->dirty = c->dnext;
		c->dirty = false;
		if (c->dead)
			continue;
		for (;;) {
			conn_flush(c);
			if (c->dead || input_paused(c) || s->final || c->in_len == 0)
				break;
			process_input(c); /* bytes held back while paused */
		}
		if (c->dead)
			continue;
		if ((s->final || (c->eof && c->in_len == 0)) && c->outstanding == 0 &&
		    c->pending == NULL && c->out_off == c->out_len) {
			conn_kill(c); /* finished: every answer delivered */
			continue;
		}
		update_interest(c);
	}
}

static void free_conn(struct conn *c)
{
	free(c->out);
	free(c);
}

static void reap(struct svc *s)
{
	struct conn *c;

	while ((c = s->reap) != NULL) {
		s->reap = c->rnext;
		if (epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL) != 0)
			pl__die("patlab-svc: epoll_ctl(DEL): %s", strerror(errno));
		close(c->fd);
		c->fd = -1;
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			s->conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		s->nconns--;
		if (c->outstanding == 0)
			free_conn(c);
		/* else a zombie: freed by on_completions() when its last job comes back */
	}
}

/* refuse - tell a connection we will not serve it, then close it. */
static void refuse(int fd, enum pl__svc_err e)
{
	char buf[ANSWER_MAX];
	int n = snprintf(buf, sizeof(buf), "ERR %s\n", pl__svc_reason(e));
	ssize_t rc = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)rc; /* a fresh socket's buffer is empty; if even that fails, the close says it */
	close(fd);
}

static void accept_all(struct svc *s)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && s->reserve_fd >= 0) {
				/* Out of descriptors: free the reserve to accept and refuse one. */
				close(s->reserve_fd);
				fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0)
					refuse(fd, PL_SVC_E_TOO_MANY);
				s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				if (fd >= 0)
					continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				logmsg("accept: %s", strerror(errno));
			return;
		}
		if (s->draining) {
			refuse(fd, PL_SVC_E_SHUTTING_DOWN);
			continue;
		}
		if (s->nconns >= s->o.max_clients) {
			refuse(fd, PL_SVC_E_TOO_MANY);
			continue;
		}
		struct conn *c = calloc(1, sizeof(*c));

		if (c == NULL) {
			close(fd);
			continue;
		}
		c->svc = s;
		c->fd = fd;
		c->events = EPOLLIN;
		struct epoll_event ev = {.events = c->events, .data.ptr = c};

		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			logmsg("epoll_ctl(ADD): %s", strerror(errno));
			close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
	}
}

static void on_conn_event(struct conn *c, uint32_t events)
{
	if (c->dead)
		return;
	if (events & EPOLLERR) {
		conn_kill(c);
		return;
	}
	if (events & EPOLLIN)
		conn_read(c);
	if (c->dead)
		return;
	if (events & EPOLLHUP) {
		/* The client closed both ways: answers cannot reach it. Its jobs still finish. */
		conn_kill(c);
		return;
	}
	mark_dirty(c); /* EPOLLOUT: flush */
}

/* retry_pending - --block: room may have appeared; offer waiting jobs in connection order. */
static void retry_pending(struct svc *s)
{
	for (struct conn *c = s->conns, *next; c != NULL && s->npending > 0; c = next) {
		next = c->next;
		if (c->pending == NULL || c->dead)
			continue;
		struct job *j = c->pending;
		int rc = pl_pool_try_submit(s->pool, job_run, j);

		if (rc == -EAGAIN || rc == -ENOMEM)
			return; /* still full: the next completion brings us back */
		c->pending = NULL;
		s->npending--;
		if (rc == 0) {
			c->outstanding++;
			s->accepted++;
		} else {
			set_del(s, j);
			s->refused++;
			answer(c, "REFUSED %" PRIu64 " shutting-down\n", j->id);
			free(j);
		}
		mark_dirty(c); /* resume reading it */
	}
}

static void on_completions(struct svc *s)
{
	uint64_t v;
	struct job *list, *j;
	bool stopped;
	ssize_t rc;

	/* Read (reset) first: a post after this read kicks again. */
	do
		rc = read(s->cqfd, &v, sizeof(v));
	while (rc < 0 && errno == EINTR);
	/* Acquire: pairs with the stopper's release; every post before it is in the list. */
	stopped = atomic_load_explicit(&s->pool_stopped, memory_order_acquire);
	PL_CHECK(pthread_mutex_lock(&s->cq_lock));
	list = s->cq_head;
	s->cq_head = NULL;
	s->cq_tail = &s->cq_head;
	PL_CHECK(pthread_mutex_unlock(&s->cq_lock));

	while ((j = list) != NULL) {
		struct conn *c = j->conn;

		list = j->cnext;
		set_del(s, j);
		switch (j->state) {
		case PL_LEDGER_DONE:
			s->done++;
			answer(c, "OK %" PRIu64 "\n", j->id);
			break;
		case PL_LEDGER_CANCELLED:
			s->cancelled++;
			answer(c, "CANCELLED %" PRIu64 "\n", j->id);
			break;
		case PL_LEDGER_RETURNED:
			s->returned++;
			answer(c, "NOTPROCESSED %" PRIu64 "\n", j->id);
			break;
		}
		free(j);
		c->outstanding--;
		if (c->fd < 0 && c->outstanding == 0)
			free_conn(c); /* a zombie's last job */
		else
			mark_dirty(c); /* its end may have come */
	}
	if (s->npending > 0 && !s->draining)
		retry_pending(s);
	if (stopped)
		s->final = true;
}

/* begin_drain - the first signal (or a ledger failure): stop intake. */
static void begin_drain(struct svc *s)
{
	if (s->draining)
		return;
	s->draining = true;
	for (struct conn *c = s->conns; c != NULL && s->npending > 0; c = c->next) {
		if (c->pending == NULL)
			continue;
		s->refused++;
		answer(c, "REFUSED %" PRIu64 " shutting-down\n", c->pending->id);
		drop_pending(c);
		mark_dirty(c);
	}
}

static void unlink_socket(struct svc *s)
{
	struct stat st;

	/* Only our own socket: never a path someone replaced meanwhile. */
	if (stat(s->o.socket_path, &st) == 0 && st.st_dev == s->sock_dev &&
	    st.st_ino == s->sock_ino)
		unlink(s->o.socket_path);
}

static _Noreturn void force_exit(struct svc *s)
{
	struct timespec ts;
	bool stopped = false;
	int rc;

	/*
	 * The grace is cancelled already (FORCED): the pool is cancelling and handing back. Give
	 * it FORCE_WAIT_NS to record that, then go. pthread_timedjoin_np() takes CLOCK_REALTIME.
	 */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += FORCE_WAIT_NS / 1000000000;
	ts.tv_nsec += FORCE_WAIT_NS % 1000000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (s->stopper_started && pthread_timedjoin_np(s->stopper, NULL, &ts) == 0) {
		s->stopper_started = false;
		stopped = true;
	}
	rc = pl_ledger_seal(s->ledger);
	unlink_socket(s);
	logmsg("second signal: exiting at once (status %d); %s; ledger sealed%s", EXIT_FORCED,
	       stopped ? "every accepted job recorded"
		       : "running jobs did not stop in time and are not recorded",
	       rc == 0 ? "" : " but fsync failed");
	fflush(stderr);
	_exit(EXIT_FORCED);
}

static void on_signal(struct svc *s)
{
	enum pl_shutdown_phase ph = pl_shutdown_poll(s->sd);

	if (ph == PL_SHUTDOWN_RUNNING)
		return;
	if (!s->draining) {
		logmsg("%s: draining (grace %.3f s), refusing new jobs",
		       strsignal(pl_shutdown_last_signal(s->sd)), (double)s->o.grace_ns / 1e9);
		begin_drain(s);
	}
	if (ph == PL_SHUTDOWN_FORCED)
		force_exit(s);
}

/* enter_final - the pool stopped and all its jobs were answered: close intake for good. */
static void enter_final(struct svc *s)
{
	if (epoll_ctl(s->ep, EPOLL_CTL_DEL, s->lfd, NULL) != 0)
		pl__die("patlab-svc: epoll_ctl(DEL listen): %s", strerror(errno));
	unlink_socket(s);
	close(s->lfd);
	s->lfd = -1;
	s->linger_deadline = pl_now_ns() + LINGER_NS;
	for (struct conn *c = s->conns; c != NULL; c = c->next)
		mark_dirty(c); /* flush, then close */
}

static void event_loop(struct svc *s)
{
	struct epoll_event ev[MAX_EVENTS];
	bool was_final = false;

	for (;;) {
		int timeout = -1, n;

		if (s->final) {
			int64_t left = s->linger_deadline - pl_now_ns();

			if (s->nconns == 0)
				return;
			if (left <= 0) {
				logmsg("%u client(s) did not take their last answers in time",
				       s->nconns);
				return;
			}
			timeout = (int)((left + 999999) / 1000000);
		}
		n = epoll_wait(s->ep, ev, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pl__die("patlab-svc: epoll_wait: %s", strerror(errno));
		}
		/* The signal pipe first: intake stops before this round's requests are read. */
		for (int i = 0; i < n; i++)
			if (ev[i].data.ptr == &tag_signal)
				on_signal(s);
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;

			if (p == &tag_signal)
				continue;
			if (p == &tag_listen)
				accept_all(s);
			else if (p == &tag_cq)
				on_completions(s);
			else
				on_conn_event(p, ev[i].events);
		}
		if (atomic_load(&s->ledger_failed) && !s->draining) {
			pl_shutdown_begin(s->sd); /* wakes the stopper */
			begin_drain(s);
		}
		if (s->final && !was_final) {
			was_final = true;
			enter_final(s);
		}
		service_dirty(s);
		reap(s);
	}
}

/* ------------------------------------------------------------------ start-up */

/*
 * open_socket - bind and listen on @path, owner-only. A live socket there (a connect succeeds)
 * is someone else's service: refuse. A stale one (ECONNREFUSED: nobody listens) is removed.
 */
static int open_socket(struct svc *s)
{
	const char *path = s->o.socket_path;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int fd;

	memcpy(sa.sun_path, path, strlen(path) + 1); /* parse_args() checked that it fits */
	if (lstat(path, &st) == 0) {
		int probe, rc;

		if (!S_ISSOCK(st.st_mode)) {
			logmsg("%s exists and is not a socket: refusing to replace it", path);
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0) {
			logmsg("socket: %s", strerror(errno));
			return -1;
		}
		rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		if (rc == 0) {
			close(probe);
			logmsg("%s is in use by a live service: refusing to start", path);
			return -1;
		}
		if (errno != ECONNREFUSED) {
			logmsg("%s: cannot tell whether it is live: %s", path, strerror(errno));
			close(probe);
			return -1;
		}
		close(probe);
		logmsg("removing stale socket %s", path);
		if (unlink(path) != 0 && errno != ENOENT) {
			logmsg("unlink %s: %s", path, strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		logmsg("socket: %s", strerror(errno));
		return -1;
	}
	/*
	 * Owner-only from birth: bind() creates the file with 0777 & ~umask, so set the umask
	 * around it (single-threaded here: no other thread creates files meanwhile). Then chmod
	 * the path to 0600 whatever the umask did (fchmod() on the socket's descriptor would
	 * change the socket inode, not the file that connect() checks). Both before listen():
	 * nobody can connect before the mode is right.
	 */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		logmsg("bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, 0600) != 0 || stat(path, &st) != 0) {
		logmsg("chmod %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	s->sock_dev = st.st_dev;
	s->sock_ino = st.st_ino;
	if (listen(fd, 128) != 0) {
		logmsg("listen %s: %s", path, strerror(errno));
		unlink_socket(s);
		close(fd);
		return -1;
	}
	s->lfd = fd;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: patlab-svc --socket PATH --ledger FILE [options]\n"
	       "\n"
	       "A job service on a Unix-domain socket. Request: 'JOB <id> <cost_us>\\n'. Answers:\n"
	       "OK|CANCELLED|NOTPROCESSED|BUSY <id>, REFUSED <id> shutting-down, ERR <reason>.\n"
	       "SIGTERM/SIGINT: stop intake, drain within --grace, cancel running jobs, hand back\n"
	       "the rest as NOTPROCESSED; a second signal during the drain exits at once.\n"
	       "\n"
	       "  --socket PATH       listen here (created 0600; a stale socket is replaced,\n"
	       "                      a live one makes us refuse to start)\n"
	       "  --ledger FILE       append '<id> done|cancelled|returned' per accepted job\n"
	       "                      (created 0600, never truncated; locked: one service each)\n"
	       "  --workers N         worker threads, 1..1024 (default 2)\n"
	       "  --queue N           queued jobs beyond the running ones (default 64)\n"
	       "  --kind NAME         the pool's channel kind (default mutex)\n"
	       "  --grace DURATION    drain time after the first signal (default 5s; units\n"
	       "                      ns, us, ms, s; a bare number is seconds)\n"
	       "  --block             a full queue stops reading that client instead of BUSY\n"
	       "  --max-clients N     connections at once (default 64)\n"
	       "  --max-cost-us N     largest job cost accepted (default 10000000)\n"
	       "  --help              this text\n"
	       "\n"
	       "exit status, as the ledger says once the drain is over:\n"
	       "  0  every accepted job done\n"
	       "  3  the grace ran out: some accepted job cancelled or returned\n"
	       "  4  a second signal during the drain forced the exit (the ledger stays whole)\n"
	       "  1  could not start (nothing is created then), or the ledger failed\n"
	       "  2  usage: a bad command line (one line on stderr says what)\n");
}

/*
 * usage_error - one line naming the problem and where to read more; -1 (EXIT_USAGE follows).
 * One fprintf to the unbuffered stderr: one write, one line.
 */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	char buf[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "patlab-svc: %s (see patlab-svc --help)\n", buf);
	return -1;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

/* parse_duration - "250ms", "2s", "1.5s", "100us", "10ns", or a bare number of seconds. */
static bool parse_duration(const char *s, int64_t *out)
{
	char *end;
	double v, mult = 1e9;

	if (s == NULL || !((*s >= '0' && *s <= '9') || *s == '.'))
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s)
		return false;
	if (strcmp(end, "ns") == 0)
		mult = 1;
	else if (strcmp(end, "us") == 0)
		mult = 1e3;
	else if (strcmp(end, "ms") == 0)
		mult = 1e6;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		mult = 1e9;
	else
		return false;
	v *= mult;
	if (!(v >= 0) || v > 1e18)
		return false;
	*out = (int64_t)v;
	return true;
}

/*
 * check_kind - the pool can run on @o->kind at depth @o->queue: a known kind that takes several
 * senders and receivers, and a rendezvous only where the kind has one. 0 or usage_error().
 */
static int check_kind(const struct opts *o)
{
	const char *const *kinds = pl_chan_kinds();
	struct pl_chan_kind_info info;
	char names[160] = "";
	size_t len = 0;

	if (pl_chan_kind_info(o->kind, &info) != 0) {
		for (size_t i = 0; kinds[i] != NULL; i++) {
			if (pl_chan_kind_info(kinds[i], &info) != 0 || info.spsc)
				continue;
			int n = snprintf(names + len, sizeof(names) - len, "%s%s", len ? ", " : "",
					 kinds[i]);

			if (n < 0 || (size_t)n >= sizeof(names) - len)
				break;
			len += (size_t)n;
		}
		return usage_error("--kind: no channel kind '%s' (one of: %s)", o->kind, names);
	}
	if (info.spsc)
		return usage_error(
		    "--kind %s: one sender and one receiver only; the pool has several", o->kind);
	if (o->queue == 0 && !info.rendezvous)
		return usage_error("--queue 0 (a rendezvous): kind '%s' has none; use 1 or more",
				   o->kind);
	return 0;
}

/* parse_args - @o from the command line, every value checked: 0, or -1 after one line. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"ledger", required_argument, NULL, 'l'},
	    {"workers", required_argument, NULL, 'w'},
	    {"queue", required_argument, NULL, 'q'},
	    {"kind", required_argument, NULL, 'k'},
	    {"grace", required_argument, NULL, 'g'},
	    {"block", no_argument, NULL, 'b'},
	    {"max-clients", required_argument, NULL, 'm'},
	    {"max-cost-us", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *want = NULL; /* what a bad value should have been */
	uint64_t v;
	int ch, li = 0;

	*o = (struct opts){
	    .kind = "mutex",
	    .workers = 2,
	    .queue = 64,
	    .grace_ns = 5 * INT64_C(1000000000),
	    .max_clients = 64,
	    .max_cost_us = 10000000,
	};
	opterr = 0; /* our own one-line messages, not getopt's */
	/* The leading ':' makes a missing value ':' rather than '?'. */
	while ((ch = getopt_long(argc, argv, ":", longopts, &li)) != -1) {
		switch (ch) {
		case 's':
			o->socket_path = optarg;
			break;
		case 'l':
			o->ledger_path = optarg;
			break;
		case 'w':
			want = "a whole number from 1 to 1024";
			if (!parse_u64(optarg, 1024, &v) || v == 0)
				goto bad;
			o->workers = (unsigned)v;
			break;
		case 'q':
			want = "a whole number from 0 to 16777216";
			if (!parse_u64(optarg, 1u << 24, &v))
				goto bad;
			o->queue = (size_t)v;
			break;
		case 'k':
			o->kind = optarg;
			break;
		case 'g':
			want = "a duration such as 5s, 250ms, 100us";
			if (!parse_duration(optarg, &o->grace_ns))
				goto bad;
			break;
		case 'b':
			o->block = true;
			break;
		case 'm':
			want = "a whole number from 1 to 1048576";
			if (!parse_u64(optarg, 1u << 20, &v) || v == 0)
				goto bad;
			o->max_clients = (unsigned)v;
			break;
		case 'c':
			/* Bounded so that cost_us * 1000 fits an int64_t with room to spare. */
			want = "a whole number from 0 to 1000000000000";
			if (!parse_u64(optarg, UINT64_C(1000000000000), &v))
				goto bad;
			o->max_cost_us = v;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_DRAINED);
		case ':':
			return usage_error("%s needs a value", argv[optind - 1]);
		default: /* '?': optopt is the character of an unknown short option, else 0 */
			if (optopt != 0)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return usage_error("unexpected operand '%s' (options only)", argv[optind]);
	if (o->socket_path == NULL || o->ledger_path == NULL)
		return usage_error("--socket and --ledger are required");
	if (*o->socket_path == '\0' || *o->ledger_path == '\0')
		return usage_error("--%s: an empty path", *o->socket_path ? "ledger" : "socket");
	if (strlen(o->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return usage_error("--socket: a path longer than %zu bytes",
				   sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return check_kind(o);
bad:
	return usage_error("--%s '%s': want %s", longopts[li].name, optarg, want);
}

static int epoll_add(int ep, int fd, const void *tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = (void *)tag};

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * quiesce_signals - from here to the exit, SIGTERM and SIGINT do nothing. Freeing the
 * controller puts back the dispositions it found, the default action (terminate) for these: a
 * second signal after that, while the process writes its last line or returns from main(),
 * would kill it, and a shutdown that completed would end as a death by signal. So, once every
 * other thread of ours is joined, block them in this last one (an arrival stays pending), free
 * the controller, then ignore them (which discards what is pending). Blocked and ignored they
 * stay until the exit.
 */
static void quiesce_signals(struct svc *s)
{
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < NSHUTDOWN_SIGNALS; i++)
		sigaddset(&set, shutdown_signals[i]);
	PL_CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL));
	pl_shutdown_free(s->sd);
	s->sd = NULL;
	sigemptyset(&ign.sa_mask);
	for (size_t i = 0; i < NSHUTDOWN_SIGNALS; i++)
		if (sigaction(shutdown_signals[i], &ign, NULL) != 0)
			pl__die("patlab-svc: sigaction(%d, SIG_IGN): %s", shutdown_signals[i],
				strerror(errno));
}

/*
 * teardown - release what start-up and the run acquired, the signals last (see above); the
 * ledger's close result. A start-up that failed removes a ledger it created (nothing in it).
 */
static int teardown(struct svc *s)
{
	int rc;

	if (s->stopper_started) {
		pl_shutdown_begin(s->sd); /* no-op after a signal; wakes the stopper otherwise */
		PL_CHECK(pthread_join(s->stopper, NULL));
	}
	pl_pool_free(s->pool);
	while (s->conns != NULL) {
		struct conn *c = s->conns;

		s->conns = c->next;
		close(c->fd);
		drop_pending(c);
		free_conn(c);
	}
	if (s->lfd >= 0) {
		unlink_socket(s);
		close(s->lfd);
	}
	if (s->ep >= 0)
		close(s->ep);
	if (s->cqfd >= 0)
		close(s->cqfd);
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	free(s->buckets);
	PL_CHECK(pthread_mutex_destroy(&s->cq_lock));
	if (s->ledger_created && !s->started)
		rc = pl__ledger_discard(s->ledger, s->o.ledger_path);
	else
		rc = pl_ledger_close(s->ledger);
	if (rc != 0)
		logmsg("ledger: close: %s", strerror(-rc));
	quiesce_signals(s);
	return rc;
}

int main(int argc, char **argv)
{
	struct svc svc = {.ep = -1, .lfd = -1, .cqfd = -1, .reserve_fd = -1};
	struct svc *s = &svc;
	int status = EXIT_ERROR;

	/* Every argument is checked before anything is created. */
	if (parse_args(argc, argv, &s->o) != 0)
		return EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN);
	PL_CHECK(pthread_mutex_init(&s->cq_lock, NULL));
	s->cq_tail = &s->cq_head;
	atomic_init(&s->pool_stopped, false);
	atomic_init(&s->ledger_failed, false);
	s->nbuckets = 64;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));

	/* First, so that a signal during start-up is kept in the pipe and honoured. */
	s->sd = pl_shutdown_new(shutdown_signals, NSHUTDOWN_SIGNALS, s->o.grace_ns);
	if (s->sd == NULL || s->buckets == NULL) {
		logmsg("start-up: %s", strerror(errno));
		free(s->buckets);
		pl_shutdown_free(s->sd);
		return EXIT_ERROR;
	}
	/* The pool first: nothing on disk yet if its threads cannot be had. */
	s->pool = pl_pool_new(&(pl_pool_opts){
	    .workers = s->o.workers, .queue_depth = s->o.queue, .chan_kind = s->o.kind});
	if (s->pool == NULL) {
		logmsg("pool (kind %s, %u workers, queue %zu): %s", s->o.kind, s->o.workers,
		       s->o.queue, strerror(errno));
		goto out;
	}
	/* The ledger before the socket: a second service on this ledger never listens. */
	s->ledger = pl__ledger_open_locked(s->o.ledger_path, &s->ledger_created);
	if (s->ledger == NULL) {
		if (errno == EWOULDBLOCK)
			logmsg("ledger %s is in use by another process (it holds the file's lock): "
			       "refusing to start",
			       s->o.ledger_path);
		else if (errno == ENXIO)
			logmsg("ledger %s: a FIFO that nobody reads", s->o.ledger_path);
		else
			logmsg("ledger %s: %s", s->o.ledger_path, strerror(errno));
		goto out;
	}
	if (open_socket(s) != 0)
		goto out;
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s->cqfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->cqfd < 0 || s->ep < 0 || epoll_add(s->ep, s->lfd, &tag_listen) != 0 ||
	    epoll_add(s->ep, pl_shutdown_fd(s->sd), &tag_signal) != 0 ||
	    epoll_add(s->ep, s->cqfd, &tag_cq) != 0) {
		logmsg("start-up: %s", strerror(errno));
		goto out;
	}
	if (pthread_create(&s->stopper, NULL, stopper_main, s) != 0) {
		logmsg("start-up: cannot create the stopper thread");
		goto out;
	}
	s->stopper_started = true;
	s->started = true;
	(void)pthread_setname_np(s->stopper, "svc-stopper"); /* for ps -L, gdb, and the tests */
	logmsg("listening on %s (workers %u, queue %zu, kind %s, grace %.3f s, %s when full, "
	       "max %u clients)",
	       s->o.socket_path, s->o.workers, s->o.queue, s->o.kind, (double)s->o.grace_ns / 1e9,
	       s->o.block ? "block" : "BUSY", s->o.max_clients);

	event_loop(s);

	/*
	 * The pool's verdict says whether jobs were handed back (-ETIMEDOUT exactly then), not
	 * how the ones that ran ended: the status is the ledger's, what every accepted job
	 * became. The two must agree on the handed-back ones.
	 */
	if (s->accepted != s->done + s->cancelled + s->returned || s->nset != 0 ||
	    (s->pool_rc == 0) != (s->returned == 0))
		pl__die("patlab-svc: accepted %" PRIu64 " != done %" PRIu64 " + cancelled %" PRIu64
			" + returned %" PRIu64 " (in flight %zu), or the pool said 0 (%d)",
			s->accepted, s->done, s->cancelled, s->returned, s->nset, s->pool_rc);
	if (atomic_load(&s->ledger_failed))
		status = EXIT_ERROR;
	else
		status = s->cancelled + s->returned == 0 ? EXIT_DRAINED : EXIT_CUT;
out:
	if (teardown(s) != 0)
		status = EXIT_ERROR;
	logmsg("exit %d: accepted %" PRIu64 " (done %" PRIu64 ", cancelled %" PRIu64
	       ", returned %" PRIu64 "), refused %" PRIu64 ", busy %" PRIu64 ", errors %" PRIu64,
	       status, s->accepted, s->done, s->cancelled, s->returned, s->refused, s->busy,
	       s->errors);
	return status;
}
