/* SPDX-License-Identifier: MIT */
/*
 * patlab-svc, case by case, as a real child process (usage: test_svc_cases PATH-TO-patlab-svc):
 * - start-up: each bad command line exits 2 with one line that names the problem and points to
 *   --help, and creates nothing; --help lists the exit statuses; the socket and the ledger are
 *   created 0600; a live socket makes a second instance refuse to start (exit 1) while the
 *   first keeps serving, creating no ledger and leaving an existing one as it was; a stale
 *   socket is replaced; a path that is not a socket is left alone (exit 1); a second instance
 *   on the same ledger refuses to start (exit 1, "in use") and creates no socket;
 * - hostile input: malformed, unknown, over-long lines and NUL bytes each get their ERR and the
 *   connection keeps working; 16 MiB without a newline get one "ERR line-too-long" and do not
 *   grow the service's memory; a client that never reads its answers is stopped being read
 *   (not buffered for), and gets every answer once it reads;
 * - a client that disconnects while its job runs: the job is still done and recorded once;
 * - a full queue answers BUSY (and those jobs are not recorded); with --block the same load
 *   is accepted in full; an in-flight id sent twice gets "ERR duplicate-id";
 * - --max-clients: one more connection hears "ERR too-many-clients"; a freed slot is reusable;
 * - shutdown: SIGINT drains to exit 0; grace over at once cuts a running and a queued job
 *   (CANCELLED, NOTPROCESSED, exit 3); a second SIGTERM during a long grace exits at once with
 *   4, the ledger whole and the socket removed; a ledger that cannot be written (/dev/full)
 *   makes the service drain and stop by itself with exit 1;
 * - at an exact moment (the service's threads read in /proc, the ledger a full FIFO that holds
 *   a job's record back): a job that has done its work but not yet recorded it as the grace
 *   runs out still makes the exit 0 (the status is the ledger's); a SIGTERM that comes while
 *   the service writes its last log line, after the drain, does not kill it.
 * Timing is never asserted; jobs that must not finish during a case cost 10 s or more, and the
 * watchdog bounds everything that must merely return.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "svc_harness.h"

static const char *bin;
/* The service the current case talks to: its log is printed when an exchange fails. */
static struct svc_proc *cur;

/* expect_line - the next answer on @fd must be @want. */
static void expect_line(int fd, struct line_buf *rb, const char *want)
{
	char line[256];
	int n = read_line(fd, rb, line, sizeof(line), -1);

	if (n < 0 || strcmp(line, want) != 0) {
		if (cur != NULL)
			svc_print_log(cur);
		pt_fail(__FILE__, __LINE__, "wanted '%s', got '%s'", want,
			n == -1 ? "(end of stream)"
			: n < 0 ? "(nothing)"
				: line);
	}
}

/*
 * rss_slack_kb - how much the service's RSS may grow while a client pushes megabytes at it:
 * far below what buffering them would cost; ThreadSanitizer's shadow memory needs more room.
 */
static long rss_slack_kb(void)
{
	return pt_tsan() ? 32768 : 8192;
}

static void send_str(int fd, const char *s)
{
	int rc = send_all(fd, s, strlen(s));

	if (rc != 0) {
		if (cur != NULL)
			svc_print_log(cur);
		pt_fail(__FILE__, __LINE__, "sending '%.*s': %s", (int)strcspn(s, "\n"), s,
			strerror(-rc));
	}
}

static int connect_ok(struct svc_proc *p)
{
	int fd = svc_connect(p->sock);

	CHECK(fd >= 0);
	return fd;
}

/* start_connected - start the service with @args as the current case's; a connected client. */
static int start_connected(struct svc_proc *p, const char *const *args)
{
	svc_start(p, bin, args);
	cur = p;
	return connect_ok(p);
}

/* finish - SIGTERM (or @sig), wait, check the status and the log. */
static void finish(struct svc_proc *p, int sig, int want_status)
{
	int st;

	svc_signal(p, sig);
	st = svc_wait(p);
	if (st != want_status) {
		svc_print_log(p);
		pt_fail(__FILE__, __LINE__, "exit status %d, wanted %d", st, want_status);
	}
	svc_check_log(p);
}

static void expect_ledger(struct svc_proc *p, const uint64_t *ids, const enum pl_ledger_state *st,
			  size_t n)
{
	struct ledger_entry *e;
	size_t got = ledger_read(p->ledger, &e);

	CHECK_EQ(got, n);
	for (size_t i = 0; i < n; i++) {
		const struct ledger_entry *x = ledger_find(e, got, ids[i]);

		if (x == NULL || x->state != st[i])
			pt_fail(__FILE__, __LINE__, "ledger: job %llu is %s, wanted %s",
				(unsigned long long)ids[i],
				x ? pl_ledger_state_name(x->state) : "absent",
				pl_ledger_state_name(st[i]));
	}
	free(e);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	CHECK(fputs(text, f) >= 0);
	CHECK(fclose(f) == 0);
}

