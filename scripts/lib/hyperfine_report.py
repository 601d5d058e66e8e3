# SPDX-License-Identifier: MIT
"""hyperfine_report.py - meta.json, summary.md and the plot of a hyperfine run folder.

Used by scripts/hyperfine-shutdown and scripts/hyperfine-sweep, which let hyperfine export
its JSON and CSV (hyperfine.json, hyperfine.csv) into a run folder; this program adds what a
patlab run folder has:

  meta <RUN_DIR> start <instrument> [key=value ...] -- <argv...>
      meta.json: the instrument, its command line, the settings (key=value), the machine
      (host, CPU, cores, kernel), git revision, hyperfine's version, and the load average
      when it started (the machine's load is part of what produced a whole-process timing).
  meta <RUN_DIR> finish <status>
      adds the status, the finishing time and the load average at the end.
  shutdown <RUN_DIR>
      hyperfine.json + cycles.csv (scripts/lib/svc_cycle.py's per-cycle figures) ->
      summary.md and plots/shutdown.svg: patlab-svc's exit time vs jobs in flight.
  sweep <RUN_DIR>
      hyperfine.json + sweeps/*/meta.json (the timed sweeps' own run folders) ->
      summary.md and plots/sweep.svg: a whole sweep's wall time vs --seconds per run, beside
      the time the sweep planned to measure.

Plots are drawn by gnuplot (GNUPLOT, default gnuplot) into a temp folder that replaces
RUN_DIR/plots only once the SVG is complete. Standard library only.
Exit: 0 ok, 1 error (message on stderr), 2 usage.
"""
import csv
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ME = "hyperfine_report"


def die(msg, code=1):
    print(f"{ME}: {msg}", file=sys.stderr)
    sys.exit(code)


def utc_now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def loadavg():
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return [float(x) for x in f.read().split()[:3]]
    except (OSError, ValueError):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def cmd_out(argv, cwd=None):
    try:
        r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def git_rev(src):
    rev = cmd_out(["git", "rev-parse", "--short=12", "HEAD"], src)
    if not rev:
        return "unknown"
    dirty = cmd_out(["git", "status", "--porcelain", "--untracked-files=no"], src)
    return rev + ("-dirty" if dirty else "")


