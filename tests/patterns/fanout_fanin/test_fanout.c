/* SPDX-License-Identifier: MIT */
/*
 * Unit: scatter/gather (pl_fanout_call), every mode, on threads and on a pool.
 *
 * Backends are scripted (answer after a wait, fail, block until cancelled, answer anyway once
 * cancelled and released by the test) and record what happened to them: called, returned, saw the
 * cancellation, when they started. Each case checks the result, every reply, the stats, and the
 * structured guarantee (every backend that ran has returned when the call returns; none starts
 * afterwards). The only timing assertion is a lower bound that cannot be flaky: a hedge is never
 * sent before its delay (sleeps never end early).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <patlab/patlab.h>

#include "check.h"
#include "helpers.h"

#define MS	(INT64_C(1000000))
#define LONG_NS (3600 * INT64_C(1000000000)) /* "forever" for a hedge delay */

enum be_mode {
	B_ANSWER, /* wait @ns on the context, then answer @value */
	B_FAIL,	  /* wait @ns on the context, then fail with @err */
	B_BLOCK,  /* wait on the context until it is cancelled */
	B_LATE,	  /* wait until cancelled, then until *@gate (if set), then answer @value anyway */
};

struct be {
	enum be_mode mode;
	int64_t ns;
	int err;
	void *value;
	struct be *after;  /* if set: first wait until this one has been called */
	_Atomic int *gate; /* B_LATE */
	_Atomic int calls;
	_Atomic int returned;
	_Atomic int saw_cancel;
	_Atomic int64_t start_ns;
};

static int be_fn(pl_ctx *cx, void *arg, void **value)
{
	struct be *b = arg;
	int rc = 0;

	atomic_store(&b->start_ns, pl_now_ns());
	atomic_fetch_add(&b->calls, 1);
	while (b->after != NULL && atomic_load(&b->after->calls) == 0)
		pt_sleep_ns(MS / 10);
	switch (b->mode) {
	case B_ANSWER:
	case B_FAIL:
		rc = pl_ctx_wait(cx, b->ns);
		if (rc == 0 && b->mode == B_ANSWER)
			*value = b->value;
		else if (rc == 0)
			rc = b->err;
		break;
	case B_BLOCK:
		rc = pl_ctx_wait(cx, -1);
		break;
	case B_LATE:
		CHECK_EQ(pl_ctx_wait(cx, -1), -ECANCELED);
		atomic_store(&b->saw_cancel, 1);
		while (b->gate != NULL && atomic_load(b->gate) == 0)
			pt_sleep_ns(MS / 10);
		*value = b->value;
		break;
	}
	if (rc == -ECANCELED || rc == -ETIMEDOUT)
		atomic_store(&b->saw_cancel, 1);
	atomic_store(&b->returned, 1);
	return rc;
}

static pl_pool *pool; /* NULL: threads */

static void setup(struct be *b, struct pl_backend *be, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		b[i].value = (void *)(uintptr_t)(0x100 + i);
		be[i] = (struct pl_backend){.fn = be_fn, .arg = &b[i]};
	}
}

static struct pl_fanout_opts opts(enum pl_gather mode, unsigned k, int64_t delay)
{
	return (struct pl_fanout_opts){.mode = mode, .k = k, .hedge_delay_ns = delay, .pool = pool};
}

/* The structured guarantee: what ran has returned, and replies say exactly who ran. */
static void check_structured(struct be *b, const struct pl_fanout_reply *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		CHECK_EQ(atomic_load(&b[i].calls), r[i].ran ? 1 : 0);
		if (r[i].ran)
			CHECK(atomic_load(&b[i].returned));
		CHECK(r[i].status != PL_FANOUT_RUNNING);
	}
}

