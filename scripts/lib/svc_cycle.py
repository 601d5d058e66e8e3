# SPDX-License-Identifier: MIT
"""svc_cycle.py - one patlab-svc shutdown cycle, the command scripts/hyperfine-shutdown times.

Starts patlab-svc on a socket in a fresh temp folder, submits N jobs of --cost-us each on one
connection, then a line the service cannot parse ('PING'): the service answers BUSY, REFUSED
and ERR at once and in request order, so its 'ERR unknown-command' proves that every JOB before
it was read and accepted (or answered BUSY) - a barrier, with no sleep. Then SIGTERM, and the
cycle waits for the service to exit, reading the answers as they come (a client that does not
read would slow the drain down: the service gives slow readers up to 2 s).

The service's exit is caught with a pidfd (poll wakes when the child exits), so the SIGTERM ->
exit interval is measured here to the microsecond, without Python's start-up or the service's
start-up in it; hyperfine's own figure is the whole cycle (start, submit, drain, exit). With
--record FILE both are appended as one CSV line (columns: RECORD_COLUMNS), which is how
scripts/hyperfine-shutdown plots the exit time itself beside hyperfine's total.

Checked every cycle (exit 1 with a message otherwise): no BUSY and no REFUSED (every job was in
flight at the signal or done before it), every job answered exactly once (OK, CANCELLED or
NOTPROCESSED), the exit status is 0 (drained) or 3 (the grace ran out), and the ledger holds
one line per job. A service that does not exit within --timeout seconds is killed (exit 1).

Usage: svc_cycle.py --svc PATH --inflight N [--cost-us C] [--workers W] [--kind K]
                    [--grace DURATION] [--record FILE] [--errors FILE] [--timeout S]
Exit:  0 ok, 1 the cycle failed (message on stderr), 2 usage.
Standard library only; Linux (AF_UNIX, pidfd where the kernel has it).
"""
import argparse
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ME = "svc_cycle"
RECORD_COLUMNS = ("inflight,in_flight_at_term,exit_ns,cycle_ns,start_ns,exit_status,done,"
                  "cancelled,returned")


class CycleError(Exception):
    pass


def parse_args(argv):
    ap = argparse.ArgumentParser(prog=ME, description="one patlab-svc shutdown cycle")
    ap.add_argument("--svc", required=True, help="the patlab-svc executable")
    ap.add_argument("--inflight", type=int, required=True, help="jobs in flight at SIGTERM")
    ap.add_argument("--cost-us", type=int, default=1000, help="CPU time per job, us")
    ap.add_argument("--workers", type=int, default=2, help="the service's workers")
    ap.add_argument("--kind", default="mutex", help="the pool's channel kind")
    ap.add_argument("--grace", default="60s", help="the service's --grace")
    ap.add_argument("--record", help="append one CSV line of figures to this file")
    ap.add_argument("--errors", help="also append a failure's message to this file "
                    "(hyperfine hides the command's stderr)")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="kill the service after this many seconds (default 120)")
    a = ap.parse_args(argv)
    if a.inflight < 0 or a.cost_us < 0 or a.workers < 1 or a.timeout <= 0:
        ap.error("--inflight and --cost-us must be >= 0, --workers >= 1, --timeout > 0")
    return a


def connect(path, proc, deadline, log):
    """Connects once the service listens; fails if it exits first or the deadline passes."""
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
        if proc.poll() is not None:
            raise CycleError(f"patlab-svc exited with {proc.returncode} before listening: "
                             + tail(log))
        if time.monotonic() > deadline:
            raise CycleError("patlab-svc did not listen in time")
        time.sleep(0.0005)


def tail(path, n=400):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace").strip()
    except OSError:
        return "(no log)"


