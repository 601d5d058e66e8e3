/* SPDX-License-Identifier: MIT */
/*
 * Channel kind "urcu": liburcu's wait-free concurrent queue (wfcqueue) behind Go's channel
 * semantics, bounded by its capacity exactly or unbounded.
 *
 * Queue. Senders append with cds_wfcq_enqueue(), wait-free for any number of them. Receivers
 * take nodes with the non-blocking __cds_wfcq_dequeue_nonblocking() under a small consumer
 * lock (liburcu's synchronization table: dequeuers must be serialized among themselves, never
 * with enqueuers). The library's blocking dequeue is never used: it sleeps 10 ms in poll()
 * when it meets a half-finished enqueue (FIELD-NOTES §3). The calls go to liburcu-common's
 * exported functions, not to the LGPL inline headers, so no liburcu code is compiled into
 * libpatlab (and ThreadSanitizer sees none of its deliberately plain accesses).
 *
 * Capacity and close. One atomic word, @sent, counts the sends that reserved a place (times
 * two) and holds the closed bit; @recvd counts receives, written only under the consumer
 * lock. The number of messages in the channel is sent/2 - recvd, counting the reserved ones
 * not yet linked into the queue.
 *   send:  CAS loop on @sent: closed -> -EPIPE; count >= cap -> -EAGAIN; else count + 1.
 *          A reservation is always followed by the enqueue, a handful of instructions later
 *          (the node was allocated before the CAS, so nothing between can fail or block).
 *   close: fetch_or of the closed bit on the same word.
 *   recv:  dequeue; on a node, recvd + 1. On an empty queue, read @sent once: count 0 ->
 *          -EAGAIN, or -EPIPE if closed; count > 0 -> a reserved send is between its CAS and
 *          the end of its enqueue, so wait for it (PAUSE, then sched_yield() so a preempted
 *          sender can finish) and dequeue again. The same wait covers CDS_WFCQ_WOULDBLOCK.
 * Linearization points: a send at its successful CAS (or at the load that saw it closed or
 * full), close at its fetch_or; send and close are RMWs on one word, so a send either counts
 * before the close, and is then delivered (no receive reports -EPIPE while the count is
 * above zero), or fails with -EPIPE and delivered nothing. A receive that fails is
 * linearized at its load of @sent: the count it read is exact there (@recvd cannot move
 * while we hold the consumer lock), so "empty" and "closed and drained" are never false,
 * and a try_recv() never misses a message that a completed send put in (no false empty).
 * A send's "full" is decided from @sent read before @recvd: when sent/2 - recvd >= cap, the
 * channel really held cap messages at the moment @recvd was read, since @sent only grows.
 * Senders keep @recvd_seen, a lower bound of @recvd on their own cache line, and read
 * @recvd (the consumers' line) only when the bound says the channel may be full.
 *
 * Blocking: spin (the channel's budget), then pl__block() over the try operations, with two
 * eventcounts; a waker costs nothing when nobody parks.
 * - Receivers park on @not_empty. A sender notifies it (all waiters: one notification may
 *   stand for several messages) only when cds_wfcq_enqueue() reports that the queue was
 *   empty, so sends into a non-empty queue pay no fence at all. No wakeup is lost: a receiver
 *   parks only after it saw, after its pl__evc_prepare(), an empty queue and a count of 0 in
 *   @sent. Every send counted there had been dequeued, and the dequeue of the last one reset
 *   the queue's tail to its head before the @recvd store and unlock that our lock acquire
 *   read. Any later send reserves after our load, so its CAS, then its xchg on the tail, come
 *   after that reset: liburcu's xchg/cmpxchg are full-barrier RMWs, as strong as seq_cst
 *   ones, so with our seq_cst accesses they sit in one total order consistent with
 *   happens-before. The first such xchg therefore finds the queue empty and notifies, and
 *   its fence (after its CAS, after our load) sees our announced waiter (park.h's Dekker).
 * - Bounded senders park on @not_full. Before parking, a sender raises @full_waiting and
 *   re-reads @recvd (full_announce); a receive stores @recvd (seq_cst), then loads the flag
 *   (seq_cst). Either the sender sees the freed slot or the receiver sees the flag, takes it
 *   down and wakes every parked sender (those still facing a full channel raise it again).
 *   So a receive costs one load when no sender parks, and the wake-up system call happens
 *   once per round of parked senders, not once per receive while they wake up.
 * - Close wakes both sides (INT32_MAX); a cancelled context wakes its waiter through
 *   pl__block()'s watch.
 *
 * Nodes. A node is the queue link plus the message. Nodes come from a per-thread cache of two
 * magazines (Bonwick): @cur holds up to MAG nodes, @full exactly MAG. A receiver's freed
 * nodes fill its magazines; a full pair spills one magazine into a global depot (one mutex
 * acquisition per MAG nodes), from which a sender whose magazines ran dry takes one, or
 * mallocs a fresh magazine's worth. The depot keeps at most DEPOT_MAX magazines and frees the
 * rest. A thread's magazines go back to the depot when it exits (pthread key destructor); the
 * depot is emptied at process exit; the main thread's cache stays reachable through its TLS.
 * pl_chan_free() returns the nodes still in the queue to the caller's cache.
 */
