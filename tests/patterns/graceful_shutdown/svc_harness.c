/* SPDX-License-Identifier: MIT */
/*
 * The patlab-svc test harness (see svc_harness.h). The child is started with fork() + execv()
 * rather than posix_spawn() only to set PR_SET_PDEATHSIG between the two: a test that fails or
 * is killed by its watchdog must not leave a service running. Between fork and exec the child
 * calls only async-signal-safe functions.
 */
#include "svc_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

void svc_dir_init(struct svc_proc *p)
{
	const char *tmp = getenv("TMPDIR");

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->stderr_fd = -1;
	/* Short: a socket path must fit sockaddr_un (108 bytes). */
	if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 40)
		tmp = "/tmp";
	snprintf(p->dir, sizeof(p->dir), "%s/plsvc-XXXXXX", tmp);
	CHECK(mkdtemp(p->dir) != NULL);
	snprintf(p->sock, sizeof(p->sock), "%s/sock", p->dir);
	snprintf(p->ledger, sizeof(p->ledger), "%s/ledger", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/log", p->dir);
}

void svc_spawn(struct svc_proc *p, const char *bin, const char *const *args)
{
	const char *argv[32];
	size_t n = 0;
	pid_t parent = getpid(), pid;
	int logfd;

	argv[n++] = bin;
	argv[n++] = "--socket";
	argv[n++] = p->sock;
	argv[n++] = "--ledger";
	argv[n++] = p->ledger;
	for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
		CHECK(n < 31);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	if (p->stderr_fd >= 0)
		logfd = fcntl(p->stderr_fd, F_DUPFD_CLOEXEC, 0);
	else
		logfd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	CHECK(logfd >= 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The child: async-signal-safe calls only until execv(). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(126);
		if (dup2(logfd, STDERR_FILENO) < 0 || dup2(logfd, STDOUT_FILENO) < 0)
			_exit(126);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(logfd);
	p->pid = pid;
	p->reaped = false;
}

void svc_start(struct svc_proc *p, const char *bin, const char *const *args)
{
	svc_dir_init(p);
	svc_spawn(p, bin, args);
	svc_wait_ready(p);
}

int svc_connect(const char *sock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

void svc_wait_ready(struct svc_proc *p)
{
	pt_note("waiting for patlab-svc (pid %d) to listen on %s", (int)p->pid, p->sock);
	for (;;) {
		int fd = svc_connect(p->sock);

		if (fd >= 0) {
			close(fd);
			return;
		}
		if (svc_exited(p)) {
			svc_print_log(p);
			pt_fail(__FILE__, __LINE__, "patlab-svc exited with %d before listening",
				p->status);
		}
		pt_sleep_ns(2000000);
	}
}

void svc_signal(struct svc_proc *p, int sig)
{
	CHECK(!p->reaped);
	CHECK(kill(p->pid, sig) == 0);
}

static void set_status(struct svc_proc *p, int st)
{
	p->reaped = true;
	if (WIFEXITED(st))
		p->status = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		p->status = 128 + WTERMSIG(st);
	else
		p->status = -1;
}

int svc_wait(struct svc_proc *p)
{
	int st;
	pid_t r;

	if (p->reaped)
		return p->status;
	pt_note("waiting for patlab-svc (pid %d) to exit", (int)p->pid);
	do
		r = waitpid(p->pid, &st, 0);
	while (r < 0 && errno == EINTR);
	CHECK(r == p->pid);
	set_status(p, st);
	return p->status;
}

bool svc_exited(struct svc_proc *p)
{
	int st;
	pid_t r;

	if (p->reaped)
		return true;
	r = waitpid(p->pid, &st, WNOHANG);
	if (r == p->pid) {
		set_status(p, st);
		return true;
	}
	return false;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			CHECK(buf != NULL);
		}
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

char *svc_log(struct svc_proc *p)
{
	size_t len;
	char *log = slurp(p->log, &len);

	if (log == NULL) {
		log = strdup("");
		CHECK(log != NULL);
	}
	return log;
}

void svc_print_log(struct svc_proc *p)
{
	size_t len;
	char *log = slurp(p->log, &len);

	fprintf(stderr, "---- patlab-svc log (%s) ----\n%s---- end of log ----\n", p->log,
		log ? log : "(none)\n");
	free(log);
}

void svc_check_log(struct svc_proc *p)
{
	size_t len;
	char *log = slurp(p->log, &len);
	bool bad = log != NULL &&
		   (strstr(log, "Sanitizer") != NULL || strstr(log, "runtime error") != NULL);

	free(log);
	if (bad) {
		svc_print_log(p);
		pt_fail(__FILE__, __LINE__, "patlab-svc's log shows a sanitizer report");
	}
}

void svc_cleanup(struct svc_proc *p)
{
	unlink(p->sock);
	unlink(p->ledger);
	unlink(p->log);
	rmdir(p->dir);
}

int send_all(int fd, const void *buf, size_t len)
{
	const char *b = buf;

	while (len > 0) {
		ssize_t n = send(fd, b, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int read_line(int fd, struct line_buf *rb, char *line, size_t cap, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(rb->buf + rb->off, '\n', rb->len - rb->off);

		if (nl != NULL) {
			size_t n = (size_t)(nl - (rb->buf + rb->off));

			CHECK(n < cap);
			memcpy(line, rb->buf + rb->off, n);
			line[n] = '\0';
			rb->off += n + 1;
			return (int)n;
		}
		if (rb->off > 0) {
			memmove(rb->buf, rb->buf + rb->off, rb->len - rb->off);
			rb->len -= rb->off;
			rb->off = 0;
		}
		CHECK(rb->len < sizeof(rb->buf)); /* no answer line is that long */

		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int rc = poll(&pfd, 1, timeout_ms);

		if (rc < 0 && errno == EINTR)
			continue;
		CHECK(rc >= 0);
		if (rc == 0)
			return -2;
		ssize_t n = recv(fd, rb->buf + rb->len, sizeof(rb->buf) - rb->len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1; /* EOF, ECONNRESET */
		rb->len += (size_t)n;
	}
}

static int cmp_entry(const void *a, const void *b)
{
	const struct ledger_entry *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

size_t ledger_read(const char *path, struct ledger_entry **out)
{
	size_t len, n = 0, cap = 0;
	char *buf = slurp(path, &len);
	struct ledger_entry *e = NULL;

	*out = NULL;
	if (buf == NULL)
		return 0;
	CHECK(len == 0 || buf[len - 1] == '\n'); /* no torn last line */
	for (size_t off = 0; off < len;) {
		char *nl = memchr(buf + off, '\n', len - off);
		size_t l = (size_t)(nl - (buf + off));

		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			e = realloc(e, cap * sizeof(*e));
			CHECK(e != NULL);
		}
		if (pl_ledger_parse_line(buf + off, l, &e[n].id, &e[n].state) != 0)
			pt_fail(__FILE__, __LINE__, "ledger %s: malformed line '%.*s'", path,
				(int)l, buf + off);
		n++;
		off += l + 1;
	}
	free(buf);
	if (n > 1)
		qsort(e, n, sizeof(*e), cmp_entry);
	for (size_t i = 1; i < n; i++)
		if (e[i].id == e[i - 1].id)
			pt_fail(__FILE__, __LINE__, "ledger %s: job %llu recorded twice", path,
				(unsigned long long)e[i].id);
	*out = e;
	return n;
}

const struct ledger_entry *ledger_find(const struct ledger_entry *e, size_t n, uint64_t id)
{
	struct ledger_entry key = {.id = id};

	if (n == 0)
		return NULL;
	return bsearch(&key, e, n, sizeof(*e), cmp_entry);
}

long proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * scan - call @fn(@p, entry name, @arg) for each entry of /proc/PID/@sub until it returns
 * non-zero; that value, 0 when none did, -1 when the folder cannot be read.
 */
static long scan(struct svc_proc *p, const char *sub,
		 long (*fn)(struct svc_proc *p, const char *name, void *arg), void *arg)
{
	char path[64];
	struct dirent *d;
	long found = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)p->pid, sub);
	dir = opendir(path);
	if (dir == NULL)
		return -1;
	while (found == 0 && (d = readdir(dir)) != NULL)
		if (d->d_name[0] != '.')
			found = fn(p, d->d_name, arg);
	closedir(dir);
	return found;
}

static long named(struct svc_proc *p, const char *tid, void *comm)
{
	char path[PATH_MAX], name[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)p->pid, tid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(name, sizeof(name), f) != NULL)
		name[strcspn(name, "\n")] = '\0';
	fclose(f);
	return strcmp(name, comm) == 0 ? atol(tid) : 0;
}

pid_t svc_thread(struct svc_proc *p, const char *comm)
{
	long tid = scan(p, "task", named, (void *)comm);

	return tid > 0 ? (pid_t)tid : -1;
}

int svc_syscall(struct svc_proc *p, pid_t tid, long *nr, unsigned long *arg0)
{
	char path[64], line[256];
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)p->pid, (int)tid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	/* "running", "-1 SP PC" (blocked outside a system call), or "NR ARG0 .. ARG5 SP PC". */
	if (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "running", 7) == 0 || strncmp(line, "-1 ", 3) == 0)
			rc = 0;
		else if (sscanf(line, "%ld %lx", nr, arg0) == 2)
			rc = 1;
	}
	fclose(f);
	return rc;
}

