/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_SVC_PROTO_H
#define PATLAB_SVC_PROTO_H

/*
 * Internal: the pieces of patlab-svc that are pure functions, kept in the library so the unit
 * test drives them directly, and the job's CPU burner shared with the graceful_shutdown
 * workload.
 *
 * - The framer cuts a byte stream into request lines of at most PL_SVC_LINE_MAX bytes (newline
 *   included) in a fixed buffer: a longer line is reported once as too long and the rest of it,
 *   up to and including its newline, is dropped without being stored. Memory per connection is
 *   therefore constant whatever a client sends.
 * - The parser reads one request line: "JOB <id> <cost_us>" (README.md in this folder).
 * - pl__svc_burn() burns CPU for a given time, polling a context every couple of microseconds.
 * - pl__ledger_open_locked() and pl__ledger_discard(): the service's way to open its ledger,
 *   as its only writer, and to leave nothing behind when its start-up fails (ledger.c).
 *
 * None of this is thread-safe per object (one framer per connection, used by the IO thread);
 * pl__svc_burn() may run on any number of threads.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <patlab/ctx.h>
#include <patlab/shutdown.h>

/* Longest request line, in bytes, its newline included. */
#define PL_SVC_LINE_MAX 256

/* Why a line was refused: the word after "ERR " in the answer (pl__svc_reason()). */
enum pl__svc_err {
	PL_SVC_OK = 0,
	PL_SVC_E_MALFORMED,	/* "malformed": not "JOB <id> <cost_us>" */
	PL_SVC_E_UNKNOWN,	/* "unknown-command": the first word is not a command */
	PL_SVC_E_COST,		/* "cost-too-large": cost_us above the service's limit */
	PL_SVC_E_TOO_LONG,	/* "line-too-long": PL_SVC_LINE_MAX bytes without a newline */
	PL_SVC_E_DUPLICATE,	/* "duplicate-id": that id is in flight on this service */
	PL_SVC_E_SHUTTING_DOWN, /* "shutting-down": connection refused while draining */
	PL_SVC_E_TOO_MANY,	/* "too-many-clients": --max-clients reached */
	PL_SVC_E__COUNT,
};

/* pl__svc_reason - the reason word of @e ("malformed", ...); "internal" for PL_SVC_OK. */
const char *pl__svc_reason(enum pl__svc_err e);

/* struct pl__svc_req - a parsed request. */
struct pl__svc_req {
	uint64_t id;
	uint64_t cost_us;
};

/*
 * pl__svc_parse - parse one request line.
 * @line:        the line without its newline (a trailing '\r' is ignored); need not be
 *               NUL-terminated and may contain NUL bytes (they make it malformed).
 * @len:         its length.
 * @max_cost_us: the largest cost accepted.
 * @req:         receives the request on success.
 *
 * Fields are separated by runs of spaces or tabs; leading and trailing blanks are allowed.
 * Returns PL_SVC_OK, PL_SVC_E_UNKNOWN (first word not "JOB"; an empty line is malformed),
 * PL_SVC_E_MALFORMED (missing, extra or non-decimal fields, a number above UINT64_MAX, a sign)
 * or PL_SVC_E_COST.
 */
enum pl__svc_err pl__svc_parse(const char *line, size_t len, uint64_t max_cost_us,
			       struct pl__svc_req *req);

/* struct pl__svc_framer - one connection's line assembly; zero-initialise it. */
struct pl__svc_framer {
	char line[PL_SVC_LINE_MAX];
	size_t len;	 /* bytes of the current line in @line */
	bool discarding; /* dropping the rest of a too-long line */
};

enum pl__svc_frame {
	PL_SVC_FRAME_MORE,     /* everything given was consumed: feed more bytes */
	PL_SVC_FRAME_LINE,     /* a whole line is in f->line[0 .. *@len) (no newline) */
	PL_SVC_FRAME_TOO_LONG, /* a line exceeded PL_SVC_LINE_MAX: answer once, rest dropped */
};

/*
 * pl__svc_frame - consume bytes from @data until one event.
 * @f:    the framer.
 * @data: bytes received.
 * @n:    how many.
 * @used: receives how many bytes of @data were consumed (call again with the rest).
 * @len:  receives the line's length for PL_SVC_FRAME_LINE (valid until the next call).
 *
 * Returns the event. A line of exactly PL_SVC_LINE_MAX bytes with its newline is a line; one
 * byte more is too long (reported as soon as the limit is passed, before its newline arrives).
 */
enum pl__svc_frame pl__svc_frame(struct pl__svc_framer *f, const char *data, size_t n, size_t *used,
				 size_t *len);

/*
 * pl__svc_burn - keep this CPU busy for @ns nanoseconds, polling @cx every ~2 us (a PAUSE loop
 * calibrated once per process to that length, then the clock and the context read).
 * Returns 0 when the whole time was burnt, or @cx's error (-ECANCELED, -ETIMEDOUT) as soon as
 * it is seen done, also at the start (a job handed a cancelled context does no work). @ns <= 0
 * returns 0 at once.
 */
int pl__svc_burn(int64_t ns, pl_ctx *cx);

/*
 * pl__ledger_open_locked - pl_ledger_open() for a ledger that must have one writer: open
 * @path for append (creating it owner-only if absent, never truncating it) and, when it is a
 * regular file, take its lock (flock, exclusive, non-blocking) for the life of the process.
 * @path:    the ledger file.
 * @created: receives true when this call created the file (see pl__ledger_discard()).
 *
 * Returns the ledger, or NULL with errno: EWOULDBLOCK (another process holds the lock: a
 * ledger in use), ENXIO (a FIFO nobody reads), EINVAL (@path NULL or empty), ENOMEM, EAGAIN
 * (the path kept being removed under us), or the errno of open(2) (EACCES, ENOENT, EISDIR...).
 */
pl_ledger *pl__ledger_open_locked(const char *path, bool *created);

/*
 * pl__ledger_discard - for a start-up that failed after creating the ledger: remove @path if it
 * still names @l's file (it is empty: nothing was recorded), then close and free @l (the lock
 * goes with it). Returns 0, or the errno of unlink(2) (@l is freed anyway). NULL: no-op.
 */
int pl__ledger_discard(pl_ledger *l, const char *path);

#endif /* PATLAB_SVC_PROTO_H */
