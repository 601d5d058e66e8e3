/* SPDX-License-Identifier: MIT */
/*
 * Unit: the merge (pl_merge_*). Inputs of every kind into outputs of every multi-producer
 * kind: every message exactly once, each input's order kept, the output closed only after
 * every input closed; cancellation mid-way with full accounting; argument errors; a foreign
 * close of the output.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <patlab/patlab.h>

#include "check.h"

#define MS	  (INT64_C(1000000))
#define MAXIN	  5
#define PER_INPUT 500

/* Messages: (input + 1) << 32 | sequence, never NULL. */
static void *msg_of(unsigned in, uint32_t seq)
{
	return (void *)(uintptr_t)(((uint64_t)(in + 1) << 32) | seq);
}

struct prod {
	pl_chan *ch;
	unsigned idx;
	uint32_t count;
	pl_ctx *cx;
	uint32_t sent; /* sends that returned 0 */
	_Atomic int closed;
};

static void *producer(void *arg)
{
	struct prod *p = arg;

	for (uint32_t i = 0; i < p->count; i++) {
		if (pl_chan_send(p->ch, msg_of(p->idx, i), p->cx) != 0)
			break;
		p->sent++;
	}
	if (p->cx == NULL) {
		atomic_store(&p->closed, 1); /* before the close: the merge can end only after it */
		CHECK_EQ(pl_chan_close(p->ch), 0);
	}
	return NULL;
}

static bool usable(const char *kind)
{
	pl_chan *ch = pl_chan_new(kind, 4);

	if (ch == NULL) {
		CHECK_EQ(errno, ENOSYS); /* a kind still being written */
		return false;
	}
	pl_chan_free(ch);
	return true;
}

/* record - check one received message against the per-input expectations. */
static void record(void *m, uint32_t *next, uint8_t **seen, bool ordered)
{
	uint64_t v = (uint64_t)(uintptr_t)m;
	unsigned in = (unsigned)(v >> 32) - 1;
	uint32_t seq = (uint32_t)v;

	CHECK(in < MAXIN);
	CHECK(seq < PER_INPUT);
	CHECK_EQ(seen[in][seq], 0);
	seen[in][seq] = 1;
	if (ordered) {
		CHECK_EQ(seq, next[in]);
		next[in]++;
	}
}

static void test_all_delivered(const char *in_kind, const char *out_kind, size_t out_cap)
{
	struct prod p[MAXIN];
	pl_chan *in[MAXIN];
	pthread_t t[MAXIN];
	uint32_t next[MAXIN] = {0};
	uint8_t *seen[MAXIN];
	struct pl_merge_opts o = {.out_kind = out_kind, .out_capacity = out_cap};
	struct pl_merge_stats st;
	pl_merge *m;
	uint64_t got = 0;
	void *msg;
	int rc;

	pt_note("merge all: inputs %s -> output %s cap %zu", in_kind, out_kind, out_cap);
	for (unsigned i = 0; i < MAXIN; i++) {
		in[i] = pl_chan_new(in_kind, 1 + i * 7);
		CHECK(in[i] != NULL);
		seen[i] = calloc(PER_INPUT, 1);
		CHECK(seen[i] != NULL);
		p[i] = (struct prod){.ch = in[i], .idx = i, .count = PER_INPUT};
	}
	m = pl_merge_new(NULL, in, MAXIN, &o);
	CHECK(m != NULL);
	CHECK(strcmp(pl_chan_kind(pl_merge_out(m)), out_kind) == 0);
	for (unsigned i = 0; i < MAXIN; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, producer, &p[i]), 0);
	while ((rc = pl_chan_recv(pl_merge_out(m), &msg, NULL)) == 0) {
		record(msg, next, seen, true);
		got++;
	}
	CHECK_EQ(rc, -EPIPE);
	/* The output closed only after every input was closed. */
	for (unsigned i = 0; i < MAXIN; i++)
		CHECK(atomic_load(&p[i].closed));
	CHECK_EQ(got, (uint64_t)MAXIN * PER_INPUT);
	for (unsigned i = 0; i < MAXIN; i++) {
		CHECK_EQ(next[i], PER_INPUT);
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	}
	CHECK_EQ(pl_merge_wait(m, &st), 0);
	CHECK_EQ(pl_merge_wait(m, NULL), 0); /* again: same answer */
	CHECK_EQ(st.forwarded, got);
	CHECK_EQ(st.undelivered, 0);
	/* Closed once, by the merge: a second close is refused. */
	CHECK_EQ(pl_chan_close(pl_merge_out(m)), -EPIPE);
	pl_merge_free(m);
	for (unsigned i = 0; i < MAXIN; i++) {
		pl_chan_free(in[i]);
		free(seen[i]);
	}
}