static void test_all(void)
{
	struct be b[5];
	struct pl_backend be[5];
	struct pl_fanout_reply r[5];
	struct pl_fanout_stats st;
	struct pl_fanout_opts o = opts(PL_GATHER_ALL, 0, 0);

	pt_note("all: every backend answers");
	setup(b, be, 5);
	for (unsigned i = 0; i < 5; i++)
		b[i].ns = (int64_t)i * MS;
	CHECK_EQ(pl_fanout_call(NULL, be, 5, &o, r, &st), 0);
	check_structured(b, r, 5);
	for (unsigned i = 0; i < 5; i++) {
		CHECK_EQ(r[i].status, 0);
		CHECK(r[i].gathered && r[i].ran && !r[i].cancelled);
		CHECK(r[i].value == b[i].value);
		CHECK(!atomic_load(&b[i].saw_cancel));
	}
	CHECK_EQ(st.sent, 5);
	CHECK_EQ(st.cancelled, 0);
	CHECK_EQ(st.hedges, 0);
	CHECK(st.gathered_ns > 0);

	pt_note("all: one fails, the rest are cancelled and see it");
	setup(b, be, 5);
	for (unsigned i = 0; i < 5; i++)
		b[i].mode = B_BLOCK;
	b[3].mode = B_FAIL;
	b[3].ns = 5 * MS;
	b[3].err = -EIO;
	CHECK_EQ(pl_fanout_call(NULL, be, 5, &o, r, &st), -EIO);
	check_structured(b, r, 5);
	CHECK_EQ(r[3].status, -EIO);
	CHECK(!r[3].gathered && !r[3].cancelled);
	for (unsigned i = 0; i < 5; i++) {
		if (i == 3)
			continue;
		CHECK(r[i].cancelled || !r[i].ran);
		CHECK_EQ(r[i].status, -ECANCELED);
		CHECK(!r[i].gathered);
		if (r[i].ran)
			CHECK(atomic_load(&b[i].saw_cancel));
	}
	CHECK_EQ(st.cancelled, 4);

	pt_note("all: a NULL replies and stats are fine");
	setup(b, be, 2);
	CHECK_EQ(pl_fanout_call(NULL, be, 2, NULL, NULL, NULL), 0);
	CHECK_EQ(atomic_load(&b[0].calls) + atomic_load(&b[1].calls), 2);
}

static void test_first_k(void)
{
	struct be b[6];
	struct pl_backend be[6];
	struct pl_fanout_reply r[6];
	struct pl_fanout_stats st;
	struct pl_fanout_opts o = opts(PL_GATHER_FIRST_K, 2, 0);
	unsigned gathered = 0;

	pt_note("first-k: two answer, four are cancelled and see it");
	setup(b, be, 6);
	for (unsigned i = 0; i < 6; i++)
		b[i].mode = B_BLOCK;
	b[1].mode = B_ANSWER;
	b[4].mode = B_ANSWER;
	b[4].ns = 2 * MS;
	CHECK_EQ(pl_fanout_call(NULL, be, 6, &o, r, &st), 0);
	check_structured(b, r, 6);
	for (unsigned i = 0; i < 6; i++) {
		if (i == 1 || i == 4) {
			CHECK_EQ(r[i].status, 0);
			CHECK(r[i].gathered && r[i].value == b[i].value);
			gathered++;
		} else {
			CHECK_EQ(r[i].status, -ECANCELED);
			CHECK(!r[i].gathered && r[i].value == NULL);
			CHECK(r[i].cancelled || !r[i].ran);
			if (r[i].ran)
				CHECK(atomic_load(&b[i].saw_cancel));
		}
	}
	CHECK_EQ(gathered, 2);
	CHECK_EQ(st.cancelled, 4);

	pt_note("first-k: an answer after the k-th is not gathered");
	setup(b, be, 3);
	b[2].mode = B_LATE; /* answers only once cancelled: after the decision */
	b[0].after = &b[2]; /* the winners wait for it to start (usually: see below) */
	o.k = 2;
	CHECK_EQ(pl_fanout_call(NULL, be, 3, &o, r, &st), 0);
	check_structured(b, r, 3);
	CHECK(r[0].gathered && r[1].gathered);
	CHECK(!r[2].gathered);
	CHECK(r[2].ran);
	CHECK_EQ(r[2].status, 0);
	CHECK(r[2].value == b[2].value); /* the caller's, though not gathered */
	CHECK(r[2].cancelled && atomic_load(&b[2].saw_cancel));

	pt_note("first-k: impossible after enough failures; the deciding error is returned");
	setup(b, be, 4);
	for (unsigned i = 0; i < 4; i++)
		b[i].mode = B_BLOCK;
	b[0].mode = B_FAIL;
	b[0].err = -EIO;
	b[1].mode = B_FAIL;
	b[1].ns = 20 * MS;
	b[1].err = -ENOENT;
	o.k = 3;
	CHECK_EQ(pl_fanout_call(NULL, be, 4, &o, r, &st), -ENOENT);
	check_structured(b, r, 4);
	CHECK_EQ(r[0].status, -EIO);
	CHECK_EQ(r[1].status, -ENOENT);
	CHECK_EQ(st.cancelled, 2);

	pt_note("first-k: k = n is wait-all");
	setup(b, be, 3);
	o.k = 3;
	CHECK_EQ(pl_fanout_call(NULL, be, 3, &o, r, &st), 0);
	CHECK(r[0].gathered && r[1].gathered && r[2].gathered);
}