static void expect_file(const char *path, const char *text)
{
	char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	CHECK(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (strcmp(buf, text) != 0)
		pt_fail(__FILE__, __LINE__, "%s holds '%s', wanted '%s'", path, buf, text);
}

/* absent - nothing at @path (a failed start must not have created it). */
static void absent(const char *path, const char *what)
{
	struct stat st;

	if (lstat(path, &st) == 0 || errno != ENOENT)
		pt_fail(__FILE__, __LINE__, "a failed start left its %s at %s", what, path);
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/*
 * case_usage - every bad command line exits 2 with one line on stderr that names the problem
 * and points to --help, and creates nothing; --help prints the exit statuses and exits 0.
 */
static void case_usage(void)
{
	static char long_sock[200];
	static const struct {
		const char *args[6];
		const char *names; /* the message must contain this */
	} bad[] = {
	    {{"--kind", "bogus", NULL}, "bogus"},
	    {{"--kind", "spsc", NULL}, "spsc"},
	    {{"--kind", "lockfree", "--queue", "0", NULL}, "--queue"},
	    {{"--workers", "0", NULL}, "--workers"},
	    {{"--grace", "soon", NULL}, "--grace"},
	    {{"--max-clients", "-1", NULL}, "--max-clients"},
	    {{"--frobnicate", NULL}, "--frobnicate"},
	    {{"--grace", NULL}, "--grace"},
	    {{"operand", NULL}, "operand"},
	    {{"--ledger", "", NULL}, "--ledger"},
	    {{"--socket", long_sock, NULL}, "--socket"},
	};
	const char *help[] = {"--help", NULL};
	struct svc_proc p;
	char *log;

	memset(long_sock, 'x', sizeof(long_sock) - 1);
	long_sock[0] = '/';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pt_note("bad command line %zu (%s)", i, bad[i].names);
		svc_dir_init(&p);
		svc_spawn(&p, bin, bad[i].args);
		if (svc_wait(&p) != 2) {
			svc_print_log(&p);
			pt_fail(__FILE__, __LINE__, "bad command line %zu (%s): exit %d, wanted 2",
				i, bad[i].names, p.status);
		}
		log = svc_log(&p);
		if (count_lines(log) != 1 || strstr(log, bad[i].names) == NULL ||
		    strstr(log, "patlab-svc --help") == NULL)
			pt_fail(__FILE__, __LINE__,
				"bad command line %zu: wanted one line naming '%s' and pointing to "
				"'patlab-svc --help', got:\n%s",
				i, bad[i].names, log);
		free(log);
		absent(p.ledger, "ledger");
		absent(p.sock, "socket");
		svc_cleanup(&p);
	}

	pt_note("--help");
	svc_dir_init(&p);
	svc_spawn(&p, bin, help);
	CHECK_EQ(svc_wait(&p), 0);
	log = svc_log(&p);
	for (int code = 0; code <= 4; code++) {
		const char *codes = strstr(log, "exit status");
		char want[16];

		snprintf(want, sizeof(want), "%d ", code);
		if (codes == NULL || strstr(codes, want) == NULL)
			pt_fail(__FILE__, __LINE__, "--help does not document exit status %d:\n%s",
				code, log);
	}
	free(log);
	absent(p.ledger, "ledger");
	svc_cleanup(&p);
}

static void case_startup(void)
{
	struct svc_proc a, b;
	struct stat st;
	struct line_buf rb = {.off = 0, .len = 0};
	const char *none[] = {NULL};
	int fd;

	pt_note("start-up: modes, live socket");
	svc_start(&a, bin, none);
	cur = &a;
	CHECK(stat(a.sock, &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK(stat(a.ledger, &st) == 0);
	CHECK_EQ(st.st_mode & 07777, 0600);

	/*
	 * A second instance on the same socket: refused, the first one untouched, and nothing of
	 * the second left behind: no ledger it created, a ledger it found kept byte for byte.
	 */
	svc_dir_init(&b);
	snprintf(b.sock, sizeof(b.sock), "%s", a.sock);
	svc_spawn(&b, bin, none);
	if (svc_wait(&b) != 1) {
		svc_print_log(&b);
		pt_fail(__FILE__, __LINE__, "a second instance on a live socket exited %d",
			b.status);
	}
	absent(b.ledger, "ledger");
	write_file(b.ledger, "precious\n");
	svc_spawn(&b, bin, none);
	CHECK_EQ(svc_wait(&b), 1);
	expect_file(b.ledger, "precious\n");
	snprintf(b.sock, sizeof(b.sock), "%s/sock", b.dir); /* a's socket is not b's to remove */
	svc_cleanup(&b);
	fd = connect_ok(&a);
	send_str(fd, "JOB 1 0\n");
	expect_line(fd, &rb, "OK 1");
	close(fd);
	finish(&a, SIGTERM, 0);
	CHECK(stat(a.sock, &st) != 0 && errno == ENOENT);
	svc_cleanup(&a);

	pt_note("start-up: stale socket");
	svc_dir_init(&a);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		CHECK(s >= 0);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", a.sock);
		CHECK(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
		close(s); /* bound, never listening: stale */
	}
	svc_spawn(&a, bin, none);
	cur = &a;
	svc_wait_ready(&a);
	fd = connect_ok(&a);
	rb.off = rb.len = 0;
	send_str(fd, "JOB 2 0\n");
	expect_line(fd, &rb, "OK 2");
	close(fd);
	finish(&a, SIGTERM, 0);
	svc_cleanup(&a);

	pt_note("start-up: not a socket");
	svc_dir_init(&a);
	{
		FILE *f = fopen(a.sock, "w");

		CHECK(f != NULL);
		fputs("precious\n", f);
		fclose(f);
	}
	svc_spawn(&a, bin, none);
	CHECK_EQ(svc_wait(&a), 1);
	CHECK(stat(a.sock, &st) == 0 && S_ISREG(st.st_mode));
	absent(a.ledger, "ledger");
	svc_cleanup(&a);
}

/*
 * case_ledger_lock - two instances given one ledger file: the second refuses to start (exit 1,
 * saying the ledger is in use) without creating its socket; the first keeps serving and the
 * ledger holds its lines only.
 */
static void case_ledger_lock(void)
{
	const char *none[] = {NULL};
	struct svc_proc a, b;
	struct line_buf rb = {.off = 0, .len = 0};
	char *log;
	int fd;

	pt_note("two instances, one ledger");
	fd = start_connected(&a, none);
	send_str(fd, "JOB 1 0\n");
	expect_line(fd, &rb, "OK 1");
	svc_dir_init(&b);
	snprintf(b.ledger, sizeof(b.ledger), "%s", a.ledger);
	svc_spawn(&b, bin, none);
	/* Until it exits; if it listens instead, it took the ledger: stop it and fail. */
	while (!svc_exited(&b)) {
		int probe = svc_connect(b.sock);

		if (probe >= 0) {
			close(probe);
			svc_signal(&b, SIGTERM);
			svc_wait(&b);
			svc_print_log(&b);
			pt_fail(__FILE__, __LINE__, "a second instance started on a ledger in use");
		}
		pt_sleep_ns(1000000);
	}
	log = svc_log(&b);
	if (b.status != 1 || strstr(log, "in use") == NULL)
		pt_fail(__FILE__, __LINE__, "second instance on a ledger in use: exit %d, log:\n%s",
			b.status, log);
	free(log);
	absent(b.sock, "socket");
	snprintf(b.ledger, sizeof(b.ledger), "%s/ledger", b.dir); /* a's, not b's to remove */
	svc_cleanup(&b);
	send_str(fd, "JOB 2 0\n");
	expect_line(fd, &rb, "OK 2");
	close(fd);
	finish(&a, SIGTERM, 0);
	{
		const uint64_t ids[] = {1, 2};
		const enum pl_ledger_state st[] = {PL_LEDGER_DONE, PL_LEDGER_DONE};

		expect_ledger(&a, ids, st, 2);
	}
	svc_cleanup(&a);
}

static void case_hostile(void)
{
	static const struct {
		const char *req, *ans;
	} cases[] = {
	    {"hello\n", "ERR unknown-command"},
	    {"\n", "ERR malformed"},
	    {"   \t \n", "ERR malformed"},
	    {"JOB\n", "ERR malformed"},
	    {"JOB 1\n", "ERR malformed"},
	    {"JOB x 1\n", "ERR malformed"},
	    {"JOB 1 -5\n", "ERR malformed"},
	    {"JOB +1 5\n", "ERR malformed"},
	    {"JOB 1 2 3\n", "ERR malformed"},
	    {"JOB 18446744073709551616 1\n", "ERR malformed"},
	    {"JOB 1 99999999999\n", "ERR cost-too-large"},
	    {"job 1 1\n", "ERR unknown-command"},
	    {"JOBS 1 1\n", "ERR unknown-command"},
	    {"  JOB   18446744073709551615\t0 \r\n", "OK 18446744073709551615"},
	};
	const char *args[] = {"--max-cost-us", "1000000", NULL};
	struct svc_proc p;
	struct line_buf rb = {.off = 0, .len = 0};
	char big[1 << 16];
	long rss0, rss1;
	int fd;

	pt_note("hostile input");
	fd = start_connected(&p, args);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pt_note("hostile input: %s", cases[i].ans);
		send_str(fd, cases[i].req);
		expect_line(fd, &rb, cases[i].ans);
	}
	/* NUL bytes inside a line. */
	CHECK_EQ(send_all(fd, "JOB 5\0 1\n", 9), 0);
	expect_line(fd, &rb, "ERR malformed");
	/* 300 bytes then a newline: one error, the connection still usable. */
	memset(big, 'A', 300);
	big[300] = '\n';
	CHECK_EQ(send_all(fd, big, 301), 0);
	expect_line(fd, &rb, "ERR line-too-long");
	/* A 255-byte line is the longest accepted (plus its newline: 256). */
	memset(big, ' ', 255);
	memcpy(big, "JOB 6 0", 7);
	big[255] = '\n';
	CHECK_EQ(send_all(fd, big, 256), 0);
	expect_line(fd, &rb, "OK 6");

	/* 16 MiB without a newline: one answer, no growth. */
	pt_note("hostile input: 16 MiB line");
	rss0 = proc_rss_kb(p.pid);
	memset(big, 'B', sizeof(big));
	for (int i = 0; i < 256; i++)
		CHECK_EQ(send_all(fd, big, sizeof(big)), 0);
	send_str(fd, "\nJOB 7 0\n");
	expect_line(fd, &rb, "ERR line-too-long");
	expect_line(fd, &rb, "OK 7");
	rss1 = proc_rss_kb(p.pid);
	printf("16 MiB line: RSS %ld -> %ld kB\n", rss0, rss1);
	if (rss0 > 0 && rss1 > 0 && rss1 - rss0 > rss_slack_kb())
		pt_fail(__FILE__, __LINE__, "RSS grew from %ld to %ld kB over a 16 MiB line", rss0,
			rss1);
	close(fd);
	finish(&p, SIGTERM, 0);
	{
		const uint64_t ids[] = {UINT64_MAX, 6, 7};
		const enum pl_ledger_state st[] = {PL_LEDGER_DONE, PL_LEDGER_DONE, PL_LEDGER_DONE};

		expect_ledger(&p, ids, st, 3);
	}
	svc_cleanup(&p);
}

/*
 * case_slow_reader - a client that writes jobs and never reads its answers: the service must
 * stop reading it (its own writes then block) rather than buffer answers without bound; once
 * the client reads, every job gets its answer.
 */
#define CHUNK 4096

static void case_slow_reader(void)
{
	const size_t cap = 16u << 20, width = 16; /* "JOB 1234567 0  \n": every line 16 bytes */
	struct svc_proc p;
	const char *none[] = {NULL};
	char chunk[4096 + 1], line[256]; /* + 1: snprintf's NUL after the last line */
	struct line_buf rb = {.off = 0, .len = 0};
	size_t sent = 0, off = CHUNK, lines, answers = 0, oks = 0;
	uint64_t next_id = 1000000;
	long rss0, rss1;
	int fd;

	pt_note("a client that does not read");
	fd = start_connected(&p, none);
	rss0 = proc_rss_kb(p.pid);
	/* Write until the writes stay blocked for 200 ms (or 16 MiB: then nobody stopped us). */
	while (sent < cap) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		ssize_t n;

		if (off == CHUNK) {
			for (size_t i = 0; i < CHUNK; i += width)
				snprintf(chunk + i, width + 1, "JOB %07llu 0  \n",
					 (unsigned long long)next_id++);
			off = 0;
		}
		n = send(fd, chunk + off, CHUNK - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			sent += (size_t)n;
			continue;
		}
		CHECK(n < 0 && (errno == EAGAIN || errno == EINTR));
		if (poll(&pfd, 1, 200) == 0)
			break; /* the service stopped reading us */
	}
	rss1 = proc_rss_kb(p.pid);
	if (sent >= cap || (rss0 > 0 && rss1 > 0 && rss1 - rss0 > rss_slack_kb())) {
		svc_print_log(&p);
		pt_fail(__FILE__, __LINE__,
			"a client that does not read: %zu bytes taken, RSS %ld -> %ld kB", sent,
			rss0, rss1);
	}
	printf("slow reader: the service stopped reading after %zu bytes; RSS %ld -> %ld kB\n",
	       sent, rss0, rss1);
	/* Finish the last line, then read every answer. */
	lines = (sent + width - 1) / width;
	while (sent < lines * width || answers < lines) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (sent < lines * width)
			pfd.events |= POLLOUT;
		CHECK(poll(&pfd, 1, -1) == 1);
		if (pfd.revents & POLLOUT) {
			ssize_t n = send(fd, chunk + off, lines * width - sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0) {
				off += (size_t)n;
				sent += (size_t)n;
			}
		}
		if (pfd.revents & POLLIN) {
			int n;

			while ((n = read_line(fd, &rb, line, sizeof(line), 0)) >= 0) {
				unsigned long long id;

				if (sscanf(line, "OK %llu", &id) == 1)
					oks++;
				else
					CHECK(sscanf(line, "BUSY %llu", &id) == 1);
				CHECK(id >= 1000000 && id < 1000000 + lines);
				answers++;
			}
			CHECK(n == -2);
		}
	}
	close(fd);
	finish(&p, SIGTERM, 0);
	{
		struct ledger_entry *e;

		CHECK_EQ(ledger_read(p.ledger, &e), oks);
		free(e);
	}
	svc_cleanup(&p);
}

