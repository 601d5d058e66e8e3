/* SPDX-License-Identifier: MIT */
/*
 * fuzz_chan: every channel kind against a reference model, one operation at a time.
 *
 * The input is a small program. Byte 0 picks the kind (an index into pl_chan_kinds()), byte 1
 * a capacity the kind supports (0 only with rendezvous, PL_CHAN_UNBOUNDED only when
 * unbounded), byte 2 the spin budget (mostly 0, sometimes the default: both code paths). Each
 * following byte is an operation, some taking the next byte as an argument: try_send (a fresh
 * value or NULL), try_recv, blocking send/recv with a context that is already cancelled,
 * cancelled through an ancestor, expired, or times out within a few hundred microseconds, blocking
 * send/recv with no context when the model says they would not block, bursts of try_send,
 * drains, close, len, replacing the channel by a new one (freed with messages inside), and
 * selects over up to four cases on the channel (receives, sends, NULL channels, the same
 * channel several times and both ways): pl_try_select, pl_select with a done context, and
 * pl_select with none when the model says a case is ready.
 *
 * Everything runs on one thread, so the expected result of each operation is exact: the model
 * is a ring of the buffered values plus a closed flag, and Go's rules (chan.h) give the rest.
 * A capacity-0 channel has no receiver waiting on this thread, so every send would block.
 * Every result and every received value is compared; the first mismatch prints what happened
 * and aborts (libFuzzer saves the input as a crash reproducer). A select may pick any ready
 * case: the oracle checks that the one it picked was ready, that it was not -EAGAIN (or the
 * context's error) while one was, and applies the pick to the model; the other cases must be
 * untouched.
 *
 * Every registered kind builds channels (test_registry holds them to it), so a refusal here
 * is a failure like any other.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <patlab/patlab.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* More values than any bounded capacity we pick; an unbounded model stops growing here. */
#define MODEL_MAX 4096

struct model {
	void *buf[MODEL_MAX];
	size_t head, len, cap;
	bool closed;
	uint64_t pushed, popped; /* totals: where a kind's ring indices are, lap-wise */
};

struct run {
	const char *kind;
	size_t kind_index;
	struct pl_chan_kind_info info;
	size_t cap;
	bool spin0;
	pl_chan *ch;
	struct model m;
	uintptr_t next_value;
	size_t op_index;
	const char *op_name;
};

static const size_t cap_choices[] = {
    0,	1,  2,	3,  4,	5,  6,	 7,   8,   9,	15,   16,   17,
    31, 32, 33, 63, 64, 65, 100, 127, 128, 255, 1000, 1024, PL_CHAN_UNBOUNDED,
};

#define NCAPS (sizeof(cap_choices) / sizeof(cap_choices[0]))

static _Noreturn void mismatch(const struct run *r, const char *what, long long got, long long want)
{
	fprintf(stderr,
		"fuzz_chan: MISMATCH kind=%s cap=%zu spin=%s op #%zu (%s): %s: got %lld, want "
		"%lld (model: len %zu, closed %d)\n",
		r->kind, r->cap, r->spin0 ? "0" : "default", r->op_index, r->op_name, what, got,
		want, r->m.len, r->m.closed);
	fflush(stderr);
	abort();
}

static void expect(const struct run *r, const char *what, long long got, long long want)
{
	if (got != want)
		mismatch(r, what, got, want);
}

static size_t pick_cap(const struct pl_chan_kind_info *info, uint8_t b)
{
	size_t ok[NCAPS], n = 0;

	for (size_t i = 0; i < NCAPS; i++) {
		if (cap_choices[i] == 0 && !info->rendezvous)
			continue;
		if (cap_choices[i] == PL_CHAN_UNBOUNDED && !info->unbounded)
			continue;
		ok[n++] = cap_choices[i];
	}
	return ok[b % n];
}