static void test_hedged(void)
{
	struct be b[3];
	struct pl_backend be[3];
	struct pl_fanout_reply r[3];
	struct pl_fanout_stats st;
	struct pl_fanout_opts o = opts(PL_GATHER_HEDGED, 0, 40 * MS);
	int64_t t0;

	pt_note("hedged: the primary is slow; the hedge goes out after the delay and wins");
	setup(b, be, 3);
	b[0].mode = B_BLOCK;
	t0 = pl_now_ns();
	CHECK_EQ(pl_fanout_call(NULL, be, 3, &o, r, &st), 0);
	check_structured(b, r, 3);
	/* Never before the delay (a lower bound: sleeps do not end early). The primary's own
	 * start may lag its send, so the bound is from the call's start. */
	CHECK(atomic_load(&b[1].start_ns) - t0 >= 40 * MS);
	CHECK_EQ(r[1].status, 0);
	CHECK(r[1].gathered && r[1].value == b[1].value);
	CHECK_EQ(r[0].status, -ECANCELED);
	if (r[0].ran) /* the usual case; else it never left the queue in 40 ms */
		CHECK(r[0].cancelled && atomic_load(&b[0].saw_cancel));
	CHECK_EQ(r[2].status, PL_FANOUT_UNSENT);
	CHECK_EQ(atomic_load(&b[2].calls), 0);
	CHECK_EQ(st.sent, 2);
	CHECK_EQ(st.hedges, 1);
	CHECK_EQ(st.cancelled, 1);

	pt_note("hedged: both slow; a third hedge one more delay later");
	setup(b, be, 3);
	b[0].mode = B_BLOCK;
	b[1].mode = B_BLOCK;
	o.hedge_delay_ns = 20 * MS;
	t0 = pl_now_ns();
	CHECK_EQ(pl_fanout_call(NULL, be, 3, &o, r, &st), 0);
	check_structured(b, r, 3);
	CHECK(atomic_load(&b[1].start_ns) - t0 >= 20 * MS);
	CHECK(atomic_load(&b[2].start_ns) - t0 >= 40 * MS);
	CHECK(r[2].gathered);
	CHECK_EQ(st.hedges, 2);
	CHECK_EQ(st.cancelled, 2);

	pt_note("hedged: the primary answers first; no hedge is sent");
	setup(b, be, 3);
	o.hedge_delay_ns = LONG_NS;
	CHECK_EQ(pl_fanout_call(NULL, be, 3, &o, r, &st), 0);
	CHECK(r[0].gathered);
	CHECK_EQ(r[1].status, PL_FANOUT_UNSENT);
	CHECK_EQ(r[2].status, PL_FANOUT_UNSENT);
	CHECK_EQ(st.sent, 1);
	CHECK_EQ(st.hedges, 0);
	CHECK_EQ(st.cancelled, 0);

	pt_note("hedged: the primary fails; failover at once, not after the (hour-long) delay");
	setup(b, be, 3);
	b[0].mode = B_FAIL;
	b[0].err = -ECONNREFUSED;
	CHECK_EQ(pl_fanout_call(NULL, be, 3, &o, r, &st), 0);
	CHECK_EQ(r[0].status, -ECONNREFUSED);
	CHECK(r[1].gathered);
	CHECK_EQ(r[2].status, PL_FANOUT_UNSENT);
	CHECK_EQ(st.hedges, 1);

	pt_note("hedged: every backend fails");
	setup(b, be, 3);
	for (unsigned i = 0; i < 3; i++) {
		b[i].mode = B_FAIL;
		b[i].err = -(100 + (int)i);
	}
	CHECK_EQ(pl_fanout_call(NULL, be, 3, &o, r, &st), -102);
	CHECK_EQ(st.sent, 3);

	pt_note("hedged: delay 0 sends everything at once");
	setup(b, be, 3);
	for (unsigned i = 0; i < 3; i++)
		b[i].mode = B_BLOCK;
	b[2].mode = B_ANSWER;
	o.hedge_delay_ns = 0;
	CHECK_EQ(pl_fanout_call(NULL, be, 3, &o, r, &st), 0);
	CHECK(r[2].gathered);
	CHECK_EQ(st.sent, 3);
	CHECK_EQ(st.cancelled, 2);
}

