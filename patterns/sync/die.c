/* SPDX-License-Identifier: MIT */
#include "sync/die.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void pl__die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("patlab: fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}