static void case_disconnect(void)
{
	const char *args[] = {"--workers", "2", "--grace", "60s", NULL};
	struct svc_proc p;
	struct line_buf rb = {.off = 0, .len = 0};
	int fd;

	pt_note("a client leaves while its job runs");
	fd = start_connected(&p, args);
	/* 101 finishes first on the other worker: by then 100 was read, accepted, and runs. */
	send_str(fd, "JOB 100 300000\nJOB 101 0\n");
	for (;;) {
		char line[256];

		CHECK(read_line(fd, &rb, line, sizeof(line), -1) >= 0);
		if (strcmp(line, "OK 101") == 0)
			break;
		CHECK(strcmp(line, "OK 100") ==
		      0); /* a very slow machine: not mid-job, still valid */
	}
	close(fd);
	fd = connect_ok(&p);
	rb.off = rb.len = 0;
	send_str(fd, "JOB 102 0\n");
	expect_line(fd, &rb, "OK 102");
	close(fd);
	finish(&p, SIGTERM, 0);
	{
		const uint64_t ids[] = {100, 101, 102};
		const enum pl_ledger_state st[] = {PL_LEDGER_DONE, PL_LEDGER_DONE, PL_LEDGER_DONE};

		expect_ledger(&p, ids, st, 3);
	}
	svc_cleanup(&p);
}

