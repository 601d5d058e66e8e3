/* SPDX-License-Identifier: MIT */
/*
 * What produced the numbers: every CSV row and meta.json carry the machine, the compiler, the
 * build (a sanitized build says so in every row, so its numbers can never pass for real ones)
 * and the git revision of the source tree (read at run time; "-dirty" when tracked files
 * differ from HEAD; "unknown" outside a git checkout).
 *
 * Everything here is read once per invocation, before any point runs.
 */
#include "bench.h"
#include "build_info.h"
#include "harness/tsc.h" /* the harness clock, internal to the library */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED_BY_COMPILER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED_BY_COMPILER 1
#endif
#endif
#ifndef SANITIZED_BY_COMPILER
#define SANITIZED_BY_COMPILER 0
#endif

void pb_utc_now(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;
	char tmp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%03ldZ", tmp, ts.tv_nsec / 1000000);
}

/* read_first_line - the first line of @path (without newline) into @buf; false if unreadable. */
static bool read_first_line(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (f == NULL)
		return false;
	ok = fgets(buf, (int)n, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

static void cpu_model(char *buf, size_t n)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(buf, n, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || colon == NULL)
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, n, "%s", colon);
		break;
	}
	fclose(f);
}

/*
 * capture - run @argv (no shell) and put the first line of its stdout into @buf. Returns the
 * exit status, or -1 when it could not run.
 */
static int capture(char *const argv[], char *buf, size_t n)
{
	int fds[2], status;
	pid_t pid;
	ssize_t got;
	size_t len = 0;

	buf[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(fds[1], STDOUT_FILENO);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while (len + 1 < n && (got = read(fds[0], buf + len, n - 1 - len)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		len += (size_t)got;
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	/* Drain whatever is left so the child never blocks on a full pipe. */
	{
		char sink[256];

		while (read(fds[0], sink, sizeof(sink)) > 0)
			;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void git_rev(char *buf, size_t n)
{
	char rev[32], dirty[64];
	char *rev_argv[] = {"git",  "-C", PATLAB_SOURCE_DIR, "rev-parse", "--short=12",
			    "HEAD", NULL};
	char *st_argv[] = {
	    "git", "-C", PATLAB_SOURCE_DIR, "status", "--porcelain", "--untracked-files=no", NULL};

	if (capture(rev_argv, rev, sizeof(rev)) != 0 || rev[0] == '\0') {
		snprintf(buf, n, "unknown");
		return;
	}
	if (capture(st_argv, dirty, sizeof(dirty)) == 0 && dirty[0] != '\0')
		snprintf(buf, n, "%s-dirty", rev);
	else
		snprintf(buf, n, "%s", rev);
}

static void compiler(char *buf, size_t n)
{
#if defined(__clang__)
	snprintf(buf, n, "clang %d.%d.%d", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
	snprintf(buf, n, "gcc %d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
	snprintf(buf, n, "unknown");
#endif
}

static void run_id(char *buf, size_t n)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32];
	uint16_t rnd = 0;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (uint16_t)(getpid() ^ now);
	snprintf(buf, n, "%s-%04x", stamp, rnd);
}

void pb_sysinfo_collect(struct pb_sysinfo *s)
{
	struct utsname u;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	const char *bt = PATLAB_BUILD_TYPE[0] != '\0' ? PATLAB_BUILD_TYPE : "unspecified";

	memset(s, 0, sizeof(*s));
	run_id(s->run_id, sizeof(s->run_id));
	if (gethostname(s->host, sizeof(s->host)) != 0 || s->host[0] == '\0')
		snprintf(s->host, sizeof(s->host), "unknown");
	s->host[sizeof(s->host) - 1] = '\0';
	cpu_model(s->cpu_model, sizeof(s->cpu_model));
	s->cpus = cpus > 0 ? (unsigned)cpus : 0;
	if (uname(&u) == 0)
		snprintf(s->kernel, sizeof(s->kernel), "%s %s %s", u.sysname, u.release, u.machine);
	else
		snprintf(s->kernel, sizeof(s->kernel), "unknown");
	compiler(s->compiler, sizeof(s->compiler));
	s->sanitized = PATLAB_SANITIZER[0] != '\0' || SANITIZED_BY_COMPILER;
	if (s->sanitized)
		snprintf(s->build_type, sizeof(s->build_type), "%s sanitized build (%s)", bt,
			 PATLAB_SANITIZER[0] != '\0' ? PATLAB_SANITIZER : "compiler flags");
	else
		snprintf(s->build_type, sizeof(s->build_type), "%s", bt);
	snprintf(s->flags, sizeof(s->flags), "%s", PATLAB_BUILD_FLAGS);
	git_rev(s->git_rev, sizeof(s->git_rev));
	if (!read_first_line("/sys/devices/system/clocksource/clocksource0/current_clocksource",
			     s->clocksource, sizeof(s->clocksource)))
		snprintf(s->clocksource, sizeof(s->clocksource), "unknown");
	pl__clock_name(s->clock, sizeof(s->clock));
	pb_field_clean(s->host);
	pb_field_clean(s->cpu_model);
	pb_field_clean(s->kernel);
	pb_field_clean(s->build_type);
	pb_field_clean(s->git_rev);
}
