# SPDX-License-Identifier: MIT
"""test_plot_module.py - the plot package's figure functions on the committed fixture run.

Each figure function is called on tests/scripts/plot_fixture (real rows of a short sweep,
with meta.json's per-pattern labels) and its matplotlib Figure is inspected: titles, panels,
series, and the plotted values, which must equal the medians (and the min/max error bars)
that this test computes from the fixture's rows on its own, with csv and statistics. Also:
results.csv read by column name and rejected with the line and column of a fault; labels from
meta.json or the generic ones; what is skipped when rows are missing; the FIGURES table; the
atomic replacement of plots/ when a figure fails half-way.

Usage: /usr/bin/python3 test_plot_module.py   (exit 0 pass, 1 fail, 77 skipped: no matplotlib)
"""

import csv
import importlib.util
import io
import os
import shutil
import statistics
import sys
import tempfile
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "plot_fixture")
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "lib"))

if importlib.util.find_spec("matplotlib") is None:
    print(f"test_plot_module: SKIP: {sys.executable} has no matplotlib (python3-matplotlib)")
    sys.exit(77)

from matplotlib.container import BarContainer  # noqa: E402
from plot import cli, data, figures  # noqa: E402


# ------------------------------------------------------------------ the oracle
def fixture_rows():
    with open(os.path.join(FIXTURE, "results.csv"), newline="") as f:
        return list(csv.DictReader(f))


def where(rows, **match):
    return [r for r in rows if all(r[k] == str(v) for k, v in match.items())]


def med(rows, col, scale=1.0):
    xs = [float(r[col]) * scale for r in rows]
    assert xs, "the oracle selected no rows"
    return statistics.median(xs), min(xs), max(xs)


def extra(r, key):
    return float(dict(kv.split("=", 1) for kv in r["extras"].split(";"))[key])


# ------------------------------------------------------------------ figure inspection
def panels(fig):
    """The figure's panels: its axes but the legend column (secondary axes are children)."""
    return [ax for ax in fig.axes if ax.axison]


def bars(ax, label):
    """{x: (top, error-bar low, error-bar high)} of the bar series labelled label."""
    for c in ax.containers:
        if c.get_label() == label:
            out = {}
            segs = c.errorbar.lines[2][0].get_segments() if c.errorbar else None
            for i, p in enumerate(c.patches):
                x = p.get_x() + p.get_width() / 2
                lo = hi = None
                if segs is not None:
                    lo, hi = sorted(y for _, y in segs[i])
                out[x] = (p.get_y() + p.get_height(), lo, hi)
            return [out[x] for x in sorted(out)]
    raise AssertionError(f"no bar series '{label}' in {[c.get_label() for c in ax.containers]}")


def unlabelled_bars(ax):
    """The bar series left out of the legend."""
    return [c for c in ax.containers if isinstance(c, BarContainer)
            and (c.get_label().startswith("_") or not c.get_label())]


def line(ax, label):
    """[(x, median, low, high)] of the error-bar series labelled label."""
    for c in ax.containers:
        if c.get_label() == label:
            xs, ys = c.lines[0].get_data()
            segs = c.lines[2][0].get_segments()
            return [(x, y) + tuple(sorted(p[1] for p in s)) for x, y, s in zip(xs, ys, segs)]
    raise AssertionError(f"no series '{label}' in {[c.get_label() for c in ax.containers]}")


def ticks(ax):
    return [t.get_text() for t in ax.get_xticklabels()]


class Case(unittest.TestCase):
    def setUp(self):
        self.run = data.load(FIXTURE)
        self.rows = fixture_rows()

    def assertPoint(self, got, want, msg=""):
        self.assertEqual(len(got), len(want), msg)
        for g, w in zip(got, want):
            if g is not None or w is not None:
                self.assertAlmostEqual(g, w, delta=abs(w) * 1e-9 + 1e-12, msg=msg)

    def draw(self, fn, pattern, *more):
        return fn(self.run, self.run.of(pattern, *more))


