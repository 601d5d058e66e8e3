/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_TEST_HELPERS_H
#define PATLAB_TEST_HELPERS_H

/*
 * What several tests share beyond check.h: starting a thread, making a channel and probing a
 * kind (each failing the test when the library refuses for a reason other than "not in this
 * build"), the kinds and capacities a channel stress test covers, random tiny delays and
 * pauses for stress tests, a thread that cancels a context later, the named extra of a
 * pattern's result, and whether the build is sanitized.
 *
 * Every function may be called from any thread. A failure ends the test through pt_fail()
 * (with this file's location; the message says what failed, the last pt_note() where).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <patlab/chan.h>
#include <patlab/ctx.h>
#include <patlab/pattern.h>

/* pt_sanitized - true in a ThreadSanitizer or AddressSanitizer build (slower: scale down). */
bool pt_sanitized(void);

/* pt_start - pthread_create(@t, NULL, @fn, @arg), or fail the test. */
void pt_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* pt_chan_new - pl_chan_new(@kind, @cap), or fail the test. */
pl_chan *pt_chan_new(const char *kind, size_t cap);

/*
 * pt_kind_ready - whether @kind can make a channel in this build: false (after printing
 * "kind K: not available yet (ENOSYS): skipped") when it is still a placeholder; any other
 * refusal of a capacity-1 channel fails the test.
 */
bool pt_kind_ready(const char *kind);

/* pt_kind_can - @kind makes a channel of capacity @depth in this build. */
bool pt_kind_can(const char *kind, size_t depth);

/* pt_kind_spsc - @kind (which must be registered) is single-producer/single-consumer. */
bool pt_kind_spsc(const char *kind);

/*
 * pt_stress_kind - whether a channel stress test runs @kind: false when env PATLAB_STRESS_KIND
 * names another kind, or when pt_kind_ready() says it is not in this build; else true, with
 * @info filled (a kind that is registered but has no info fails the test).
 */
bool pt_stress_kind(const char *kind, struct pl_chan_kind_info *info);

/* PT_MAX_CAPS - the most capacities pt_stress_caps() writes. */
#define PT_MAX_CAPS 6

/*
 * pt_stress_caps - the capacities a stress test covers for a kind described by @info, into
 * @caps (PT_MAX_CAPS entries): 0 when it is a rendezvous kind, 1, 2, 64, 1024 when @with_1024,
 * PL_CHAN_UNBOUNDED when it supports it. Returns how many were written.
 */
int pt_stress_caps(const struct pl_chan_kind_info *info, bool with_1024, size_t *caps);

/* pt_cap_name - @cap as text into @buf (@n bytes): "unbounded" or the number. Returns @buf. */
const char *pt_cap_name(size_t cap, char *buf, size_t n);

/* pt_hash_str - @h with the bytes of @s folded in (FNV-1a steps): a seed per name. */
uint64_t pt_hash_str(uint64_t h, const char *s);

/* pt_jitter - a random tiny delay: usually none, 1/8 a spin of up to ~255 PAUSEs, rarely a
 * yield. */
void pt_jitter(uint64_t *rng);

/*
 * pt_pause - a random pause drawn from @x: when @x is odd a sleep of (@x >> 8) % @max_sleep_ns
 * ns, else a spin of (@x >> 8) % @max_spins PAUSEs. @max_sleep_ns and @max_spins are > 0.
 */
void pt_pause(uint64_t x, int64_t max_sleep_ns, unsigned max_spins);

/*
 * struct pt_canceller - what pt_cancel_later() does: after @after_ns, cancel @cx, with
 * pl_ctx_cancel_cause(@cx, @cause) when @cause is non-zero, else pl_ctx_cancel(@cx). The
 * caller keeps its reference to @cx until the thread is joined.
 */
struct pt_canceller {
	pl_ctx *cx;
	int64_t after_ns;
	int cause;
};

/* pt_cancel_later - a thread body (pthread_create(..., pt_cancel_later, &a pt_canceller)). */
void *pt_cancel_later(void *arg);

/* pt_extra - the value of the extra called @name in @r, or fail the test if it is missing. */
double pt_extra(const struct pl_result *r, const char *name);

#endif /* PATLAB_TEST_HELPERS_H */