/* Build r->ch, or abort. */
static void open_chan(struct run *r)
{
	pl_chan_opts o = pl_chan_opts_default();

	if (r->spin0)
		o.spin_ns = 0;
	r->ch = pl_chan_new_opts(r->kind, r->cap, &o);
	if (r->ch == NULL) {
		fprintf(stderr, "fuzz_chan: pl_chan_new_opts(%s, %zu) failed: %s\n", r->kind,
			r->cap, strerror(errno));
		abort();
	}
	memset(&r->m, 0, sizeof(r->m));
	r->m.cap = r->cap;
	expect(r, "pl_chan_cap", (long long)pl_chan_cap(r->ch), (long long)r->cap);
	if (strcmp(pl_chan_kind(r->ch), r->kind) != 0)
		mismatch(r, "pl_chan_kind differs", 0, 1);
}

/* ------------------------------------------------------------------ the model */

static bool model_full(const struct model *m)
{
	return m->cap == PL_CHAN_UNBOUNDED ? m->len == MODEL_MAX : m->len >= m->cap;
}

static void model_push(struct model *m, void *v)
{
	m->buf[(m->head + m->len) % MODEL_MAX] = v;
	m->len++;
	m->pushed++;
}

static void *model_pop(struct model *m)
{
	void *v = m->buf[m->head];

	m->head = (m->head + 1) % MODEL_MAX;
	m->len--;
	m->popped++;
	return v;
}

/* An unbounded channel the model can no longer follow: sends are skipped. */
static bool model_saturated(const struct model *m)
{
	return m->cap == PL_CHAN_UNBOUNDED && m->len == MODEL_MAX;
}

/* What a send returns when it cannot block (try_send) or when blocking ends with @blocked. */
static int model_send(struct model *m, void *v, int blocked)
{
	if (m->closed)
		return -EPIPE;
	if (model_full(m))
		return blocked;
	model_push(m, v);
	return 0;
}

static int model_recv(struct model *m, void **v, int blocked)
{
	if (m->len > 0) {
		*v = model_pop(m);
		return 0;
	}
	return m->closed ? -EPIPE : blocked;
}

/* ------------------------------------------------------------------ operations */

/* Model states an operation can meet; see state_counters. */
enum {
	ST_EMPTY,
	ST_PARTIAL,	    /* some messages, all in the ring's current lap */
	ST_PARTIAL_WRAPPED, /* some messages, crossing the end of a bounded ring */
	ST_FULL,
	ST_CLOSED_ITEMS,
	ST_CLOSED_EMPTY,
	NSTATES,
};

static unsigned model_state(const struct model *m)
{
	if (m->closed)
		return m->len ? ST_CLOSED_ITEMS : ST_CLOSED_EMPTY;
	if (m->len == 0)
		return ST_EMPTY;
	if (model_full(m))
		return ST_FULL;
	if (m->cap != PL_CHAN_UNBOUNDED && m->popped / m->cap != m->pushed / m->cap)
		return ST_PARTIAL_WRAPPED;
	return ST_PARTIAL;
}

enum {
	OP_TRY_SEND,
	OP_TRY_SEND_NULL,
	OP_TRY_RECV,
	OP_SEND_CTX, /* blocking send, context chosen by the argument byte */
	OP_RECV_CTX,
	OP_SEND_READY, /* blocking send without context, only when it would not block */
	OP_RECV_READY,
	OP_FILL, /* try_send up to arg values */
	OP_DRAIN,
	OP_CLOSE,
	OP_LEN,
	OP_REOPEN,	 /* free (messages inside) and make a new channel of the same kind */
	OP_TRY_SELECT,	 /* pl_try_select, cases chosen by the argument byte */
	OP_SELECT_CTX,	 /* pl_select, cases by the first argument, done context by the second */
	OP_SELECT_READY, /* pl_select without context, only when a case is ready */
	NOPS,
};

static const char *const op_names[] = {
    "try_send",	   "try_send(NULL)", "try_recv",   "send(ctx)",	  "recv(ctx)",
    "send(ready)", "recv(ready)",    "fill",	   "drain",	  "close",
    "len",	   "reopen",	     "try_select", "select(ctx)", "select(ready)",
};

_Static_assert(sizeof(op_names) / sizeof(op_names[0]) == NOPS, "one name per op");

