/* SPDX-License-Identifier: MIT */
/*
 * Channel kind "urcu": liburcu's wait-free concurrent queue (wfcqueue) behind Go's channel
 * semantics, bounded by its capacity exactly or unbounded.
 *
 * Queue. Senders append with cds_wfcq_enqueue(), wait-free for any number of them. Receivers
 * take nodes with the non-blocking __cds_wfcq_dequeue_nonblocking() under a small consumer
 * lock (liburcu's synchronization table: dequeuers must be serialized among themselves, never
 * with enqueuers). The library's blocking dequeue is never used: it sleeps 10 ms in poll()
 * when it meets a half-finished enqueue. The calls go to liburcu-common's
 * exported functions, not to the LGPL inline headers, so no liburcu code is compiled into
 * libpatlab (and ThreadSanitizer sees none of its deliberately plain accesses).
 *
 * Capacity and close. One atomic word, @sent, counts the sends that reserved a place (times
 * two) and holds the closed bit; recvd counts receives and shares the word @rlock with the
 * consumer lock, so the exchange that unlocks also publishes it. The number of messages in
 * the channel is sent/2 - recvd, counting the reserved ones not yet linked into the queue.
 *   send:  CAS loop on @sent: closed -> -EPIPE; count >= cap -> -EAGAIN; else count + 1.
 *          A reservation is always followed by the enqueue, a handful of instructions later
 *          (the node was allocated before the CAS, so nothing between can fail or block).
 *   close: fetch_or of the closed bit on the same word.
 *   recv:  dequeue; on a node, recvd + 1. On an empty queue, read @sent once: count 0 ->
 *          -EAGAIN, or -EPIPE if closed; count > 0 -> a reserved send is between its CAS and
 *          the end of its enqueue, so wait for it, without the consumer lock (PAUSE, then
 *          sched_yield() so a preempted sender can finish), and look again. The same wait
 *          covers CDS_WFCQ_WOULDBLOCK.
 * Linearization. A send counts at its successful CAS (or fails at the load that saw the
 * channel closed or full), close at its fetch_or. Both are RMWs on one word, so a send
 * either counts before the close, and is then delivered (no receive reports -EPIPE while
 * the count is above zero), or fails with -EPIPE and delivered nothing. A failed receive is
 * linearized at its load of @sent: the count is exact there (recvd cannot move while we
 * hold the consumer lock; the lock-free early exit argues the same from recvd read first),
 * so "empty" and "closed and drained" are never false, and try_recv() never misses a
 * message whose send completed (no false empty, crossbeam #997). "Full" is decided from
 * @sent read before recvd: when sent/2 - recvd >= cap, the channel held cap messages at
 * the load of recvd, since @sent only grows. Messages leave in the order of the senders'
 * xchg on the tail: one sender's messages in its order; overlapping sends in either order.
 * Senders keep @recvd_seen, a lower bound of recvd on their own cache line, and read
 * recvd (the receivers' line) only when the bound says the channel may be full.
 *
 * Blocking: spin (the channel's budget), then pl__block() over the try operations, with two
 * eventcounts; a waker costs nothing when nobody parks.
 * - Receivers park on @not_empty. A sender notifies it (all waiters: one notification may
 *   stand for several messages) only when cds_wfcq_enqueue() reports that the queue was
 *   empty, so sends into a non-empty queue pay nothing more. No wakeup is lost: a receiver
 *   parks only after it saw, after its pl__evc_prepare(), an empty queue and a count of 0
 *   in @sent. Every send counted there had been dequeued, and the dequeue of the last one
 *   reset the queue's tail to its head before its unlock (storing recvd), which our lock
 *   acquire (or the early exit's acquire load of recvd) read. Any later send reserves
 *   after our load, so its CAS, then its xchg on the tail, come after that reset:
 *   liburcu's xchg/cmpxchg are full-barrier RMWs, as strong as seq_cst ones, so with our
 *   seq_cst accesses they sit in one total order consistent with happens-before. The first
 *   such xchg therefore finds the queue empty and notifies (evc_wake), and its seq_cst load
 *   of the waiter count, after its CAS, after our load, sees our pl__evc_prepare().
 * - Bounded senders park on @not_full. Before parking, a sender raises @full_waiting and
 *   re-reads recvd (full_announce); a receive stores recvd (seq_cst), then loads the flag
 *   (seq_cst). Either the sender sees the freed slot or the receiver sees the flag, takes it
 *   down and wakes every parked sender (those still facing a full channel raise it again).
 *   So a receive costs one load when no sender parks, and the wake-up system call happens
 *   once per round of parked senders, not once per receive while they wake up.
 * - Close wakes both sides (INT32_MAX); a cancelled context wakes its waiter through
 *   pl__block()'s watch.
 *
 * Select: a blocked select subscribes to not_empty (receive cases) or not_full (send cases) and
 * re-tries; its attempts at a send case announce (full_announce) like a sender about to park,
 * so the receive that frees a place notifies not_full. The argument above holds for it as for
 * a parked thread: the subscription is the same seq_cst increment of the waiter count. Its
 * snapshot of "none ready" reads @sent (receive cases: sends and close move it) or recvd and the
 * closed bit (send cases), both monotonic. Plain operations pay nothing for it.
 *
 * Nodes. A node is the queue link plus the message. Nodes come from a per-thread cache of two
 * magazines (Bonwick): @cur holds up to MAG nodes, @full exactly MAG. A receiver's freed
 * nodes fill its magazines; a full pair spills one magazine into a global depot (one mutex
 * acquisition per MAG nodes), from which a sender whose magazines ran dry takes one, or
 * mallocs a fresh magazine's worth. The depot keeps at most DEPOT_MAX magazines and frees the
 * rest. A thread's magazines go back to the depot when it exits (pthread key destructor); the
 * depot is emptied at process exit; the main thread's cache stays reachable through its TLS.
 * pl_chan_free() returns the nodes still in the queue to the caller's cache.
 *
 * Limits. A receiver that meets a reserved but unlinked send waits for it: PAUSE, then
 * sched_yield(). That window is a few instructions, but a sender preempted inside it keeps
 * the receiver yielding until it runs again (liburcu's own blocking dequeue would sleep
 * 10 ms instead). It must not park there: that send notifies only if its enqueue finds the
 * queue empty. A send whose node allocation fails returns -ENOMEM (nothing sent), an error
 * the other kinds, which preallocate, never return.
 */