/* case_busy - one worker, queue 1, five 10 s jobs at once; then a grace over at once. */
static void case_busy(void)
{
	const char *args[] = {"--workers", "1", "--queue", "1", "--grace", "0s", NULL};
	struct svc_proc p;
	struct line_buf rb = {.off = 0, .len = 0};
	char line[256];
	int answers[6] = {0}; /* per id 1..5: 1 BUSY, 2 CANCELLED, 3 NOTPROCESSED */
	unsigned busy = 0, got = 0;
	int fd;

	pt_note("full queue: BUSY");
	fd = start_connected(&p, args);
	send_str(fd, "JOB 1 10000000\nJOB 2 10000000\nJOB 3 10000000\nJOB 4 10000000\n"
		     "JOB 5 10000000\nJOB 1 0\n");
	/* At most two fit (one running, one queued): at least three BUSY, then the duplicate (an
	 * "ERR duplicate-id" before the third BUSY fails the sscanf check). */
	for (;;) {
		unsigned long long id;

		CHECK(read_line(fd, &rb, line, sizeof(line), -1) >= 0);
		if (busy >= 3 && strcmp(line, "ERR duplicate-id") == 0)
			break;
		CHECK(sscanf(line, "BUSY %llu", &id) == 1 && id >= 1 && id <= 5);
		CHECK_EQ(answers[id], 0);
		answers[id] = 1;
		busy++;
		got++;
	}
	svc_signal(&p, SIGTERM);
	while (got < 5) {
		unsigned long long id;

		CHECK(read_line(fd, &rb, line, sizeof(line), -1) >= 0);
		if (sscanf(line, "CANCELLED %llu", &id) == 1) {
			CHECK(id >= 1 && id <= 5 && answers[id] == 0);
			answers[id] = 2;
		} else if (sscanf(line, "NOTPROCESSED %llu", &id) == 1) {
			CHECK(id >= 1 && id <= 5 && answers[id] == 0);
			answers[id] = 3;
		} else {
			pt_fail(__FILE__, __LINE__, "unexpected answer '%s'", line);
		}
		got++;
	}
	CHECK(read_line(fd, &rb, line, sizeof(line), -1) == -1); /* then the service closes */
	close(fd);
	CHECK_EQ(svc_wait(&p), 3);
	svc_check_log(&p);
	{
		struct ledger_entry *e;
		size_t n = ledger_read(p.ledger, &e);

		CHECK_EQ(n, 5 - busy);
		for (uint64_t id = 1; id <= 5; id++) {
			const struct ledger_entry *x = ledger_find(e, n, id);

			if (answers[id] == 1)
				CHECK(x == NULL);
			else
				CHECK(x != NULL && (int)x->state == answers[id]);
		}
		free(e);
	}
	svc_cleanup(&p);
}

