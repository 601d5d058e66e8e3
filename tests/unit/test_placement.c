/* SPDX-License-Identifier: MIT */
/*
 * Thread placement (enum pl_pin, harness/placement.c): each thread started through a
 * placer's struct pl_thread_start reads its own affinity from inside, so what is checked is
 * where the thread may really run, from its first instruction:
 *   - none: the creator's CPUs (the OS decides);
 *   - spread: exactly one CPU each, dealt round robin over the allowed CPUs in start order,
 *     with or without the caller's attributes;
 *   - single: every thread on the first allowed CPU;
 *   - the allowed set is the calling thread's: with the process confined to one CPU, spread
 *     puts everything there;
 *   - a placer is per point, not process-wide: threads started without it are the OS's;
 *   - a primitive given the placer (pl_pool_opts.threads) starts its workers through it;
 *   - pl_pattern_run() refuses an unknown @pin, a pinned point still delivers every message,
 *     and leaves no placement behind.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include <patlab/patlab.h>

#include "check.h"
#include "harness/placement.h"

#define THREADS 9

struct probe {
	cpu_set_t set;
	int rc;
};

static void *probe_main(void *arg)
{
	struct probe *pr = arg;

	pr->rc = pthread_getaffinity_np(pthread_self(), sizeof(pr->set), &pr->set);
	return NULL;
}

/* start_probes - @n threads through @how (every other one with an attr). */
static void start_probes(const struct pl_thread_start *how, struct probe *pr, int n)
{
	pthread_t tid[THREADS];

	for (int i = 0; i < n; i++) {
		pthread_attr_t attr;

		memset(&pr[i], 0, sizeof(pr[i]));
		if (i % 2 == 1) {
			CHECK_EQ(pthread_attr_init(&attr), 0);
			CHECK_EQ(pl_thread_create(how, &tid[i], &attr, probe_main, &pr[i]), 0);
			CHECK_EQ(pthread_attr_destroy(&attr), 0);
		} else {
			CHECK_EQ(pl_thread_create(how, &tid[i], NULL, probe_main, &pr[i]), 0);
		}
	}
	for (int i = 0; i < n; i++) {
		CHECK_EQ(pthread_join(tid[i], NULL), 0);
		CHECK_EQ(pr[i].rc, 0);
	}
}

static int only_cpu(const cpu_set_t *s)
{
	if (CPU_COUNT(s) != 1)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, s))
			return c;
	return -1;
}

/* check_placement - the threads started under @pin, given the allowed set @allowed. */
static void check_placement(enum pl_pin pin, const cpu_set_t *allowed)
{
	static struct pl__placer placer;
	struct probe pr[THREADS];
	int cpus[CPU_SETSIZE], n = 0;

	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, allowed))
			cpus[n++] = c;
	CHECK(n >= 1);
	pt_note("pin %s over %d CPUs", pl_pin_name(pin), n);
	CHECK_EQ(pl__placer_init(&placer, pin), 0);
	start_probes(&placer.start, pr, THREADS);
	for (int i = 0; i < THREADS; i++) {
		pt_note("pin %s, thread %d", pl_pin_name(pin), i);
		switch (pin) {
		case PL_PIN_NONE:
			CHECK(CPU_EQUAL(&pr[i].set, allowed));
			break;
		case PL_PIN_SPREAD:
			CHECK_EQ(only_cpu(&pr[i].set), cpus[i % n]);
			break;
		case PL_PIN_SINGLE:
			CHECK_EQ(only_cpu(&pr[i].set), cpus[0]);
			break;
		}
	}
	/* Nothing process-wide: threads started without the placer are the OS's. */
	start_probes(NULL, pr, 2);
	CHECK(CPU_EQUAL(&pr[0].set, allowed) && CPU_EQUAL(&pr[1].set, allowed));
}

static void check_names(void)
{
	enum pl_pin pin = PL_PIN_NONE;

	for (int i = PL_PIN_NONE; i <= PL_PIN_SINGLE; i++) {
		CHECK(pl_pin_name((enum pl_pin)i) != NULL);
		CHECK_EQ(pl_pin_parse(pl_pin_name((enum pl_pin)i), &pin), 0);
		CHECK_EQ(pin, i);
	}
	CHECK(strcmp(pl_pin_name(PL_PIN_SPREAD), "spread") == 0);
	CHECK(pl_pin_name((enum pl_pin)3) == NULL);
	CHECK_EQ(pl_pin_parse("Spread", &pin), -EINVAL);
	CHECK_EQ(pl_pin_parse("", &pin), -EINVAL);
	CHECK_EQ(pl_pin_parse(NULL, &pin), -EINVAL);
	{
		static struct pl__placer placer;

		CHECK_EQ(pl__placer_init(&placer, (enum pl_pin)7), -EINVAL);
	}
}