/*
 * One flag per (kind, operation, model state), in libFuzzer's extra-counters section, so the
 * fuzzer treats reaching a new combination as new coverage. Branch-free code in a kind (e.g. a
 * length computed across the ring's wrap point with conditional moves) adds no edge when it
 * meets a new state; without these flags such inputs are neither kept while fuzzing nor by a
 * coverage-minimizing merge. Outside libFuzzer the section is plain data nobody reads.
 */
#define MAX_KINDS 8
static uint8_t state_counters[MAX_KINDS][NOPS][NSTATES]
    __attribute__((used, section("__libfuzzer_extra_counters")));

/*
 * A context that is done, or will be within 310 us, chosen by @arg. Returns it (the
 * caller releases it and *@extra) and the error a blocked operation must return in *@err.
 */
static pl_ctx *done_ctx(uint8_t arg, pl_ctx **extra, int *err)
{
	pl_ctx *c = NULL;

	*extra = NULL;
	switch (arg % 6) {
	case 0: /* cancelled */
		c = pl_ctx_with_cancel(NULL);
		pl_ctx_cancel(c);
		*err = -ECANCELED;
		break;
	case 1: /* cancelled with a cause: the op still reports the error, not the cause */
		c = pl_ctx_with_cancel(NULL);
		pl_ctx_cancel_cause(c, 1000 + arg);
		*err = -ECANCELED;
		break;
	case 2: /* an ancestor cancelled after the child was made */
		*extra = pl_ctx_with_cancel(NULL);
		c = pl_ctx_with_timeout(*extra, 3600 * 1000000000LL);
		pl_ctx_cancel(*extra);
		*err = -ECANCELED;
		break;
	case 3: /* deadline in the past */
		c = pl_ctx_with_deadline(NULL, pl_now_ns() - 1);
		*err = -ETIMEDOUT;
		break;
	case 4: /* up to 310 us: the op really parks (or spins) until the deadline */
		c = pl_ctx_with_timeout(NULL, (int64_t)(arg % 32) * 10000);
		*err = -ETIMEDOUT;
		break;
	case 5: /* the deadline is an ancestor's */
		*extra = pl_ctx_with_timeout(NULL, (int64_t)(arg % 16) * 10000);
		c = pl_ctx_with_cancel(*extra);
		*err = -ETIMEDOUT;
		break;
	}
	if (c == NULL) {
		fprintf(stderr, "fuzz_chan: cannot make a context\n");
		abort();
	}
	return c;
}

static void release_ctx(pl_ctx *c, pl_ctx *extra)
{
	pl_ctx_release(c);
	if (extra != NULL)
		pl_ctx_release(extra);
}

static void do_recv_check(struct run *r, int rc, void *got, int want, void *want_v)
{
	expect(r, "result", rc, want);
	if (rc == 0 && got != want_v)
		mismatch(r, "received value", (long long)(uintptr_t)got,
			 (long long)(uintptr_t)want_v);
}

static void *fresh_value(struct run *r)
{
	r->next_value++;
	return (void *)(r->next_value * 16);
}

/* ------------------------------------------------------------------ selects */

#define SEL_ERR_UNTOUCHED 4242
static void *const SEL_MSG_UNTOUCHED = (void *)8;

/*
 * 1 + @n % 4 cases into @c, each from two bits of @b, lowest first: 0 a NULL channel (a
 * receive), 1 a receive, 2 a send of a fresh value, 3 a send of NULL. Returns how many.
 */
static size_t make_cases(struct run *r, pl_sel_case *c, uint8_t n, uint8_t b)
{
	size_t count = 1 + n % 4;

	for (size_t i = 0; i < count; i++, b >>= 2) {
		unsigned t = b & 3;

		c[i] = (pl_sel_case){
		    .ch = t == 0 ? NULL : r->ch,
		    .op = t >= 2 ? PL_SEL_SEND : PL_SEL_RECV,
		    .msg = t == 2   ? fresh_value(r)
			   : t == 3 ? NULL
				    : SEL_MSG_UNTOUCHED,
		    .err = SEL_ERR_UNTOUCHED,
		};
	}
	return count;
}

