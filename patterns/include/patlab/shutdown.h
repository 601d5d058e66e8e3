/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_SHUTDOWN_H
#define PATLAB_SHUTDOWN_H

/*
 * Graceful shutdown: the two pieces a long-running service needs besides its worker pool.
 *
 * 1. The ledger (pl_ledger_*): an append-only file with one line per accepted job, written when
 *    the job reached its final state:
 *
 *        <id> done          the job ran to completion
 *        <id> cancelled     the job was running when the grace ran out and saw its context
 *                           cancelled
 *        <id> returned      the job never started; it was handed back to its submitter
 *
 *    (<id> is an unsigned 64-bit decimal.) The file is opened with O_APPEND and every line is
 *    one write(2), so lines from several threads (or processes) never interleave and a reader
 *    never sees half a line from a successful record; pl_ledger_close() fsyncs. If every
 *    accepted job is recorded exactly once (the caller's half of the bargain, e.g. from a pool
 *    job's last step and from pl_pool_shutdown()'s unstarted callback), the file proves that
 *    no accepted job was lost or done twice.
 *
 * 2. The shutdown controller (pl_shutdown_*): signals turned into the phases of a shutdown.
 *    Its signal handler only writes the signal number to a non-blocking pipe (nothing else is
 *    async-signal-safe to do); the owner polls the pipe's read end with the rest of its file
 *    descriptors and calls pl_shutdown_poll(), which moves the phase on:
 *
 *        RUNNING --first signal--> DRAINING --second signal--> FORCED
 *
 *    Entering DRAINING cancels pl_shutdown_stopping() (stop intake now) and starts the grace
 *    period: pl_shutdown_grace() becomes a context that is done @grace_ns later; pass it to
 *    pl_pool_shutdown(). Entering FORCED cancels the grace context at once (running jobs see
 *    their context cancelled, never-started jobs are handed back straight away); what else
 *    "forced" means (patlab-svc exits at once) is the owner's choice.
 *
 * Ownership: every object is owned by its creator and released by its close or free function.
 * Contexts returned by pl_shutdown_stopping()/pl_shutdown_grace() are borrowed: valid until
 * pl_shutdown_free(); retain them to keep them longer.
 *
 * Concurrency:
 *   ledger:   pl_ledger_record() from any number of threads at once; pl_ledger_sync() and
 *             pl_ledger_seal() concurrently with them; pl_ledger_close() last.
 *   shutdown: one controller per process at a time (it owns the handlers of its signals).
 *             pl_shutdown_poll(), pl_shutdown_begin() and pl_shutdown_force() may be called
 *             from any threads (they serialise on an internal lock); pl_shutdown_phase(),
 *             pl_shutdown_stopping(), pl_shutdown_grace() and pl_shutdown_last_signal() are
 *             lock-free reads. pl_shutdown_free() last, once no other call is running.
 */

#include <stddef.h>
#include <stdint.h>

#include "ctx.h"

/* -------------------------------------------------------------------------- ledger */

typedef struct pl_ledger pl_ledger;

/* enum pl_ledger_state - the final state of an accepted job, as written in the ledger. */
enum pl_ledger_state {
	PL_LEDGER_DONE = 1,	 /* "done" */
	PL_LEDGER_CANCELLED = 2, /* "cancelled" */
	PL_LEDGER_RETURNED = 3,	 /* "returned" */
};

/* A ledger line is at most this long, newline included ("<20 digits> cancelled\n"). */
#define PL_LEDGER_LINE_MAX 32

/*
 * pl_ledger_open - open (creating it owner-only, mode 0600) the ledger file @path for append.
 * @path: the file; existing content is kept, new lines go after it.
 *
 * Returns the ledger, or NULL with errno EINVAL (@path NULL or empty), ENOMEM, or the errno of
 * open(2) (EACCES, ENOENT, EISDIR, ...).
 */
pl_ledger *pl_ledger_open(const char *path);

/*
 * pl_ledger_record - append "<@id> <state>\n" with one write(2).
 * @l:     the ledger.
 * @id:    the job's id.
 * @state: its final state.
 *
 * Returns 0; -EINVAL (@l NULL, @state unknown); -ESHUTDOWN after pl_ledger_seal() (nothing
 * written); -EIO when an earlier record failed part-way (the ledger is then broken: nothing
 * more is written, so a torn line stays the last one); or the errno of write(2) (-ENOSPC,
 * -EDQUOT, -EIO, ...; a short write also breaks the ledger and returns -EIO). EINTR is retried.
 * Not async-signal-safe (it takes a mutex); safe from any number of threads.
 */
int pl_ledger_record(pl_ledger *l, uint64_t id, enum pl_ledger_state state);

/*
 * pl_ledger_sync - fsync(2) what was recorded so far.
 * Returns 0, -EINVAL (@l NULL), or the errno of fsync(2).
 */
int pl_ledger_sync(pl_ledger *l);

/*
 * pl_ledger_seal - stop recording, then fsync: for an exit that cannot wait for running jobs.
 * When it returns, no record is in progress and every later pl_ledger_record() returns
 * -ESHUTDOWN without writing, so the file ends on a whole line however the process ends next.
 * Idempotent. Returns 0, -EINVAL (@l NULL), or the errno of fsync(2).
 */