static void job_probe(pl_ctx *cx, void *arg)
{
	(void)cx;
	probe_main(arg);
}

/* A pool given a single-CPU placer runs its jobs there; one given none, where the OS likes. */
static void check_primitive(const cpu_set_t *allowed)
{
	static struct pl__placer placer;
	struct probe pr[4];
	int first = -1;

	for (int c = CPU_SETSIZE - 1; c >= 0; c--)
		if (CPU_ISSET(c, allowed))
			first = c;
	CHECK_EQ(pl__placer_init(&placer, PL_PIN_SINGLE), 0);
	for (int with = 0; with <= 1; with++) {
		pl_pool_opts o = {.workers = 2,
				  .queue_depth = 4,
				  .chan_kind = "mutex",
				  .threads = with ? &placer.start : NULL};
		pl_pool *pool = pl_pool_new(&o);

		pt_note("pool %s a placer", with ? "with" : "without");
		CHECK(pool != NULL);
		memset(pr, 0, sizeof(pr));
		for (int i = 0; i < 4; i++)
			CHECK_EQ(pl_pool_submit(pool, job_probe, &pr[i], NULL), 0);
		CHECK_EQ(pl_pool_shutdown(pool, NULL, NULL, NULL), 0);
		pl_pool_free(pool);
		for (int i = 0; i < 4; i++) {
			CHECK_EQ(pr[i].rc, 0);
			if (with)
				CHECK_EQ(only_cpu(&pr[i].set), first);
			else
				CHECK(CPU_EQUAL(&pr[i].set, allowed));
		}
	}
}

/* A pinned point through the pattern API: it runs, delivers, and leaves no placement. */
static void check_pattern_run(const cpu_set_t *allowed)
{
	const struct pl_pattern *chan = pl_pattern_find("chan");
	struct pl_params p;
	struct pl_result r;
	struct probe pr[2];

	CHECK(chan != NULL);
	for (int pin = PL_PIN_NONE; pin <= PL_PIN_SINGLE; pin++) {
		pt_note("pl_pattern_run chan 2p2c pin %s", pl_pin_name((enum pl_pin)pin));
		pl_params_init(&p);
		p.producers = 2;
		p.consumers = 2;
		p.messages = 20000;
		p.warmup_s = 0;
		p.pin = (enum pl_pin)pin;
		pl_result_init(&r, NULL);
		CHECK_EQ(pl_pattern_run(chan, &p, &r), 0);
		CHECK_EQ(r.messages, 20000);
		CHECK_EQ(r.lost, 0);
		start_probes(NULL, pr, 2);
		CHECK(CPU_EQUAL(&pr[0].set, allowed) && CPU_EQUAL(&pr[1].set, allowed));
	}
	pl_params_init(&p);
	p.messages = 10;
	p.pin = (enum pl_pin)9;
	pl_result_init(&r, NULL);
	CHECK_EQ(pl_pattern_run(chan, &p, &r), -EINVAL);
	CHECK(strstr(r.why, "placement") != NULL);
}

int main(void)
{
	cpu_set_t allowed, one;
	int last = -1;

	pt_watchdog_start(60);
	check_names();
	CHECK_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
	for (int pin = PL_PIN_NONE; pin <= PL_PIN_SINGLE; pin++)
		check_placement((enum pl_pin)pin, &allowed);
	check_pattern_run(&allowed);
	check_primitive(&allowed);

	/* Confined to its last CPU, the process deals every thread there. */
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &allowed))
			last = c;
	CPU_ZERO(&one);
	CPU_SET(last, &one);
	CHECK_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
	check_placement(PL_PIN_SPREAD, &one);
	check_placement(PL_PIN_SINGLE, &one);
	CHECK_EQ(sched_setaffinity(0, sizeof(allowed), &allowed), 0);
	printf("test_placement: ok (%d CPUs allowed)\n", CPU_COUNT(&allowed));
	return 0;
}