/* Would case @c proceed now, per the model? */
static bool case_ready(const struct model *m, const pl_sel_case *c)
{
	if (c->ch == NULL)
		return false;
	if (m->closed)
		return true;
	return c->op == PL_SEL_RECV ? m->len > 0 : !model_full(m);
}

/*
 * Check a select's result @rc over @c (@n cases) against the model, @none being what it must
 * return when no case is ready, and apply the case it picked.
 */
static void check_select(struct run *r, const pl_sel_case *c, size_t n, int rc, int none)
{
	bool any = false;

	for (size_t i = 0; i < n; i++)
		any |= case_ready(&r->m, &c[i]);
	if (!any) {
		expect(r, "select with no case ready", rc, none);
	} else {
		if (rc < 0 || (size_t)rc >= n)
			mismatch(r, "select with a case ready", rc, 0);
		if (!case_ready(&r->m, &c[rc]))
			mismatch(r, "select picked a case that was not ready", rc, -1);
	}
	for (size_t i = 0; i < n; i++) {
		if ((int)i == rc)
			continue;
		expect(r, "err of a case not picked", c[i].err, SEL_ERR_UNTOUCHED);
		if (c[i].op == PL_SEL_RECV && c[i].msg != SEL_MSG_UNTOUCHED)
			mismatch(r, "msg of a receive not picked", (long long)(uintptr_t)c[i].msg,
				 (long long)(uintptr_t)SEL_MSG_UNTOUCHED);
	}
	if (rc < 0)
		return;
	if (c[rc].op == PL_SEL_SEND) {
		expect(r, "err of the send picked", c[rc].err,
		       model_send(&r->m, c[rc].msg, -EAGAIN));
	} else {
		void *want_v = NULL;
		int want = model_recv(&r->m, &want_v, -EAGAIN);

		expect(r, "err of the receive picked", c[rc].err, want);
		if (c[rc].msg != want_v)
			mismatch(r, "select received value", (long long)(uintptr_t)c[rc].msg,
				 (long long)(uintptr_t)want_v);
	}
}

/* Whether any of @c's send cases could push an unbounded model past what it follows. */
static bool sends_saturate(const struct run *r, const pl_sel_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].ch != NULL && c[i].op == PL_SEL_SEND && model_saturated(&r->m))
			return true;
	return false;
}

