/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_CTX_DEBUG_H
#define PATLAB_CTX_DEBUG_H

/*
 * Internal, for tests only: a look inside the context tree. Not part of the public API.
 */

#include <stddef.h>

#include <patlab/ctx.h>

/*
 * pl__ctx_nchildren - how many children are linked in @c's child list right now (0 for NULL
 * and background, which keep no list). Takes @c's lock; the caller holds a reference on @c.
 */
size_t pl__ctx_nchildren(pl_ctx *c);

#endif /* PATLAB_CTX_DEBUG_H */
