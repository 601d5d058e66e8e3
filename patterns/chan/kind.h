/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_CHAN_KIND_H
#define PATLAB_CHAN_KIND_H

/*
 * Internal: what a channel kind implements. One const struct pl_chan_ops per kind, listed in
 * the registry table in chan.c (and one line in CMakeLists.txt). A kind's channel struct
 * begins with struct pl_chan (SQLite's sqlite3_file pattern), so the dispatch layer can read
 * the common fields.
 *
 * The dispatch layer (chan.c) checks arguments before calling an op: @ch and @msg are not
 * NULL, the capacity is one the kind's flags allow, the options are valid. Ops return 0 or
 * -errno exactly as the public functions document. The ops up to len are required (a unit test
 * checks the registry); the select ops are optional, each saying what NULL means.
 */

#include <patlab/chan.h>
#include <patlab/select.h>

struct pl__sel_case;

enum {
	PL_KIND_RENDEZVOUS = 1u << 0, /* capacity 0 supported */
	PL_KIND_UNBOUNDED = 1u << 1,  /* PL_CHAN_UNBOUNDED supported */
	PL_KIND_SPSC = 1u << 2,	      /* one sender thread and one receiver thread only */
	PL_KIND_SPINS = 1u << 3,      /* honours pl_chan_opts.spin_ns */
};

struct pl_chan {
	const struct pl_chan_ops *ops; /* set by chan.c after create */
	size_t cap;		       /* as asked: 0, n or PL_CHAN_UNBOUNDED; set by chan.c */
	int64_t spin_ns;	       /* pl_chan_opts.spin_ns as asked; set by chan.c */
};

struct pl_chan_ops {
	const char *name;
	const char *summary;
	unsigned flags; /* PL_KIND_* */
	/* A new channel (its struct pl_chan zeroed or left for chan.c), or NULL with errno. */
	pl_chan *(*create)(size_t cap, const pl_chan_opts *o);
	void (*destroy)(pl_chan *ch);
	int (*send)(pl_chan *ch, void *msg, pl_ctx *cx);
	int (*recv)(pl_chan *ch, void **msg, pl_ctx *cx);
	int (*try_send)(pl_chan *ch, void *msg);
	int (*try_recv)(pl_chan *ch, void **msg);
	int (*close)(pl_chan *ch);
	size_t (*len)(const pl_chan *ch);

	/*
	 * Select (select.c, chan/sel.h). All optional; what the dispatch layer does without them
	 * is said at each. A kind built on pl__evc gets a blocked select woken with sel_arm()
	 * = pl__sel_subscribe() to the right eventcount then sel_try(), and sel_disarm() =
	 * pl__sel_unsubscribe().
	 *
	 * sel_try - one non-blocking attempt of case @sc: 0 or -EPIPE (done, RECV: @sc->msg
	 * set), -EAGAIN, or the kind's own errors of try_send/try_recv. The select is not armed
	 * yet or is BUSY, so no partner completes it meanwhile; the attempt must never complete
	 * one of @sc->sel's own registrations (a waiter queued by sel_arm for another case). With
	 * @sc->held the channel is already held (sel_hold), and a word the attempt must wake goes
	 * to @sc->wake. NULL: try_send/try_recv (for kinds that register no waiters).
	 */
	int (*sel_try)(pl_chan *ch, struct pl__sel_case *sc);
	/*
	 * sel_arm - register @sc so that, until sel_disarm(), the select is nudged
	 * (pl__sel_nudge) whenever the case may have become ready, or completed by a partner
	 * (pl__sel_claim); then one attempt as sel_try, so that nothing slips between the
	 * attempt and the registration. The registration stays whatever the result. NULL: the
	 * case is polled (select.c re-tries it at intervals of up to a millisecond while it
	 * sleeps): correct, but slow to notice.
	 */
	int (*sel_arm)(pl_chan *ch, struct pl__sel_case *sc);
	/* sel_disarm - withdraw sel_arm()'s registration; afterwards the kind never touches
	 * @sc. Called for every armed case before the select returns. */
	void (*sel_disarm)(pl_chan *ch, struct pl__sel_case *sc);
	/*
	 * A select that finds no case ready confirms it at one instant (Go's select locks all
	 * its channels; pl_try_select's -EAGAIN must not be a mix of moments). A kind provides
	 * one of these two:
	 * sel_hold - lock (@on) or unlock the channel: while held its state does not change, and
	 * sel_try runs with @sc->held. select.c holds several, in address order.
	 * sel_version - a counter that changes with every event that may make a case of @op
	 * ready (RECV: sends and close; SEND: receives and close), never returning to an
	 * earlier value: unchanged across the attempts means not ready all along.
	 * Every registered kind provides one (test_registry); with neither, the case's "not
	 * ready" would be taken as seen (no snapshot for it).
	 */
	void (*sel_hold)(pl_chan *ch, bool on);
	uint64_t (*sel_version)(pl_chan *ch, enum pl_sel_op op);
};

extern const struct pl_chan_ops pl__chan_mutex;
extern const struct pl_chan_ops pl__chan_lockfree;
extern const struct pl_chan_ops pl__chan_urcu;
extern const struct pl_chan_ops pl__chan_spsc;

/* pl__chan_registry - the registry table, NULL-terminated (for the registry unit test). */
const struct pl_chan_ops *const *pl__chan_registry(void);

#endif /* PATLAB_CHAN_KIND_H */
