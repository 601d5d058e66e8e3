/* SPDX-License-Identifier: MIT */
/*
 * Pipeline: stages of worker threads joined by channels (see pipeline.h for the contract).
 *
 * Shape. Stage i owns its input link (link i, a pl_chan) and sends on the next stage's input
 * link, or on the output link for the last stage. Link 0 is fed by pl_pipeline_send(); the
 * output link is drained by pl_pipeline_recv(). Each worker loops: receive (with the pipeline's
 * context), check the context, call the stage function, send (with the pipeline's context).
 * Every blocking call takes the pipeline's context, so pl_ctx_cancel() on it wakes a worker
 * wherever it waits (the channels' watch); the per-item pl_ctx_err() check stops workers that
 * never block.
 *
 * Closing exactly once. Each stage counts its live workers; the last one to return closes the
 * stage's output link (whose only senders are this stage's workers, so no send can follow).
 * On a drain (input closed) this cascades: link i-1 closed and empty -> stage i's workers see
 * -EPIPE -> the last closes link i. The last worker of stage 0 also closes link 0 (once, through
 * the in_closed flag shared with pl_pipeline_close()), which matters only after a cancellation:
 * it wakes sources blocked on a full link 0 that nobody will drain any more.
 *
 * Errors. fail() records the first stage error under @lock, but only while the pipeline's
 * context is live: a function that returns an error because it saw the cancellation is a
 * consequence, not the cause. Then it cancels the context with the error as its cause.
 * Workers that stop because the context is done set @cancel_seen; pl_pipeline_wait() reports
 * the recorded stage error, else the context's error when some worker was cut short, else 0.
 *
 * Ordered mode. Sources claim a sequence number (@tail, CAS) only while tail - head < window,
 * then write the item into slot seq % window and send the slot's address down the links; each
 * stage replaces slot->item with its output. The last stage publishes the slot by storing
 * stamp = seq + 1 (release) instead of sending, and notifies @ready. The sink takes slot
 * head % window when its stamp is head + 1, then advances @head (release), which admits
 * sequence number head + window (notify @admit). Since every live sequence number lies in
 * [head, head + window), slots never collide, the last stage never waits for room (no
 * deadlock however items overtake each other), and memory is the window. A source whose send
 * on link 0 fails after it claimed a number marks the slot as a tombstone (the sink skips it),
 * so a sequence never has a hole. End of stream: the last stage's workers are all done, head
 * == tail and the head slot is not ready; every number below tail is then complete or a
 * tombstone-to-be (a successful claim beyond it happened before its completion, and so before
 * last_done, so the sink's tail load cannot miss it). Several sinks take slots under
 * @sink_lock, a short critical section that never blocks.
 *
 * Discard accounting: an accepted item is, at any time, in a link, in a worker's hands, in a
 * completed slot (ordered) or received. A worker that cannot pass an item on discards it;
 * pl_pipeline_free() discards what is left in the links and the completed slots once every
 * worker is joined. So each accepted item is received or discarded exactly once.
 *
 * Memory: one allocation per stage (plus its name and workers), the window's slots, the
 * links. Nothing is allocated per item.
 */
#include <patlab/pipeline.h>

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan/block.h"
#include "sync/die.h"

/* An unbounded link counts this many items when the default window is sized. */
#define UNBOUNDED_WEIGHT 1024u
/* The largest reorder window (64 bytes a slot: 256 MiB). */
#define MAX_WINDOW ((size_t)1 << 22)

enum state {
	ST_NEW = 0,
	ST_RUNNING = 1,
	ST_BROKEN = 2, /* a start failed: only free may follow */
};

enum stop {
	STOP_DRAINED,	/* the input link was closed and empty */
	STOP_CANCELLED, /* the pipeline's context was done */
	STOP_FAILED,	/* the stage function returned non-zero */
};

/* Ordered mode: one reorder-window position. */
struct slot {
	/*
	 * seq + 1 once the item is complete (the last stage) or abandoned (a tombstone, by its
	 * source). Release by those writers, acquire by the sink: it publishes @item and @tomb.
	 */
	alignas(64) _Atomic uint64_t stamp;
	/* Written by the source that claimed the slot before it sends the slot's address
	 * (the link orders it for the stages); @item then by each stage holding the slot. */
	uint64_t seq;
	void *item;
	bool tomb;
};
_Static_assert(sizeof(struct slot) == 64, "a slot is one cache line");