# ------------------------------------------------------------------ reading
class TestRead(Case):
    def write(self, text):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        with open(os.path.join(d, "results.csv"), "w") as f:
            f.write(text)
        return d

    def fixture_text(self):
        with open(os.path.join(FIXTURE, "results.csv")) as f:
            return f.read()

    def test_columns_by_name(self):
        lines = [ln.split(",") for ln in self.fixture_text().splitlines()]
        swapped = "\n".join(",".join(["x" if i else "new_col"] + ln[::-1])
                            for i, ln in enumerate(lines)) + "\n"
        got = data.load(self.write(swapped)).rows
        for g, w in zip(got, self.run.rows):
            self.assertEqual({k: v for k, v in g.items() if k != "new_col"}, w)
        self.assertEqual(len(got), len(self.rows))

    def test_faults_named(self):
        text = self.fixture_text()
        lines = text.splitlines()
        cases = [("", "is empty"), (lines[0] + "\n", "has a header but no rows"),
                 (text.replace("throughput_mps", "tput", 1), "no column throughput_mps"),
                 ("\n".join(lines[:5] + ["a,chan,mutex,1"]) + "\n", "line 6: 4 fields"),
                 ("\n".join(lines[:2] + [lines[2].replace(",chan,", ",,", 1)]) + "\n",
                  "line 3: empty pattern"),
                 ("\x00\x01garbage\n", "no column")]
        tput = lines[0].split(",").index("throughput_mps")
        for bad, col in (("fast", "is not a number"), ("-1", "is not a finite value >= 0"),
                         ("nan", "is not a finite value >= 0")):
            f = lines[3].split(",")
            f[tput] = bad
            cases.append(("\n".join(lines[:3] + [",".join(f)]) + "\n",
                          f"line 4: column throughput_mps = '{bad}' {col}"))
        for text, want in cases:
            with self.subTest(want=want):
                with self.assertRaises(data.PlotError) as e:
                    data.load(self.write(text))
                self.assertIn(want, str(e.exception))

    def test_labels(self):
        self.assertEqual(self.run.labels("worker_pool"),
                         data.Labels("M jobs/s", "submit to done",
                                     "producers submit jobs to a pool of C workers"))
        self.assertEqual(self.run.labels("pingpong").latency_named(), "latency (round trip)")
        self.assertEqual(self.run.labels("no_such_pattern"), data.Labels())
        bare = data.load(self.write(self.fixture_text()))   # no meta.json
        self.assertFalse(bare.has_labels())
        self.assertEqual((bare.labels("chan").throughput, bare.labels("chan").latency),
                         ("M msg/s", "latency"))
        self.assertEqual(bare.labels("chan").latency_named(), "latency")

    def test_go_split_by_gomaxprocs(self):
        rows = [dict(pattern="chan", chan_kind="go", producers="1", consumers="1",
                     queue_depth="64", extras=f"gomaxprocs={n}") for n in (1, 2)]
        rows.append(dict(rows[0], pattern="pingpong"))
        data.split_go(rows)
        self.assertEqual([r["chan_kind"] for r in rows], ["go@1", "go@2", "go"])

    def test_partition(self):
        groups, note = data.partition(self.run.of("chan"), {"chan_kind", "queue_depth"},
                                      topology=True)
        self.assertEqual([g.label for g in groups], ["1p1c", "2p2c"])
        self.assertEqual(note, "")
        groups, note = data.partition(self.run.of("graceful_shutdown"), {"producers"})
        self.assertEqual([g.label for g in groups], ["timeout 1 ns", "timeout 1 s"])
        self.assertEqual(note, "mutex, 1 consumer, depth 64, work 100 µs")
        self.assertEqual(sum(len(g.rows) for g in groups), 12)


