/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_TEST_HELPERS_H
#define PATLAB_TEST_HELPERS_H

/*
 * What several tests share beyond check.h: starting a thread, making a channel and probing a
 * kind (each failing the test when the library refuses for a reason other than "not in this
 * build"), a random tiny delay for stress tests, the named extra of a pattern's result, and
 * whether the build is sanitized.
 *
 * Every function may be called from any thread. A failure ends the test through pt_fail()
 * (with this file's location; the message says what failed, the last pt_note() where).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <patlab/chan.h>
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

/* pt_jitter - a random tiny delay: usually none, 1/8 a spin of up to ~255 PAUSEs, rarely a
 * yield. */
void pt_jitter(uint64_t *rng);

/* pt_extra - the value of the extra called @name in @r, or fail the test if it is missing. */
double pt_extra(const struct pl_result *r, const char *name);

#endif /* PATLAB_TEST_HELPERS_H */
