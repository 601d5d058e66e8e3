/* SPDX-License-Identifier: MIT */
/*
 * The adaptive shedder: CoDel's test for a standing queue (Nichols & Jacobson, "Controlling
 * Queue Delay", ACM Queue 2012; RFC 8289), applied to items instead of packets, with two
 * responses to it.
 *
 * The idea. A queue that absorbs a burst and drains again is doing its job ("good queue"); a
 * queue whose delay never falls below some floor is a standing queue ("bad queue"): it adds
 * latency to every item and buys no throughput. The minimum sojourn time over an interval
 * tells the two apart, and needs no knowledge of rates or capacities. CoDel tracks it cheaply:
 * as soon as an item leaves with a sojourn below target (or leaves the queue empty), the
 * "above since" clock (first_above) is reset; if it was not reset for a whole interval, the
 * minimum over that interval is above target, and the queue is a standing one.
 *
 * Two responses once the queue is a standing one (the "dropping state").
 *
 * PL_SHED_CODEL, the control law. Entering the dropping state, drop one item; then drop the next
 * ones at drop_next = previous + interval / sqrt(count), count = drops in this episode: the drop
 * rate grows with sqrt(count), which (for TCP-like senders whose rate responds as 1/sqrt(p)) grows
 * the response linearly until the delay falls below target, and then the state is left at the
 * first item below target. Re-entering soon after leaving (within 16 intervals) resumes near
 * the previous drop rate instead of starting again at 1 (RFC 8289's count - lastcount).
 *
 * PL_SHED_LATE, for senders that do not respond to drops. An open-loop client keeps sending
 * at its own rate whatever happens to its earlier requests, so dropping a few items per
 * interval does not shrink the queue: at twice the capacity half of all items must go, and the
 * control law's rate, sqrt(count) / interval, reaches R drops per second only at count =
 * (R x interval)^2 (40,000 for 2,000/s at 100 ms, some 40 s into the overload). Instead,
 * while in the dropping state, every item that waited target or more is dropped: the queue
 * then holds at most about target's worth of work, whatever the overload.
 * The state is left when the queue empties or when an interval passed without a late item
 * (the overload is over). This is the queue management of Facebook's RPC servers ("Fail at
 * Scale", ACM Queue, 2015), expressed with CoDel's entry test.
 *
 * Per item instead of per dequeue loop. The RFC's dequeue drops in a loop until it finds an
 * item to serve; here the caller asks once per item (should_drop), drops it if told so and
 * asks again for the next one. The state changes are the RFC's, in the same order.
 *
 * Concurrency: several consumers may call concurrently; one mutex guards the state (a few
 * dozen instructions per item). Times come from the callers, which read their clocks before
 * taking the lock, so they may arrive slightly out of order: a time earlier than one already
 * seen counts as the latest seen (time never runs backwards inside the state machine).
 *
 * No libm: sqrt comes from a few Newton steps (count >= 1, so they converge quickly).
 */
#include <patlab/backpressure.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "sync/die.h"

struct pl_shedder {
	pthread_mutex_t lock;
	/* Read-only after new. */
	enum pl_shed_mode mode;
	int64_t target;
	int64_t interval;
	/* Under @lock. */
	int64_t latest;	     /* the latest time seen */
	int64_t first_above; /* when the delay will have been above target for an interval; 0 */
	int64_t drop_next;   /* CODEL: when the next drop is due (dropping state) */
	int64_t last_late;   /* LATE: the latest time an item at or above target left */
	uint32_t count;	     /* drops in this episode (the control law's count) */
	uint32_t lastcount;  /* count when the last episode began */
	bool dropping;
	uint64_t seen, shed, episodes;
};

/* sqrt_pos - sqrt(@x) for @x >= 1: bracket within a factor of 2, then Newton (quadratic). */
static double sqrt_pos(double x)
{
	double r = 1;

	while (r * r * 4 <= x)
		r *= 2;
	for (int i = 0; i < 6; i++)
		r = 0.5 * (r + x / r);
	return r;
}

