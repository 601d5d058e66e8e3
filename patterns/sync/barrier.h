/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_BARRIER_H
#define PATLAB_BARRIER_H

/*
 * Internal: an asymmetric store-load barrier pair, for a Dekker handshake whose two sides run
 * at very different rates.
 *
 * Dekker: thread F stores x then loads y, thread S stores y then loads x, and at least one of
 * them must see the other's store. That needs a full barrier between the store and the load on
 * both sides (x86 reorders a load before an earlier store to another line), an mfence or a
 * locked instruction, tens of cycles. When F runs once per message and S only when something
 * rare happens (a thread about to sleep, a close), the cost moves to S:
 *
 *   F (hot):  store x; pl__barrier_light(); load y
 *   S (rare): store y; pl__barrier_heavy(); load x
 *
 * pl__barrier_light() is then a compiler barrier only, and pl__barrier_heavy() is
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): the kernel runs a full barrier on every CPU
 * currently running a thread of this process (and a thread not running passes one when it is
 * switched back in). So F's instruction stream is cut at one point P by a full barrier: if
 * F's load came after P, it sees S's store (made before the call); if it came before P, so
 * did F's store, and S's load (after the call) sees it. liburcu's urcu-memb flavour pairs its
 * readers with its writer the same way.
 *
 * When membarrier is unavailable (kernels before 4.14, seccomp filters) both sides fall back,
 * at run time, to a seq_cst fence; the pairing then is the plain fence-fence Dekker.
 * pl__barrier_init() decides which once per process; every user must call it before the
 * object that relies on the pair is shared (a channel's create), so both sides of any pair
 * see the same decision. Setting PATLAB_MEMBARRIER=0 in the environment forces the fallback
 * (CTest runs the spsc suites that way too, so both paths stay covered).
 */

#include <stdatomic.h>
#include <stdbool.h>

/* Decided once by pl__barrier_init(); read-only afterwards. */
extern bool pl__membarrier_ok;

/*
 * pl__barrier_init - register this process for expedited private membarrier, once.
 * Returns true when pl__barrier_heavy() uses membarrier (and pl__barrier_light() is a compiler
 * barrier), false when both are fences. Thread-safe; cheap after the first call.
 */
bool pl__barrier_init(void);

/* pl__barrier_full - a seq_cst fence (TSan builds: the same instruction, which TSan ignores;
 * gcc rejects atomic_thread_fence() under -fsanitize=thread with -Wtsan). */
static inline void pl__barrier_full(void)
{
#if defined(__SANITIZE_THREAD__) && defined(__x86_64__)
	__asm__ __volatile__("mfence" ::: "memory");
#elif defined(__SANITIZE_THREAD__) && defined(__aarch64__)
	__asm__ __volatile__("dmb ish" ::: "memory");
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

/*
 * pl__barrier_light - the hot side's store-load barrier; pairs with pl__barrier_heavy().
 * A compiler barrier when membarrier is in use, else a full fence.
 */
static inline void pl__barrier_light(void)
{
	if (__builtin_expect(pl__membarrier_ok, 1))
		atomic_signal_fence(memory_order_seq_cst);
	else
		pl__barrier_full();
}

/*
 * pl__barrier_heavy - the rare side's store-load barrier; pairs with pl__barrier_light().
 * A membarrier system call (a few microseconds: it interrupts the CPUs running our threads),
 * or a full fence in the fallback. Aborts if membarrier fails after it was registered.
 */
void pl__barrier_heavy(void);

#endif /* PATLAB_BARRIER_H */
