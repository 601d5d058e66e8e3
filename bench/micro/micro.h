/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_MICRO_H
#define PATLAB_MICRO_H

/* Each micro-benchmark file registers its benchmarks with one call from main.c. */
void pl_micro_register_chan(void);
void pl_micro_register_ctx(void);

#endif /* PATLAB_MICRO_H */