#include "chan/kind.h"
#include "chan/park.h"
#include "util/die.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/wfcqueue.h>

/* ------------------------------------------------------------------------- nodes */

struct unode {
	/* The queue link; in a magazine, the link to the next free node. */
	struct cds_wfcq_node link;
	/* The message. Stored (release) by the sender before the enqueue, loaded (acquire) by
	 * the receiver after the dequeue: the pair carries the sender's earlier writes to the
	 * receiver independently of liburcu's own barriers. */
	_Atomic(void *) msg;
};

enum {
	MAG = 64,	  /* nodes per magazine: one depot lock per MAG transfers */
	DEPOT_MAX = 1024, /* magazines the depot keeps (64 Ki nodes); more are freed */
};

/* Full magazines, each a list of MAG nodes linked through link.next. Protected by @lock. */
static struct {
	pthread_mutex_t lock;
	unsigned n;
	struct unode *mag[DEPOT_MAX];
} depot = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct tcache {
	struct unode *cur; /* up to MAG free nodes */
	unsigned ncur;
	struct unode *full; /* NULL or exactly MAG free nodes */
	bool keyed;	    /* the thread-exit destructor is armed */
};

/* Only the owning thread touches its cache. */
static _Thread_local struct tcache tcache;

static pthread_key_t tcache_key;
static pthread_once_t tcache_once = PTHREAD_ONCE_INIT;

static void free_list(struct unode *n)
{
	while (n != NULL) {
		struct unode *next = (struct unode *)n->link.next;

		free(n);
		n = next;
	}
}

/* depot_push - hand a full magazine to the depot, or free it when the depot is full. */
static void depot_push(struct unode *mag)
{
	PL_CHECK(pthread_mutex_lock(&depot.lock));
	if (depot.n < DEPOT_MAX) {
		depot.mag[depot.n++] = mag;
		mag = NULL;
	}
	PL_CHECK(pthread_mutex_unlock(&depot.lock));
	free_list(mag);
}

static struct unode *depot_pop(void)
{
	struct unode *mag = NULL;

	PL_CHECK(pthread_mutex_lock(&depot.lock));
	if (depot.n > 0)
		mag = depot.mag[--depot.n];
	PL_CHECK(pthread_mutex_unlock(&depot.lock));
	return mag;
}

/* Thread exit: the full magazine goes to the depot, the partial one is freed. */
static void tcache_exit(void *arg)
{
	struct tcache *t = &tcache;

	(void)arg;
	if (t->full != NULL)
		depot_push(t->full);
	free_list(t->cur);
	*t = (struct tcache){0};
}

/* Process exit: nobody can take from the depot any more that would not also malloc. */
__attribute__((destructor)) static void depot_exit(void)
{
	PL_CHECK(pthread_mutex_lock(&depot.lock));
	while (depot.n > 0)
		free_list(depot.mag[--depot.n]);
	PL_CHECK(pthread_mutex_unlock(&depot.lock));
}

