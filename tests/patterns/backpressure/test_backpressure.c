/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of patlab/backpressure.h: the ingress's policies one by one on every channel kind
 * (deterministic: a full ingress, one more offer, what happened to whom), close and free,
 * the CoDel shedder and the token bucket on a fake clock (exact), and the blocking paths
 * (wait, close, cancel) with "it returned at all" bounds only.
 */
#include <patlab/backpressure.h>
#include <patlab/pattern.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

#define MS INT64_C(1000000)
#define US INT64_C(1000)

/* ------------------------------------------------------------------ drop recorder */

#define REC_MAX 64

struct rec {
	pthread_mutex_t lock;
	unsigned n;
	uintptr_t item[REC_MAX];
	enum pl_drop_reason why[REC_MAX];
};

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
}

static void rec_drop(void *item, enum pl_drop_reason why, void *user)
{
	struct rec *r = user;

	pthread_mutex_lock(&r->lock);
	CHECK(r->n < REC_MAX);
	r->item[r->n] = (uintptr_t)item;
	r->why[r->n] = why;
	r->n++;
	pthread_mutex_unlock(&r->lock);
}

static pl_ingress *mk(const char *kind, size_t bound, enum pl_bp_policy policy, struct rec *r)
{
	pl_ingress_opts o = {
	    .bound = bound,
	    .policy = policy,
	    .chan_kind = kind,
	    .timeout_ns = 1 * MS,
	    .on_drop = r != NULL ? rec_drop : NULL,
	    .drop_user = r,
	};
	pl_ingress *in = pl_ingress_new(&o);

	if (in == NULL)
		pt_fail(__FILE__, __LINE__, "pl_ingress_new(%s, %zu, %s): errno %d", kind, bound,
			pl_bp_policy_name(policy), errno);
	return in;
}

/* check_identity - the conservation identity at a quiescent point, and the bound. */
static void check_identity(pl_ingress *in)
{
	struct pl_ingress_stats st;

	pl_ingress_stats(in, &st);
	CHECK_EQ(st.offered, st.accepted + st.dropped_newest + st.rejected);
	CHECK_EQ(st.accepted, st.delivered + st.evicted + st.shed + st.queued);
	CHECK_EQ(st.offered, st.delivered + st.dropped + st.rejected + st.queued);
	CHECK_EQ(st.dropped, st.dropped_newest + st.evicted + st.shed);
	CHECK_EQ(st.queued, pl_ingress_len(in));
	CHECK(st.queued <= st.bound);
	CHECK(st.peak <= st.bound);
}

/* ------------------------------------------------------------------ ingress */

