/* SPDX-License-Identifier: MIT */
#ifndef PATLAB_TEST_SVC_HARNESS_H
#define PATLAB_TEST_SVC_HARNESS_H

/*
 * Driving a real patlab-svc child process from a test: start it (fork + exec of the binary
 * CTest passes, in a fresh temporary directory, stderr to a log file, killed with SIGKILL if
 * the test process dies first), wait until it accepts connections, connect clients, read
 * answer lines, send signals, collect the exit status, read the ledger back, and check the
 * log for sanitizer reports (a sanitizer in the child may print and still _exit with our
 * status).
 *
 * Some cases must act at the moment the service is blocked at a given point (a ledger write
 * held up by a full FIFO, a join, the last log line): svc_syscall() and svc_blocked_in() read
 * what each of its threads is blocked in from /proc/PID/task/TID/syscall, so such a case waits
 * for an event instead of sleeping for a time; where /proc does not tell (-1), the case skips.
 *
 * Only the main thread may call svc_start() (the child's parent-death signal is tied to the
 * thread that forked it). Everything else may be called from any thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <patlab/shutdown.h>

struct svc_proc {
	pid_t pid;
	bool reaped;
	int status; /* exit status, or 128 + signal; valid once reaped */
	char dir[64];
	char sock[96];
	char ledger[96];
	char log[96];
	int stderr_fd; /* >= 0: the child's stderr and stdout instead of @log (set after init) */
};

/* A ledger read back: one entry per line. */
struct ledger_entry {
	uint64_t id;
	enum pl_ledger_state state;
};

/* svc_dir_init - a fresh temporary directory and the file names in it (no process yet). */
void svc_dir_init(struct svc_proc *p);

/*
 * svc_spawn - start @bin with "--socket <sock> --ledger <ledger>" then @args (NULL-terminated)
 * in @p's directory; does not wait for readiness.
 */
void svc_spawn(struct svc_proc *p, const char *bin, const char *const *args);

/* svc_start - svc_dir_init + svc_spawn + svc_wait_ready. */
void svc_start(struct svc_proc *p, const char *bin, const char *const *args);

/* svc_wait_ready - until a connect succeeds (fails the test if the child exits first). */
void svc_wait_ready(struct svc_proc *p);

/* svc_signal - send @sig to the child (it must not be reaped yet). */
void svc_signal(struct svc_proc *p, int sig);

/* svc_wait - reap the child, return its exit status (128 + signal if killed). */
int svc_wait(struct svc_proc *p);

/* svc_exited - reap without blocking; true once the child is gone (status in p->status). */
bool svc_exited(struct svc_proc *p);

/* svc_check_log - fail (printing the log) if the child's stderr holds a sanitizer report. */
void svc_check_log(struct svc_proc *p);

/* svc_log - the child's stderr so far, NUL-terminated (free it); "" when there is none. */
char *svc_log(struct svc_proc *p);

/* svc_print_log - copy the child's stderr to ours (for failures). */
void svc_print_log(struct svc_proc *p);

/* svc_cleanup - remove the directory and its files. */
void svc_cleanup(struct svc_proc *p);

/* svc_connect - a connected blocking socket, or -errno. */
int svc_connect(const char *sock);

/* send_all - write all of @buf (MSG_NOSIGNAL); 0 or -errno. */
int send_all(int fd, const void *buf, size_t len);

/*
 * read_line - one '\n'-terminated line from @fd through the small buffer @rb (zero it first),
 * waiting at most @timeout_ms per recv (<0: forever). Returns the length (newline stripped,
 * NUL-terminated in @line of @cap bytes), -1 at EOF or a reset, -2 on timeout.
 */
struct line_buf {
	char buf[4096];
	size_t off, len;
};
int read_line(int fd, struct line_buf *rb, char *line, size_t cap, int timeout_ms);

/*
 * ledger_read - every line of @path parsed, sorted by id (fails the test on a malformed line,
 * a torn last line, or an id recorded twice). Returns the count; *@out is malloc'ed (free it).
 */
size_t ledger_read(const char *path, struct ledger_entry **out);

/* ledger_find - the entry for @id in what ledger_read() returned, or NULL. */
const struct ledger_entry *ledger_find(const struct ledger_entry *e, size_t n, uint64_t id);

/* proc_rss_kb - VmRSS of @pid in kB, or -1. */
long proc_rss_kb(pid_t pid);

/* svc_thread - the id of the child's thread named @comm (pthread_setname_np), or -1. */
pid_t svc_thread(struct svc_proc *p, const char *comm);

/*
 * svc_syscall - what thread @tid of the child is blocked in: its system call's number and first
 * argument. Returns 1 (blocked in a system call), 0 (running, or not in a system call), or -1
 * when /proc cannot tell (unreadable: no permission, or a kernel without it; the thread gone).
 */
int svc_syscall(struct svc_proc *p, pid_t tid, long *nr, unsigned long *arg0);

/*
 * svc_blocked_in - a thread of the child blocked in system call @nr with first argument @arg0:
 * its id; 0 when there is none; -1 when /proc cannot tell.
 */
pid_t svc_blocked_in(struct svc_proc *p, long nr, unsigned long arg0);

/* svc_fd_of - the child's descriptor number for the file at @path, or -1. */
int svc_fd_of(struct svc_proc *p, const char *path);

/*
 * fifo_full - make @path a FIFO (mode 0600) whose buffer is full, with a reader: a writer that
 * opens it can open, but its first write blocks until the returned read end is read. Returns
 * the non-blocking read end.
 */
int fifo_full(const char *path);

/* pipe_fill - fill the pipe whose write end is @wfd (through a descriptor of our own, so
 * @wfd's flags, shared with a child, stay as they are) until a write would block. */
void pipe_fill(int wfd);

#endif /* PATLAB_TEST_SVC_HARNESS_H */
