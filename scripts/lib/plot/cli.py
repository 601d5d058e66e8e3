# SPDX-License-Identifier: MIT
"""main(): draws every figure of one run folder into RUN_DIR/plots, atomically.

Everything is written into a temp folder inside RUN_DIR (so the final rename stays on one
file system); only when every figure was saved and checked does it replace RUN_DIR/plots: the
old plots/ is moved aside, the new one renamed in (the old one put back if that fails), and
the temp folder removed whatever happens. A failure never leaves a half-written plots/.
Prints each file written (stdout), each figure not drawn and why (stderr).

Exit status: 0 written, 1 runtime error (no/empty/malformed results.csv, no matplotlib, a
figure not written), 2 usage (not exactly one argument, RUN_DIR not a folder), 130/143 on
SIGINT/SIGTERM.
"""

import os
import shutil
import signal
import sys
import tempfile

from .data import PlotError, load

ME = "plot"


def say(msg):
    print(f"{ME}: {msg}", file=sys.stderr)


def main(argv):
    if len(argv) != 1 or argv[0].startswith("-"):
        say("usage: plot RUN_DIR (see scripts/plot --help)")
        return 2
    run_dir = argv[0]
    if not os.path.isdir(run_dir):
        say(f"run folder '{run_dir}' does not exist or is not a folder")
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return plot(run_dir)
    except PlotError as e:
        say(str(e))
        return 1
    except KeyboardInterrupt:
        return 130


def plot(run_dir):
    csv = os.path.join(run_dir, "results.csv")
    if not os.path.isfile(csv):
        raise PlotError(f"no results.csv in '{run_dir}' (is it a patlab run folder?)")
    try:
        from . import figures
    except ImportError as e:
        raise PlotError(f"{sys.executable} cannot import matplotlib ({e}): install "
                        "python3-matplotlib (scripts/deps), or set PLOT_PYTHON to a Python "
                        "that has it") from None
    run = load(run_dir)
    if run.lost_rows:
        say(f"{run.lost_rows} row(s) with lost messages (a bug in a kind; see summary.md); "
            "they are plotted like the others")
    try:
        tmp = tempfile.mkdtemp(prefix=".plots.", dir=run_dir)
    except OSError as e:
        raise PlotError(f"cannot create a temp folder in '{run_dir}' (read-only?): {e}") from None
    try:
        out = os.path.join(tmp, "plots")
        os.mkdir(out)
        written, skipped = [], []
        for svg, p, left_out in figures.draw(run):
            skipped += left_out
            if p:
                save(p.fig, os.path.join(out, svg))
                written.append((svg, p.desc))
        if not written:
            raise PlotError(f"{csv}: nothing to plot")
        write_readme(os.path.join(out, "README.md"), run, written, skipped)
        swap(out, os.path.join(run_dir, "plots"), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for svg, _ in written:
        print(os.path.join(run_dir, "plots", svg))
    print(os.path.join(run_dir, "plots", "README.md"))
    for what, why in skipped:
        say(f"skipped {what}: {why}")
    return 0


def save(fig, path):
    """Writes fig as SVG and checks the file is whole."""
    try:
        fig.savefig(path, format="svg", metadata={"Date": None})
        with open(path, "rb") as f:
            f.seek(max(os.path.getsize(path) - 64, 0))
            whole = b"</svg>" in f.read()
    except (OSError, ValueError, RuntimeError) as e:
        raise PlotError(f"cannot write {os.path.basename(path)}: {e}") from None
    if not whole:
        raise PlotError(f"{os.path.basename(path)} was not written whole")


def swap(new, dest, tmp):
    """Renames new to dest; an existing dest is moved into tmp first, and back on failure."""
    old = None
    try:
        if os.path.lexists(dest):
            old = os.path.join(tmp, "old")
            os.rename(dest, old)
        os.rename(new, dest)
    except OSError as e:
        if old and not os.path.lexists(dest):
            os.rename(old, dest)
        raise PlotError(f"cannot move the plots into '{dest}': {e}") from None


def write_readme(path, run, written, skipped):
    r = run.first
    lines = [f"# Plots of run {r('run_id')}", "",
             f"Drawn by `scripts/plot` from `../results.csv` ({len(run.rows)} rows; "
             f"{run.machine}, git {r('git_rev')}).", ""]
    if run.sanitized:
        lines += ["**Sanitized build: these are not performance figures.**", ""]
    lines += ["Every point aggregates the repetitions of one scenario x kind: the median, with "
              "error bars from the smallest to the largest repetition. Scenario = producers p "
              "x consumers c at queue depth d (0 = rendezvous), plus any other parameter the "
              "sweep varied. Columns and how they are measured: `results/README.md`. Compare "
              "kinds within one run; absolute figures drift between runs.", "",
              "| file | what it shows |", "|---|---|"]
    lines += [f"| [{svg}]({svg}) | {desc} |" for svg, desc in written]
    lines += ["", "What each pattern's figures count (`../meta.json`, \"patterns\"):", ""]
    if run.has_labels():
        lines += ["| pattern | throughput | latency spans | what it runs |", "|---|---|---|---|"]
        for p in run.patterns:
            lab = run.labels(p)
            cells = (p, lab.throughput, lab.latency, lab.summary or "-")
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ")
                                           for c in cells) + " |")
    else:
        lines.append("this run's meta.json names no labels (an older run): throughput reads "
                     "as generic M msg/s, latency as the time each pattern measures "
                     "(`results/README.md`).")
    if skipped:
        lines += ["", "Not drawn:", ""] + [f"- {what}: {why}" for what, why in skipped]
    if run.lost_rows:
        lines += ["", f"**{run.lost_rows} row(s) lost messages** (a correctness bug in a kind; "
                  "see `../summary.md`): they are plotted like the others."]
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    except OSError as e:
        raise PlotError(f"cannot write {path}: {e}") from None
