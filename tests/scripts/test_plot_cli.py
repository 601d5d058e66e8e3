# SPDX-License-Identifier: MIT
"""test_plot_cli.py - scripts/plot end to end, on copies of the committed fixture run folder.

1. The fixture: exit 0; every figure printed and written (well-formed SVG, its text kept as
   text), plots/README.md listing each with the run's per-pattern labels, nothing else in
   plots/ and no temp folder left; a stale file in an old plots/ is gone (replaced whole).
2. The same CSV with its columns reversed and a new column in front: byte-identical SVGs.
3. Usage errors exit 2 (bad option, two run folders, a missing one, a file), runtime errors
   exit 1 with a message (no/empty/header-only/malformed results.csv, an interpreter without
   matplotlib, none at PLOT_PYTHON), each leaving the previous plots/ as it was.

Usage: /usr/bin/python3 test_plot_cli.py   (exit 0 pass, 1 fail, 77 skipped: no matplotlib)
The wrapper runs PLOT_PYTHON (default /usr/bin/python3); ctest sets it to this interpreter.
"""

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "plot_fixture")
PLOT = os.path.join(HERE, "..", "..", "scripts", "plot")
FIGURES = ["throughput", "latency", "ratio", "workers", "pingpong", "worker_pool",
           "fanout_fanin", "fanout_hedging", "backpressure", "backpressure_policies",
           "graceful_shutdown", "shutdown_inflight", "pipeline", "cancellation"]

if importlib.util.find_spec("matplotlib") is None:
    print(f"test_plot_cli: SKIP: {sys.executable} has no matplotlib (python3-matplotlib)")
    sys.exit(77)


def plot(*args, env=None):
    e = dict(os.environ, PLOT_PYTHON=os.environ.get("PLOT_PYTHON", sys.executable))
    e.update(env or {})
    return subprocess.run([PLOT, *args], capture_output=True, text=True, env=e, timeout=300)


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def digest(folder):
    return {f: hashlib.sha256(read(os.path.join(folder, f), "rb")).hexdigest()
            for f in sorted(os.listdir(folder))}


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="test_plot_cli.")
        cls.run_dir = cls.copy("run")
        os.mkdir(os.path.join(cls.run_dir, "plots"))
        write(os.path.join(cls.run_dir, "plots", "stale.svg"), "")
        cls.res = plot(cls.run_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    @classmethod
    def copy(cls, name):
        d = os.path.join(cls.tmp, name)
        shutil.copytree(FIXTURE, d)
        return d

    def plots(self):
        return os.path.join(self.run_dir, "plots")

    def test_fixture(self):
        self.assertEqual(self.res.returncode, 0, self.res.stderr)
        want = [os.path.join(self.plots(), f"{f}.svg") for f in FIGURES]
        self.assertEqual(self.res.stdout.splitlines(),
                         want + [os.path.join(self.plots(), "README.md")])
        self.assertEqual(sorted(os.listdir(self.plots())),
                         sorted([f"{f}.svg" for f in FIGURES] + ["README.md"]))
        self.assertEqual([f for f in os.listdir(self.run_dir) if f.startswith(".plots")], [])
        for f in want:
            texts = [t.text for t in ET.parse(f).iter("{http://www.w3.org/2000/svg}text")]
            self.assertTrue(any(t and "run 20261208T014158Z-6156" in t for t in texts), f)
        readme = read(os.path.join(self.plots(), "README.md"))
        for f in FIGURES:
            self.assertIn(f"| [{f}.svg]({f}.svg) |", readme)
        self.assertIn("| worker_pool | M jobs/s | submit to done | producers submit jobs", readme)

    def test_columns_by_name(self):
        other = os.path.join(self.tmp, "reordered")
        os.mkdir(other)
        lines = read(os.path.join(FIXTURE, "results.csv")).splitlines()
        write(os.path.join(other, "results.csv"), "".join(
            ",".join(["x" if i else "new_col"] + ln.split(",")[::-1]) + "\n"
            for i, ln in enumerate(lines)))
        shutil.copy(os.path.join(FIXTURE, "meta.json"), other)
        res = plot(other)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(digest(os.path.join(other, "plots")), digest(self.plots()))

    def expect(self, rc, args, want, env=None):
        before = digest(self.plots())
        res = plot(*args, env=env)
        self.assertEqual(res.returncode, rc, f"{args}: {res.stderr}")
        self.assertIn(want, res.stderr, args)
        self.assertEqual(res.stdout, "", args)
        self.assertEqual(digest(self.plots()), before, f"{args} changed plots/")

    def test_help(self):
        res = plot("--help")
        self.assertEqual(res.returncode, 0)
        self.assertTrue(res.stdout.startswith("usage: scripts/plot [RUN_DIR]"))

    def test_usage_errors(self):
        csv = os.path.join(self.run_dir, "results.csv")
        self.expect(2, ["--bogus", self.run_dir], "unknown option '--bogus'")
        self.expect(2, [self.run_dir, self.run_dir], "one RUN_DIR only")
        self.expect(2, [os.path.join(self.tmp, "none")], "does not exist or is not a folder")
        self.expect(2, [csv], "does not exist or is not a folder")

    def test_runtime_errors(self):
        bad = os.path.join(self.tmp, "bad")
        os.mkdir(bad)
        self.expect(1, [bad], "no results.csv in")
        lines = read(os.path.join(FIXTURE, "results.csv")).splitlines()
        for text, want in (("", "is empty"), (lines[0], "a header but no rows"),
                           ("\n".join(lines[:4] + ["x,chan,mutex,1"]), "line 5: 4 fields")):
            write(os.path.join(bad, "results.csv"), text + "\n")
            self.expect(1, [bad], want)
        self.expect(1, [self.run_dir], "no Python at '/nonexistent/python3'",
                    env={"PLOT_PYTHON": "/nonexistent/python3"})
        bare = os.path.join(self.tmp, "bare-python")   # Python without its site-packages
        write(bare, f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
        os.chmod(bare, 0o755)
        self.expect(1, [self.run_dir], "install python3-matplotlib (scripts/deps)",
                    env={"PLOT_PYTHON": bare})

    def test_failed_rerun_keeps_plots(self):
        broken = self.copy("broken")
        self.assertEqual(plot(broken).returncode, 0)
        before = digest(os.path.join(broken, "plots"))
        csv = os.path.join(broken, "results.csv")
        write(csv, read(csv).replace(",chan,mutex,", ",chan,mutex,,,", 1))
        res = plot(broken)
        self.assertEqual(res.returncode, 1)
        self.assertIn("line 2:", res.stderr)
        self.assertEqual(digest(os.path.join(broken, "plots")), before)
        self.assertEqual([f for f in os.listdir(broken) if f.startswith(".plots")], [])


if __name__ == "__main__":
    unittest.main()
