/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_DIE_H
#define PATLAB_DIE_H

/* pl__die - report an impossible failure (printf-style) and abort. Never returns. */
_Noreturn void pl__die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* PL_CHECK - abort with the call's text when a pthread-style call returns non-zero. */
#define PL_CHECK(call)                                                                             \
	do {                                                                                       \
		int pl__rc = (call);                                                               \
		if (pl__rc != 0)                                                                   \
			pl__die("%s:%d: %s failed: %d", __FILE__, __LINE__, #call, pl__rc);        \
	} while (0)

#endif /* PATLAB_DIE_H */