static void test_context(void)
{
	struct be b[4];
	struct pl_backend be[4];
	struct pl_fanout_reply r[4];
	struct pl_fanout_stats st;
	enum pl_gather modes[] = {PL_GATHER_ALL, PL_GATHER_FIRST_K, PL_GATHER_HEDGED};

	for (unsigned m = 0; m < 3; m++) {
		struct pl_fanout_opts o = opts(modes[m], 1, 5 * MS);
		struct pt_canceller c = {.cx = pl_ctx_with_cancel(NULL), .after_ns = 20 * MS};
		pthread_t t;

		pt_note("context: cancelled mid-call, mode %u", m);
		setup(b, be, 4);
		for (unsigned i = 0; i < 4; i++)
			b[i].mode = B_BLOCK;
		CHECK_EQ(pthread_create(&t, NULL, pt_cancel_later, &c), 0);
		CHECK_EQ(pl_fanout_call(c.cx, be, 4, &o, r, &st), -ECANCELED);
		CHECK_EQ(pthread_join(t, NULL), 0);
		check_structured(b, r, 4);
		for (unsigned i = 0; i < 4; i++) {
			if (r[i].ran)
				CHECK(atomic_load(&b[i].saw_cancel) && r[i].cancelled);
			CHECK(!r[i].gathered);
		}

		pt_note("context: already cancelled, mode %u: nothing is called", m);
		setup(b, be, 4);
		CHECK_EQ(pl_fanout_call(c.cx, be, 4, &o, r, &st), -ECANCELED);
		for (unsigned i = 0; i < 4; i++) {
			CHECK_EQ(atomic_load(&b[i].calls), 0);
			CHECK_EQ(r[i].status, PL_FANOUT_UNSENT);
		}
		CHECK_EQ(st.sent, 0);
		pl_ctx_release(c.cx);

		pt_note("context: deadline, mode %u", m);
		pl_ctx *d = pl_ctx_with_timeout(NULL, 30 * MS);
		setup(b, be, 4);
		for (unsigned i = 0; i < 4; i++)
			b[i].mode = B_BLOCK;
		CHECK_EQ(pl_fanout_call(d, be, 4, &o, r, &st), -ETIMEDOUT);
		check_structured(b, r, 4);
		pl_ctx_release(d);
	}
}

