/* SPDX-License-Identifier: MIT */
/*
 * The job ledger (see patlab/shutdown.h): one line per accepted job with its final state.
 *
 * Durability and atomicity. The file is opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, mode 0600.
 * A record formats its whole line on the stack and hands it to one write(2): with O_APPEND the
 * kernel moves the offset to the end and writes under the inode lock, so lines from different
 * threads or processes never interleave. A line is at most PL_LEDGER_LINE_MAX (32) bytes.
 * Nothing is fsynced per line (a job costs microseconds, an fsync milliseconds); the owner calls
 * pl_ledger_sync() when it wants a point of durability, and pl_ledger_close() fsyncs at the end.
 *
 * The lock. Records also take a mutex around their write. O_APPEND alone would keep the lines
 * whole, but two things need to know that no write is in progress:
 * - pl_ledger_seal(), for an exit that cannot wait (a second signal): once it returned, no
 *   write is running and none will start, so a process that exits right after it cannot leave
 *   a torn line (a write killed by exit_group() part-way can stop at a page boundary);
 * - the "broken" latch: a short write (disk full part-way) leaves a torn line; nothing may be
 *   appended after it, or a reader could not tell where the torn line ends.
 * The lock is held for one write(2) of a few bytes to the page cache, never across anything
 * that waits for another thread.
 *
 * One writer per file, for a service (pl__ledger_open_locked(), proto.h). Two services
 * appending to one ledger would each be right about its own jobs and the file would prove
 * nothing, so a service takes flock(LOCK_EX | LOCK_NB) on the file for as long as it lives
 * (the kernel drops it when the process ends, however it ends) and a second one is refused at
 * once. Opening and locking are two steps, and a start-up that failed removes the file it
 * created (pl__ledger_discard()): an open that raced with such a removal holds a lock on a
 * file no longer at the path, so after locking it checks that the path still names its file
 * (device and inode) and starts over otherwise. The file is never truncated: an existing
 * ledger is appended to, a foreign one left as it was. Only regular files are locked; a FIFO
 * or a device (/dev/stdout, /dev/full) is written as it is, and fsync, which such files do
 * not support (EINVAL, EROFS), counts as done for them.
 */
#include <patlab/shutdown.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graceful_shutdown/proto.h"
#include "sync/die.h"

struct pl_ledger {
	int fd; /* constant until close */
	/* @sealed and @broken: protected by @lock, as is every write(2) to @fd. */
	pthread_mutex_t lock;
	bool sealed;
	bool broken;
};

static const char *const state_names[] = {
    [PL_LEDGER_DONE] = "done",
    [PL_LEDGER_CANCELLED] = "cancelled",
    [PL_LEDGER_RETURNED] = "returned",
};

const char *pl_ledger_state_name(enum pl_ledger_state state)
{
	if (state < PL_LEDGER_DONE || state > PL_LEDGER_RETURNED)
		return NULL;
	return state_names[state];
}

