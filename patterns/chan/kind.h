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
 * -errno exactly as the public functions document. Every op is required (a unit test checks the
 * registry).
 */

#include <patlab/chan.h>

enum {
	PL_KIND_RENDEZVOUS = 1u << 0, /* capacity 0 supported */
	PL_KIND_UNBOUNDED = 1u << 1,  /* PL_CHAN_UNBOUNDED supported */
	PL_KIND_SPSC = 1u << 2,	      /* one sender thread and one receiver thread only */
	PL_KIND_SPINS = 1u << 3,      /* honours pl_chan_opts.spin_ns */
};

struct pl_chan {
	const struct pl_chan_ops *ops; /* set by chan.c after create */
	size_t cap;		       /* as asked: 0, n or PL_CHAN_UNBOUNDED; set by chan.c */
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
};

extern const struct pl_chan_ops pl__chan_mutex;
extern const struct pl_chan_ops pl__chan_lockfree;
extern const struct pl_chan_ops pl__chan_urcu;
extern const struct pl_chan_ops pl__chan_spsc;

/* pl__chan_registry - the registry table, NULL-terminated (for the registry unit test). */
const struct pl_chan_ops *const *pl__chan_registry(void);

#endif /* PATLAB_CHAN_KIND_H */