/* control_law - the time of the next drop: @t + interval / sqrt(count). */
static int64_t control_law(const struct pl_shedder *s, int64_t t, uint32_t count)
{
	return t + (int64_t)((double)s->interval / sqrt_pos((double)count));
}

pl_shedder *pl_shedder_new(enum pl_shed_mode mode, int64_t target_ns, int64_t interval_ns)
{
	struct pl_shedder *s;

	if ((mode != PL_SHED_CODEL && mode != PL_SHED_LATE) || target_ns <= 0 || interval_ns <= 0) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	PL_CHECK(pthread_mutex_init(&s->lock, NULL));
	s->mode = mode;
	s->target = target_ns;
	s->interval = interval_ns;
	return s;
}

void pl_shedder_free(pl_shedder *s)
{
	if (s == NULL)
		return;
	PL_CHECK(pthread_mutex_destroy(&s->lock));
	free(s);
}

/*
 * ok_to_drop - RFC 8289's dodequeue() verdict for one item: has the delay been above target
 * for a whole interval? Resets the clock on an item below target or an emptied queue.
 */
static bool ok_to_drop(struct pl_shedder *s, int64_t sojourn, int64_t now, size_t backlog)
{
	if (sojourn < s->target || backlog == 0) {
		s->first_above = 0;
		return false;
	}
	if (s->first_above == 0) {
		/* 0 means "not above": a first_above that computes to 0 is nudged to 1. */
		s->first_above = now + s->interval != 0 ? now + s->interval : 1;
		return false;
	}
	return now >= s->first_above;
}

/* codel - RFC 8289's state machine, one item at a time (see the top of the file). */
static bool codel(struct pl_shedder *s, bool ok, int64_t now)
{
	if (s->dropping) {
		if (!ok) {
			/* The delay went below target: leave the dropping state. */
			s->dropping = false;
		} else if (now >= s->drop_next) {
			s->count++;
			s->drop_next = control_law(s, s->drop_next, s->count);
			return true;
		}
		return false;
	}
	if (ok) {
		/* Above target for a whole interval: drop this one and start an episode. */
		uint32_t delta = s->count - s->lastcount;

		s->dropping = true;
		s->episodes++;
		/* Re-entering soon after the last episode: resume near its drop rate. */
		if (delta > 1 && now - s->drop_next < 16 * s->interval)
			s->count = delta;
		else
			s->count = 1;
		s->drop_next = control_law(s, now, s->count);
		s->lastcount = s->count;
		return true;
	}
	return false;
}

/* late - shed every late item of an episode (see the top of the file). */
static bool late(struct pl_shedder *s, bool ok, int64_t sojourn, int64_t now, size_t backlog)
{
	bool is_late = sojourn >= s->target;

	if (s->dropping && (backlog == 0 || (!is_late && now - s->last_late >= s->interval)))
		s->dropping = false; /* the queue emptied, or no late item for an interval */
	else if (!s->dropping && ok) {
		s->dropping = true;
		s->episodes++;
	}
	if (is_late)
		s->last_late = now;
	return s->dropping && is_late;
}

bool pl_shedder_should_drop(pl_shedder *s, int64_t sojourn_ns, int64_t now_ns, size_t backlog)
{
	bool ok, drop;

	PL_CHECK(pthread_mutex_lock(&s->lock));
	if (now_ns < s->latest)
		now_ns = s->latest;
	s->latest = now_ns;
	s->seen++;
	ok = ok_to_drop(s, sojourn_ns, now_ns, backlog);
	if (s->mode == PL_SHED_CODEL)
		drop = codel(s, ok, now_ns);
	else
		drop = late(s, ok, sojourn_ns, now_ns, backlog);
	s->shed += drop;
	PL_CHECK(pthread_mutex_unlock(&s->lock));
	return drop;
}

void pl_shedder_stats(pl_shedder *s, struct pl_shedder_stats *out)
{
	PL_CHECK(pthread_mutex_lock(&s->lock));
	out->seen = s->seen;
	out->shed = s->shed;
	out->episodes = s->episodes;
	out->dropping = s->dropping;
	PL_CHECK(pthread_mutex_unlock(&s->lock));
}
