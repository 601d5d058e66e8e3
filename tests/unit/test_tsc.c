/* SPDX-License-Identifier: MIT */
/*
 * The harness clock (harness/tsc.h): whichever clock it chose, its ticks never go backwards
 * in a thread, and an interval in ticks converted to ns agrees with CLOCK_MONOTONIC over the
 * same interval within a loose bound (a loaded machine can stretch either read; the bound
 * catches a wrong rate or unit, not jitter). The choice itself: an invariant TSC is only used
 * with the "tsc" clocksource. Exit 77 when the TSC is not usable here (the fallback is then
 * clock_gettime, checked the same way first).
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

#include "harness/tsc.h"

/* agree - over a ~@ms ms sleep, ticks -> ns vs CLOCK_MONOTONIC: within 5% + 1 ms. */
static void agree(int ms)
{
	int64_t n0 = pl_now_ns(), t0 = pl__ticks(), t1, n1, dt, dn;

	pt_sleep_ns((int64_t)ms * 1000000);
	t1 = pl__ticks();
	n1 = pl_now_ns();
	dt = pl__ticks_to_ns(t1 - t0);
	dn = n1 - n0;
	pt_note("%d ms: ticks say %lld ns, CLOCK_MONOTONIC %lld ns", ms, (long long)dt,
		(long long)dn);
	CHECK(dt > 0);
	CHECK(dt <= dn + 1000000);
	CHECK(dt >= dn - dn / 20 - 1000000);
	/* The absolute conversion lands in the same bracket. */
	CHECK(pl__ticks_to_mono(t1) >= n0 - 1000000 && pl__ticks_to_mono(t1) <= n1 + 1000000);
	/* Round trip of the two interval conversions. */
	CHECK(llabs(pl__ticks_to_ns(pl__ns_to_ticks(dn)) - dn) <= 2);
}

static void monotonic(void)
{
	int64_t prev = pl__ticks();

	for (int i = 0; i < 1000000; i++) {
		int64_t t = pl__ticks();

		if (t < prev)
			pt_fail(__FILE__, __LINE__, "ticks went back: %lld after %lld",
				(long long)t, (long long)prev);
		prev = t;
	}
}

int main(void)
{
	char name[64];

	pt_watchdog_start(60);
	pl__clock_init();
	pl__clock_init(); /* idempotent */
	pl__clock_name(name, sizeof(name));
	pt_note("clock: %s", name);
	CHECK(strcmp(name, "clock_gettime") == 0 || strncmp(name, "tsc ", 4) == 0);
	CHECK(pl__clock_tsc == (strncmp(name, "tsc ", 4) == 0));
	CHECK(!pl__tsc_usable("hpet"));
	CHECK(!pl__tsc_usable("kvm-clock"));
	if (pl__clock_tsc)
		CHECK(pl__tsc_usable(NULL));
	monotonic();
	agree(50);
	agree(200);
	if (!pl__clock_tsc) {
		printf("test_tsc: skipped (the TSC is not usable here: clock_gettime, checked)\n");
		return PT_SKIP;
	}
	printf("test_tsc: ok (%s)\n", name);
	return 0;
}
