/* SPDX-License-Identifier: MIT */
/*
 * Channel dispatch and the registry of kinds.
 *
 * The public pl_chan_* functions check their arguments once, here, and dispatch through the
 * kind's ops, so every kind gets the same argument checks and error codes. The registry is a
 * static table (SQLite's VFS list): the first entry is the default kind.
 */
#include "chan/kind.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static const struct pl_chan_ops *const registry[] = {
    &pl__chan_mutex, &pl__chan_lockfree, &pl__chan_urcu, &pl__chan_spsc, NULL,
};

#define NKINDS (sizeof(registry) / sizeof(registry[0]) - 1)

const struct pl_chan_ops *const *pl__chan_registry(void)
{
	return registry;
}

static const struct pl_chan_ops *find(const char *kind)
{
	if (kind == NULL)
		return NULL;
	for (size_t i = 0; i < NKINDS; i++)
		if (strcmp(registry[i]->name, kind) == 0)
			return registry[i];
	return NULL;
}

static const char *kind_names[NKINDS + 1];
static pthread_once_t kind_names_once = PTHREAD_ONCE_INIT;

static void fill_kind_names(void)
{
	for (size_t i = 0; i < NKINDS; i++)
		kind_names[i] = registry[i]->name;
	kind_names[NKINDS] = NULL;
}

const char *const *pl_chan_kinds(void)
{
	pthread_once(&kind_names_once, fill_kind_names);
	return kind_names;
}

int pl_chan_kind_info(const char *kind, struct pl_chan_kind_info *out)
{
	const struct pl_chan_ops *ops = find(kind);

	if (ops == NULL || out == NULL)
		return -EINVAL;
	*out = (struct pl_chan_kind_info){
	    .name = ops->name,
	    .summary = ops->summary,
	    .rendezvous = (ops->flags & PL_KIND_RENDEZVOUS) != 0,
	    .unbounded = (ops->flags & PL_KIND_UNBOUNDED) != 0,
	    .spsc = (ops->flags & PL_KIND_SPSC) != 0,
	    .spins = (ops->flags & PL_KIND_SPINS) != 0,
	};
	return 0;
}

pl_chan_opts pl_chan_opts_default(void)
{
	return (pl_chan_opts){.spin_ns = PL_CHAN_SPIN_NS_DEFAULT};
}

pl_chan *pl_chan_new_opts(const char *kind, size_t capacity, const pl_chan_opts *o)
{
	const struct pl_chan_ops *ops = find(kind);
	pl_chan_opts def = pl_chan_opts_default();
	pl_chan *ch;

	if (o == NULL)
		o = &def;
	if (ops == NULL || o->spin_ns < 0 ||
	    (capacity == 0 && !(ops->flags & PL_KIND_RENDEZVOUS)) ||
	    (capacity == PL_CHAN_UNBOUNDED && !(ops->flags & PL_KIND_UNBOUNDED))) {
		errno = EINVAL;
		return NULL;
	}
	ch = ops->create(capacity, o);
	if (ch == NULL)
		return NULL;
	ch->ops = ops;
	ch->cap = capacity;
	ch->spin_ns = o->spin_ns;
	return ch;
}

pl_chan *pl_chan_new(const char *kind, size_t capacity)
{
	return pl_chan_new_opts(kind, capacity, NULL);
}

#if defined(PATLAB_PLANT_DELAY_NS) && PATLAB_PLANT_DELAY_NS > 0
/*
 * A planted regression, compiled only with the CMake option -DPATLAB_PLANT_DELAY_NS=N (never
 * in a normal build): every pl_chan_send() on a mutex channel first busy-waits N ns. It exists
 * to prove that the performance gate catches a slowdown (tests/gate.cmake, scripts/perf-ab,
 * results/baseline/README.md).
 */
static __attribute__((noinline, cold)) void plant_delay(void)
{
	int64_t end = pl_now_ns() + PATLAB_PLANT_DELAY_NS;

	while (pl_now_ns() < end)
		;
}
#endif
#if defined(PATLAB_PLANT_SPINS) && PATLAB_PLANT_SPINS > 0
/*
 * The same, finer (-DPATLAB_PLANT_SPINS=N): N steps of a dependent arithmetic chain, a cycle
 * or two each (the empty asm makes x opaque, so the compiler can neither fold the chain nor
 * unroll it away): slowdowns of a few ns, below the ~45 ns floor of a clock-read busy-wait,
 * and exact under callgrind.
 */
static __attribute__((noinline, cold)) void plant_spins(void)
{
	unsigned x = 0;

	for (unsigned i = 0; i < PATLAB_PLANT_SPINS; i++) {
		x = x * 3 + 1;
		__asm__ volatile("" : "+r"(x));
	}
}
#endif

int pl_chan_send(pl_chan *ch, void *msg, pl_ctx *cx)
{
	if (ch == NULL)
		return -EINVAL;
#if defined(PATLAB_PLANT_DELAY_NS) && PATLAB_PLANT_DELAY_NS > 0
	if (ch->ops == &pl__chan_mutex) /* out of line: other kinds pay only this compare */
		plant_delay();
#endif
#if defined(PATLAB_PLANT_SPINS) && PATLAB_PLANT_SPINS > 0
	if (ch->ops == &pl__chan_mutex)
		plant_spins();
#endif
	return ch->ops->send(ch, msg, cx);
}

int pl_chan_recv(pl_chan *ch, void **msg, pl_ctx *cx)
{
	if (ch == NULL || msg == NULL)
		return -EINVAL;
	return ch->ops->recv(ch, msg, cx);
}

int pl_chan_try_send(pl_chan *ch, void *msg)
{
	if (ch == NULL)
		return -EINVAL;
	return ch->ops->try_send(ch, msg);
}

int pl_chan_try_recv(pl_chan *ch, void **msg)
{
	if (ch == NULL || msg == NULL)
		return -EINVAL;
	return ch->ops->try_recv(ch, msg);
}

int pl_chan_close(pl_chan *ch)
{
	if (ch == NULL)
		return -EINVAL;
	return ch->ops->close(ch);
}

size_t pl_chan_len(const pl_chan *ch)
{
	return ch == NULL ? 0 : ch->ops->len(ch);
}

size_t pl_chan_cap(const pl_chan *ch)
{
	return ch == NULL ? 0 : ch->cap;
}

const char *pl_chan_kind(const pl_chan *ch)
{
	return ch == NULL ? NULL : ch->ops->name;
}

void pl_chan_free(pl_chan *ch)
{
	if (ch != NULL)
		ch->ops->destroy(ch);
}