static _Atomic uint64_t undelivered_count;
static void *_Atomic undelivered_msgs[MAXIN];

static void on_undelivered(void *msg, unsigned input, void *user)
{
	CHECK(user == &undelivered_count);
	CHECK(input < MAXIN);
	CHECK(atomic_exchange(&undelivered_msgs[input], msg) == NULL); /* at most one per input */
	atomic_fetch_add(&undelivered_count, 1);
}

static void test_cancel(const char *in_kind)
{
	struct prod p[MAXIN];
	pl_chan *in[MAXIN];
	pthread_t t[MAXIN];
	uint32_t next[MAXIN] = {0};
	uint8_t *seen[MAXIN];
	struct pl_merge_opts o = {.out_kind = "mutex",
				  .out_capacity = 2,
				  .undelivered = on_undelivered,
				  .user = &undelivered_count};
	struct pl_merge_stats st;
	pl_ctx *cx = pl_ctx_with_cancel(NULL);
	pl_merge *m;
	uint64_t got = 0, left = 0, sent = 0;
	void *msg;
	int rc;

	pt_note("merge cancel mid-way: inputs %s never closed", in_kind);
	atomic_store(&undelivered_count, 0);
	for (unsigned i = 0; i < MAXIN; i++) {
		atomic_store(&undelivered_msgs[i], NULL);
		in[i] = pl_chan_new(in_kind, 8);
		CHECK(in[i] != NULL);
		seen[i] = calloc(PER_INPUT, 1);
		CHECK(seen[i] != NULL);
		p[i] = (struct prod){.ch = in[i], .idx = i, .count = PER_INPUT, .cx = cx};
	}
	m = pl_merge_new(cx, in, MAXIN, &o);
	CHECK(m != NULL);
	for (unsigned i = 0; i < MAXIN; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, producer, &p[i]), 0);
	/* Receive a while, then cancel (producers and forwarders share the context). */
	while (got < PER_INPUT && pl_chan_recv(pl_merge_out(m), &msg, NULL) == 0) {
		record(msg, next, seen, true);
		got++;
	}
	pl_ctx_cancel(cx);
	/* The output still closes (exactly once), after what it buffered. */
	while ((rc = pl_chan_recv(pl_merge_out(m), &msg, NULL)) == 0) {
		record(msg, next, seen, true);
		got++;
	}
	CHECK_EQ(rc, -EPIPE);
	CHECK_EQ(pl_merge_wait(m, &st), -ECANCELED);
	CHECK_EQ(st.forwarded, got);
	CHECK_EQ(st.undelivered, atomic_load(&undelivered_count));
	for (unsigned i = 0; i < MAXIN; i++) {
		void *u = atomic_load(&undelivered_msgs[i]);

		CHECK_EQ(pthread_join(t[i], NULL), 0);
		sent += p[i].sent;
		if (u != NULL)
			record(u, next, seen, true);
		while (pl_chan_try_recv(in[i], &msg) == 0) {
			record(msg, next, seen, true);
			left++;
		}
		/* Every message sent on input i was seen exactly once, in order. */
		CHECK_EQ(next[i], p[i].sent);
	}
	CHECK_EQ(got + st.undelivered + left, sent);
	pl_merge_free(m);
	for (unsigned i = 0; i < MAXIN; i++) {
		pl_chan_free(in[i]);
		free(seen[i]);
	}
	pl_ctx_release(cx);
}