/* case_block - the same shape with --block: every job is accepted, in time; SIGINT drains. */
static void case_block(void)
{
	const char *args[] = {"--workers", "1", "--queue", "1", "--block", "--grace", "60s", NULL};
	struct svc_proc p;
	struct line_buf rb = {.off = 0, .len = 0};
	int fd;

	pt_note("full queue with --block");
	fd = start_connected(&p, args);
	send_str(fd, "JOB 1 20000\nJOB 2 20000\nJOB 3 20000\nJOB 4 20000\nJOB 5 0\n");
	/* One worker, FIFO queue: answers in order. */
	expect_line(fd, &rb, "OK 1");
	expect_line(fd, &rb, "OK 2");
	expect_line(fd, &rb, "OK 3");
	expect_line(fd, &rb, "OK 4");
	expect_line(fd, &rb, "OK 5");
	close(fd);
	finish(&p, SIGINT, 0);
	{
		const uint64_t ids[] = {1, 2, 3, 4, 5};
		const enum pl_ledger_state st[] = {PL_LEDGER_DONE, PL_LEDGER_DONE, PL_LEDGER_DONE,
						   PL_LEDGER_DONE, PL_LEDGER_DONE};

		expect_ledger(&p, ids, st, 5);
	}
	svc_cleanup(&p);
}