static _Atomic int late_calls;
static _Atomic int late_status;
static void *_Atomic late_value;

static void on_late(void *arg, int status, void *value, void *user)
{
	struct be *b = arg;

	CHECK(user == &late_calls);
	CHECK(atomic_load(&b->returned));
	atomic_store(&late_status, status);
	atomic_store(&late_value, value);
	atomic_fetch_add(&late_calls, 1);
}

static void test_detach(void)
{
	static _Atomic int gate;
	struct be b[2];
	struct pl_backend be[2];
	struct pl_fanout_reply r[2];
	struct pl_fanout_stats st;
	struct pl_fanout_opts o = opts(PL_GATHER_FIRST_K, 1, 0);

	pt_note("detach: the loser ignores the cancel; the call does not wait for it");
	o.detach = true;
	o.late = on_late;
	o.late_user = &late_calls;
	atomic_store(&late_calls, 0);
	setup(b, be, 2);
	b[1].mode = B_LATE; /* held until we open the gate, long after the call returned */
	b[1].gate = &gate;
	b[0].after = &b[1]; /* the winner answers once the loser runs */
	atomic_store(&gate, 0);
	CHECK_EQ(pl_fanout_call(NULL, be, 2, &o, r, &st), 0);
	CHECK(r[0].gathered);
	CHECK_EQ(r[1].status, PL_FANOUT_RUNNING);
	CHECK(r[1].ran && r[1].cancelled);
	CHECK(!atomic_load(&b[1].returned));
	CHECK_EQ(st.cancelled, 1);
	atomic_store(&gate, 1);
	while (atomic_load(&late_calls) == 0)
		pt_sleep_ns(MS);
	CHECK_EQ(atomic_load(&late_status), 0);
	CHECK(atomic_load(&late_value) == b[1].value);
	CHECK(atomic_load(&b[1].returned) && atomic_load(&b[1].saw_cancel));
	pt_sleep_ns(20 * MS);
	CHECK_EQ(atomic_load(&late_calls), 1);
	CHECK_EQ(atomic_load(&b[1].calls), 1);

	pt_note("detach: nothing left running means no late call");
	atomic_store(&late_calls, 0);
	setup(b, be, 2);
	o.mode = PL_GATHER_ALL;
	CHECK_EQ(pl_fanout_call(NULL, be, 2, &o, r, &st), 0);
	pt_sleep_ns(20 * MS);
	CHECK_EQ(atomic_load(&late_calls), 0);
}