# ------------------------------------------------------------------ the chan figures
class TestChan(Case):
    def test_throughput(self):
        p = self.draw(figures.throughput, "chan")
        (ax,) = panels(p.fig)
        self.assertTrue(p.fig._suptitle.get_text().startswith(
            "chan: throughput per scenario and kind\nmedian of 3 repetitions"))
        self.assertIn("run 20261208T014158Z-6156", p.fig._suptitle.get_text())
        self.assertEqual(ax.get_ylabel(), "throughput, M msg/s (log scale)")
        self.assertEqual(ticks(ax), ["d0", "d1", "d64", "d1", "d64"])
        self.assertEqual(ticks(ax.child_axes[0]), ["1p1c", "2p2c"])
        scen = [("1", 0), ("1", 1), ("1", 64), ("2", 1), ("2", 64)]
        for kind, n in (("mutex", 5), ("lockfree", 4)):
            got = bars(ax, kind)
            want = [med(where(self.rows, pattern="chan", chan_kind=kind, producers=pc,
                              consumers=pc, queue_depth=d), "throughput_mps", 1e-6)
                    for pc, d in scen if kind == "mutex" or d]
            self.assertEqual(len(got), n)
            for g, w in zip(got, want):
                self.assertPoint(g, w, kind)

    def test_latency(self):
        p = self.draw(figures.latency, "chan")
        self.assertIn("chan: latency (send to receive) vs queue depth",
                      p.fig._suptitle.get_text())
        axes = panels(p.fig)
        self.assertEqual([ax.get_title() for ax in axes], ["1p1c", "2p2c"])
        self.assertEqual(axes[0].get_ylabel(), "send to receive (log scale)")
        self.assertEqual(len(axes[0].containers), 6)    # 2 kinds x p50, p99, p99.9
        got = line(axes[0], "p99 mutex")
        want = [med(where(self.rows, pattern="chan", chan_kind="mutex", producers=1,
                          queue_depth=d), "lat_p99_ns") for d in (0, 1, 64)]
        self.assertEqual(len(got), 3)
        for g, w in zip(got, want):
            self.assertPoint(g[1:], w)
        self.assertEqual(len(line(axes[1], "p50 lockfree")), 2)  # no rendezvous at 2p2c
        legend = p.fig.axes[-1].get_legend()
        self.assertEqual([t.get_text() for t in legend.get_texts()],
                         ["mutex", "lockfree", "p50", "p99", "p99.9"])

    def test_ratio(self):
        p = self.draw(figures.ratio, "chan")
        (ax,) = panels(p.fig)
        self.assertEqual(ticks(ax), ["d1", "d64", "d1", "d64"])   # d0: mutex alone
        got = bars(ax, "lockfree / mutex")
        for (top, _, _), (pc, d) in zip(got, [("1", 1), ("1", 64), ("2", 1), ("2", 64)]):
            one = (lambda k: med(where(self.rows, pattern="chan", chan_kind=k, producers=pc,
                                       queue_depth=d), "throughput_mps")[0])
            self.assertAlmostEqual(top, one("lockfree") / one("mutex"))

    def test_ratio_skipped(self):
        no_mutex = [r for r in self.run.of("chan") if r["chan_kind"] != "mutex"]
        with self.assertRaisesRegex(figures.Skip, "no mutex"):
            figures.ratio(self.run, no_mutex)
        only = [r for r in self.run.of("chan") if r["chan_kind"] == "mutex"]
        with self.assertRaisesRegex(figures.Skip, "mutex is the only kind"):
            figures.ratio(self.run, only)

    def test_no_latency_recorded(self):
        rows = [dict(r, lat_p50_ns="0", lat_p99_ns="0", lat_p999_ns="0")
                for r in self.run.of("chan", "pingpong", "worker_pool")]
        with self.assertRaisesRegex(figures.Skip, "hold no latency"):
            figures.latency(self.run, [r for r in rows if r["pattern"] == "chan"])
        with self.assertRaisesRegex(figures.Skip, "hold no latency"):
            figures.pingpong(self.run, [r for r in rows if r["pattern"] == "pingpong"])
        p = figures.generic(self.run, [r for r in rows if r["pattern"] == "worker_pool"])
        self.assertEqual(len(panels(p.fig)), 1)
        self.assertEqual(p.skipped, [("latency panel", "the worker_pool rows hold no latency")])


class TestPingpong(Case):
    def test_pingpong(self):
        p = self.draw(figures.pingpong, "pingpong")
        (ax,) = panels(p.fig)
        self.assertIn("pingpong (1p1c, depth 1): latency (round trip) per kind",
                      p.fig._suptitle.get_text())
        self.assertEqual(ax.get_ylabel(), "p50 / p99 round trip (log scale)")
        self.assertEqual(ticks(ax), ["mutex", "lockfree"])
        self.assertEqual(len(unlabelled_bars(ax)), 4)   # p50 and p99 of each kind
        tops = sorted(b.get_y() + b.get_height() for c in unlabelled_bars(ax) for b in c)
        want = sorted(med(where(self.rows, pattern="pingpong", chan_kind=k), c)[0]
                      for k in ("mutex", "lockfree") for c in ("lat_p50_ns", "lat_p99_ns"))
        for g, w in zip(tops, want):
            self.assertAlmostEqual(g, w)
        self.assertEqual(sorted(t.get_text() for t in ax.texts),
                         sorted(data.fmt_ns(w) for w in want))