class Answers:
    """The service's answer lines, split as they arrive."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.lines = []
        self.eof = False

    def read(self):
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            return
        self.buf += data
        *done, self.buf = self.buf.split(b"\n")
        self.lines += [x.decode(errors="replace").strip() for x in done]


def cycle(a, tmp):
    sock_path = os.path.join(tmp, "svc.sock")
    ledger = os.path.join(tmp, "ledger")
    log = os.path.join(tmp, "svc.log")
    cmd = [a.svc, "--socket", sock_path, "--ledger", ledger, "--workers", str(a.workers),
           "--queue", str(max(a.inflight, 1)), "--kind", a.kind, "--grace", a.grace]
    t_spawn = time.monotonic_ns()
    deadline = time.monotonic() + a.timeout
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    try:
        return run_cycle(a, proc, sock_path, ledger, log, t_spawn, deadline)
    except OSError as e:
        # A service that fails at start-up may accept a connection before it exits (the
        # client then sees a reset): its exit status and log say why, not the socket error.
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            raise e
        if proc.returncode != 0:
            raise CycleError(f"patlab-svc exited with {proc.returncode} ({e}): "
                             + tail(log)) from e
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_cycle(a, proc, sock_path, ledger, log, t_spawn, deadline):
    s = connect(sock_path, proc, deadline, log)
    start_ns = time.monotonic_ns() - t_spawn
    ans = Answers(s)
    with s:
        jobs = b"".join(b"JOB %d %d\n" % (i, a.cost_us) for i in range(1, a.inflight + 1))
        s.sendall(jobs + b"PING\n")
        # the barrier: every JOB line before PING has been read once its ERR comes back
        while "ERR unknown-command" not in ans.lines:
            wait_readable(s, deadline, "the barrier's answer")
            ans.read()
            if ans.eof:
                raise CycleError("the service closed the connection before the barrier: "
                                 + tail(log))
        early = [x for x in ans.lines if x.startswith(("OK ", "CANCELLED ", "NOTPROCESSED "))]
        try:
            pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            pidfd = None
        t_term = time.monotonic_ns()
        proc.send_signal(signal.SIGTERM)
        t_exit = None
        rfds = [s] + ([pidfd] if pidfd is not None else [])
        while not ans.eof or t_exit is None:
            if pidfd is None and ans.eof:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.001))
                t_exit = time.monotonic_ns()
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise CycleError(f"patlab-svc did not exit within {a.timeout:g} s of start")
            ready, _, _ = select.select([f for f in rfds if f is not s or not ans.eof], [],
                                        [], left)
            if pidfd is not None and pidfd in ready and t_exit is None:
                t_exit = time.monotonic_ns()
                rfds.remove(pidfd)
                os.close(pidfd)
                pidfd = -1  # caught: only the socket is left to drain
            if s in ready:
                ans.read()
    status = proc.wait()
    return check(a, ans, early, status, ledger, log, t_exit - t_term,
                 t_exit - t_spawn, start_ns)


def wait_readable(s, deadline, what):
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([s], [], [], left)[0]:
        raise CycleError(f"timed out waiting for {what}")


def check(a, ans, early, status, ledger, log, exit_ns, cycle_ns, start_ns):
    words = {}
    for line in ans.lines:
        parts = line.split()
        if not parts or parts[0] == "ERR":
            if line != "ERR unknown-command":
                raise CycleError(f"unexpected answer '{line}'")
            continue
        if parts[0] in ("BUSY", "REFUSED"):
            raise CycleError(f"'{line}': a job was not accepted (queue too small? "
                             "did the signal come early?)")
        if len(parts) < 2 or parts[0] not in ("OK", "CANCELLED", "NOTPROCESSED"):
            raise CycleError(f"unexpected answer '{line}'")
        if parts[1] in words:
            raise CycleError(f"job {parts[1]} answered twice")
        words[parts[1]] = parts[0]
    if len(words) != a.inflight:
        raise CycleError(f"{len(words)} of {a.inflight} jobs answered")
    if status not in (0, 3):
        raise CycleError(f"patlab-svc exited with {status}: " + tail(log))
    try:
        with open(ledger, encoding="utf-8", errors="replace") as f:
            recorded = sum(1 for line in f if line.strip())
    except OSError as e:
        raise CycleError(f"cannot read the ledger: {e}")
    if recorded != a.inflight:
        raise CycleError(f"the ledger holds {recorded} lines for {a.inflight} jobs")
    count = {w: sum(1 for v in words.values() if v == w)
             for w in ("OK", "CANCELLED", "NOTPROCESSED")}
    return (f"{a.inflight},{a.inflight - len(early)},{exit_ns},{cycle_ns},{start_ns},{status},"
            f"{count['OK']},{count['CANCELLED']},{count['NOTPROCESSED']}")


def main(argv):
    a = parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    tmp = tempfile.mkdtemp(prefix="svc_cycle.")
    try:
        rec = cycle(a, tmp)
    except (CycleError, OSError) as e:
        msg = f"{ME}: inflight {a.inflight}: {e}"
        print(msg, file=sys.stderr)
        if a.errors:
            append_line(a.errors, msg)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.record:
        append_line(a.record, rec)
    return 0


def append_line(path, line):
    """One write of one whole line with O_APPEND: lines from cycles never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