static void test_args(void)
{
	struct be b[2];
	struct pl_backend be[2];
	struct pl_fanout_opts o = opts(PL_GATHER_FIRST_K, 3, 0);

	pt_note("bad arguments: -EINVAL and nothing called");
	setup(b, be, 2);
	CHECK_EQ(pl_fanout_call(NULL, be, 2, &o, NULL, NULL), -EINVAL); /* k > n */
	o.k = 0;
	CHECK_EQ(pl_fanout_call(NULL, be, 2, &o, NULL, NULL), -EINVAL);
	o = opts(PL_GATHER_HEDGED, 0, -1);
	CHECK_EQ(pl_fanout_call(NULL, be, 2, &o, NULL, NULL), -EINVAL);
	o = opts((enum pl_gather)7, 0, 0);
	CHECK_EQ(pl_fanout_call(NULL, be, 2, &o, NULL, NULL), -EINVAL);
	o = opts(PL_GATHER_ALL, 0, 0);
	o.detach = true;
	CHECK_EQ(pl_fanout_call(NULL, be, 2, &o, NULL, NULL), -EINVAL); /* no late */
	CHECK_EQ(pl_fanout_call(NULL, be, 0, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(pl_fanout_call(NULL, NULL, 2, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(pl_fanout_call(NULL, be, PL_FANOUT_MAX + 1, NULL, NULL, NULL), -EINVAL);
	be[1].fn = NULL;
	CHECK_EQ(pl_fanout_call(NULL, be, 2, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(atomic_load(&b[0].calls) + atomic_load(&b[1].calls), 0);
}

static void blocker(pl_ctx *cx, void *arg)
{
	atomic_store((_Atomic int *)arg, 1);
	pl_ctx_wait(cx, -1); /* until the pool's grace runs out */
}

static _Atomic int reclaimed, foreign;

static void unstarted(pl_job_fn fn, void *arg, void *user)
{
	(void)user;
	if (pl_fanout_unstarted(fn, arg))
		atomic_fetch_add(&reclaimed, 1);
	else
		atomic_fetch_add(&foreign, 1);
}

struct caller {
	struct pl_backend *be;
	pl_pool *p;
	int rc;
	struct pl_fanout_reply r[2];
};

static void *call_on(void *arg)
{
	struct caller *c = arg;
	struct pl_fanout_opts o = {.mode = PL_GATHER_ALL, .pool = c->p};

	c->rc = pl_fanout_call(NULL, c->be, 2, &o, c->r, NULL);
	return NULL;
}

static void test_pool_shutdown(void)
{
	pl_pool_opts po = {.workers = 1, .queue_depth = 8, .chan_kind = "mutex"};
	pl_pool *p = pl_pool_new(&po);
	struct be b[2];
	struct pl_backend be[2];
	struct caller c = {.be = be, .p = p};
	_Atomic int blocking = 0;
	pthread_t t;
	pl_ctx *grace = pl_ctx_with_cancel(NULL);

	pt_note("pool shut down under a waiting call: pl_fanout_unstarted fails it with -EPIPE");
	CHECK(p != NULL);
	setup(b, be, 2);
	CHECK_EQ(pl_pool_submit(p, blocker, (void *)&blocking, NULL), 0);
	while (!atomic_load(&blocking))
		pt_sleep_ns(MS);
	CHECK_EQ(pthread_create(&t, NULL, call_on, &c), 0);
	pt_sleep_ns(20 * MS); /* let it submit (if it has not, its submits fail: -EPIPE too) */
	pl_ctx_cancel(grace);
	CHECK_EQ(pl_pool_shutdown(p, grace, unstarted, NULL), -ETIMEDOUT);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(c.rc, -EPIPE);
	CHECK_EQ(atomic_load(&foreign), 0);
	CHECK(atomic_load(&reclaimed) <= 2);
	CHECK_EQ(atomic_load(&b[0].calls) + atomic_load(&b[1].calls), 0);
	CHECK(pl_fanout_unstarted(blocker, NULL) == false);
	pl_pool_free(p);
	pl_ctx_release(grace);
}

static void run_all(void)
{
	test_all();
	test_first_k();
	test_hedged();
	test_context();
	test_detach();
	test_args();
}

int main(void)
{
	pl_pool_opts po = {.workers = 8, .queue_depth = 16, .chan_kind = "mutex"};

	pt_watchdog_start(60);
	pt_note("on threads");
	pool = NULL;
	run_all();
	for (const char *const *k = pl_chan_kinds(); *k != NULL; k++) {
		struct pl_chan_kind_info info;

		CHECK_EQ(pl_chan_kind_info(*k, &info), 0);
		if (info.spsc)
			continue;
		po.chan_kind = *k;
		pool = pl_pool_new(&po);
		if (pool == NULL && errno == ENOSYS)
			continue; /* a kind still being written */
		CHECK(pool != NULL);
		pt_note("on a pool of kind %s", *k);
		run_all();
		pl_pool_free(pool);
	}
	pool = NULL;
	test_pool_shutdown();
	printf("test_fanout: ok\n");
	return 0;
}
