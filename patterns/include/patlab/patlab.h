/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_PATLAB_H
#define PATLAB_PATLAB_H

/* patlab: Go's concurrency patterns in C. Errors are negative errno values. */

#include "ctx.h"
#include "chan.h"
#include "select.h"
#include "pool.h"
#include "hist.h"
#include "pattern.h"
#include "backpressure.h"
#include "fanout.h"
#include "pipeline.h"
#include "shutdown.h"
#include "signals.h"
#include "thread.h"
#include "timer.h"

#endif /* PATLAB_PATLAB_H */