static void tcache_key_init(void)
{
	PL_CHECK(pthread_key_create(&tcache_key, tcache_exit));
}

static void tcache_arm(struct tcache *t)
{
	PL_CHECK(pthread_once(&tcache_once, tcache_key_init));
	PL_CHECK(pthread_setspecific(tcache_key, t));
	t->keyed = true;
}

/* Refill an empty @cur: from @full, the depot, or malloc. false on ENOMEM. */
static bool tcache_refill(struct tcache *t)
{
	struct unode *mag;

	if (!t->keyed)
		tcache_arm(t);
	if (t->full != NULL) {
		mag = t->full;
		t->full = NULL;
	} else if ((mag = depot_pop()) == NULL) {
		for (unsigned i = 0; i < MAG; i++) {
			struct unode *n = malloc(sizeof(*n));

			if (n == NULL) {
				if (i == 0)
					return false;
				/* Keep what we got: a short magazine is still a valid @cur. */
				t->cur = mag;
				t->ncur = i;
				return true;
			}
			n->link.next = (struct cds_wfcq_node *)mag;
			mag = n;
		}
	}
	t->cur = mag;
	t->ncur = MAG;
	return true;
}

static struct unode *node_get(void)
{
	struct tcache *t = &tcache;
	struct unode *n;

	if (__builtin_expect(t->cur == NULL, 0) && !tcache_refill(t))
		return NULL;
	n = t->cur;
	t->cur = (struct unode *)n->link.next;
	t->ncur--;
	return n;
}

static void node_put(struct unode *n)
{
	struct tcache *t = &tcache;

	if (__builtin_expect(t->ncur >= MAG, 0)) {
		if (t->full != NULL)
			depot_push(t->full);
		t->full = t->cur;
		t->cur = NULL;
		t->ncur = 0;
	}
	if (__builtin_expect(!t->keyed, 0))
		tcache_arm(t);
	n->link.next = (struct cds_wfcq_node *)t->cur;
	t->cur = n;
	t->ncur++;
}

/* ------------------------------------------------------------------------- channel */

#define CLOSED 1u
#define ONE    2u /* one reserved send in @sent */

struct uchan {
	struct pl_chan base;
	uint64_t limit; /* capacity; UINT64_MAX when unbounded. Immutable. */
	bool bounded;
	int64_t spin_ns;

	/* Receivers' line: the queue head, the consumer lock, the receive count. */
	alignas(PL_FALSE_SHARING) struct __cds_wfcq_head head; /* under @lock */
	/* 0 free, 1 held, 2 held and someone may sleep in pl__futex_wait() on it. */
	_Atomic uint32_t lock;
	/* Receives so far. Stored only under @lock (release; seq_cst when bounded, see
	 * recv_try), read without it by recv_try's early exit, senders and len. */
	_Atomic uint64_t recvd;

	/* Senders' line: the queue tail (liburcu's xchg target). */
	alignas(PL_FALSE_SHARING) struct cds_wfcq_tail tail;

	/* Senders' and close's line: reserved sends * 2 | CLOSED, and a lower bound of @recvd. */
	alignas(PL_FALSE_SHARING) _Atomic uint64_t sent;
	_Atomic uint64_t recvd_seen;

	alignas(PL_FALSE_SHARING) struct pl__evc not_empty; /* receivers sleep here */
	alignas(PL_FALSE_SHARING) struct pl__evc not_full;  /* bounded senders sleep here */
	/* 1 when a sender found the channel full and may be asleep on @not_full: set by
	 * full_announce(), taken down by the receive that notifies. */
	_Atomic uint32_t full_waiting;
};

_Static_assert(offsetof(struct uchan, head) % PL_FALSE_SHARING == 0, "head line");
_Static_assert(offsetof(struct uchan, tail) - offsetof(struct uchan, head) >= PL_FALSE_SHARING,
	       "tail apart from head");
_Static_assert(offsetof(struct uchan, sent) - offsetof(struct uchan, tail) >= PL_FALSE_SHARING,
	       "sent apart from tail");

/* Through void *: urcu_create() allocated the channel with the struct's own alignment. */
static inline struct uchan *to_uchan(pl_chan *ch)
{
	return (struct uchan *)(void *)ch;
}