/*
 * served - a connection the service took: connect and get "OK <id>" for a job, retrying while
 * the service still counts an old connection it has not seen closed (no timing assumed).
 */
static unsigned served_count;

static int served(struct svc_proc *p, uint64_t *id, struct line_buf *rb)
{
	for (;; (*id)++) {
		char req[64], line[256], want[64];
		int fd = connect_ok(p);

		memset(rb, 0, sizeof(*rb));
		snprintf(req, sizeof(req), "JOB %llu 0\n", (unsigned long long)*id);
		snprintf(want, sizeof(want), "OK %llu", (unsigned long long)*id);
		(void)send_all(fd, req, strlen(req)); /* EPIPE when refused: the answer says so */
		CHECK(read_line(fd, rb, line, sizeof(line), -1) >= 0);
		if (strcmp(line, want) == 0) {
			(*id)++;
			served_count++;
			return fd;
		}
		CHECK(strcmp(line, "ERR too-many-clients") == 0);
		close(fd);
		pt_sleep_ns(1000000);
	}
}

static void case_max_clients(void)
{
	const char *args[] = {"--max-clients", "2", NULL};
	struct svc_proc p;
	struct line_buf rb1, rb2, rb3 = {.off = 0, .len = 0};
	char line[256];
	uint64_t id = 1;
	int a, b, c;

	pt_note("--max-clients");
	svc_start(&p, bin, args);
	cur = &p;
	a = served(&p, &id, &rb1);
	b = served(&p, &id, &rb2);
	/* Two served connections open: a third is refused (and its request never read). */
	c = connect_ok(&p);
	(void)send_all(c, "JOB 999 0\n", 10);
	expect_line(c, &rb3, "ERR too-many-clients");
	CHECK(read_line(c, &rb3, line, sizeof(line), -1) == -1);
	close(c);
	/* A freed slot is usable again. */
	close(a);
	c = served(&p, &id, &rb1);
	close(c);
	close(b);
	finish(&p, SIGTERM, 0);
	{
		struct ledger_entry *e;
		size_t n = ledger_read(p.ledger, &e);

		CHECK_EQ(n, served_count); /* every OK, and nothing refused */
		CHECK(ledger_find(e, n, 999) == NULL);
		free(e);
	}
	svc_cleanup(&p);
}

/* case_forced - a long grace, two running jobs, a second signal: exit 4 at once. */
static void case_forced(void)
{
	const char *args[] = {"--workers",     "3",	    "--grace", "3600s",
			      "--max-cost-us", "100000000", NULL};
	struct svc_proc p;
	struct line_buf rb = {.off = 0, .len = 0};
	struct stat st;
	int fd;

	pt_note("second signal forces exit");
	fd = start_connected(&p, args);
	/* Two workers busy for 100 s; the third serves job 3 (proof the others were read). */
	send_str(fd, "JOB 1 100000000\nJOB 2 100000000\nJOB 3 0\n");
	expect_line(fd, &rb, "OK 3");
	svc_signal(&p, SIGTERM);
	/* Draining has begun once a new job is refused. */
	for (uint64_t id = 10;; id++) {
		char req[64], line[256];
		unsigned long long got;

		snprintf(req, sizeof(req), "JOB %llu 0\n", (unsigned long long)id);
		send_str(fd, req);
		CHECK(read_line(fd, &rb, line, sizeof(line), -1) >= 0);
		if (strncmp(line, "REFUSED ", 8) == 0) {
			CHECK(sscanf(line, "REFUSED %llu shutting-down", &got) == 1 && got == id);
			break;
		}
		/* Sent before the service read the signal: accepted, done by the third worker. */
		if (sscanf(line, "OK %llu", &got) != 1 || got != id) {
			svc_print_log(&p);
			pt_fail(__FILE__, __LINE__, "probe %llu: got '%s'", (unsigned long long)id,
				line);
		}
	}
	svc_signal(&p, SIGTERM);
	CHECK_EQ(svc_wait(&p), 4);
	svc_check_log(&p);
	CHECK(stat(p.sock, &st) != 0 && errno == ENOENT);
	{
		struct ledger_entry *e;
		size_t n = ledger_read(p.ledger, &e); /* whole lines, no duplicates */

		for (size_t i = 0; i < n; i++)
			CHECK(e[i].id == 1 || e[i].id == 2 ||
			      (e[i].id == 3 && e[i].state == PL_LEDGER_DONE) ||
			      (e[i].id >= 10 && e[i].state == PL_LEDGER_DONE));
		free(e);
	}
	close(fd);
	svc_cleanup(&p);
}