#include "chan/kind.h"
#include "chan/block.h"
#include "chan/sel.h"
#include "sync/die.h"

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

/*
 * The channel: one cache line (PL_FALSE_SHARING) per group of fields that different threads
 * write. The padding is the point, hence the NOLINT: clang-tidy's padding check would pack
 * the read-only fields into a line that receivers or senders write on every message.
 */
struct uchan { /* NOLINT(clang-analyzer-optin.performance.Padding) */
	/* Read-only after create. */
	struct pl_chan base;
	uint64_t limit; /* capacity; UINT64_MAX when unbounded. Immutable. */
	bool bounded;
	int64_t spin_ns;

	/* Receivers' line. The queue head: dequeued under the consumer lock; enqueuers link
	 * into head.next when the queue is empty. */
	alignas(PL_FALSE_SHARING) struct __cds_wfcq_head head;
	/* The consumer lock and the receive count in one word: recvd * 4 | lock state (0 free,
	 * 1 held, 2 held and a receiver may sleep on the word's low half). The unlock stores
	 * the new count with the same exchange that frees the lock, one atomic RMW for both.
	 * Read without the lock (recvd = rlock >> 2) by recv_try's early exit, senders, len. */
	_Atomic uint64_t rlock;

	/* Senders' line, written by every send: the reservation CAS and liburcu's xchg on the
	 * tail hit the same line, so a send moves one line, not two. Receivers read it only
	 * when the queue looks empty. @sent: reserved sends * 2 | CLOSED; @recvd_seen: a lower
	 * bound of recvd. */
	alignas(PL_FALSE_SHARING) _Atomic uint64_t sent;
	struct cds_wfcq_tail tail;
	_Atomic uint64_t recvd_seen;

	/* Parking line: written only by threads about to park (and the receive that takes
	 * @full_waiting down); read by wakers, @full_waiting by every bounded receive. */
	alignas(PL_FALSE_SHARING) struct pl__evc not_empty; /* receivers sleep here */
	struct pl__evc not_full;			    /* bounded senders sleep here */
	/* 1 when a sender found the channel full and may be asleep on @not_full: set by
	 * full_announce(), taken down by the receive that notifies. */
	_Atomic uint32_t full_waiting;
};