/* wrap - a ledger around the open descriptor @fd (closed on failure). */
static pl_ledger *wrap(int fd)
{
	struct pl_ledger *l = malloc(sizeof(*l));

	if (l == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	l->fd = fd;
	l->sealed = false;
	l->broken = false;
	PL_CHECK(pthread_mutex_init(&l->lock, NULL));
	return l;
}

pl_ledger *pl_ledger_open(const char *path)
{
	int fd;

	if (path == NULL || *path == '\0') {
		errno = EINVAL;
		return NULL;
	}
	do
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return NULL;
	return wrap(fd);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/*
 * open_once - one attempt of pl__ledger_open_locked(): the descriptor, locked if a regular file,
 * or -1 with errno (ESTALE: the path changed under us, try again).
 */
static int open_once(const char *path, bool *created)
{
	/* O_NONBLOCK for the open only: a FIFO without a reader fails (ENXIO) instead of hanging.
	 */
	const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	struct stat st, there;
	int fd, err;

	*created = true;
	fd = open(path, flags | O_CREAT | O_EXCL, 0600);
	if (fd < 0 && errno == EEXIST) {
		*created = false;
		fd = open(path, flags);
		if (fd < 0 && errno == ENOENT)
			errno = ESTALE; /* removed since: create it */
	}
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0)
		goto fail;
	if (S_ISREG(st.st_mode)) {
		if (flock(fd, LOCK_EX | LOCK_NB) != 0)
			goto fail; /* EWOULDBLOCK: someone else's ledger; never ours to remove */
		if (stat(path, &there) != 0 || !same_file(&st, &there)) {
			errno = ESTALE; /* removed or replaced between our open and our lock */
			goto fail;
		}
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

pl_ledger *pl__ledger_open_locked(const char *path, bool *created)
{
	if (path == NULL || *path == '\0' || created == NULL) {
		errno = EINVAL;
		return NULL;
	}
	/* Each retry follows a removal by a start-up that failed: a handful at most. */
	for (int attempt = 0; attempt < 64; attempt++) {
		int fd = open_once(path, created);

		if (fd >= 0)
			return wrap(fd);
		if (errno != ESTALE && errno != EINTR)
			return NULL;
	}
	errno = EAGAIN;
	return NULL;
}

int pl__ledger_discard(pl_ledger *l, const char *path)
{
	struct stat mine, there;
	int rc = 0;

	if (l == NULL)
		return 0;
	/* Still locked by us: nobody else has written to it, and it is still ours at @path. */
	if (fstat(l->fd, &mine) == 0 && stat(path, &there) == 0 && same_file(&mine, &there) &&
	    unlink(path) != 0)
		rc = -errno;
	close(l->fd);
	PL_CHECK(pthread_mutex_destroy(&l->lock));
	free(l);
	return rc;
}

/* format - "<id> <name>\n" into @buf (PL_LEDGER_LINE_MAX bytes); its length. */
static size_t format(char *buf, uint64_t id, const char *name)
{
	char digits[20];
	size_t n = 0, len = 0;

	do {
		digits[n++] = (char)('0' + id % 10);
		id /= 10;
	} while (id != 0);
	while (n > 0)
		buf[len++] = digits[--n];
	buf[len++] = ' ';
	for (const char *c = name; *c != '\0'; c++)
		buf[len++] = *c;
	buf[len++] = '\n';
	return len;
}

int pl_ledger_record(pl_ledger *l, uint64_t id, enum pl_ledger_state state)
{
	char line[PL_LEDGER_LINE_MAX];
	const char *name = pl_ledger_state_name(state);
	size_t len;
	ssize_t n;
	int rc = 0;

	if (l == NULL || name == NULL)
		return -EINVAL;
	len = format(line, id, name);
	PL_CHECK(pthread_mutex_lock(&l->lock));
	if (l->sealed) {
		rc = -ESHUTDOWN;
	} else if (l->broken) {
		rc = -EIO;
	} else {
		do
			n = write(l->fd, line, len);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			rc = -errno; /* nothing was written: the ledger stays whole */
		} else if ((size_t)n != len) {
			/* A torn line: keep it last (see the top of the file). */
			l->broken = true;
			rc = -EIO;
		}
	}
	PL_CHECK(pthread_mutex_unlock(&l->lock));
	return rc;
}

static int sync_fd(int fd)
{
	int rc;

	do
		rc = fsync(fd);
	while (rc != 0 && errno == EINTR);
	/* EINVAL, EROFS: a FIFO, a socket, a device: nothing there to make durable. */
	if (rc != 0 && (errno == EINVAL || errno == EROFS))
		return 0;
	return rc == 0 ? 0 : -errno;
}

int pl_ledger_sync(pl_ledger *l)
{
	if (l == NULL)
		return -EINVAL;
	return sync_fd(l->fd);
}

int pl_ledger_seal(pl_ledger *l)
{
	if (l == NULL)
		return -EINVAL;
	/* Taking the lock waits for a write in progress; none starts after (see record). */
	PL_CHECK(pthread_mutex_lock(&l->lock));
	l->sealed = true;
	PL_CHECK(pthread_mutex_unlock(&l->lock));
	return sync_fd(l->fd);
}

int pl_ledger_close(pl_ledger *l)
{
	int rc, rc2;

	if (l == NULL)
		return 0;
	rc = sync_fd(l->fd);
	/* close(2) is not retried on EINTR: on Linux the descriptor is gone either way. */
	rc2 = close(l->fd) == 0 ? 0 : -errno;
	PL_CHECK(pthread_mutex_destroy(&l->lock));
	free(l);
	return rc != 0 ? rc : rc2;
}

int pl_ledger_parse_line(const char *line, size_t len, uint64_t *id, enum pl_ledger_state *state)
{
	uint64_t v = 0;
	size_t i = 0, digits = 0;

	if (line == NULL || id == NULL || state == NULL)
		return -EINVAL;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	for (; i < len && line[i] >= '0' && line[i] <= '9'; i++, digits++) {
		unsigned d = (unsigned)(line[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL; /* overflow */
		v = v * 10 + d;
	}
	if (digits == 0 || digits > 20 || i >= len || line[i] != ' ')
		return -EINVAL;
	i++;
	for (int s = PL_LEDGER_DONE; s <= PL_LEDGER_RETURNED; s++) {
		size_t n = strlen(state_names[s]);

		if (len - i == n && memcmp(line + i, state_names[s], n) == 0) {
			*id = v;
			*state = (enum pl_ledger_state)s;
			return 0;
		}
	}
	return -EINVAL;
}