/* case_ledger_failure - a ledger that cannot be written: the service stops itself, exit 1. */
static void case_ledger_failure(void)
{
	const char *args[] = {"--ledger", "/dev/full", NULL}; /* the last --ledger wins */
	struct svc_proc p;
	struct line_buf rb = {.off = 0, .len = 0};
	char line[256];
	int fd, st;

	pt_note("ledger failure");
	fd = start_connected(&p, args);
	send_str(fd, "JOB 1 0\n");
	expect_line(fd, &rb, "OK 1"); /* done, though its record failed (ENOSPC) */
	/* Then the service drains on its own and closes; later jobs are refused or unread. */
	while (read_line(fd, &rb, line, sizeof(line), -1) >= 0)
		CHECK(strncmp(line, "REFUSED ", 8) == 0);
	close(fd);
	st = svc_wait(&p);
	if (st != 1) {
		svc_print_log(&p);
		pt_fail(__FILE__, __LINE__, "exit status %d after a ledger failure, wanted 1", st);
	}
	svc_check_log(&p);
	svc_cleanup(&p);
}

/* ------------------------------------------------------------------ at a given moment */

/*
 * wait_blocked_in - until a thread of @p is blocked in system call @nr on @arg0: its id, or 0
 * when /proc cannot tell (the caller skips its case). The watchdog bounds the wait.
 */
static pid_t wait_blocked_in(struct svc_proc *p, long nr, unsigned long arg0, const char *what)
{
	pt_note("waiting for patlab-svc to block in %s", what);
	for (;;) {
		pid_t tid = svc_blocked_in(p, nr, arg0);

		if (tid > 0)
			return tid;
		if (tid < 0)
			return 0;
		pt_sleep_ns(1000000);
	}
}