class TestGeneric(Case):
    def test_worker_pool(self):
        p = self.draw(figures.generic, "worker_pool")
        tput, p99 = panels(p.fig)
        self.assertEqual(tput.get_ylabel(), "throughput, M jobs/s (log scale)")
        self.assertEqual(p99.get_ylabel(), "p99 submit to done (log scale)")
        self.assertEqual(ticks(tput), ["2p1c", "2p2c"])
        for kind in ("mutex", "lockfree"):
            want = [med(where(self.rows, pattern="worker_pool", chan_kind=kind, consumers=c),
                        "throughput_mps", 1e-6) for c in (1, 2)]
            for g, w in zip(bars(tput, kind), want):
                self.assertPoint(g, w)
        self.assertEqual(len(unlabelled_bars(p99)), 2)
        self.assertIn("(M jobs/s; submit to done)", p.desc)

    def test_groups_without_depths(self):
        p = self.draw(figures.generic, "pipeline")
        self.assertEqual(ticks(panels(p.fig)[0]), ["ordered", "unordered"])
        self.assertIn("pipeline (1p2c, 3 stages, work 2 µs, depth 16): throughput and p99 "
                      "latency per scenario", p.fig._suptitle.get_text())


# ------------------------------------------------------------------ the stories
class TestStories(Case):
    def test_backpressure_policies(self):
        p = self.draw(figures.backpressure_policies, "backpressure")
        loss, p99 = panels(p.fig)
        self.assertEqual(ticks(loss), ["250k/s", "1M/s"])
        self.assertEqual(p99.get_ylabel(), "p99 intended send to receive (log scale)")
        for pol in ("block", "drop_newest"):
            rs = [where(self.rows, pattern="backpressure", policy=pol, rate_target=rate)
                  for rate in ("250000", "1e+06")]
            want = [statistics.median(100 * (float(r["dropped"]) + float(r["rejected"]))
                                      / extra(r, "offered") for r in cell) for cell in rs]
            self.assertPoint([pt[1] for pt in line(loss, pol)], want, pol)
            self.assertPoint([pt[1] for pt in line(p99, pol)],
                             [med(cell, "lat_p99_ns")[0] for cell in rs], pol)

    def test_refused_share(self):
        row = dict(dropped="100", rejected="50", messages="600", extras="offered=1000;x=y")
        self.assertEqual(figures.refused_pct(row), 15.0)          # of the extras' offered
        self.assertEqual(figures.refused_pct(dict(row, extras="-")), 20.0)  # of 600 + 150

    def test_fanout_hedging(self):
        p = self.draw(figures.fanout_hedging, "fanout_fanin")
        lat, calls = panels(p.fig)
        self.assertEqual(ticks(lat), ["fixed", "bimodal"])
        for mode in ("all", "hedged"):
            cells = [where(self.rows, pattern="fanout_fanin", policy=f"{mode}_{d}")
                     for d in ("fixed", "bimodal")]
            self.assertPoint([pt[1] for pt in line(lat, f"p99 {mode}")],
                             [med(c, "lat_p99_ns")[0] for c in cells], mode)
            self.assertPoint([pt[1] for pt in line(calls, f"calls {mode}")],
                             [statistics.median(extra(r, "calls_per_req") for r in c)
                              for c in cells], mode)
        legend = p.fig.axes[-1].get_legend()
        self.assertEqual([t.get_text() for t in legend.get_texts()],
                         ["all (no hedging)", "hedged"])

    def test_fanout_needs_gather_policies(self):
        rows = [dict(r, policy="weird") for r in self.run.of("fanout_fanin")]
        with self.assertRaisesRegex(figures.Skip, "<gather>_<distribution>"):
            figures.fanout_hedging(self.run, rows)

    def test_shutdown_inflight(self):
        p = self.draw(figures.shutdown_inflight, "graceful_shutdown")
        lat, done = panels(p.fig)
        self.assertEqual(ticks(lat), ["1", "16"])
        self.assertEqual(lat.get_ylabel(), "p50 / p99 stop to fully stopped (log scale)")
        for t, name in (("1", "grace 1 ns (already over)"), ("1000000000", "grace 1 s")):
            cells = [where(self.rows, pattern="graceful_shutdown", timeout_ns=t, producers=j)
                     for j in (1, 16)]
            self.assertPoint([pt[1] for pt in line(lat, f"p99 {name}")],
                             [med(c, "lat_p99_ns")[0] for c in cells], name)
            self.assertPoint([pt[1] for pt in line(done, f"done {name}")],
                             [statistics.median(100 * extra(r, "done") / extra(r, "in_flight")
                                                for r in c) for c in cells], name)

    def test_workers(self):
        p = self.draw(figures.workers, "chan", "worker_pool")
        axes = panels(p.fig)
        self.assertEqual([ax.get_title() for ax in axes],
                         ["chan: producers = consumers, depth 1",
                          "chan: producers = consumers, depth 64", "worker_pool: 2 producers"])
        self.assertEqual(axes[2].get_ylabel(), "throughput, M jobs/s (log scale)")
        self.assertEqual(axes[0].get_ylabel(), "throughput, M msg/s (log scale)")
        want = [med(where(self.rows, pattern="worker_pool", chan_kind="lockfree", consumers=c),
                    "throughput_mps", 1e-6) for c in (1, 2)]
        for g, w in zip(line(axes[2], "lockfree"), want):
            self.assertPoint(g[1:], w)
        with self.assertRaisesRegex(figures.Skip, "no pingpong rows where the consumer"):
            self.draw(figures.workers, "pingpong")