static void test_names_and_args(void)
{
	static const char *const names[] = {"block", "timeout", "drop_newest", "drop_oldest",
					    "reject"};
	pl_ingress_opts o;
	enum pl_bp_policy p;
	pl_chan_opts bad_spin = {.spin_ns = -1};

	pt_note("policy names and argument checks");
	for (int i = 0; i < 5; i++) {
		CHECK(strcmp(pl_bp_policy_name((enum pl_bp_policy)i), names[i]) == 0);
		CHECK_EQ(pl_bp_policy_parse(names[i], &p), 0);
		CHECK_EQ(p, i);
	}
	CHECK(pl_bp_policy_name((enum pl_bp_policy)5) == NULL);
	CHECK_EQ(pl_bp_policy_parse("shed", &p), -EINVAL);
	CHECK_EQ(pl_bp_policy_parse(NULL, &p), -EINVAL);

	errno = 0;
	CHECK(pl_ingress_new(NULL) == NULL && errno == EINVAL);
	memset(&o, 0, sizeof(o));
	CHECK(pl_ingress_new(&o) == NULL && errno == EINVAL); /* bound 0 */
	o.bound = PL_CHAN_UNBOUNDED;
	CHECK(pl_ingress_new(&o) == NULL && errno == EINVAL);
	o.bound = 4;
	o.policy = (enum pl_bp_policy)5;
	CHECK(pl_ingress_new(&o) == NULL && errno == EINVAL);
	o.policy = PL_BP_TIMEOUT;
	o.timeout_ns = -1;
	CHECK(pl_ingress_new(&o) == NULL && errno == EINVAL);
	o.timeout_ns = 0;
	o.shed_target_ns = -1;
	CHECK(pl_ingress_new(&o) == NULL && errno == EINVAL);
	o.shed_target_ns = 0;
	o.shed_interval_ns = -1;
	CHECK(pl_ingress_new(&o) == NULL && errno == EINVAL);
	o.shed_interval_ns = 0;
	o.shed_mode = (enum pl_shed_mode)2;
	CHECK(pl_ingress_new(&o) == NULL && errno == EINVAL);
	o.shed_mode = PL_SHED_CODEL;
	o.chan_kind = "no-such-kind";
	CHECK(pl_ingress_new(&o) == NULL && errno == EINVAL);
	o.chan_kind = NULL;
	o.chan_opts = &bad_spin;
	CHECK(pl_ingress_new(&o) == NULL && errno == EINVAL);
	o.chan_opts = NULL;
	for (const char *const *k = pl_chan_kinds(); *k != NULL; k++) {
		if (!pt_kind_spsc(*k))
			continue;
		o.chan_kind = *k;
		o.policy = PL_BP_DROP_OLDEST;
		CHECK(pl_ingress_new(&o) == NULL && errno == EINVAL);
	}

	CHECK_EQ(pl_ingress_offer(NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(pl_ingress_recv(NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(pl_ingress_try_recv(NULL, NULL), -EINVAL);
	CHECK_EQ(pl_ingress_close(NULL), -EINVAL);
	pl_ingress_free(NULL);
}

/*
 * test_policy - fill an ingress of @bound, offer one more, check what the policy did to whom,
 * drain and check FIFO, then close.
 */
static void test_policy(const char *kind, enum pl_bp_policy policy)
{
	const size_t bound = 4;
	struct pl_ingress_stats st;
	struct rec r;
	pl_ingress *in;
	pl_ctx *cx;
	void *v;
	uintptr_t first;

	pt_note("%s: policy %s", kind, pl_bp_policy_name(policy));
	rec_init(&r);
	in = mk(kind, bound, policy, &r);
	CHECK_EQ(pl_ingress_bound(in), bound);
	CHECK_EQ(pl_ingress_try_recv(in, &v), -EAGAIN);
	for (uintptr_t i = 0; i < bound; i++)
		CHECK_EQ(pl_ingress_offer(in, (void *)i, NULL), 0);
	CHECK_EQ(pl_ingress_len(in), bound);
	check_identity(in);

	/* One more, into a full ingress. */
	first = 0;
	switch (policy) {
	case PL_BP_BLOCK:
		cx = pl_ctx_with_cancel(NULL);
		pl_ctx_cancel(cx);
		CHECK_EQ(pl_ingress_offer(in, (void *)100, cx), -ECANCELED);
		pl_ctx_release(cx);
		cx = pl_ctx_with_timeout(NULL, 1 * MS);
		CHECK_EQ(pl_ingress_offer(in, (void *)101, cx), -ETIMEDOUT);
		pl_ctx_release(cx);
		break;
	case PL_BP_TIMEOUT:
		CHECK_EQ(pl_ingress_offer(in, (void *)100, NULL), -ETIMEDOUT);
		CHECK_EQ(pl_ingress_offer_timeout(in, (void *)101, 0, NULL), -ETIMEDOUT);
		CHECK_EQ(pl_ingress_offer_timeout(in, (void *)102, 2 * MS, NULL), -ETIMEDOUT);
		CHECK_EQ(pl_ingress_offer_timeout(in, (void *)103, -1, NULL), -EINVAL);
		break;
	case PL_BP_DROP_NEWEST:
		CHECK_EQ(pl_ingress_offer(in, (void *)100, NULL), -ENOBUFS);
		break;
	case PL_BP_REJECT:
		CHECK_EQ(pl_ingress_offer(in, (void *)100, NULL), -EAGAIN);
		break;
	case PL_BP_DROP_OLDEST:
		CHECK_EQ(pl_ingress_offer(in, (void *)100, NULL), 0);
		CHECK_EQ(r.n, 1);
		CHECK_EQ(r.item[0], 0);
		CHECK_EQ(r.why[0], PL_DROP_EVICTED);
		first = 1;
		break;
	}
	if (policy != PL_BP_TIMEOUT)
		CHECK_EQ(pl_ingress_offer_timeout(in, (void *)104, 1, NULL), -EINVAL);
	CHECK_EQ(pl_ingress_len(in), bound);
	check_identity(in);
	pl_ingress_stats(in, &st);
	CHECK_EQ(st.peak, bound);
	CHECK_EQ(st.dropped_newest, policy == PL_BP_DROP_NEWEST);
	CHECK_EQ(st.evicted, policy == PL_BP_DROP_OLDEST);
	CHECK_EQ(st.rejected, policy == PL_BP_BLOCK	? 2
			      : policy == PL_BP_TIMEOUT ? 3
			      : policy == PL_BP_REJECT	? 1
							: 0);
	CHECK_EQ(st.timed_out, policy == PL_BP_BLOCK ? 1 : policy == PL_BP_TIMEOUT ? 3 : 0);
	if (policy == PL_BP_BLOCK || policy == PL_BP_TIMEOUT)
		CHECK(st.blocked_ns > 0); /* they waited (1 and 3 ms): a count, not a timing */

	/* Drain: FIFO, the survivors of DROP_OLDEST included. */
	for (uintptr_t i = first; i < bound; i++) {
		CHECK_EQ(pl_ingress_try_recv(in, &v), 0);
		CHECK_EQ((uintptr_t)v, i);
	}
	if (policy == PL_BP_DROP_OLDEST) {
		CHECK_EQ(pl_ingress_recv(in, &v, NULL), 0);
		CHECK_EQ((uintptr_t)v, 100);
	}
	CHECK_EQ(pl_ingress_try_recv(in, &v), -EAGAIN);
	check_identity(in);

	/* Close: offers fail (counted), receivers drain then see -EPIPE. */
	CHECK_EQ(pl_ingress_offer(in, (void *)7, NULL), 0);
	CHECK_EQ(pl_ingress_close(in), 0);
	CHECK_EQ(pl_ingress_close(in), -EPIPE);
	CHECK_EQ(pl_ingress_offer(in, (void *)8, NULL), -EPIPE);
	CHECK_EQ(pl_ingress_recv(in, &v, NULL), 0);
	CHECK_EQ((uintptr_t)v, 7);
	CHECK_EQ(pl_ingress_recv(in, &v, NULL), -EPIPE);
	CHECK_EQ(pl_ingress_try_recv(in, &v), -EPIPE);
	check_identity(in);
	pl_ingress_stats(in, &st);
	CHECK_EQ(st.queued, 0);
	CHECK_EQ(st.delivered, bound + 1);
	pl_ingress_free(in);
	CHECK_EQ(r.n, policy == PL_BP_DROP_OLDEST);
}

/* test_drop_oldest_order - evictions take the oldest, in order; survivors stay FIFO. */
static void test_drop_oldest_order(const char *kind)
{
	struct rec r;
	pl_ingress *in;
	void *v;

	pt_note("%s: drop_oldest order", kind);
	rec_init(&r);
	in = mk(kind, 3, PL_BP_DROP_OLDEST, &r);
	for (uintptr_t i = 0; i < 10; i++) {
		CHECK_EQ(pl_ingress_offer(in, (void *)i, NULL), 0);
		CHECK(pl_ingress_len(in) <= 3);
	}
	CHECK_EQ(r.n, 7);
	for (unsigned i = 0; i < 7; i++) {
		CHECK_EQ(r.item[i], i);
		CHECK_EQ(r.why[i], PL_DROP_EVICTED);
	}
	for (uintptr_t i = 7; i < 10; i++) {
		CHECK_EQ(pl_ingress_try_recv(in, &v), 0);
		CHECK_EQ((uintptr_t)v, i);
	}
	check_identity(in);
	pl_ingress_free(in);
}

/* test_free_drops - what is still queued at free goes to the callback (ASan: no leak). */
static void test_free_drops(const char *kind)
{
	struct rec r;
	pl_ingress *in;

	pt_note("%s: free hands back what is queued", kind);
	rec_init(&r);
	in = mk(kind, 8, PL_BP_BLOCK, &r);
	for (uintptr_t i = 0; i < 5; i++)
		CHECK_EQ(pl_ingress_offer(in, (void *)(i + 1), NULL), 0);
	pl_ingress_free(in);
	CHECK_EQ(r.n, 5);
	for (unsigned i = 0; i < 5; i++) {
		CHECK_EQ(r.item[i], i + 1);
		CHECK_EQ(r.why[i], PL_DROP_FREED);
	}

	/* No callback: what is left is forgotten (the items are not pointers to memory). */
	pl_ingress_opts o = {.bound = 4, .chan_kind = kind};
	in = pl_ingress_new(&o);
	CHECK(in != NULL);
	CHECK_EQ(pl_ingress_offer(in, NULL, NULL), 0); /* NULL is an item like any other */
	pl_ingress_free(in);
}

static void free_item(void *item, enum pl_drop_reason why, void *user)
{
	(void)why;
	(void)user;
	free(item);
}

static void test_free_owned(const char *kind)
{
	pl_ingress_opts o = {.bound = 4, .chan_kind = kind, .on_drop = free_item};
	pl_ingress *in;

	pt_note("%s: owned items freed by the callback", kind);
	if (pt_kind_spsc(kind))
		o.policy = PL_BP_REJECT;
	else
		o.policy = PL_BP_DROP_OLDEST;
	in = pl_ingress_new(&o);
	CHECK(in != NULL);
	for (int i = 0; i < 7; i++) {
		void *m = malloc(16);
		int rc = pl_ingress_offer(in, m, NULL);

		CHECK(rc == 0 || rc == -EAGAIN);
		if (rc != 0)
			free(m); /* refused: still ours */
	}
	pl_ingress_free(in);
}

/* ------------------------------------------------------------------ blocking paths */

struct blocker {
	pl_ingress *in;
	pl_ctx *cx;
	void *item;
	int rc;
	_Atomic int done;
};

static void *offer_thread(void *arg)
{
	struct blocker *b = arg;

	b->rc = pl_ingress_offer(b->in, b->item, b->cx);
	atomic_store(&b->done, 1);
	return NULL;
}

static void *recv_thread(void *arg)
{
	struct blocker *b = arg;

	b->rc = pl_ingress_recv(b->in, &b->item, b->cx);
	atomic_store(&b->done, 1);
	return NULL;
}

/*
 * cancel_blocked - run @fn(@b) on a thread under a fresh cancellable context in b->cx, let it
 * block, cancel the context: the blocked call must return -ECANCELED.
 */
static void cancel_blocked(struct blocker *b, void *(*fn)(void *))
{
	pthread_t th;

	b->cx = pl_ctx_with_cancel(NULL);
	CHECK(b->cx != NULL);
	CHECK_EQ(pthread_create(&th, NULL, fn, b), 0);
	pt_sleep_ns(2 * MS);
	pl_ctx_cancel(b->cx);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(b->rc, -ECANCELED);
	pl_ctx_release(b->cx);
}

static void test_blocking(const char *kind)
{
	struct blocker b;
	pthread_t th;
	pl_ingress *in;
	void *v;

	pt_note("%s: a blocked offer is admitted once a receive frees a slot", kind);
	in = mk(kind, 1, PL_BP_BLOCK, NULL);
	CHECK_EQ(pl_ingress_offer(in, (void *)1, NULL), 0);
	b = (struct blocker){.in = in, .item = (void *)2};
	CHECK_EQ(pthread_create(&th, NULL, offer_thread, &b), 0);
	pt_sleep_ns(2 * MS);
	CHECK_EQ(pl_ingress_recv(in, &v, NULL), 0);
	CHECK_EQ((uintptr_t)v, 1);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(b.rc, 0);
	CHECK_EQ(pl_ingress_recv(in, &v, NULL), 0);
	CHECK_EQ((uintptr_t)v, 2);
	check_identity(in);

	pt_note("%s: close wakes a blocked offer (-EPIPE, not admitted)", kind);
	CHECK_EQ(pl_ingress_offer(in, (void *)3, NULL), 0);
	b = (struct blocker){.in = in, .item = (void *)4};
	CHECK_EQ(pthread_create(&th, NULL, offer_thread, &b), 0);
	pt_sleep_ns(2 * MS);
	CHECK_EQ(pl_ingress_close(in), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(b.rc, -EPIPE);
	CHECK_EQ(pl_ingress_recv(in, &v, NULL), 0);
	CHECK_EQ((uintptr_t)v, 3);
	CHECK_EQ(pl_ingress_recv(in, &v, NULL), -EPIPE);
	check_identity(in);
	pl_ingress_free(in);

	pt_note("%s: close wakes a blocked receive", kind);
	in = mk(kind, 2, PL_BP_REJECT, NULL);
	b = (struct blocker){.in = in};
	CHECK_EQ(pthread_create(&th, NULL, recv_thread, &b), 0);
	pt_sleep_ns(2 * MS);
	CHECK_EQ(pl_ingress_close(in), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(b.rc, -EPIPE);
	pl_ingress_free(in);

	pt_note("%s: cancel wakes a blocked receive and a blocked offer", kind);
	in = mk(kind, 1, PL_BP_BLOCK, NULL);
	b = (struct blocker){.in = in};
	cancel_blocked(&b, recv_thread);
	CHECK_EQ(pl_ingress_offer(in, (void *)5, NULL), 0);
	b = (struct blocker){.in = in, .item = (void *)6};
	cancel_blocked(&b, offer_thread);
	CHECK_EQ(pl_ingress_try_recv(in, &v), 0);
	CHECK_EQ((uintptr_t)v, 5);
	CHECK_EQ(pl_ingress_try_recv(in, &v), -EAGAIN);
	check_identity(in);
	pl_ingress_free(in);
}

/* ------------------------------------------------------------------ shedder in an ingress */

static void test_ingress_shed(const char *kind, enum pl_shed_mode mode)
{
	struct pl_ingress_stats st;
	struct rec r;
	pl_ingress_opts o = {
	    .bound = 16,
	    .policy = PL_BP_DROP_NEWEST,
	    .chan_kind = kind,
	    .shed_target_ns = 1 * US,
	    .shed_interval_ns = 1 * US,
	    .shed_mode = mode,
	    .on_drop = rec_drop,
	    .drop_user = &r,
	};
	pl_ingress *in;
	unsigned got = 0;
	void *v;

	pt_note("%s: the shedder (mode %d) sheds items that waited too long", kind, (int)mode);
	rec_init(&r);
	in = pl_ingress_new(&o);
	CHECK(in != NULL);
	for (uintptr_t i = 0; i < 10; i++)
		CHECK_EQ(pl_ingress_offer(in, (void *)i, NULL), 0);
	pt_sleep_ns(2 * MS); /* every sojourn is now >= 2 ms, far above the 1 us target */
	for (;;) {
		int rc = pl_ingress_try_recv(in, &v);

		if (rc == -EAGAIN)
			break;
		CHECK_EQ(rc, 0);
		got++;
		pt_sleep_ns(10 * US); /* > interval: the next check is an interval later */
	}
	/* First item: starts the clock; second: an interval above target, shed. */
	CHECK(r.n >= 1);
	CHECK_EQ(r.item[0], 1);
	for (unsigned i = 0; i < r.n; i++)
		CHECK_EQ(r.why[i], PL_DROP_SHED);
	CHECK_EQ(got + r.n, 10);
	if (mode == PL_SHED_LATE) {
		/* Item 0 starts the clock; 1..8 are late in the episode; 9 empties the queue. */
		CHECK_EQ(r.n, 8);
		CHECK_EQ(r.item[7], 8);
	}
	pl_ingress_stats(in, &st);
	CHECK_EQ(st.shed, r.n);
	CHECK_EQ(st.delivered, got);
	check_identity(in);
	pl_ingress_free(in);
}

/* ------------------------------------------------------------------ shedder, fake clock */

static void test_shedder_fixed(void)
{
	const int64_t target = 5 * MS, interval = 100 * MS;
	struct pl_shedder_stats st;
	pl_shedder *s;
	int64_t t = 1000 * MS, first = 0, prev = 0, gap, prev_gap = INT64_MAX / 2;
	unsigned drops = 0;

	pt_note("shedder: argument checks");
	CHECK(pl_shedder_new(PL_SHED_CODEL, 0, interval) == NULL && errno == EINVAL);
	CHECK(pl_shedder_new(PL_SHED_CODEL, target, 0) == NULL && errno == EINVAL);
	CHECK(pl_shedder_new(PL_SHED_LATE, -1, interval) == NULL && errno == EINVAL);
	CHECK(pl_shedder_new((enum pl_shed_mode)2, target, interval) == NULL && errno == EINVAL);
	s = pl_shedder_new(PL_SHED_CODEL, target, interval);
	CHECK(s != NULL);

	pt_note("shedder: below target forever: never drops");
	for (int i = 0; i < 10000; i++, t += MS)
		CHECK(!pl_shedder_should_drop(s, target - 1, t, 100));
	pt_note("shedder: above target, but dipping below once per interval: never drops");
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 99; i++, t += MS)
			CHECK(!pl_shedder_should_drop(s, 50 * MS, t, 100));
		CHECK(!pl_shedder_should_drop(s, target - 1, t, 100));
		t += MS;
	}
	pt_note("shedder: above target, but the queue empties once per interval: never drops");
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 99; i++, t += MS)
			CHECK(!pl_shedder_should_drop(s, 50 * MS, t, 100));
		CHECK(!pl_shedder_should_drop(s, 50 * MS, t, 0));
		t += MS;
	}
	pl_shedder_stats(s, &st);
	CHECK_EQ(st.shed, 0);
	CHECK_EQ(st.episodes, 0);

	pt_note("shedder: above target for good: first drop after one interval, then faster");
	int64_t start = t;
	for (int i = 0; i < 5000; i++, t += 100 * US) {
		if (!pl_shedder_should_drop(s, 6 * MS, t, 100))
			continue;
		drops++;
		if (first == 0) {
			first = t;
			CHECK(t >= start + interval);
			CHECK(t <= start + interval + 100 * US);
		} else {
			gap = t - prev;
			/* interval / sqrt(count), within a 100 us step at either end */
			CHECK(gap <= prev_gap + 200 * US);
			CHECK((double)gap >=
			      (double)interval / sqrt((double)(drops - 1)) - 100.0 * (double)US);
			prev_gap = gap;
		}
		prev = t;
	}
	CHECK(drops >= 6); /* at 100, 200, 271, 328, 378, 423, 464 ms: interval / sqrt(n) */
	pl_shedder_stats(s, &st);
	CHECK_EQ(st.shed, drops);
	CHECK_EQ(st.episodes, 1);
	CHECK(st.dropping);

	pt_note("shedder: below target again: stops at once");
	CHECK(!pl_shedder_should_drop(s, target - 1, t, 100));
	pl_shedder_stats(s, &st);
	CHECK(!st.dropping);
	t += MS;
	for (int i = 0; i < 50; i++, t += MS)
		CHECK(!pl_shedder_should_drop(s, 6 * MS, t, 100));

	pt_note("shedder: re-entering soon resumes near the previous drop rate");
	unsigned before = drops;
	int64_t d1 = 0, d2 = 0;
	for (int i = 0; i < 2000 && d2 == 0; i++, t += 100 * US) {
		if (pl_shedder_should_drop(s, 6 * MS, t, 100)) {
			if (d1 == 0)
				d1 = t;
			else
				d2 = t;
			drops++;
		}
	}
	CHECK(d2 != 0);
	CHECK(d2 - d1 < interval / 2); /* count resumed > 4, so the gap is < interval / 2 */
	pl_shedder_stats(s, &st);
	CHECK_EQ(st.episodes, 2);
	CHECK_EQ(st.shed, before + 2);

	pt_note("shedder: a time earlier than one seen counts as the latest");
	CHECK(!pl_shedder_should_drop(s, target - 1, t, 100));
	CHECK(!pl_shedder_should_drop(s, 6 * MS, 0, 100));
	pl_shedder_free(s);
	pl_shedder_free(NULL);
}

/*
 * test_shedder_property - random sojourn sequences in both modes. CODEL against the promise:
 * a drop only for an item at or above target, after at least one interval in which every item
 * was at or above target and no dequeue emptied the queue. LATE against a reference model of
 * its episodes (begin: that same condition; end: the queue empties, or an interval without a
 * late item), which must agree on every item.
 */
static void test_shedder_property(uint64_t seed)
{
	uint64_t rng = seed ^ 0x5eed;
	const int64_t target = 1000, interval = 20000;

	pt_note("shedder: random sequences against the reference (seed %llu)",
		(unsigned long long)seed);
	for (int run = 0; run < 200; run++) {
		enum pl_shed_mode mode = run % 2 ? PL_SHED_LATE : PL_SHED_CODEL;
		pl_shedder *s = pl_shedder_new(mode, target, interval);
		int64_t t = 1 + (int64_t)(pt_rand(&rng) % 1000), above_since = -1, last_late = 0;
		unsigned mood = 0;
		uint64_t shed = 0;
		bool episode = false;

		CHECK(s != NULL);
		for (int i = 0; i < 2000; i++) {
			int64_t sojourn;
			size_t backlog;
			bool drop, is_late;

			if (i % 100 == 0)
				mood = (unsigned)(pt_rand(&rng) % 4);
			/* mostly above target in moods 2 and 3, mostly below in 0 */
			sojourn = (int64_t)(pt_rand(&rng) % (mood == 0 ? 1100 : 3000));
			if (mood == 3)
				sojourn += target;
			is_late = sojourn >= target;
			backlog = pt_rand(&rng) % 64 == 0 ? 0 : 1 + pt_rand(&rng) % 10;
			drop = pl_shedder_should_drop(s, sojourn, t, backlog);
			if (!is_late || backlog == 0)
				above_since = -1;
			else if (above_since < 0)
				above_since = t;
			if (mode == PL_SHED_CODEL) {
				if (drop) {
					CHECK(is_late);
					CHECK(above_since >= 0 && t - above_since >= interval);
				}
			} else {
				if (episode &&
				    (backlog == 0 || (!is_late && t - last_late >= interval)))
					episode = false;
				else if (!episode && above_since >= 0 &&
					 t - above_since >= interval)
					episode = true;
				if (is_late)
					last_late = t;
				CHECK_EQ(drop, episode && is_late);
			}
			shed += drop;
			t += 1 + (int64_t)(pt_rand(&rng) % 800);
		}
		struct pl_shedder_stats st;
		pl_shedder_stats(s, &st);
		CHECK_EQ(st.shed, shed);
		CHECK_EQ(st.seen, 2000);
		pl_shedder_free(s);
	}
}

/* test_shedder_late - PL_SHED_LATE: an episode sheds every late item, and when it ends. */
static void test_shedder_late(void)
{
	const int64_t target = 5 * MS, interval = 100 * MS;
	struct pl_shedder_stats st;
	pl_shedder *s = pl_shedder_new(PL_SHED_LATE, target, interval);
	int64_t t = 1000 * MS, start;

	pt_note("shedder late: nothing before an interval above target");
	CHECK(s != NULL);
	start = t;
	for (; t < start + interval; t += MS)
		CHECK(!pl_shedder_should_drop(s, 6 * MS, t, 10));
	pt_note("shedder late: then every late item, but none on time");
	for (int i = 0; i < 50; i++, t += MS) {
		CHECK(pl_shedder_should_drop(s, 6 * MS, t, 10));
		CHECK(!pl_shedder_should_drop(s, 4 * MS, t, 10)); /* on time: served */
	}
	pl_shedder_stats(s, &st);
	CHECK_EQ(st.shed, 50);
	CHECK_EQ(st.episodes, 1);
	CHECK(st.dropping);
	pt_note("shedder late: an interval without a late item ends the episode");
	start = t;
	for (; t < start + interval; t += MS)
		CHECK(!pl_shedder_should_drop(s, 4 * MS, t, 10));
	CHECK(!pl_shedder_should_drop(s, 4 * MS, t, 10));
	pl_shedder_stats(s, &st);
	CHECK(!st.dropping);
	CHECK(!pl_shedder_should_drop(s, 6 * MS, t, 10)); /* a new interval must pass first */
	pt_note("shedder late: an emptied queue ends the episode");
	start = t;
	for (t += MS; t < start + interval; t += MS)
		CHECK(!pl_shedder_should_drop(s, 6 * MS, t, 10));
	CHECK(pl_shedder_should_drop(s, 6 * MS, t, 10));
	CHECK(!pl_shedder_should_drop(s, 6 * MS, t, 0));
	CHECK(!pl_shedder_should_drop(s, 6 * MS, t + MS, 10));
	pl_shedder_stats(s, &st);
	CHECK_EQ(st.episodes, 2);
	CHECK_EQ(st.shed, 51);
	pl_shedder_free(s);
}

/* ------------------------------------------------------------------ limiter */

static void test_limiter_fixed(void)
{
	struct pl_limiter_stats st;
	pl_limiter *l;
	int64_t t;

	pt_note("limiter: argument checks");
	CHECK(pl_limiter_new(0, 5) == NULL && errno == EINVAL);
	CHECK(pl_limiter_new(-1, 5) == NULL && errno == EINVAL);
	CHECK(pl_limiter_new(NAN, 5) == NULL && errno == EINVAL);
	CHECK(pl_limiter_new(INFINITY, 5) == NULL && errno == EINVAL);
	CHECK(pl_limiter_new(10, 0.5) == NULL && errno == EINVAL);
	CHECK(pl_limiter_new(10, INFINITY) == NULL && errno == EINVAL);
	CHECK_EQ(pl_limiter_take(NULL, 1), -EINVAL);
	CHECK_EQ(pl_limiter_wait(NULL, 1, NULL), -EINVAL);

	pt_note("limiter: burst, then the rate, capped at burst");
	l = pl_limiter_new(10, 5); /* 10 tokens/s: one per 100 ms */
	CHECK(l != NULL);
	t = pl_now_ns() + 1000 * MS;
	CHECK_EQ(pl_limiter_take_at(l, 6, t), -EINVAL); /* more than the burst: never */
	CHECK_EQ(pl_limiter_take_at(l, 0, t), 0);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(pl_limiter_take_at(l, 1, t), 0);
	CHECK_EQ(pl_limiter_take_at(l, 1, t), -EAGAIN);
	CHECK_EQ(pl_limiter_take_at(l, 1, t + 99 * MS), -EAGAIN);
	CHECK_EQ(pl_limiter_take_at(l, 1, t + 100 * MS), 0);
	CHECK_EQ(pl_limiter_take_at(l, 1, t + 100 * MS), -EAGAIN);
	CHECK_EQ(pl_limiter_take_at(l, 2, t + 250 * MS), -EAGAIN); /* 1.5 tokens */
	CHECK_EQ(pl_limiter_take_at(l, 1, t + 250 * MS), 0);
	/* An earlier time refills nothing and does not move the bucket back. */
	CHECK_EQ(pl_limiter_take_at(l, 1, t), -EAGAIN);
	t += 10000 * MS; /* 100 tokens' worth: capped at 5 */
	CHECK_EQ(pl_limiter_take_at(l, 5, t), 0);
	CHECK_EQ(pl_limiter_take_at(l, 1, t), -EAGAIN);
	pl_limiter_stats(l, &st);
	CHECK_EQ(st.granted, 5 + 1 + 1 + 1);
	CHECK_EQ(st.denied, 6);
	pl_limiter_free(l);
	pl_limiter_free(NULL);
}

/* test_limiter_property - random takes on a fake clock: at most burst + rate * t, any window. */
static void test_limiter_property(uint64_t seed)
{
	uint64_t rng = seed ^ 0xb0c7;

	pt_note("limiter: random takes against the window bound (seed %llu)",
		(unsigned long long)seed);
	for (int run = 0; run < 50; run++) {
		double rate = 100 + (double)(pt_rand(&rng) % 10000);
		double burst = 1 + (double)(pt_rand(&rng) % 50);
		pl_limiter *l = pl_limiter_new(rate, burst);
		enum {
			N = 1000
		};
		static int64_t at[N];
		static unsigned nn[N];
		unsigned k = 0;
		int64_t t = pl_now_ns() + 1000 * MS;

		CHECK(l != NULL);
		for (int i = 0; i < N; i++) {
			unsigned n = 1 + (unsigned)(pt_rand(&rng) % (unsigned)burst);

			t += (int64_t)(pt_rand(&rng) % (uint64_t)(3e9 / rate));
			if (pl_limiter_take_at(l, n, t) == 0) {
				at[k] = t;
				nn[k] = n;
				k++;
			}
		}
		/* Every window [at[i], at[j]]: tokens granted inside <= burst + rate * length. */
		for (unsigned i = 0; i < k; i++) {
			double sum = 0;

			for (unsigned j = i; j < k; j++) {
				sum += nn[j];
				CHECK(sum <= burst + rate * (double)(at[j] - at[i]) / 1e9 + 1e-6);
			}
		}
		CHECK(k > 0);
		pl_limiter_free(l);
	}
}

struct waiter {
	pl_limiter *l;
	pl_ctx *cx;
	int rc;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->rc = pl_limiter_wait(w->l, 1, w->cx);
	return NULL;
}

static void wait_until_waited(pl_limiter *l, uint64_t n)
{
	struct pl_limiter_stats st;

	for (;;) {
		pl_limiter_stats(l, &st);
		if (st.waited >= n)
			return;
		pt_sleep_ns(100 * US);
	}
}

static void test_limiter_wait(void)
{
	struct pl_limiter_stats st;
	struct waiter w1, w2;
	pthread_t t1, t2;
	pl_limiter *l;
	pl_ctx *cx;

	pt_note("limiter: wait returns at once with tokens, sleeps without, refuses past deadline");
	l = pl_limiter_new(1000, 1); /* one token per ms */
	CHECK(l != NULL);
	CHECK_EQ(pl_limiter_wait(l, 1, NULL), 0);
	CHECK_EQ(pl_limiter_wait(l, 1, NULL), 0); /* slept about 1 ms: returned at all */
	CHECK_EQ(pl_limiter_wait(l, 2, NULL), -EINVAL);
	cx = pl_ctx_with_timeout(NULL, 1); /* the deadline passes first (or has passed) */
	CHECK_EQ(pl_limiter_wait(l, 1, cx), -ETIMEDOUT);
	pl_ctx_release(cx);
	cx = pl_ctx_with_cancel(NULL);
	pl_ctx_cancel(cx);
	CHECK_EQ(pl_limiter_wait(l, 1, cx), -ECANCELED);
	pl_ctx_release(cx);
	pl_limiter_stats(l, &st);
	CHECK_EQ(st.granted, 2);
	pl_limiter_free(l);

	pt_note("limiter: a cancelled last waiter gives its tokens back, an earlier one cannot");
	l = pl_limiter_new(1e-3, 1); /* one token per 1000 s: the waiters sleep until cancelled */
	CHECK(l != NULL);
	CHECK_EQ(pl_limiter_take(l, 1), 0);
	cx = pl_ctx_with_timeout(NULL, 10000 * MS); /* the token is due in 1000 s: refused now */
	CHECK_EQ(pl_limiter_wait(l, 1, cx), -ETIMEDOUT);
	pl_ctx_release(cx);
	pl_limiter_stats(l, &st);
	CHECK_EQ(st.denied, 1);
	CHECK_EQ(st.waited, 0);
	CHECK(st.tokens > -0.01 && st.tokens < 0.01); /* nothing reserved */
	w1 = (struct waiter){.l = l, .cx = pl_ctx_with_cancel(NULL)};
	w2 = (struct waiter){.l = l, .cx = pl_ctx_with_cancel(NULL)};
	CHECK_EQ(pthread_create(&t1, NULL, wait_thread, &w1), 0);
	wait_until_waited(l, 1);
	CHECK_EQ(pthread_create(&t2, NULL, wait_thread, &w2), 0);
	wait_until_waited(l, 2);
	pl_limiter_stats(l, &st);
	CHECK(st.tokens < -1.99 && st.tokens > -2.01);
	CHECK_EQ(pl_limiter_take(l, 1), -EAGAIN); /* waiters first */
	pl_ctx_cancel(w1.cx);			  /* not the last: forfeits */
	CHECK_EQ(pthread_join(t1, NULL), 0);
	CHECK_EQ(w1.rc, -ECANCELED);
	pl_limiter_stats(l, &st);
	CHECK(st.tokens < -1.99 && st.tokens > -2.01);
	pl_ctx_cancel(w2.cx); /* the last: gives back */
	CHECK_EQ(pthread_join(t2, NULL), 0);
	CHECK_EQ(w2.rc, -ECANCELED);
	pl_limiter_stats(l, &st);
	CHECK(st.tokens < -0.99 && st.tokens > -1.01);
	CHECK_EQ(st.cancelled, 2);
	CHECK_EQ(st.waited, 2);
	pl_ctx_release(w1.cx);
	pl_ctx_release(w2.cx);
	pl_limiter_free(l);
}

/* ------------------------------------------------------------------ the workload */

/*
 * test_workload - the "backpressure" pattern through the vtable, every kind and policy, by
 * message count: every measured offer ends delivered, dropped or rejected (exactly), nothing
 * is lost, block neither drops nor rejects, the bound holds.
 */
static void test_workload(void)
{
	const struct pl_pattern *pat = pl_pattern_find("backpressure");
	const uint64_t messages = pt_tsan() ? 200 : 600;
	struct pl_params p;
	struct pl_result r;
	pl_hist *h = pl_hist_new();

	CHECK(pat != NULL && h != NULL);
	pt_note("workload: refusals");
	pl_params_init(&p);
	p.messages = messages;
	p.queue_depth = 0;
	pl_result_init(&r, NULL);
	CHECK_EQ(pl_pattern_run(pat, &p, &r), -ENOTSUP);
	CHECK(r.why[0] != '\0');
	p.queue_depth = PL_CHAN_UNBOUNDED;
	p.chan_kind = "urcu";
	pl_result_init(&r, NULL);
	CHECK_EQ(pl_pattern_run(pat, &p, &r), -ENOTSUP);
	p.chan_kind = "mutex";
	p.queue_depth = 8;
	p.policy = "rate_limit"; /* needs work_ns */
	pl_result_init(&r, NULL);
	CHECK_EQ(pl_pattern_run(pat, &p, &r), -ENOTSUP);
	p.policy = "no-such-policy";
	pl_result_init(&r, NULL);
	CHECK_EQ(pl_pattern_run(pat, &p, &r), -EINVAL);

	for (const char *const *k = pl_chan_kinds(); *k != NULL; k++) {
		if (!pt_kind_ready(*k))
			continue;
		for (const char *const *pol = pat->policies; *pol != NULL; pol++) {
			int rc;

			pt_note("workload: %s %s", *k, *pol);
			pl_params_init(&p);
			p.chan_kind = *k;
			p.policy = *pol;
			p.producers = pt_kind_spsc(*k) ? 1 : 2;
			p.consumers = 1;
			p.queue_depth = 8;
			p.work_ns = 20 * US;
			p.timeout_ns = 100 * US;
			p.messages = messages;
			p.warmup_s = 0.002;
			pl_hist_reset(h);
			pl_result_init(&r, h);
			rc = pl_pattern_run(pat, &p, &r);
			if (rc == -ENOTSUP) {
				/* Only drop_oldest on a single-receiver kind. */
				CHECK(pt_kind_spsc(*k) && strcmp(*pol, "drop_oldest") == 0);
				CHECK(r.why[0] != '\0');
				continue;
			}
			if (rc != 0)
				pt_fail(__FILE__, __LINE__, "%s %s: %d (%s)", *k, *pol, rc, r.why);
			CHECK_EQ(r.lost, 0);
			CHECK_EQ(r.messages + r.dropped + r.rejected, messages);
			CHECK_EQ(h->count, r.messages);
			CHECK(r.seconds > 0);
			CHECK(pt_extra(&r, "peak_occupancy") <= 8);
			CHECK(pt_extra(&r, "peak_occupancy") >= 1);
			CHECK_EQ(pt_extra(&r, "offered"), messages);
			CHECK(pt_extra(&r, "shed") + pt_extra(&r, "evicted") <= (double)r.dropped);
			if (strcmp(*pol, "block") == 0) {
				CHECK_EQ(r.dropped, 0);
				CHECK_EQ(r.rejected, 0);
			}
			if (strcmp(*pol, "block") == 0 || strcmp(*pol, "timeout") == 0 ||
			    strcmp(*pol, "reject") == 0 || strcmp(*pol, "rate_limit") == 0)
				CHECK_EQ(r.dropped, 0);
			if (strcmp(*pol, "drop_newest") == 0 || strcmp(*pol, "drop_oldest") == 0 ||
			    strcmp(*pol, "codel") == 0 || strcmp(*pol, "shed") == 0)
				CHECK_EQ(r.rejected, 0);
		}
	}
	pl_hist_free(h);
}

int main(void)
{
	uint64_t seed = pt_seed();

	pt_watchdog_start(60);
	test_names_and_args();
	test_shedder_fixed();
	test_shedder_property(seed);
	test_shedder_late();
	test_limiter_fixed();
	test_limiter_property(seed);
	test_limiter_wait();
	for (const char *const *k = pl_chan_kinds(); *k != NULL; k++) {
		if (!pt_kind_ready(*k))
			continue;
		for (int p = 0; p < 5; p++) {
			if (p == PL_BP_DROP_OLDEST && pt_kind_spsc(*k))
				continue;
			test_policy(*k, (enum pl_bp_policy)p);
		}
		if (!pt_kind_spsc(*k))
			test_drop_oldest_order(*k);
		test_free_drops(*k);
		test_free_owned(*k);
		test_blocking(*k);
		test_ingress_shed(*k, PL_SHED_CODEL);
		test_ingress_shed(*k, PL_SHED_LATE);
	}
	test_workload();
	fprintf(stderr, "ok\n");
	return 0;
}