/* drain_fd - read @fd (non-blocking) until it has nothing; append to @buf (of @cap). */
static size_t drain_fd(int fd, char *buf, size_t cap, size_t len)
{
	char junk[4096];

	for (;;) {
		ssize_t n = read(fd, junk, sizeof(junk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return len;
		for (ssize_t i = 0; i < n; i++)
			if (junk[i] != '\0' && len + 1 < cap) /* the fill bytes are NULs */
				buf[len++] = junk[i];
		buf[len] = '\0';
	}
}

/*
 * wait_text - read the FIFO or pipe @fd until what it delivered (fill bytes aside) contains
 * @want; everything read is kept in @buf.
 */
static void wait_text(int fd, char *buf, size_t cap, const char *want)
{
	size_t len = strlen(buf);

	pt_note("waiting for '%s'", want);
	while (strstr(buf, want) == NULL) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		CHECK(poll(&pfd, 1, -1) >= 0 || errno == EINTR);
		len = drain_fd(fd, buf, cap, len);
	}
}

/*
 * start_held - start the service (@p initialised, @args its options) with a full FIFO as its
 * ledger, and hold one accepted job in its last step: job 1 costs nothing, so it is done at
 * once, but its record cannot be written until the FIFO is read. Returns the connected client;
 * *@rfd the FIFO's read end. *@held is false when /proc cannot show the job held (the caller
 * skips its case).
 */
static int start_held(struct svc_proc *p, const char *const *args, int *rfd, bool *held)
{
	struct line_buf rb = {.off = 0, .len = 0};
	int fd, lfd;

	*rfd = fifo_full(p->ledger);
	svc_spawn(p, bin, args);
	svc_wait_ready(p);
	fd = connect_ok(p);
	/* The duplicate proves job 1 was accepted and is not finished: it cannot be recorded. */
	send_str(fd, "JOB 1 0\nJOB 1 0\n");
	expect_line(fd, &rb, "ERR duplicate-id");
	lfd = svc_fd_of(p, p->ledger);
	CHECK(lfd >= 0);
	*held = wait_blocked_in(p, SYS_write, (unsigned long)lfd, "the ledger write") != 0;
	if (!*held)
		printf("skip: /proc/PID/task/TID/syscall does not tell what patlab-svc does\n");
	return fd;
}

/*
 * case_status_from_ledger - the exit status follows the ledger, not how late the pool saw its
 * jobs finish. One worker, grace over at once; job 1 costs nothing, but its ledger record
 * cannot be written yet (the ledger is a full FIFO): the job has done its work and is in its
 * last step when SIGTERM comes, so the pool's grace runs out with the job still running. Once
 * the stopper waits to join the worker (the pool has made its decision) the FIFO is read: the
 * record goes through, "1 done", OK. Every accepted job is done: exit 0.
 */
static void case_status_from_ledger(void)
{
	const char *args[] = {"--workers", "1", "--grace", "0s", NULL};
	struct svc_proc p;
	struct line_buf rb = {.off = 0, .len = 0};
	char led[256] = "";
	unsigned long addr0 = 0, addr;
	bool held;
	long nr;
	pid_t stopper;
	int rfd, fd;

	pt_note("exit status from the ledger: a job that finishes as the grace runs out");
	svc_dir_init(&p);
	cur = &p;
	fd = start_held(&p, args, &rfd, &held);
	stopper = svc_thread(&p, "svc-stopper");
	CHECK(stopper > 0);
	/* The stopper sleeps in a futex wait for the first signal... */
	while (held && (svc_syscall(&p, stopper, &nr, &addr0) != 1 || nr != SYS_futex))
		pt_sleep_ns(1000000);
	svc_signal(&p, SIGTERM);
	/* ...and then in another: the join of the worker, once the pool expired. */
	pt_note("waiting for the stopper to join the worker");
	while (held &&
	       (svc_syscall(&p, stopper, &nr, &addr) != 1 || nr != SYS_futex || addr == addr0))
		pt_sleep_ns(1000000);
	wait_text(rfd, led, sizeof(led), "1 done\n");
	expect_line(fd, &rb, "OK 1");
	close(fd);
	CHECK_EQ(strcmp(led, "1 done\n"), 0);
	if (svc_wait(&p) != 0) {
		svc_print_log(&p);
		pt_fail(__FILE__, __LINE__, "every accepted job done, exit %d (wanted 0)",
			p.status);
	}
	svc_check_log(&p);
	close(rfd);
	svc_cleanup(&p);
}

/*
 * case_signal_after_drain - a second SIGTERM that arrives once the drain is over (the service
 * is writing its last log line) does not kill it: the exit status is still the ledger's. The
 * service's stderr is a pipe this test fills, so that its last line blocks; the ledger is a
 * full FIFO again, so that the drain waits (job 1 unrecorded) until the test has read the
 * "draining" line and filled the pipe.
 */
static void case_signal_after_drain(void)
{
	const char *args[] = {"--workers", "1", "--grace", "60s", NULL};
	struct svc_proc p;
	struct line_buf rb = {.off = 0, .len = 0};
	char led[256] = "", err[4096] = "";
	bool held;
	int rfd, fd, ep[2];

	pt_note("a signal while the service writes its last line");
	svc_dir_init(&p);
	CHECK(pipe2(ep, O_CLOEXEC) == 0);
	CHECK(fcntl(ep[0], F_SETFL, O_NONBLOCK) == 0);
	p.stderr_fd = ep[1];
	cur = NULL; /* its stderr is the pipe: there is no log file to print */
	fd = start_held(&p, args, &rfd, &held);
	wait_text(ep[0], err, sizeof(err), "listening");
	svc_signal(&p, SIGTERM);
	wait_text(ep[0], err, sizeof(err), "draining");
	if (held)
		pipe_fill(ep[1]); /* its next line, the last, will block */
	close(ep[1]);
	wait_text(rfd, led, sizeof(led), "1 done\n"); /* the drain ends */
	expect_line(fd, &rb, "OK 1");
	if (held && wait_blocked_in(&p, SYS_write, STDERR_FILENO, "its last log line") != 0)
		svc_signal(&p, SIGTERM);
	/* Read its stderr to the end: the last line goes through, and the child exits. */
	for (;;) {
		struct pollfd pfd = {.fd = ep[0], .events = POLLIN};
		char junk[4096];
		ssize_t n;

		CHECK(poll(&pfd, 1, -1) >= 0 || errno == EINTR);
		n = read(ep[0], junk, sizeof(junk));
		if (n == 0)
			break; /* every write end closed: the child is gone */
		if (n < 0)
			CHECK(errno == EAGAIN || errno == EINTR);
	}
	close(ep[0]);
	close(fd);
	if (svc_wait(&p) != 0)
		pt_fail(
		    __FILE__, __LINE__,
		    "a signal during the last log line: exit status %d, wanted 0 (%d: killed by "
		    "that signal)",
		    p.status, 128 + SIGTERM);
	close(rfd);
	svc_cleanup(&p);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-patlab-svc\n", argv[0]);
		return 2;
	}
	bin = argv[1];
	pt_seed();
	pt_watchdog_start(50);
	case_usage();
	case_startup();
	case_ledger_lock();
	case_hostile();
	case_slow_reader();
	case_disconnect();
	case_busy();
	case_block();
	case_max_clients();
	case_forced();
	case_ledger_failure();
	case_status_from_ledger();
	case_signal_after_drain();
	printf("test_svc_cases: all cases passed\n");
	return 0;
}