/* One operation; returns how many argument bytes it used. */
static size_t step(struct run *r, uint8_t opb, const uint8_t *arg, size_t arglen)
{
	unsigned op = opb % NOPS;
	uint8_t a = arglen > 0 ? arg[0] : 0;
	void *v, *got, *want_v = NULL;
	pl_ctx *cx, *extra;
	int rc, want, err;

	r->op_name = op_names[op];
	state_counters[r->kind_index % MAX_KINDS][op][model_state(&r->m)] = 1;
	switch (op) {
	case OP_TRY_SEND:
	case OP_TRY_SEND_NULL:
		if (model_saturated(&r->m))
			return 0;
		v = op == OP_TRY_SEND ? fresh_value(r) : NULL;
		want = model_send(&r->m, v, -EAGAIN);
		expect(r, "result", pl_chan_try_send(r->ch, v), want);
		return 0;
	case OP_TRY_RECV:
		got = (void *)1;
		want = model_recv(&r->m, &want_v, -EAGAIN);
		rc = pl_chan_try_recv(r->ch, &got);
		do_recv_check(r, rc, got, want, want_v);
		return 0;
	case OP_SEND_CTX:
		if (model_saturated(&r->m))
			return 1;
		cx = done_ctx(a, &extra, &err);
		v = (a & 0x80) ? NULL : fresh_value(r);
		want = model_send(&r->m, v, err);
		expect(r, "result", pl_chan_send(r->ch, v, cx), want);
		release_ctx(cx, extra);
		return 1;
	case OP_RECV_CTX:
		cx = done_ctx(a, &extra, &err);
		got = (void *)1;
		want = model_recv(&r->m, &want_v, err);
		rc = pl_chan_recv(r->ch, &got, cx);
		do_recv_check(r, rc, got, want, want_v);
		if (rc == err && got != (void *)1)
			mismatch(r, "*msg written by a failed recv", (long long)(uintptr_t)got, 1);
		release_ctx(cx, extra);
		return 1;
	case OP_SEND_READY:
		if (!r->m.closed && model_full(&r->m))
			return 0; /* would block forever on this thread */
		v = fresh_value(r);
		want = model_send(&r->m, v, 0);
		expect(r, "result", pl_chan_send(r->ch, v, (a & 1) ? pl_ctx_background() : NULL),
		       want);
		return 1;
	case OP_RECV_READY:
		if (!r->m.closed && r->m.len == 0)
			return 0;
		got = (void *)1;
		want = model_recv(&r->m, &want_v, 0);
		rc = pl_chan_recv(r->ch, &got, NULL);
		do_recv_check(r, rc, got, want, want_v);
		return 0;
	case OP_FILL:
		for (unsigned i = 0; i < a && !model_saturated(&r->m); i++) {
			v = fresh_value(r);
			want = model_send(&r->m, v, -EAGAIN);
			expect(r, "result", pl_chan_try_send(r->ch, v), want);
			if (want != 0)
				break;
		}
		return 1;
	case OP_DRAIN:
		do {
			got = (void *)1;
			want = model_recv(&r->m, &want_v, -EAGAIN);
			rc = pl_chan_try_recv(r->ch, &got);
			do_recv_check(r, rc, got, want, want_v);
		} while (want == 0);
		return 0;
	case OP_CLOSE:
		want = r->m.closed ? -EPIPE : 0;
		r->m.closed = true;
		expect(r, "result", pl_chan_close(r->ch), want);
		return 0;
	case OP_LEN:
		expect(r, "pl_chan_len", (long long)pl_chan_len(r->ch), (long long)r->m.len);
		return 0;
	case OP_REOPEN:
		pl_chan_free(r->ch);
		r->cap = pick_cap(&r->info, a);
		open_chan(r);
		return 1;
	case OP_TRY_SELECT:
	case OP_SELECT_CTX:
	case OP_SELECT_READY: {
		uint8_t b = arglen > 1 ? arg[1] : 0;
		pl_sel_case c[4];
		size_t n = make_cases(r, c, a, b);
		bool any = false;

		if (sends_saturate(r, c, n))
			return 2;
		for (size_t i = 0; i < n; i++)
			any |= case_ready(&r->m, &c[i]);
		if (op == OP_TRY_SELECT) {
			check_select(r, c, n, pl_try_select(c, n), -EAGAIN);
		} else if (op == OP_SELECT_READY) {
			if (!any)
				return 2; /* would block forever on this thread */
			check_select(r, c, n, pl_select(c, n, NULL), 0);
		} else {
			cx = done_ctx((uint8_t)(a >> 2), &extra, &err);
			check_select(r, c, n, pl_select(c, n, cx), err);
			release_ctx(cx, extra);
		}
		return 2;
	}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const *kinds;
	static size_t nkinds;
	struct run *r;

	if (kinds == NULL) {
		kinds = pl_chan_kinds();
		while (kinds[nkinds] != NULL)
			nkinds++;
	}
	if (size < 3 || nkinds == 0)
		return 0;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		abort();
	r->kind_index = data[0] % nkinds;
	r->kind = kinds[r->kind_index];
	if (pl_chan_kind_info(r->kind, &r->info) != 0)
		abort();
	r->cap = pick_cap(&r->info, data[1]);
	r->spin0 = data[2] % 8 != 0;
	open_chan(r);
	for (size_t i = 3; i < size;) {
		uint8_t opb = data[i++];

		r->op_index = i - 4;
		i += step(r, opb, data + i, size - i);
		if (i > size)
			i = size;
	}
	/* Whatever is left drains in order. */
	r->op_name = "final drain";
	for (;;) {
		void *got = (void *)1, *want_v = NULL;
		int want = model_recv(&r->m, &want_v, -EAGAIN);
		int rc = pl_chan_try_recv(r->ch, &got);

		do_recv_check(r, rc, got, want, want_v);
		if (want != 0)
			break;
	}
	pl_chan_free(r->ch);
	free(r);
	return 0;
}