static void test_errors(void)
{
	pl_chan *in[2] = {pl_chan_new("mutex", 1), pl_chan_new("mutex", 1)};
	struct pl_merge_opts o = {.out_kind = "nope"};
	pl_merge *m;
	void *msg;

	pt_note("merge: argument errors");
	CHECK(in[0] != NULL && in[1] != NULL);
	errno = 0;
	CHECK(pl_merge_new(NULL, in, 0, NULL) == NULL && errno == EINVAL);
	CHECK(pl_merge_new(NULL, NULL, 2, NULL) == NULL && errno == EINVAL);
	CHECK(pl_merge_new(NULL, in, 2, &o) == NULL && errno == EINVAL);
	o.out_kind = "lockfree"; /* no rendezvous */
	CHECK(pl_merge_new(NULL, in, 2, &o) == NULL && errno == EINVAL);
	o.out_kind = "spsc";
	o.out_capacity = 4;
	CHECK(pl_merge_new(NULL, in, 2, &o) == NULL && errno == EINVAL); /* two forwarders */

	pt_note("merge: one input into a single-producer output is fine");
	if (usable("spsc")) {
		m = pl_merge_new(NULL, in, 1, &o);
		CHECK(m != NULL);
		CHECK_EQ(pl_chan_send(in[0], msg_of(0, 7), NULL), 0);
		CHECK_EQ(pl_chan_recv(pl_merge_out(m), &msg, NULL), 0);
		CHECK(msg == msg_of(0, 7));
		CHECK_EQ(pl_chan_close(in[0]), 0);
		CHECK_EQ(pl_chan_recv(pl_merge_out(m), &msg, NULL), -EPIPE);
		CHECK_EQ(pl_merge_wait(m, NULL), 0);
		pl_merge_free(m);
		pl_chan_free(in[0]);
		in[0] = pl_chan_new("mutex", 1);
	}

	pt_note("merge: someone else closed the output");
	m = pl_merge_new(NULL, in, 2, NULL);
	CHECK(m != NULL);
	CHECK_EQ(pl_chan_close(pl_merge_out(m)), 0);
	CHECK_EQ(pl_chan_send(in[0], msg_of(0, 1), NULL), 0);
	CHECK_EQ(pl_chan_close(in[0]), 0);
	CHECK_EQ(pl_chan_close(in[1]), 0);
	CHECK_EQ(pl_merge_wait(m, NULL), -EPIPE);
	pl_merge_free(m);

	pt_note("merge: free while running cancels it");
	pl_chan_free(in[0]);
	pl_chan_free(in[1]);
	in[0] = pl_chan_new("mutex", 1);
	in[1] = pl_chan_new("mutex", 1);
	m = pl_merge_new(NULL, in, 2, NULL);
	CHECK(m != NULL);
	pl_merge_free(m);
	pl_chan_free(in[0]);
	pl_chan_free(in[1]);
}

int main(void)
{
	const char *const *kinds = pl_chan_kinds();

	pt_watchdog_start(60);
	for (const char *const *ik = kinds; *ik != NULL; ik++) {
		if (!usable(*ik))
			continue;
		for (const char *const *ok = kinds; *ok != NULL; ok++) {
			struct pl_chan_kind_info info;

			CHECK_EQ(pl_chan_kind_info(*ok, &info), 0);
			if (info.spsc || !usable(*ok))
				continue;
			test_all_delivered(*ik, *ok, 16);
			test_all_delivered(*ik, *ok, 1);
			if (info.rendezvous)
				test_all_delivered(*ik, *ok, 0);
		}
		test_cancel(*ik);
	}
	test_errors();
	printf("test_merge: ok\n");
	return 0;
}