_Static_assert(offsetof(struct uchan, head) % PL_FALSE_SHARING == 0, "head line");
_Static_assert(offsetof(struct uchan, sent) - offsetof(struct uchan, head) >= PL_FALSE_SHARING,
	       "senders' line apart from receivers'");
_Static_assert(offsetof(struct uchan, recvd_seen) - offsetof(struct uchan, sent) < 64,
	       "sent, tail and recvd_seen in one 64-byte line");
_Static_assert(offsetof(struct uchan, not_empty) - offsetof(struct uchan, sent) >= PL_FALSE_SHARING,
	       "parking line apart from senders'");

/* Through void *: urcu_create() allocated the channel with the struct's own alignment. */
static inline struct uchan *to_uchan(pl_chan *ch)
{
	return (struct uchan *)(void *)ch;
}

#define LOCK_HELD  1u
#define LOCK_SLEEP 2u
#define LOCK_MASK  3u
#define LOCK_SPINS 64

/* The futex word: the 32 bits of @rlock that hold the lock state (and the count's low bits). */
static _Atomic uint32_t *rlock_futex(struct uchan *c)
{
	return (_Atomic uint32_t *)(void *)((char *)&c->rlock +
					    (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 4 : 0));
}

static uint64_t recvd_of(uint64_t w)
{
	return w >> 2;
}

/*
 * consumer_lock - take the consumer lock; returns the receive count. A three-state futex
 * mutex (Drepper, "Futexes Are Tricky", mutex2) over the low bits of @rlock. It is held for
 * one dequeue, so a short spin usually finds it free before we sleep.
 */
static uint64_t consumer_lock(struct uchan *c)
{
	uint64_t w = atomic_load_explicit(&c->rlock, memory_order_relaxed);

	for (unsigned i = 0;; i++) {
		if ((w & LOCK_MASK) == 0) {
			/* After sleeping, take it as LOCK_SLEEP: others may sleep too (mutex2).
			 * Acquire pairs with the exchange in consumer_unlock(). */
			uint64_t held = w | (i < LOCK_SPINS ? LOCK_HELD : LOCK_SLEEP);

			if (atomic_compare_exchange_weak_explicit(
				&c->rlock, &w, held, memory_order_acquire, memory_order_relaxed))
				return recvd_of(w);
			continue;
		}
		if (i < LOCK_SPINS) {
			pl__cpu_relax();
			w = atomic_load_explicit(&c->rlock, memory_order_relaxed);
			continue;
		}
		/* Relaxed: this only marks a sleeper for the holder's unlock; the lock itself is
		 * taken by the acquire CAS above. */
		if ((w & LOCK_MASK) == LOCK_HELD &&
		    !atomic_compare_exchange_weak_explicit(
			&c->rlock, &w, (w & ~(uint64_t)LOCK_MASK) | LOCK_SLEEP,
			memory_order_relaxed, memory_order_relaxed))
			continue;
		/* Woken by consumer_unlock(), which sees LOCK_SLEEP; any change of the low half
		 * (the unlock always makes one) ends the wait. */
		pl__futex_wait(rlock_futex(c), (uint32_t)((w & ~(uint64_t)LOCK_MASK) | LOCK_SLEEP),
			       INT64_MAX);
		w = atomic_load_explicit(&c->rlock, memory_order_relaxed);
	}
}

/*
 * consumer_unlock - store the receive count @recvd and free the lock, in one exchange.
 * @mo: release at least (pairs with consumer_lock()'s acquire and with the acquire loads of
 * the count in recv_try()'s early exit and urcu_len()); seq_cst where recv_try() needs it.
 */
static void consumer_unlock(struct uchan *c, uint64_t recvd, memory_order mo)
{
	if ((atomic_exchange_explicit(&c->rlock, recvd << 2, mo) & LOCK_MASK) == LOCK_SLEEP)
		pl__futex_wake(rlock_futex(c), 1);
}

/*
 * evc_wake - pl__evc_notify() without its fence, for callers that published their change with
 * a seq_cst RMW (the CAS or fetch_or on @sent, the exchange on @full_waiting). The seq_cst
 * load of the waiter count then pairs with pl__evc_prepare()'s seq_cst increment through the
 * single total order of seq_cst operations (Dekker: we see the waiter, or its re-check sees
 * our change). On x86 that load is a plain MOV, cheaper than the fence, and gcc's
 * ThreadSanitizer, which cannot compile fences, sees only atomics it models.
 */