struct stage;

struct worker {
	alignas(PL_FALSE_SHARING) struct stage *st;
	pthread_t tid;
	bool started; /* written by start, read by the joiner after start returned */
	/* Written by this worker only (relaxed: statistics, order nothing), read by the stats. */
	_Atomic uint64_t items;
	_Atomic int64_t busy_ns;
	_Atomic int64_t recv_ns;
	_Atomic int64_t send_ns;
};

struct stage {
	/* Constant after start. */
	struct pl_pipeline *pl;
	char *name;
	pl_stage_fn fn;
	void *user;
	unsigned workers;
	unsigned idx;
	const char *in_kind; /* the registry's name */
	size_t in_depth;
	pl_chan *in;  /* link idx */
	pl_chan *out; /* link idx + 1, or the output; NULL: the last stage of an ordered pipeline */
	struct worker *w;
	/* Workers not yet returned; the one that brings it to 0 closes @out. */
	alignas(PL_FALSE_SHARING) _Atomic unsigned live;
};

struct pl_pipeline {
	/* Constant after start (kind names point into the kind registry). */
	struct pl_pipeline_opts o;
	struct stage **st;
	unsigned n, cap;
	enum state state;
	pl_ctx *ctx; /* owned; cancelled by fail(), pl_pipeline_cancel() or the parent */
	pl_chan *out;
	size_t window;
	struct slot *slots;

	/*
	 * Stopping. @in_closed: link 0 closed by us (exchange: exactly once). @user_closed:
	 * pl_pipeline_close() was called. @live: workers not yet returned (the last one
	 * notifies @done). @cancel_seen: a worker stopped on the context. Counters are
	 * statistics (relaxed).
	 */
	alignas(PL_FALSE_SHARING) _Atomic bool in_closed;
	_Atomic bool user_closed;
	_Atomic unsigned live;
	_Atomic bool cancel_seen;
	_Atomic uint64_t discarded;
	_Atomic uint64_t window_waits;
	struct pl__evc done; /* pl_pipeline_wait() sleeps here */

	/* The first stage error: protected by @lock. */
	pthread_mutex_t lock;
	bool failed;
	int err;
	const char *err_stage;

	/* Joining: protected by @join_lock. */
	pthread_mutex_t join_lock;
	bool joined;

	/* Ordered mode, source side: sequence numbers claimed (CAS by sources). */
	alignas(PL_FALSE_SHARING) _Atomic uint64_t tail;
	struct pl__evc admit; /* sources wait for the window; notified by the sink, by close */

	/* Ordered mode, sink side: stored under @sink_lock, read lock-free by sources. */
	alignas(PL_FALSE_SHARING) _Atomic uint64_t head;
	_Atomic bool last_done; /* every worker of the last stage returned (release) */
	struct pl__evc ready;	/* sinks wait; notified by completions, tombstones, last_done */
	pthread_mutex_t sink_lock;
	bool eos; /* under @sink_lock: the end of the stream was seen */
};

/* --------------------------------------------------------------------- options */

struct pl_pipeline_opts pl_pipeline_opts_default(void)
{
	return (struct pl_pipeline_opts){
	    .chan_kind = "mutex",
	    .depth = 64,
	    .out_kind = NULL,
	    .out_depth = PL_PIPELINE_DEPTH_DEFAULT,
	    .spin_ns = PL_CHAN_SPIN_NS_DEFAULT,
	};
}

/* resolve_kind - @kind (NULL: "mutex") as the registry's own name, checked against @depth. */
static int resolve_kind(const char *kind, size_t depth, const char **name)
{
	struct pl_chan_kind_info info;

	if (pl_chan_kind_info(kind != NULL ? kind : "mutex", &info) != 0)
		return -EINVAL;
	if (depth == 0 && !info.rendezvous)
		return -EINVAL;
	if (depth == PL_CHAN_UNBOUNDED && !info.unbounded)
		return -EINVAL;
	if (depth == PL_PIPELINE_DEPTH_DEFAULT)
		return -EINVAL;
	*name = info.name;
	return 0;
}

static bool kind_is_spsc(const char *kind)
{
	struct pl_chan_kind_info info;

	return pl_chan_kind_info(kind, &info) == 0 && info.spsc;
}