struct blocked {
	long nr;
	unsigned long arg0;
	bool told; /* /proc answered for some thread */
};

static long blocked(struct svc_proc *p, const char *tid, void *arg)
{
	struct blocked *b = arg;
	unsigned long a;
	long n;
	int rc = svc_syscall(p, (pid_t)atol(tid), &n, &a);

	b->told |= rc >= 0;
	return rc == 1 && n == b->nr && a == b->arg0 ? atol(tid) : 0;
}

pid_t svc_blocked_in(struct svc_proc *p, long nr, unsigned long arg0)
{
	struct blocked b = {.nr = nr, .arg0 = arg0, .told = false};
	long tid = scan(p, "task", blocked, &b);

	return tid > 0 ? (pid_t)tid : b.told ? 0 : -1;
}

static long opens(struct svc_proc *p, const char *fd, void *path)
{
	char link[64], target[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/fd/%s", (int)p->pid, fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	/* + 1: descriptor 0 must not read as "none". */
	return strcmp(target, path) == 0 ? atol(fd) + 1 : 0;
}

int svc_fd_of(struct svc_proc *p, const char *path)
{
	long fd1 = scan(p, "fd", opens, (void *)path);

	return fd1 > 0 ? (int)(fd1 - 1) : -1;
}

void pipe_fill(int wfd)
{
	static const char junk[4096] = {0};
	char self[64];
	int fd;

	/* A descriptor of our own: O_NONBLOCK on @wfd would be the child's too. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", wfd);
	fd = open(self, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	CHECK(fd >= 0);
	for (size_t chunk = sizeof(junk); chunk > 0;) {
		ssize_t n = write(fd, junk, chunk);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			CHECK(errno == EAGAIN);
			chunk /= 2; /* a smaller write may still fit */
		}
	}
	close(fd);
}

int fifo_full(const char *path)
{
	int rfd, wfd;

	CHECK(mkfifo(path, 0600) == 0);
	rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	CHECK(rfd >= 0);
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	CHECK(wfd >= 0);
	(void)fcntl(wfd, F_SETPIPE_SZ, 4096); /* the smallest; the default does as well */
	pipe_fill(wfd);
	close(wfd); /* the bytes stay: the read end is open */
	return rfd;
}