# ------------------------------------------------------------------ the table and the run
class TestTable(Case):
    def test_every_figure_named_once(self):
        for pattern, fns in figures.FIGURES.items():
            for fn in fns:
                self.assertTrue(fn is figures.generic or fn.svg.endswith(".svg"), fn)
        names = [svg for svg, _, _ in figures.plan(self.run)]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(names, [
            "throughput.svg", "latency.svg", "ratio.svg", "workers.svg", "pingpong.svg",
            "worker_pool.svg", "fanout_fanin.svg", "fanout_hedging.svg", "backpressure.svg",
            "backpressure_policies.svg", "graceful_shutdown.svg", "shutdown_inflight.svg",
            "pipeline.svg", "cancellation.svg"])

    def test_generic_names(self):
        self.assertEqual(figures.generic_svg("workers", set()), "pattern-workers.svg")
        self.assertEqual(figures.generic_svg("a/b", set()), "pattern.svg")
        self.assertEqual(figures.generic_svg("a/b", {"pattern.svg"}), "pattern_.svg")

    def test_skipped_without_rows(self):
        self.run.rows = self.run.of("pingpong")
        self.run.patterns = ["pingpong"]
        out = {svg: (p, left) for svg, p, left in figures.draw(self.run)}
        self.assertEqual(sorted(svg for svg, (p, _) in out.items() if p), ["pingpong.svg"])
        self.assertEqual(out["throughput.svg"][1],
                         [("throughput.svg", "no rows of the chan pattern in this run")])
        self.assertEqual(out["workers.svg"][1], [
            ("workers.svg", "no rows of the chan or worker_pool pattern in this run")])

    def test_failure_keeps_old_plots(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        run_dir = os.path.join(d, "run")
        shutil.copytree(FIXTURE, run_dir)
        os.mkdir(os.path.join(run_dir, "plots"))
        with open(os.path.join(run_dir, "plots", "old.svg"), "w") as f:
            f.write("old")
        real = figures.draw

        def half(run):   # one figure drawn, then a failure
            gen = real(run)
            yield next(gen)
            raise data.PlotError("injected")

        with mock.patch.object(figures, "draw", half), \
                mock.patch("sys.stderr", new_callable=io.StringIO) as err:
            self.assertEqual(cli.main([run_dir]), 1)
        self.assertIn("plot: injected", err.getvalue())
        self.assertEqual(os.listdir(os.path.join(run_dir, "plots")), ["old.svg"])
        self.assertEqual(sorted(os.listdir(run_dir)),
                         ["README.md", "meta.json", "plots", "results.csv"])


if __name__ == "__main__":
    unittest.main()