static void evc_wake(struct pl__evc *e, int n)
{
	if (atomic_load_explicit(&e->waiters, memory_order_seq_cst) != 0)
		pl__evc_notify_slow(e, n);
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
	atomic_init(&c->rlock, 0);
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
 * recvd_load - the receive count, read by a sender that may find the channel full. seq_cst:
 * ordered after the sender's load of @sent, and in full_announce() the re-read of its Dekker
 * pair with recv_try(). Refreshes @recvd_seen (@seen: what this sender read there) only when
 * the count moved, so senders spinning on a full channel do not write the senders' line.
 */
static uint64_t recvd_load(struct uchan *c, uint64_t seen)
{
	uint64_t r = recvd_of(atomic_load_explicit(&c->rlock, memory_order_seq_cst));

	if (r > seen)
		atomic_store_explicit(&c->recvd_seen, r, memory_order_relaxed);
	return r;
}

/*
 * full_announce - a sender that found the channel full is about to wait: tell receivers.
 * Returns true when the channel is still full after the announcement (see @full_waiting).
 */
static bool full_announce(struct uchan *c, uint64_t count, uint64_t seen)
{
	uint64_t r;

	/* seq_cst store, then the seq_cst re-read of recvd: Dekker with recv_try's seq_cst
	 * exchange of @rlock and seq_cst load of @full_waiting. Skipping the store when the flag is
	 * already up is fine: the receiver that takes it down notifies after our load saw it. */
	if (!atomic_load_explicit(&c->full_waiting, memory_order_seq_cst))
		atomic_store_explicit(&c->full_waiting, 1, memory_order_seq_cst);
	r = recvd_load(c, seen);
	return count >= r && count - r >= c->limit;
}

/*
 * send_attempt - one non-blocking send. @parking: the caller will sleep on @not_full after
 * -EAGAIN (pl__block's park loop, after pl__evc_prepare()), so announce it.
 */
static inline int send_attempt(struct uchan *c, void *msg, bool parking)
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
			/* Relaxed: some sender's earlier read of recvd, a lower bound. */
			uint64_t seen = atomic_load_explicit(&c->recvd_seen, memory_order_relaxed);

			/* seen > count only when @s is stale: the CAS will fail and reload it. */
			if (count >= seen && count - seen >= c->limit) {
				/* "Full" holds at this load, after the load of @s. */
				uint64_t r = recvd_load(c, seen);

				if (count >= r && count - r >= c->limit &&
				    (!parking || full_announce(c, count, r))) {
					node_put(n);
					return -EAGAIN;
				}
			}
		}
	} while (!atomic_compare_exchange_weak_explicit(&c->sent, &s, s + ONE, memory_order_seq_cst,
							memory_order_seq_cst));
	/* Reserved: enqueue at once. false means the queue was empty (see the file top). */
	if (!cds_wfcq_enqueue(&c->head, &c->tail, &n->link))
		evc_wake(&c->not_empty, INT32_MAX);
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

	for (;; inflight_backoff(&step)) {
		/* Empty without the lock: waiting receivers stay off the lock. The peek (which
		 * liburcu allows without mutual exclusion) only saves the load of @sent while
		 * messages flow; the verdict is the count. recvd first (acquire: pairs with the
		 * unlock of the receive that stored it, so its dequeue happens before), then
		 * @sent (seq_cst: a receiver about to park pairs it with the sender's CAS and
		 * evc_wake(), file top): recvd <= sent/2 always and only grows, so s/2 == r
		 * means the channel was empty at the load of @sent, which linearizes the
		 * failure. */
		if (cds_wfcq_empty(&c->head, &c->tail)) {
			r = recvd_of(atomic_load_explicit(&c->rlock, memory_order_acquire));
			s = atomic_load_explicit(&c->sent, memory_order_seq_cst);
			if (s / ONE == r)
				return (s & CLOSED) ? -EPIPE : -EAGAIN;
			/* A send reserved but not yet in the queue, or a receive that took the
			 * last message but has not unlocked yet: either finishes in a few
			 * instructions. Wait here, without the lock. */
			continue;
		}
		r = consumer_lock(c);
		q = __cds_wfcq_dequeue_nonblocking(&c->head, &c->tail);
		if (q != NULL && q != CDS_WFCQ_WOULDBLOCK)
			break;
		if (q == NULL) {
			/* Others took what we saw. Same verdict as above; recvd is exact here. */
			s = atomic_load_explicit(&c->sent, memory_order_seq_cst);
			if (s / ONE == r) {
				consumer_unlock(c, r, memory_order_release);
				return (s & CLOSED) ? -EPIPE : -EAGAIN;
			}
		}
		/* Half-finished enqueue (WOULDBLOCK), or a reserved send not yet in the
		 * queue: let the lock go while it finishes. */
		consumer_unlock(c, r, memory_order_release);
	}
	/* Acquire pairs with the release store in send_attempt(). */
	*(void **)out = atomic_load_explicit(&((struct unode *)q)->msg, memory_order_acquire);
	if (!c->bounded) {
		consumer_unlock(c, r + 1, memory_order_release);
		node_put((struct unode *)q);
		return 0;
	}
	/* seq_cst exchange, then the seq_cst load of @full_waiting: Dekker with full_announce()'s
	 * store of the flag and re-read of the count. Either that sender sees the slot we freed,
	 * or we see its flag. */
	consumer_unlock(c, r + 1, memory_order_seq_cst);
	node_put((struct unode *)q);
	/* A sender announced that it sleeps, or is about to, on @not_full: take the flag down
	 * and wake every sender; those still facing a full channel announce again before they
	 * sleep. */
	if (atomic_load_explicit(&c->full_waiting, memory_order_seq_cst) &&
	    atomic_exchange_explicit(&c->full_waiting, 0, memory_order_seq_cst))
		evc_wake(&c->not_full, INT32_MAX);
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

	rc = send_try(c, msg);
	if (rc != -EAGAIN)
		return rc;
	/* The spin phase runs here, without announcing; pl__block()'s park loop announces
	 * (send_try_parking) before each sleep. Started only once a send must wait. */
	pl__spin_init(&spin, c->spin_ns);
	while (pl__spin_once(&spin)) {
		rc = send_try(c, msg);
		if (rc != -EAGAIN)
			return rc;
	}
	/* Woken by a receive that saw @full_waiting (evc_wake(&not_full)), close, or @cx. */
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
	evc_wake(&c->not_empty, INT32_MAX);
	evc_wake(&c->not_full, INT32_MAX);
	return 0;
}

