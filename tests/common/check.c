/* SPDX-License-Identifier: MIT */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include <patlab/ctx.h>

#include "helpers.h"

static pthread_mutex_t note_lock = PTHREAD_MUTEX_INITIALIZER;
static char note[512] = "(no note yet)";

void pt_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&note_lock);
	fprintf(stderr, "\n  last note: %s\n", note);
	pthread_mutex_unlock(&note_lock);
	fflush(stderr);
	exit(1);
}

void pt_note(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&note_lock);
	va_start(ap, fmt);
	vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&note_lock);
}

static uint64_t seed_value;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
	const char *s = getenv("PATLAB_SEED");

	seed_value = s && *s ? strtoull(s, NULL, 0) : (uint64_t)pl_now_ns() ^ (uint64_t)getpid();
	if (seed_value == 0)
		seed_value = 1;
	fprintf(stderr, "seed: PATLAB_SEED=%" PRIu64 "\n", seed_value);
}

uint64_t pt_seed(void)
{
	pthread_once(&seed_once, seed_init);
	return seed_value;
}

uint64_t pt_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double pt_scale(void)
{
	const char *s = getenv("PATLAB_STRESS_SCALE");
	double v = s && *s ? strtod(s, NULL) : 1.0;

	if (!(v >= 0.1))
		v = 0.1;
	if (v > 10000)
		v = 10000;
	return v;
}

bool pt_tsan(void)
{
#if defined(__SANITIZE_THREAD__)
	return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	return true;
#endif
#endif
	return false;
}

static double watchdog_seconds;

static void *watchdog(void *arg)
{
	(void)arg;
	pt_sleep_ns((int64_t)(watchdog_seconds * 1e9));
	pthread_mutex_lock(&note_lock);
	fprintf(stderr, "WATCHDOG: still running after %.0f s; last note: %s\n", watchdog_seconds,
		note);
	pthread_mutex_unlock(&note_lock);
	fflush(stderr);
	abort();
}

void pt_watchdog_start(double seconds)
{
	pthread_t t;

	watchdog_seconds = seconds * pt_scale() * (pt_sanitized() ? 5 : 1);
	if (pthread_create(&t, NULL, watchdog, NULL) != 0) {
		fprintf(stderr, "cannot start the watchdog\n");
		exit(1);
	}
	pthread_detach(t);
}

void pt_sleep_ns(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