/* Consumer lock: a three-state futex mutex (Drepper, "Futexes Are Tricky", mutex2). Held for
 * a dequeue, so a short spin usually finds it free before we sleep. */
static void consumer_lock(struct uchan *c)
{
	uint32_t v = 0;

	/* Acquire pairs with the release in consumer_unlock(). */
	if (atomic_compare_exchange_strong_explicit(&c->lock, &v, 1, memory_order_acquire,
						    memory_order_relaxed))
		return;
	for (unsigned i = 0; i < 64; i++) {
		pl__cpu_relax();
		v = 0;
		if (atomic_load_explicit(&c->lock, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_strong_explicit(&c->lock, &v, 1, memory_order_acquire,
							    memory_order_relaxed))
			return;
	}
	/* Woken by consumer_unlock() of the holder, which sees state 2. */
	while (atomic_exchange_explicit(&c->lock, 2, memory_order_acquire) != 0)
		pl__futex_wait(&c->lock, 2, INT64_MAX);
}

static void consumer_unlock(struct uchan *c)
{
	/* Release pairs with the acquire in consumer_lock(). */
	if (atomic_exchange_explicit(&c->lock, 0, memory_order_release) == 2)
		pl__futex_wake(&c->lock, 1);
}

/* Back off while a reserved send finishes its enqueue: PAUSE a while, then let it run. */
static void inflight_backoff(unsigned *step)
{
	if (*step < 7) {
		for (unsigned i = 0; i < (1u << *step); i++)
			pl__cpu_relax();
		(*step)++;
	} else {
		sched_yield();
	}
}

static pl_chan *urcu_create(size_t cap, const pl_chan_opts *o)
{
	size_t size =
	    (sizeof(struct uchan) + PL_FALSE_SHARING - 1) & ~(size_t)(PL_FALSE_SHARING - 1);
	struct uchan *c = aligned_alloc(PL_FALSE_SHARING, size);

	if (c == NULL)
		return NULL; /* errno ENOMEM from aligned_alloc */
	memset(c, 0, size);
	c->bounded = cap != PL_CHAN_UNBOUNDED;
	c->limit = c->bounded ? (uint64_t)cap : UINT64_MAX;
	c->spin_ns = o->spin_ns;
	__cds_wfcq_init(&c->head, &c->tail);
	atomic_init(&c->lock, 0);
	atomic_init(&c->recvd, 0);
	atomic_init(&c->sent, 0);
	atomic_init(&c->recvd_seen, 0);
	pl__evc_init(&c->not_empty);
	pl__evc_init(&c->not_full);
	atomic_init(&c->full_waiting, 0);
	return &c->base;
}

/* No thread uses @ch any more: nothing can be half-enqueued. */
static void urcu_destroy(pl_chan *ch)
{
	struct uchan *c = to_uchan(ch);
	struct cds_wfcq_node *n;

	while ((n = __cds_wfcq_dequeue_nonblocking(&c->head, &c->tail)) != NULL) {
		if (n == CDS_WFCQ_WOULDBLOCK)
			pl__die("urcu: half-finished enqueue at pl_chan_free()");
		node_put((struct unode *)n);
	}
	free(c);
}

/*
 * full_announce - a sender that found the channel full is about to wait: tell receivers.
 * Returns true when the channel is still full after the announcement (see @full_waiting).
 */
static bool full_announce(struct uchan *c, uint64_t count)
{
	uint64_t r;

	/* seq_cst store, then the seq_cst re-read of @recvd: Dekker with recv_try's store of
	 * @recvd, seq_cst fence, load of @full_waiting. Skipping the store when the flag is
	 * already up is fine: the receiver that clears it notifies after our load saw it up. */
	if (!atomic_load_explicit(&c->full_waiting, memory_order_seq_cst))
		atomic_store_explicit(&c->full_waiting, 1, memory_order_seq_cst);
	r = atomic_load_explicit(&c->recvd, memory_order_seq_cst);
	atomic_store_explicit(&c->recvd_seen, r, memory_order_relaxed);
	return count >= r && count - r >= c->limit;
}

/*
 * send_attempt - one non-blocking send. @parking: the caller will sleep on @not_full after
 * -EAGAIN (pl__block's park loop, after pl__evc_prepare()), so announce it.
 */
static int send_attempt(struct uchan *c, void *msg, bool parking)
{
	struct unode *n = node_get();
	uint64_t s;

	if (n == NULL)
		return -ENOMEM;
	n->link.next = NULL;
	/* Release pairs with the acquire load in recv_try(). */
	atomic_store_explicit(&n->msg, msg, memory_order_release);
	s = atomic_load_explicit(&c->sent, memory_order_seq_cst);
	do {
		if (s & CLOSED) {
			node_put(n);
			return -EPIPE;
		}
		if (c->bounded) {
			uint64_t count = s / ONE;
			/* Relaxed: only ever a value some sender read from @recvd, a lower bound.
			 */
			uint64_t lo = atomic_load_explicit(&c->recvd_seen, memory_order_relaxed);

			/* lo > count only when @s is stale: the CAS will fail and reload it. */
			if (count >= lo && count - lo >= c->limit) {
				/* seq_cst, after the load of @s: "full" holds at this load. */
				lo = atomic_load_explicit(&c->recvd, memory_order_seq_cst);
				atomic_store_explicit(&c->recvd_seen, lo, memory_order_relaxed);
				if (count >= lo && count - lo >= c->limit &&
				    (!parking || full_announce(c, count))) {
					node_put(n);
					return -EAGAIN;
				}
			}
		}
	} while (!atomic_compare_exchange_weak_explicit(&c->sent, &s, s + ONE, memory_order_seq_cst,
							memory_order_seq_cst));
	/* Reserved: enqueue at once. false means the queue was empty (see the file top). */
	if (!cds_wfcq_enqueue(&c->head, &c->tail, &n->link))
		pl__evc_notify(&c->not_empty, INT32_MAX);
	return 0;
}

static int send_try(void *ch, void *msg)
{
	return send_attempt(ch, msg, false);
}

static int send_try_parking(void *ch, void *msg)
{
	return send_attempt(ch, msg, true);
}

static int recv_try(void *ch, void *out)
{
	struct uchan *c = ch;
	struct cds_wfcq_node *q;
	unsigned step = 0;
	uint64_t r, s;

	/* Empty without the lock: spinning receivers stay off the lock and the queue. The peek
	 * (which liburcu allows without mutual exclusion) only saves the load of @sent while
	 * messages flow; the verdict is the count alone. @recvd first (acquire: pairs with the
	 * store of the receive that made it, so that receive's dequeue happens before), then
	 * @sent: @recvd <= sent/2 always and only grows, so s/2 == r means the channel was
	 * empty at the load of @sent, which linearizes the failure as in the locked path. */
	if (cds_wfcq_empty(&c->head, &c->tail)) {
		r = atomic_load_explicit(&c->recvd, memory_order_acquire);
		s = atomic_load_explicit(&c->sent, memory_order_seq_cst);
		if (s / ONE == r)
			return (s & CLOSED) ? -EPIPE : -EAGAIN;
	}
	consumer_lock(c);
	/* Relaxed: only lock holders store @recvd, and the lock's acquire orders us after. */
	r = atomic_load_explicit(&c->recvd, memory_order_relaxed);
	for (;;) {
		q = __cds_wfcq_dequeue_nonblocking(&c->head, &c->tail);
		if (q != NULL && q != CDS_WFCQ_WOULDBLOCK)
			break;
		if (q == NULL) {
			/* seq_cst: a receiver about to park pairs this load with the sender's
			 * CAS and the fence of its notify (file top). */
			s = atomic_load_explicit(&c->sent, memory_order_seq_cst);
			if (s / ONE == r) {
				consumer_unlock(c);
				return (s & CLOSED) ? -EPIPE : -EAGAIN;
			}
		}
		/* A reserved send has not finished its enqueue: it will, in a few steps. */
		inflight_backoff(&step);
	}
	/* Acquire pairs with the release store in send_attempt(). */
	*(void **)out = atomic_load_explicit(&((struct unode *)q)->msg, memory_order_acquire);
	if (!c->bounded) {
		/* Release pairs with the acquire loads in recv_try()'s early exit and urcu_len();
		 * lock holders are ordered by the lock. */
		atomic_store_explicit(&c->recvd, r + 1, memory_order_release);
		consumer_unlock(c);
		node_put((struct unode *)q);
		return 0;
	}
	/* seq_cst store, then (after the unlock) the seq_cst load of @full_waiting: Dekker with
	 * full_announce()'s store of the flag and re-read of @recvd. Either that sender sees the
	 * slot we freed, or we see its flag. Also pairs with the senders' loads of @recvd. */
	atomic_store_explicit(&c->recvd, r + 1, memory_order_seq_cst);
	consumer_unlock(c);
	node_put((struct unode *)q);
	/* A sender announced that it sleeps, or is about to, on @not_full: take the flag down
	 * and wake every sender; those still facing a full channel announce again before they
	 * sleep. */
	if (atomic_load_explicit(&c->full_waiting, memory_order_seq_cst) &&
	    atomic_exchange_explicit(&c->full_waiting, 0, memory_order_seq_cst))
		pl__evc_notify(&c->not_full, INT32_MAX);
	return 0;
}

static int urcu_try_send(pl_chan *ch, void *msg)
{
	return send_try(ch, msg);
}

static int urcu_try_recv(pl_chan *ch, void **msg)
{
	return recv_try(ch, msg);
}

static int urcu_send(pl_chan *ch, void *msg, pl_ctx *cx)
{
	struct uchan *c = to_uchan(ch);
	struct pl__spin spin;
	int rc;

	/* The spin phase runs here, without announcing; pl__block()'s park loop announces
	 * (send_try_parking) before each sleep. */
	pl__spin_init(&spin, c->spin_ns);
	do {
		rc = send_try(c, msg);
		if (rc != -EAGAIN)
			return rc;
	} while (pl__spin_once(&spin));
	/* Woken by a receive that saw @full_waiting (pl__evc_notify(&not_full)), close, or
	 * @cx. */
	return pl__block(&c->not_full, send_try_parking, c, msg, cx, 0);
}

static int urcu_recv(pl_chan *ch, void **msg, pl_ctx *cx)
{
	struct uchan *c = to_uchan(ch);
	int rc = recv_try(c, msg);

	if (rc != -EAGAIN)
		return rc;
	/* Woken by a send into an empty queue, close, or @cx. */
	return pl__block(&c->not_empty, recv_try, c, msg, cx, c->spin_ns);
}

static int urcu_close(pl_chan *ch)
{
	struct uchan *c = to_uchan(ch);

	if (atomic_fetch_or_explicit(&c->sent, CLOSED, memory_order_seq_cst) & CLOSED)
		return -EPIPE;
	pl__evc_notify(&c->not_empty, INT32_MAX);
	pl__evc_notify(&c->not_full, INT32_MAX);
	return 0;
}

static size_t urcu_len(const pl_chan *ch)
{
	const struct uchan *c = (const struct uchan *)(const void *)ch;
	/* A snapshot: @recvd first, so the difference is never below the true count at the
	 * load of @sent, then clamped to [0, cap]. Acquire/seq_cst for a coherent pair. */
	uint64_t r = atomic_load_explicit(&c->recvd, memory_order_acquire);
	uint64_t s = atomic_load_explicit(&c->sent, memory_order_seq_cst) / ONE;
	uint64_t n = s > r ? s - r : 0;

	return n > c->limit ? (size_t)c->limit : (size_t)n;
}

const struct pl_chan_ops pl__chan_urcu = {
    .name = "urcu",
    .summary = "liburcu wait-free queue, exact capacity or unbounded, spin then park",
    .flags = PL_KIND_UNBOUNDED | PL_KIND_SPINS,
    .create = urcu_create,
    .destroy = urcu_destroy,
    .send = urcu_send,
    .recv = urcu_recv,
    .try_send = urcu_try_send,
    .try_recv = urcu_try_recv,
    .close = urcu_close,
    .len = urcu_len,
};