int pl_ledger_seal(pl_ledger *l);

/*
 * pl_ledger_close - fsync, close and free @l (NULL: no-op, returns 0).
 * Returns 0, or the first error of fsync(2) or close(2) (the ledger is freed anyway).
 */
int pl_ledger_close(pl_ledger *l);

/* pl_ledger_state_name - "done", "cancelled", "returned", or NULL for an unknown state. */
const char *pl_ledger_state_name(enum pl_ledger_state state);

/*
 * pl_ledger_parse_line - read one ledger line back (for tools and tests).
 * @line:  the line, with or without its trailing newline (exactly one line).
 * @len:   its length in bytes.
 * @id:    receives the id.
 * @state: receives the state.
 *
 * Returns 0, or -EINVAL when it is not exactly "<decimal id> <state>" (a torn or foreign
 * line); *@id and *@state are then unchanged.
 */
int pl_ledger_parse_line(const char *line, size_t len, uint64_t *id, enum pl_ledger_state *state);

/* -------------------------------------------------------------------- shutdown controller */

typedef struct pl_shutdown pl_shutdown;

/* enum pl_shutdown_phase - where a shutdown stands; it only ever moves forward. */
enum pl_shutdown_phase {
	PL_SHUTDOWN_RUNNING = 0,  /* no signal yet */
	PL_SHUTDOWN_DRAINING = 1, /* intake stopped, the grace period runs */
	PL_SHUTDOWN_FORCED = 2,	  /* a second signal: stop everything now */
};

/* At most this many signals per controller. */
#define PL_SHUTDOWN_MAX_SIGNALS 8

/*
 * pl_shutdown_new - route @signals to a new controller and install its handlers.
 * @signals:  the signals that start (then force) the shutdown, e.g. {SIGTERM, SIGINT}.
 * @n:        how many, 1 .. PL_SHUTDOWN_MAX_SIGNALS.
 * @grace_ns: the grace period that starts at the first signal (>= 0; 0: already over).
 *
 * The handlers are installed with SA_RESTART (the controller's signals are blocked while one
 * runs); whichever thread takes a signal only writes one byte to the controller's pipe. The
 * previous dispositions are restored by pl_shutdown_free().
 *
 * Returns the controller, or NULL with errno EINVAL (@signals NULL, @n out of range, a
 * signal that cannot be caught — SIGKILL, SIGSTOP — or out of range, @grace_ns < 0), EBUSY
 * (another controller exists in this process), ENOMEM, EMFILE/ENFILE (pipe2).
 */
pl_shutdown *pl_shutdown_new(const int *signals, size_t n, int64_t grace_ns);

/*
 * pl_shutdown_fd - the file descriptor to poll for POLLIN: readable when a signal arrived
 * that pl_shutdown_poll() has not taken yet. Owned by @s (do not read or close it).
 */
int pl_shutdown_fd(const pl_shutdown *s);

/*
 * pl_shutdown_poll - take every signal that arrived and move the phase on (one step per
 * signal). Never blocks. Returns the phase after that.
 */
enum pl_shutdown_phase pl_shutdown_poll(pl_shutdown *s);

/*
 * pl_shutdown_begin - start draining as a first signal would (for a shutdown the program
 * decides itself, e.g. on a fatal error). No effect once draining or forced.
 * Returns the phase after the call.
 */
enum pl_shutdown_phase pl_shutdown_begin(pl_shutdown *s);

/*
 * pl_shutdown_force - go to FORCED as a second signal would (passing through DRAINING).
 * Returns PL_SHUTDOWN_FORCED.
 */
enum pl_shutdown_phase pl_shutdown_force(pl_shutdown *s);

/* pl_shutdown_phase - the current phase (a lock-free read; see pl_shutdown_poll()). */
enum pl_shutdown_phase pl_shutdown_phase(const pl_shutdown *s);

/* pl_shutdown_last_signal - the last signal taken by pl_shutdown_poll(), 0 if none. */
int pl_shutdown_last_signal(const pl_shutdown *s);

/*
 * pl_shutdown_stopping - a context that is cancelled (-ECANCELED) when draining begins: what
 * intake paths (acceptors, submitters blocked on a full queue) should watch. Borrowed.
 */
pl_ctx *pl_shutdown_stopping(pl_shutdown *s);

/*
 * pl_shutdown_grace - the grace context for pl_pool_shutdown(): done with -ETIMEDOUT
 * @grace_ns after draining began, or with -ECANCELED as soon as the phase is FORCED. Borrowed.
 * Returns NULL while the phase is RUNNING (there is no grace period yet: call it once
 * pl_shutdown_poll() or pl_shutdown_begin() returned DRAINING or FORCED).
 */
pl_ctx *pl_shutdown_grace(pl_shutdown *s);

/*
 * pl_shutdown_free - restore the previous dispositions of the signals, close the pipe, release
 * the contexts (borrowed pointers die here). Waits for a handler still running on another
 * thread to finish its write. NULL: no-op.
 */
void pl_shutdown_free(pl_shutdown *s);

#endif /* PATLAB_SHUTDOWN_H */