def meta_path(run):
    return os.path.join(run, "meta.json")


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def read_meta(run):
    try:
        with open(meta_path(run), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        die(f"cannot read {meta_path(run)}: {e}")


def cmd_meta(args):
    if len(args) < 2:
        die("usage: meta RUN_DIR start|finish ...", 2)
    run, what = args[0], args[1]
    if what == "start":
        if len(args) < 3 or "--" not in args:
            die("usage: meta RUN_DIR start INSTRUMENT [key=value ...] -- ARGV...", 2)
        sep = args.index("--")
        settings = {}
        for kv in args[3:sep]:
            k, _, v = kv.partition("=")
            settings[k] = v
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        hv = cmd_out(["hyperfine", "--version"]) or "unknown"
        meta = {
            "run_id": os.path.basename(os.path.normpath(run)),
            "instrument": args[2],
            "status": "running",
            "started_utc": utc_now(),
            "finished_utc": "-",
            "command": args[sep + 1:],
            "settings": settings,
            "git_rev": git_rev(src),
            "host": socket.gethostname(),
            "cpu_model": cpu_model(),
            "cpus": os.cpu_count(),
            "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
            "hyperfine": hv.replace("hyperfine ", ""),
            "loadavg_start": loadavg(),
            "loadavg_end": None,
        }
        write_json(meta_path(run), meta)
    elif what == "finish":
        if len(args) != 3:
            die("usage: meta RUN_DIR finish STATUS", 2)
        meta = read_meta(run)
        meta["status"] = args[2]
        meta["finished_utc"] = utc_now()
        meta["loadavg_end"] = loadavg()
        write_json(meta_path(run), meta)
    else:
        die(f"meta: unknown step '{what}' (start, finish)", 2)


# ------------------------------------------------------------------ hyperfine.json
def read_hyperfine(run, param):
    """{parameter value (float): [seconds per timed run]} in hyperfine's order."""
    path = os.path.join(run, "hyperfine.json")
    try:
        with open(path, encoding="utf-8") as f:
            res = json.load(f)["results"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        die(f"cannot read {path}: {e}")
    out = {}
    for r in res:
        try:
            v = float(r["parameters"][param])
            times = [float(t) for t in r["times"]]
        except (KeyError, TypeError, ValueError):
            die(f"{path}: a result without parameter '{param}' or times")
        if not times:
            die(f"{path}: no timed runs for {param} = {v:g}")
        out[v] = times
    if not out:
        die(f"{path}: no results")
    return out


def agg(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt_s(x):
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(x) >= f:
            return f"{x / f:.3g} {unit}"
    return f"{x * 1e9:.3g} ns"


def fmt_v(v):
    return f"{v:g}"


def load_note(meta):
    a, b = meta.get("loadavg_start"), meta.get("loadavg_end")
    if not a:
        return "load average unknown"
    s = f"load average {a[0]:.1f} at the start"
    if b:
        s += f", {b[0]:.1f} at the end"
    else:
        now = loadavg()
        if now:
            s += f", {now[0]:.1f} at the end"
    return s


def info_line(meta):
    return (f"run {meta.get('run_id', '?')} | {meta.get('cpu_model', '?')}, "
            f"{meta.get('cpus', '?')} cpus | git {meta.get('git_rev', '?')} | "
            f"{load_note(meta)}")


# ------------------------------------------------------------------ gnuplot
def dq(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def draw(run, svg, gp_lines, dats):
    """Writes the data files and the script into a temp folder, runs gnuplot, checks the SVG,
    then swaps RUN_DIR/plots (README.md included) in."""
    gnuplot = os.environ.get("GNUPLOT", "gnuplot")
    if shutil.which(gnuplot) is None:
        print(f"{ME}: gnuplot not found ('{gnuplot}'): no plot (apt-get install gnuplot-nox, "
              "or set GNUPLOT); summary.md is written", file=sys.stderr)
        return None
    tmp = tempfile.mkdtemp(prefix=".plots.", dir=run)
    try:
        work = os.path.join(tmp, "work")
        plots = os.path.join(tmp, "plots")
        os.mkdir(work)
        os.mkdir(plots)
        for name, lines in dats.items():
            with open(os.path.join(work, name), "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        with open(os.path.join(work, "plot.gp"), "w", encoding="utf-8") as f:
            f.write("\n".join(gp_lines) + "\nunset output\n")
        r = subprocess.run([gnuplot, "plot.gp"], cwd=work, capture_output=True, text=True)
        out = os.path.join(work, svg)
        if r.returncode != 0 or not os.path.exists(out):
            die(f"gnuplot failed on {svg}:\n{r.stderr.strip()}")
        with open(out, encoding="utf-8", errors="replace") as f:
            if "</svg>" not in f.read():
                die(f"gnuplot wrote no complete {svg}:\n{r.stderr.strip()}")
        os.replace(out, os.path.join(plots, svg))
        return tmp, plots
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def install_plots(run, tmp, plots, readme):
    with open(os.path.join(plots, "README.md"), "w", encoding="utf-8") as f:
        f.write(readme)
    final = os.path.join(run, "plots")
    old = None
    try:
        if os.path.lexists(final):
            old = tempfile.mkdtemp(prefix=".plots-old.", dir=run)
            os.rename(final, os.path.join(old, "plots"))
        os.rename(plots, final)
    except OSError as e:
        if old and not os.path.lexists(final):
            os.rename(os.path.join(old, "plots"), final)
        die(f"cannot move the plots into {final}: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    return os.path.join(final, list(p for p in os.listdir(final) if p.endswith(".svg"))[0])


def fig_width(title, least=900):
    """Wide enough for the longest title line (font 13: about 7.8 px a character)."""
    return max(least, int(max(len(x) for x in title.split("\n")) * 7.8) + 60)


def head(width, height, svg):
    return ["set encoding utf8",
            f"set terminal svg size {width},{height} dynamic noenhanced "
            "font 'sans-serif,12' background rgb 'white'",
            f"set output {dq(svg)}",
            "set grid xtics ytics lc rgb '#dddddd' lw 1",
            "set border 3 lw 1", "set tics nomirror", "set errorbars small",
            "set key top left Left reverse samplen 2 spacing 1.3 box lc rgb '#bbbbbb'"]


def write_text(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------ shutdown
def cmd_shutdown(run):
    meta = read_meta(run)
    st = meta.get("settings", {})
    hf = read_hyperfine(run, "inflight")
    cycles = {}
    path = os.path.join(run, "cycles.csv")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                cycles.setdefault(float(r["inflight"]), []).append(r)
    except (OSError, KeyError, ValueError, csv.Error) as e:
        die(f"cannot read {path}: {e}")
    cost_us = float(st.get("cost_us", "0") or 0)
    workers = float(st.get("workers", "1") or 1)
    rows = []
    for n in sorted(hf):
        times = hf[n]
        # hyperfine runs a parameter's warm-ups right before its timed runs, and each cycle
        # appends one line: the last len(times) lines of a value are the timed ones
        cyc = cycles.get(n, [])[-len(times):]
        if len(cyc) != len(times):
            die(f"{path}: {len(cyc)} cycle records for inflight {n:g}, hyperfine timed "
                f"{len(times)}")
        ex = [int(r["exit_ns"]) * 1e-9 for r in cyc]
        rows.append(dict(n=n, hf=agg(times), exit=agg(ex), runs=len(times),
                         drain=n * cost_us * 1e-6 / workers,
                         done=statistics.median(int(r["done"]) for r in cyc),
                         cancelled=statistics.median(int(r["cancelled"]) for r in cyc),
                         returned=statistics.median(int(r["returned"]) for r in cyc),
                         status=sorted({r["exit_status"] for r in cyc})))
    grace = st.get("grace", "?")
    title = (f"patlab-svc: time to exit after SIGTERM vs jobs in flight\n"
             f"{fmt_v(workers)} workers, {st.get('kind', '?')} kind, jobs of "
             f"{fmt_v(cost_us)} µs CPU each, grace {grace}; median of {rows[0]['runs']} runs, "
             "error bars min-max\n" + info_line(meta))
    dats = {
        "hf.dat": [f"{r['n']:g} {r['hf'][0] * 1e3:g} {r['hf'][1] * 1e3:g} {r['hf'][2] * 1e3:g}"
                   for r in rows],
        "exit.dat": [f"{r['n']:g} {r['exit'][0] * 1e3:g} {r['exit'][1] * 1e3:g} "
                     f"{r['exit'][2] * 1e3:g}" for r in rows],
        "drain.dat": [f"{r['n']:g} {r['drain'] * 1e3:g}" for r in rows],
    }
    xmax = max(r["n"] for r in rows)
    gp = head(fig_width(title), 600, "shutdown.svg") + [
        f"set title {dq(title)} font ',13'",
        f"set xrange [{-0.04 * max(xmax, 1):g}:{max(xmax, 1) * 1.06:g}]",
        "set yrange [0:*]",
        "set xtics (" + ", ".join(f"{dq(fmt_v(r['n']))} {r['n']:g}" for r in rows) + ")",
        "set xlabel 'jobs in flight when SIGTERM arrives'",
        "set ylabel 'time (ms)'",
        "plot 'hf.dat' using 1:2:3:4 with yerrorlines lc rgb '#1f77b4' lw 2 pt 7 ps 0.8 "
        "title 'whole cycle, timed by hyperfine (start, submit, SIGTERM, exit)', "
        "'exit.dat' using 1:2:3:4 with yerrorlines lc rgb '#d62728' lw 2 pt 5 ps 0.8 "
        "title 'SIGTERM -> exit (measured by the cycle, pidfd)', "
        "'drain.dat' using 1:2 with lines dt 2 lw 1.5 lc rgb '#555555' "
        "title 'ideal drain: jobs x cost / workers'"]
    table = ["| jobs in flight | runs | whole cycle (hyperfine) | SIGTERM -> exit | "
             "ideal drain | done / cancelled / returned | exit status |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(
            f"| {fmt_v(r['n'])} | {r['runs']} | {fmt_s(r['hf'][0])} ({fmt_s(r['hf'][1])} – "
            f"{fmt_s(r['hf'][2])}) | {fmt_s(r['exit'][0])} ({fmt_s(r['exit'][1])} – "
            f"{fmt_s(r['exit'][2])}) | {fmt_s(r['drain']) if r['drain'] else '0'} | "
            f"{fmt_v(r['done'])} / {fmt_v(r['cancelled'])} / {fmt_v(r['returned'])} | "
            f"{', '.join(r['status'])} |")
    summary = (
        f"# {meta.get('run_id')}\n\n"
        f"`{' '.join(meta.get('command', []))}`\n\n"
        f"patlab-svc with {fmt_v(workers)} workers ({st.get('kind', '?')} kind), grace "
        f"{grace}; each cycle starts it, submits N jobs of {fmt_v(cost_us)} µs CPU, waits "
        "until the service has read them all, sends SIGTERM and waits for the exit. "
        f"{meta.get('cpu_model')}, {meta.get('cpus')} cpus, git {meta.get('git_rev')}, "
        f"{load_note(meta)}.\n\n"
        "Median (min – max) over the timed runs; hyperfine's warm-up runs are excluded from "
        "both columns. *SIGTERM -> exit* is the service's own shutdown (the drain); the whole "
        "cycle adds Python's and the service's start-up and the submission.\n\n"
        + "\n".join(table) + "\n\n"
        "Files: `hyperfine.json`, `hyperfine.csv` (hyperfine's exports), `cycles.csv` (one "
        "line per cycle, warm-ups included), `meta.json`, `plots/shutdown.svg`.\n")
    write_text(os.path.join(run, "summary.md"), summary)
    print(os.path.join(run, "summary.md"))
    drawn = draw(run, "shutdown.svg", gp, dats)
    if drawn is None:
        return
    readme = (f"# Plots of {meta.get('run_id')}\n\n"
              "| file | what it shows |\n|---|---|\n"
              "| [shutdown.svg](shutdown.svg) | patlab-svc's time to exit after SIGTERM "
              "against the jobs in flight: the whole cycle as hyperfine timed it and the "
              "SIGTERM -> exit interval alone, medians with min-max error bars, and the ideal "
              "drain time (jobs x cost / workers) |\n")
    print(install_plots(run, *drawn, readme))


# ------------------------------------------------------------------ sweep
def cmd_sweep(run):
    meta = read_meta(run)
    st = meta.get("settings", {})
    hf = read_hyperfine(run, "seconds")
    plans = {}
    sweeps = os.path.join(run, "sweeps")
    try:
        names = sorted(os.listdir(sweeps))
    except OSError as e:
        die(f"cannot list {sweeps}: {e}")
    for name in names:
        p = os.path.join(sweeps, name, "meta.json")
        if name == "latest" or not os.path.isfile(p):
            continue
        try:
            with open(p, encoding="utf-8") as f:
                m = json.load(f)
            plans.setdefault(float(m["seconds"]), []).append(m)
        except (OSError, ValueError, KeyError, TypeError) as e:
            die(f"cannot read {p}: {e}")
    rows = []
    for s in sorted(hf):
        ms = plans.get(s)
        if not ms:
            die(f"no sweep run folder in {sweeps} with seconds = {s:g}")
        runs = ms[-1].get("runs_planned", 0)
        warm = float(ms[-1].get("warmup_s", 0))
        planned = runs * (s + warm)
        med = agg(hf[s])
        rows.append(dict(s=s, hf=med, runs=runs, points=ms[-1].get("points", 0),
                         warm=warm, planned=planned, n=len(hf[s]),
                         over=(med[0] - planned) / runs if runs else 0.0,
                         status=sorted({m.get("status", "?") for m in ms})))
    extra = st.get("sweep_args", "")
    title = (f"a whole patlab sweep: wall time vs --seconds per run\n"
             f"grid: {extra}; median of {rows[0]['n']} sweeps, error bars min-max\n"
             + info_line(meta))
    dats = {"hf.dat": [f"{r['s']:g} {r['hf'][0]:g} {r['hf'][1]:g} {r['hf'][2]:g}"
                       for r in rows],
            "plan.dat": [f"{r['s']:g} {r['planned']:g}" for r in rows]}
    xmax = max(r["s"] for r in rows)
    gp = head(fig_width(title), 600, "sweep.svg") + [
        f"set title {dq(title)} font ',13'",
        f"set xrange [0:{xmax * 1.08:g}]", "set yrange [0:*]",
        "set xtics (" + ", ".join(f"{dq(fmt_v(r['s']))} {r['s']:g}" for r in rows) + ")",
        "set xlabel 'measured seconds per run (--seconds)'",
        "set ylabel 'wall time of the whole sweep (s)'",
        "plot 'hf.dat' using 1:2:3:4 with yerrorlines lc rgb '#1f77b4' lw 2 pt 7 ps 0.8 "
        "title 'patlab sweep, timed by hyperfine', "
        "'plan.dat' using 1:2 with linespoints dt 2 lw 1.5 pt 6 lc rgb '#555555' "
        "title 'planned: runs x (seconds + warm-up)'"]
    table = ["| --seconds | sweeps | points | runs | planned | wall time (hyperfine) | "
             "overhead per run | status |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {fmt_v(r['s'])} | {r['n']} | {r['points']} | {r['runs']} | "
                     f"{fmt_s(r['planned'])} | {fmt_s(r['hf'][0])} ({fmt_s(r['hf'][1])} – "
                     f"{fmt_s(r['hf'][2])}) | {fmt_s(r['over'])} | "
                     f"{', '.join(r['status'])} |")
    summary = (
        f"# {meta.get('run_id')}\n\n"
        f"`{' '.join(meta.get('command', []))}`\n\n"
        f"Each timed command: `patlab sweep {extra} --seconds S` (one run folder each under "
        f"`sweeps/`). {meta.get('cpu_model')}, {meta.get('cpus')} cpus, git "
        f"{meta.get('git_rev')}, {load_note(meta)}.\n\n"
        "*Planned* is what the sweep meant to spend in measured windows and warm-ups (runs x "
        "(seconds + warm-up)); *overhead per run* = (median wall time - planned) / runs: "
        "thread start-up and joins, setup and teardown of each point, the atomic CSV rewrite "
        "after every run, process start.\n\n"
        + "\n".join(table) + "\n\n"
        "Files: `hyperfine.json`, `hyperfine.csv` (hyperfine's exports), `sweeps/` (the "
        "timed sweeps' run folders), `meta.json`, `plots/sweep.svg`.\n")
    write_text(os.path.join(run, "summary.md"), summary)
    print(os.path.join(run, "summary.md"))
    drawn = draw(run, "sweep.svg", gp, dats)
    if drawn is None:
        return
    readme = (f"# Plots of {meta.get('run_id')}\n\n"
              "| file | what it shows |\n|---|---|\n"
              "| [sweep.svg](sweep.svg) | the wall time of a whole `patlab sweep` against "
              "--seconds per run (median of the timed sweeps, min-max error bars) beside the "
              "time it planned to measure; the gap is the harness's own overhead |\n")
    print(install_plots(run, *drawn, readme))


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    cmd, args = argv[0], argv[1:]
    if cmd == "meta":
        cmd_meta(args)
    elif cmd in ("shutdown", "sweep"):
        if len(args) != 1 or not os.path.isdir(args[0]):
            die(f"usage: {cmd} RUN_DIR (an existing folder)", 2)
        (cmd_shutdown if cmd == "shutdown" else cmd_sweep)(args[0])
    else:
        die(f"unknown command '{cmd}' (meta, shutdown, sweep)", 2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