/* An armed select announces a full channel, as a sender about to park does. */
static int urcu_sel_try(pl_chan *ch, struct pl__sel_case *sc)
{
	if (sc->op == PL_SEL_SEND)
		return send_attempt(to_uchan(ch), sc->msg, sc->armed);
	return recv_try(ch, &sc->msg);
}

static int urcu_sel_arm(pl_chan *ch, struct pl__sel_case *sc)
{
	struct uchan *c = to_uchan(ch);

	pl__sel_subscribe(sc, sc->op == PL_SEL_SEND ? &c->not_full : &c->not_empty);
	return urcu_sel_try(ch, sc);
}

static uint64_t urcu_sel_version(pl_chan *ch, enum pl_sel_op op)
{
	struct uchan *c = to_uchan(ch);
	/* seq_cst, like the attempts' loads of the same words. */
	uint64_t s = atomic_load_explicit(&c->sent, memory_order_seq_cst);

	if (op == PL_SEL_RECV)
		return s; /* sends add ONE, close sets CLOSED */
	return recvd_of(atomic_load_explicit(&c->rlock, memory_order_seq_cst)) * 2 + (s & CLOSED);
}

static size_t urcu_len(const pl_chan *ch)
{
	const struct uchan *c = (const struct uchan *)(const void *)ch;
	/* A snapshot: recvd first, so the difference is never below the true count at the
	 * load of @sent, then clamped to [0, cap]. Acquire/seq_cst for a coherent pair. */
	uint64_t r = recvd_of(atomic_load_explicit(&c->rlock, memory_order_acquire));
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
    .sel_try = urcu_sel_try,
    .sel_arm = urcu_sel_arm,
    .sel_disarm = pl__sel_unsubscribe,
    .sel_version = urcu_sel_version,
};