pl_pipeline *pl_pipeline_new(const struct pl_pipeline_opts *o)
{
	struct pl_pipeline_opts d = pl_pipeline_opts_default();
	struct pl_pipeline *pl;
	const char *kind, *out_kind;

	if (o == NULL)
		o = &d;
	if (o->spin_ns < 0 || resolve_kind(o->chan_kind, o->depth, &kind) != 0 ||
	    resolve_kind(o->out_kind != NULL ? o->out_kind : kind,
			 o->out_depth == PL_PIPELINE_DEPTH_DEFAULT ? o->depth : o->out_depth,
			 &out_kind) != 0 ||
	    (o->ordered && o->window > MAX_WINDOW)) {
		errno = EINVAL;
		return NULL;
	}
	pl = aligned_alloc(PL_FALSE_SHARING, (sizeof(*pl) + PL_FALSE_SHARING - 1) /
						 PL_FALSE_SHARING * PL_FALSE_SHARING);
	if (pl == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	memset(pl, 0, sizeof(*pl));
	pl->o = *o;
	pl->o.chan_kind = kind;
	pl->o.out_kind = out_kind;
	if (pl->o.out_depth == PL_PIPELINE_DEPTH_DEFAULT)
		pl->o.out_depth = o->depth;
	pl->state = ST_NEW;
	atomic_init(&pl->in_closed, false);
	atomic_init(&pl->user_closed, false);
	atomic_init(&pl->live, 0);
	atomic_init(&pl->cancel_seen, false);
	atomic_init(&pl->discarded, 0);
	atomic_init(&pl->window_waits, 0);
	atomic_init(&pl->tail, 0);
	atomic_init(&pl->head, 0);
	atomic_init(&pl->last_done, false);
	pl__evc_init(&pl->done);
	pl__evc_init(&pl->admit);
	pl__evc_init(&pl->ready);
	PL_CHECK(pthread_mutex_init(&pl->lock, NULL));
	PL_CHECK(pthread_mutex_init(&pl->join_lock, NULL));
	PL_CHECK(pthread_mutex_init(&pl->sink_lock, NULL));
	return pl;
}

int pl_pipeline_add_stage(pl_pipeline *pl, const char *name, pl_stage_fn fn, void *user,
			  unsigned workers)
{
	struct pl_stage s = {
	    .name = name,
	    .fn = fn,
	    .user = user,
	    .workers = workers,
	    .in_kind = NULL,
	    .in_depth = PL_PIPELINE_DEPTH_DEFAULT,
	};

	return pl_pipeline_add_stage_opts(pl, &s);
}

int pl_pipeline_add_stage_opts(pl_pipeline *pl, const struct pl_stage *s)
{
	struct stage *st;
	const char *kind;
	size_t depth;

	if (pl == NULL || s == NULL || s->name == NULL || s->name[0] == '\0' || s->fn == NULL ||
	    s->workers < 1 || s->workers > PL_PIPELINE_MAX_WORKERS)
		return -EINVAL;
	if (pl->state != ST_NEW)
		return -EBUSY;
	if (pl->n == PL_PIPELINE_MAX_STAGES)
		return -EINVAL;
	depth = s->in_depth == PL_PIPELINE_DEPTH_DEFAULT ? pl->o.depth : s->in_depth;
	if (resolve_kind(s->in_kind != NULL ? s->in_kind : pl->o.chan_kind, depth, &kind) != 0)
		return -EINVAL;
	if (pl->n == pl->cap) {
		unsigned cap = pl->cap ? 2 * pl->cap : 4;
		struct stage **a = realloc(pl->st, cap * sizeof(*a));

		if (a == NULL)
			return -ENOMEM;
		pl->st = a;
		pl->cap = cap;
	}
	st = aligned_alloc(PL_FALSE_SHARING, (sizeof(*st) + PL_FALSE_SHARING - 1) /
						 PL_FALSE_SHARING * PL_FALSE_SHARING);
	if (st == NULL)
		return -ENOMEM;
	memset(st, 0, sizeof(*st));
	st->w = aligned_alloc(PL_FALSE_SHARING, s->workers * sizeof(*st->w));
	st->name = strdup(s->name);
	if (st->w == NULL || st->name == NULL) {
		free(st->w);
		free(st->name);
		free(st);
		return -ENOMEM;
	}
	memset(st->w, 0, s->workers * sizeof(*st->w));
	for (unsigned i = 0; i < s->workers; i++) {
		st->w[i].st = st;
		atomic_init(&st->w[i].items, 0);
		atomic_init(&st->w[i].busy_ns, 0);
		atomic_init(&st->w[i].recv_ns, 0);
		atomic_init(&st->w[i].send_ns, 0);
	}
	st->pl = pl;
	st->fn = s->fn;
	st->user = s->user;
	st->workers = s->workers;
	st->idx = pl->n;
	st->in_kind = kind;
	st->in_depth = depth;
	atomic_init(&st->live, 0);
	pl->st[pl->n++] = st;
	return 0;
}

/* --------------------------------------------------------------------- stopping */

static void discard(struct pl_pipeline *pl, void *item)
{
	atomic_fetch_add_explicit(&pl->discarded, 1, memory_order_relaxed); /* statistics */
	if (pl->o.discard != NULL)
		pl->o.discard(item, pl->o.discard_user);
}

/* close_input - close link 0 once (pl_pipeline_close() or stage 0's last worker). */
static void close_input(struct pl_pipeline *pl)
{
	if (atomic_exchange(&pl->in_closed, true))
		return;
	pl_chan_close(pl->st[0]->in); /* wakes sources blocked on a full link 0 */
	/* Sources blocked on the reorder window re-check in_closed (evc: no lost wakeup). */
	if (pl->o.ordered)
		pl__evc_notify(&pl->admit, INT32_MAX);
}

/*
 * fail - stage @st returned @err: record it if it is the first while live, then cancel.
 * Returns why the worker stops: STOP_FAILED, or STOP_CANCELLED when the context was already
 * done (the error is a consequence of the cancellation, not its cause).
 */
static enum stop fail(struct pl_pipeline *pl, struct stage *st, int err)
{
	enum stop why = STOP_FAILED;

	PL_CHECK(pthread_mutex_lock(&pl->lock));
	if (pl_ctx_err(pl->ctx) != 0) {
		why = STOP_CANCELLED;
	} else if (!pl->failed) {
		pl->failed = true;
		pl->err = err;
		pl->err_stage = st->name;
	}
	PL_CHECK(pthread_mutex_unlock(&pl->lock));
	pl_ctx_cancel_cause(pl->ctx, err);
	return why;
}

/* stage_exit - a worker of @st returns; the last of the stage closes its output. */
static void stage_exit(struct stage *st, enum stop why)
{
	struct pl_pipeline *pl = st->pl;

	if (why == STOP_CANCELLED)
		atomic_store(&pl->cancel_seen, true);
	if (atomic_fetch_sub(&st->live, 1) == 1) {
		if (st->idx == 0)
			close_input(pl);
		if (st->out != NULL) {
			/* Every sender of @out is a worker of this stage, and all have returned. */
			if (pl_chan_close(st->out) != 0)
				pl__die("pipeline: stage %s: its output link was closed twice",
					st->name);
		} else {
			/* Release pairs with the acquire in try_take(): every completion. */
			atomic_store_explicit(&pl->last_done, true, memory_order_release);
			pl__evc_notify(&pl->ready, INT32_MAX);
		}
	}
	/* Seq_cst: pairs with the load in all_done() (through the evc's Dekker). */
	if (atomic_fetch_sub(&pl->live, 1) == 1)
		pl__evc_notify(&pl->done, INT32_MAX);
}

/* --------------------------------------------------------------------- workers */

static inline void add_ns(_Atomic int64_t *c, int64_t d)
{
	/* Only the owner writes: a plain load and store. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
			      memory_order_relaxed);
}

/* complete - ordered mode, last stage: publish @s with its new item to the sink. */
static void complete(struct pl_pipeline *pl, struct slot *s)
{
	/* Release pairs with the acquire in try_take(): @item written by this stage. */
	atomic_store_explicit(&s->stamp, s->seq + 1, memory_order_release);
	pl__evc_notify(&pl->ready, INT32_MAX);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct stage *st = w->st;
	struct pl_pipeline *pl = st->pl;
	const bool ordered = pl->o.ordered, timed = pl->o.stats;
	enum stop why;
	int64_t t0 = timed ? pl_now_ns() : 0, t1 = 0, t2 = 0;

	for (;;) {
		void *m, *item, *out;
		struct slot *s = NULL;
		int rc;

		/* Blocks while link idx is empty: woken by a send, its close, or the context. */
		rc = pl_chan_recv(st->in, &m, pl->ctx);
		if (rc != 0) {
			why = rc == -EPIPE ? STOP_DRAINED : STOP_CANCELLED;
			break;
		}
		if (ordered) {
			s = m;
			item = s->item;
		} else {
			item = m;
		}
		if (pl_ctx_err(pl->ctx) != 0) {
			discard(pl, item);
			why = STOP_CANCELLED;
			break;
		}
		if (timed) {
			t1 = pl_now_ns();
			add_ns(&w->recv_ns, t1 - t0);
		}
		out = item;
		rc = st->fn(pl->ctx, item, &out, st->user);
		if (timed) {
			t2 = pl_now_ns();
			add_ns(&w->busy_ns, t2 - t1);
		}
		if (rc != 0) {
			discard(pl, item);
			why = fail(pl, st, rc);
			break;
		}
		/* Relaxed: a statistic; only this worker writes it. */
		atomic_store_explicit(&w->items,
				      atomic_load_explicit(&w->items, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		if (ordered) {
			s->item = out;
			m = s;
		} else {
			m = out;
		}
		if (st->out == NULL) {
			complete(pl, s);
		} else {
			/* Blocks while the next link is full: woken by its receivers or the
			 * context. -EPIPE cannot happen: only this stage closes it, after us. */
			rc = pl_chan_send(st->out, m, pl->ctx);
			if (rc != 0) {
				discard(pl, out);
				why = STOP_CANCELLED;
				break;
			}
		}
		if (timed) {
			t0 = pl_now_ns();
			add_ns(&w->send_ns, t0 - t2);
		}
	}
	stage_exit(st, why);
	return NULL;
}

/* --------------------------------------------------------------------- start */

static int links_check(struct pl_pipeline *pl)
{
	for (unsigned i = 0; i <= pl->n; i++) {
		const char *kind;
		unsigned senders, receivers;

		if (i == pl->n) {
			if (pl->o.ordered)
				break;
			kind = pl->o.out_kind;
			receivers = pl->o.sink_threads;
		} else {
			kind = pl->st[i]->in_kind;
			receivers = pl->st[i]->workers;
		}
		senders = i == 0 ? pl->o.source_threads : pl->st[i - 1]->workers;
		if (kind_is_spsc(kind) && (senders != 1 || receivers != 1))
			return -EINVAL;
	}
	return 0;
}

static pl_chan *new_link(struct pl_pipeline *pl, const char *kind, size_t depth, int *err)
{
	pl_chan_opts co = pl_chan_opts_default();
	pl_chan *ch;

	co.spin_ns = pl->o.spin_ns;
	ch = pl_chan_new_opts(kind, depth, &co);
	if (ch == NULL)
		*err = errno == ENOSYS || errno == ENOMEM ? -errno : -EINVAL;
	return ch;
}

static size_t default_window(const struct pl_pipeline *pl)
{
	size_t w = 0;

	for (unsigned i = 0; i < pl->n; i++) {
		size_t d = pl->st[i]->in_depth;

		w += d == PL_CHAN_UNBOUNDED ? UNBOUNDED_WEIGHT : d > MAX_WINDOW ? MAX_WINDOW : d;
		w += 2 * (size_t)pl->st[i]->workers;
		if (w > MAX_WINDOW)
			return MAX_WINDOW;
	}
	return w;
}

/* unstart - undo a start that failed after creating @created workers (the context exists). */
static void unstart(struct pl_pipeline *pl)
{
	pl_ctx_cancel(pl->ctx);
	for (unsigned i = 0; i < pl->n; i++)
		for (unsigned j = 0; j < pl->st[i]->workers; j++)
			if (pl->st[i]->w[j].started)
				PL_CHECK(pthread_join(pl->st[i]->w[j].tid, NULL));
	pl->joined = true;
}

int pl_pipeline_start(pl_pipeline *pl, pl_ctx *parent)
{
	unsigned total = 0;
	int err = 0;

	if (pl == NULL)
		return -EINVAL;
	if (pl->state != ST_NEW)
		return -EBUSY;
	if (pl->n == 0 || links_check(pl) != 0)
		return -EINVAL;
	pl->state = ST_BROKEN; /* until everything below succeeded */
	for (unsigned i = 0; i < pl->n; i++) {
		struct stage *st = pl->st[i];

		st->in = new_link(pl, st->in_kind, st->in_depth, &err);
		if (st->in == NULL)
			return err;
		total += st->workers;
	}
	if (!pl->o.ordered) {
		pl->out = new_link(pl, pl->o.out_kind, pl->o.out_depth, &err);
		if (pl->out == NULL)
			return err;
	} else {
		pl->window = pl->o.window != 0 ? pl->o.window : default_window(pl);
		pl->slots = aligned_alloc(64, pl->window * sizeof(*pl->slots));
		if (pl->slots == NULL)
			return -ENOMEM;
		memset(pl->slots, 0, pl->window * sizeof(*pl->slots));
		for (size_t i = 0; i < pl->window; i++)
			atomic_init(&pl->slots[i].stamp, 0);
	}
	for (unsigned i = 0; i < pl->n; i++)
		pl->st[i]->out = i + 1 < pl->n ? pl->st[i + 1]->in : pl->out;
	pl->ctx = pl_ctx_with_cancel(parent);
	if (pl->ctx == NULL)
		return -ENOMEM;
	atomic_store(&pl->live, total);
	for (unsigned i = 0; i < pl->n; i++)
		atomic_store(&pl->st[i]->live, pl->st[i]->workers);

	for (unsigned i = 0; i < pl->n; i++) {
		struct stage *st = pl->st[i];

		for (unsigned j = 0; j < st->workers; j++) {
			struct worker *w = &st->w[j];
			int rc = pl_thread_create(pl->o.threads, &w->tid, NULL, worker_main, w);
			char tname[16];

			if (rc != 0) {
				unstart(pl);
				return -rc;
			}
			w->started = true;
			/* "pl:<stage>" for debuggers and top; truncated to 15 bytes. */
			snprintf(tname, sizeof(tname), "pl:%s", st->name);
			pthread_setname_np(w->tid, tname);
		}
	}
	pl->state = ST_RUNNING;
	return 0;
}

/* --------------------------------------------------------------------- source and sink */

/* after_stop - what a source or sink reports once the pipeline refused: its error, or @rc. */
static int after_stop(struct pl_pipeline *pl, int rc)
{
	int err = pl_ctx_err(pl->ctx);

	return rc == -EPIPE && err != 0 ? err : rc;
}

/* try_claim - ordered mode: claim the next sequence number if the window has room. */
static int try_claim(void *p, void *arg)
{
	struct pl_pipeline *pl = p;
	uint64_t *seq = arg;

	/* Acquire pairs with close_input()'s exchange; the evc orders it against the sleep. */
	if (atomic_load_explicit(&pl->in_closed, memory_order_acquire))
		return -EPIPE;
	for (;;) {
		/*
		 * Head first, then tail: tail only grows, so t >= h. Acquire pairs with the
		 * release store in try_take(): the sink is done with slot t - window.
		 */
		uint64_t h = atomic_load_explicit(&pl->head, memory_order_acquire);
		uint64_t t = atomic_load(&pl->tail);

		if (t - h >= pl->window)
			return -EAGAIN;
		if (atomic_compare_exchange_weak(&pl->tail, &t, t + 1)) {
			*seq = t;
			return 0;
		}
	}
}

static int send_ordered(struct pl_pipeline *pl, void *item, pl_ctx *cx)
{
	uint64_t seq;
	struct slot *s;
	int rc = try_claim(pl, &seq);

	if (rc == -EAGAIN) {
		atomic_fetch_add_explicit(&pl->window_waits, 1, memory_order_relaxed); /* stat */
		/* Woken by the sink taking a slot, by close_input(), or by @cx. */
		rc = pl__block(&pl->admit, try_claim, pl, &seq, cx, pl->o.spin_ns);
	}
	if (rc != 0)
		return after_stop(pl, rc);
	s = &pl->slots[seq % pl->window];
	s->seq = seq;
	s->item = item;
	s->tomb = false;
	/* Blocks while link 0 is full: woken by stage 0, its close, or @cx. */
	rc = pl_chan_send(pl->st[0]->in, s, cx);
	if (rc != 0) {
		/* Not accepted: leave no hole in the sequence. Release pairs with try_take(). */
		s->tomb = true;
		atomic_store_explicit(&s->stamp, seq + 1, memory_order_release);
		pl__evc_notify(&pl->ready, INT32_MAX);
		return after_stop(pl, rc);
	}
	return 0;
}

int pl_pipeline_send(pl_pipeline *pl, void *item, pl_ctx *cx)
{
	int rc;

	if (pl == NULL || pl->state != ST_RUNNING)
		return -EINVAL;
	rc = pl_ctx_err(pl->ctx);
	if (rc != 0)
		return rc;
	if (pl->o.ordered)
		return send_ordered(pl, item, cx);
	/* Blocks while link 0 is full: woken by stage 0, its close, or @cx. */
	rc = pl_chan_send(pl->st[0]->in, item, cx);
	return rc != 0 ? after_stop(pl, rc) : 0;
}

/* try_take - ordered mode: take the head slot if complete (skipping tombstones). */
static int try_take(void *p, void *arg)
{
	struct pl_pipeline *pl = p;
	void **item = arg;
	bool advanced = false;
	int rc;

	PL_CHECK(pthread_mutex_lock(&pl->sink_lock));
	for (;;) {
		/* Relaxed: only written under sink_lock, which we hold. */
		uint64_t h = atomic_load_explicit(&pl->head, memory_order_relaxed);
		struct slot *s = &pl->slots[h % pl->window];

		if (pl->eos) {
			rc = -EPIPE;
			break;
		}
		rc = pl_ctx_err(pl->ctx);
		if (rc != 0)
			break;
		/* Acquire pairs with the release in complete() / send_ordered(): item, tomb. */
		if (atomic_load_explicit(&s->stamp, memory_order_acquire) == h + 1) {
			bool tomb = s->tomb;
			void *it = s->item;

			/* Release pairs with the acquire in try_claim(): slot h is free again. */
			atomic_store_explicit(&pl->head, h + 1, memory_order_release);
			advanced = true;
			if (tomb)
				continue;
			*item = it;
			rc = 0;
			break;
		}
		/* Acquire pairs with the release in stage_exit(): every completion is visible,
		 * and so is every claim that preceded one (see the top of the file). */
		if (atomic_load_explicit(&pl->last_done, memory_order_acquire) &&
		    atomic_load(&pl->tail) == h) {
			pl->eos = true;
			rc = -EPIPE;
			break;
		}
		rc = -EAGAIN;
		break;
	}
	PL_CHECK(pthread_mutex_unlock(&pl->sink_lock));
	if (advanced)
		pl__evc_notify(&pl->admit, INT32_MAX);
	return rc;
}

int pl_pipeline_recv(pl_pipeline *pl, void **item, pl_ctx *cx)
{
	int rc;

	if (pl == NULL || item == NULL || pl->state != ST_RUNNING)
		return -EINVAL;
	rc = pl_ctx_err(pl->ctx);
	if (rc != 0)
		return rc;
	if (pl->o.ordered) {
		/* Woken by a completion, a tombstone, the last stage's exit, or @cx. */
		rc = pl__block(&pl->ready, try_take, pl, item, cx, pl->o.spin_ns);
		return after_stop(pl, rc);
	}
	/* Blocks while the output is empty: woken by the last stage, its close, or @cx. */
	rc = pl_chan_recv(pl->out, item, cx);
	return rc != 0 ? after_stop(pl, rc) : 0;
}

int pl_pipeline_close(pl_pipeline *pl)
{
	if (pl == NULL || pl->state != ST_RUNNING)
		return -EINVAL;
	if (atomic_exchange(&pl->user_closed, true))
		return -EPIPE;
	close_input(pl);
	return 0;
}

void pl_pipeline_cancel(pl_pipeline *pl)
{
	if (pl != NULL && pl->state == ST_RUNNING)
		pl_ctx_cancel(pl->ctx);
}

/* --------------------------------------------------------------------- wait, stats, free */

static int all_done(void *p, void *arg)
{
	struct pl_pipeline *pl = p;

	(void)arg;
	/* Seq_cst: pairs with the decrement in stage_exit(). */
	return atomic_load(&pl->live) == 0 ? 0 : -EAGAIN;
}

static void join_all(struct pl_pipeline *pl)
{
	PL_CHECK(pthread_mutex_lock(&pl->join_lock));
	if (!pl->joined) {
		for (unsigned i = 0; i < pl->n; i++)
			for (unsigned j = 0; j < pl->st[i]->workers; j++)
				PL_CHECK(pthread_join(pl->st[i]->w[j].tid, NULL));
		pl->joined = true;
	}
	PL_CHECK(pthread_mutex_unlock(&pl->join_lock));
}

int pl_pipeline_wait(pl_pipeline *pl, pl_ctx *cx, const char **stage)
{
	int rc;

	if (stage != NULL)
		*stage = NULL;
	if (pl == NULL || pl->state != ST_RUNNING)
		return -EINVAL;
	/* Woken by the last worker's stage_exit(), or by @cx. No spinning: this is slow. */
	rc = pl__block(&pl->done, all_done, pl, NULL, cx, 0);
	if (rc != 0)
		return rc;
	join_all(pl);
	PL_CHECK(pthread_mutex_lock(&pl->lock));
	if (pl->failed) {
		rc = pl->err;
		if (stage != NULL)
			*stage = pl->err_stage;
	} else if (atomic_load(&pl->cancel_seen)) {
		rc = pl_ctx_err(pl->ctx); /* done for good: a worker saw it */
	}
	PL_CHECK(pthread_mutex_unlock(&pl->lock));
	return rc;
}

int pl_pipeline_stage_stats(const pl_pipeline *pl, unsigned i, struct pl_pipeline_stage_stats *out)
{
	const struct stage *st;

	if (pl == NULL || out == NULL || i >= pl->n)
		return -EINVAL;
	st = pl->st[i];
	memset(out, 0, sizeof(*out));
	out->name = st->name;
	out->workers = st->workers;
	for (unsigned j = 0; j < st->workers; j++) {
		struct worker *w = &st->w[j];

		/* Relaxed: statistics written by their worker. */
		out->items += atomic_load_explicit(&w->items, memory_order_relaxed);
		out->busy_ns += atomic_load_explicit(&w->busy_ns, memory_order_relaxed);
		out->recv_wait_ns += atomic_load_explicit(&w->recv_ns, memory_order_relaxed);
		out->send_wait_ns += atomic_load_explicit(&w->send_ns, memory_order_relaxed);
	}
	return 0;
}

void pl_pipeline_stats(const pl_pipeline *pl, struct pl_pipeline_stats *out)
{
	struct pl_pipeline *m = (struct pl_pipeline *)pl; /* atomics are read, not written */

	memset(out, 0, sizeof(*out));
	if (pl == NULL)
		return;
	out->stages = pl->n;
	out->window = pl->window;
	/* Relaxed: statistics, they order nothing. */
	out->window_waits = atomic_load_explicit(&m->window_waits, memory_order_relaxed);
	out->discarded = atomic_load_explicit(&m->discarded, memory_order_relaxed);
}

/* drain - after every worker is joined: discard what no sink will receive. */
static void drain(struct pl_pipeline *pl)
{
	void *m;

	/* Every worker has returned (joined): this thread is the only receiver left. */
	for (unsigned i = 0; i < pl->n; i++) {
		if (pl->st[i]->in == NULL)
			continue;
		while (pl_chan_try_recv(pl->st[i]->in, &m) == 0)
			discard(pl, pl->o.ordered ? ((struct slot *)m)->item : m);
	}
	if (pl->out != NULL)
		while (pl_chan_try_recv(pl->out, &m) == 0)
			discard(pl, m);
	if (pl->slots != NULL) {
		uint64_t h = atomic_load(&pl->head), t = atomic_load(&pl->tail);

		for (uint64_t s = h; s < t; s++) {
			struct slot *sl = &pl->slots[s % pl->window];

			/* Acquire pairs with complete() / send_ordered(), though the joins
			 * and the caller's own calls already order every writer before us. */
			if (atomic_load_explicit(&sl->stamp, memory_order_acquire) == s + 1 &&
			    !sl->tomb)
				discard(pl, sl->item);
		}
		atomic_store(&pl->head, t);
	}
}

void pl_pipeline_free(pl_pipeline *pl)
{
	if (pl == NULL)
		return;
	if (pl->state == ST_RUNNING) {
		if (atomic_load(&pl->live) != 0)
			pl_ctx_cancel(pl->ctx);
		pl_pipeline_wait(pl, NULL, NULL);
	}
	if (pl->state != ST_NEW)
		drain(pl);
	for (unsigned i = 0; i < pl->n; i++) {
		pl_chan_free(pl->st[i]->in);
		free(pl->st[i]->w);
		free(pl->st[i]->name);
		free(pl->st[i]);
	}
	free(pl->st);
	pl_chan_free(pl->out);
	free(pl->slots);
	pl_ctx_release(pl->ctx);
	PL_CHECK(pthread_mutex_destroy(&pl->sink_lock));
	PL_CHECK(pthread_mutex_destroy(&pl->join_lock));
	PL_CHECK(pthread_mutex_destroy(&pl->lock));
	free(pl);
}
