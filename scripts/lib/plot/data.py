# SPDX-License-Identifier: MIT
"""What the figures are drawn from: one run folder read, grouped and aggregated.

load() reads RUN_DIR/results.csv by column NAME (never by position: patlab may add columns)
and RUN_DIR/meta.json (optional: the run's per-pattern labels), checks every value the
figures use, and returns a Run. The grouping lives here and only here: DIMS names the
parameters a sweep can vary, config() keys a row by them, partition() splits rows by the ones
that vary and names the ones that do not. Repetitions are aggregated by med3(): the median,
with the min and max for the error bars. Nothing here draws.
"""

import csv
import json
import math
import os
import statistics
import sys
from dataclasses import dataclass


class PlotError(Exception):
    """A runtime error the user can act on; printed as 'plot: MESSAGE', exit status 1."""


REQUIRED = ("pattern", "chan_kind", "producers", "consumers", "queue_depth", "rep",
            "throughput_mps", "lat_p50_ns", "lat_p99_ns", "lat_p999_ns")
NUMERIC = ("producers", "consumers", "throughput_mps", "lat_p50_ns", "lat_p99_ns",
           "lat_p999_ns")


# ------------------------------------------------------------------ formatting
def fmt_num(x):
    return f"{x:g}"


def fmt_ns(x):
    """A duration in ns with a readable unit: 1.5 µs, 20 ms."""
    for unit, f in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if x >= f:
            return f"{x / f:.3g} {unit}"
    return f"{x:.3g} ns"


def fmt_si(x):
    for unit, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= f:
            return f"{x / f:g}{unit}"
    return f"{x:g}"


def plural(v, noun):
    return f"{v} {noun}" + ("" if v == "1" else "s")


def kind_name(k):
    return "(no channel)" if k == "-" else k


def sort_key(v):
    """Numbers numerically, 'unbounded' after every number, other text after that; tuples
    element by element."""
    if isinstance(v, tuple):
        return tuple(sort_key(x) for x in v)
    if v == "unbounded":
        return (1, 0.0, "")
    try:
        return (0, float(v), "")
    except ValueError:
        return (2, 0.0, v)


# ------------------------------------------------------------------ the scenario's dimensions
@dataclass(frozen=True)
class Dim:
    """A column a sweep can vary. default: the value that means "not used" (never named in a
    title); None when every value is worth naming."""
    name: str
    default: object
    label: object  # value (str) -> text


DIMS = (
    Dim("chan_kind", None, kind_name),
    Dim("producers", None, lambda v: plural(v, "producer")),
    Dim("consumers", None, lambda v: plural(v, "consumer")),
    Dim("stages", "1", lambda v: f"{v} stages"),
    Dim("queue_depth", None, lambda v: "unbounded" if v == "unbounded" else f"depth {v}"),
    Dim("work_ns", "0", lambda v: f"work {fmt_ns(float(v))}"),
    Dim("rate_target", "0",
        lambda v: "closed loop" if float(v) == 0 else f"rate {fmt_si(float(v))}/s"),
    Dim("policy", "-", str),
    Dim("timeout_ns", "0",
        lambda v: "timeout default" if float(v) == 0 else f"timeout {fmt_ns(float(v))}"),
    Dim("spin_ns", "50000", lambda v: f"spin {fmt_ns(float(v))}"),
    Dim("pin", "none", lambda v: f"pinned {v}"),
)


def dim_text(name, v):
    """Value v of dimension name, as titles name it: "depth 64", "work 2 µs"."""
    return next(d for d in DIMS if d.name == name).label(v)


# producers and consumers as one dimension, "4p1c" (the bar figures' clusters)
TOPOLOGY = Dim("topology", None, lambda v: f"{v[0]}p{v[1]}c")


def value(r, d):
    return (r["producers"], r["consumers"]) if d is TOPOLOGY else r.get(d.name, "-")


def config(r, exclude=("chan_kind",)):
    """The configuration key of row r: its value in every dimension but those excluded."""
    return (r["pattern"],) + tuple(r.get(d.name, "-") for d in DIMS if d.name not in exclude)


@dataclass
class Group:
    key: tuple
    label: str
    rows: list


def partition(rows, used, topology=False, labels=None):
    """Splits rows by the dimensions that vary among them, other than those in used (what a
    figure puts on its axes and in its series).

    topology: producers and consumers count as one dimension, labelled "4p1c". labels: {dim
    name: value -> text} overriding a dimension's label. Returns ([Group] sorted by key, note),
    where note names what is constant and not a default (for the title)."""
    dims = [d for d in DIMS if d.name not in used and (d.name in rows[0] if rows else False)]
    if topology:
        dims = [TOPOLOGY] + [d for d in dims if d.name not in ("producers", "consumers")]
    labels = labels or {}
    text = (lambda d, v: labels[d.name](v) if d.name in labels else d.label(v))
    varying = [d for d in dims if len({value(r, d) for r in rows}) > 1]
    note = ", ".join(text(d, value(rows[0], d)) for d in dims
                     if d not in varying and value(rows[0], d) != d.default) if rows else ""
    out = {}
    for r in rows:
        key = tuple(value(r, d) for d in varying)
        if key not in out:
            out[key] = Group(key, ", ".join(text(d, v) for d, v in zip(varying, key)), [])
        out[key].rows.append(r)
    return [out[k] for k in sorted(out, key=sort_key)], note


def cells(groups, *cols):
    """{(group key,) + (row[c] for c in cols): [rows]} over the groups' rows: the cells whose
    repetitions one point (or bar) aggregates."""
    out = {}
    for g in groups:
        for r in g.rows:
            out.setdefault((g.key,) + tuple(r[c] for c in cols), []).append(r)
    return out


def bucket(rows, keyf):
    """{keyf(row): [rows]}, in the order the keys first appear."""
    out = {}
    for r in rows:
        out.setdefault(keyf(r), []).append(r)
    return out


# ------------------------------------------------------------------ values
def med3(xs):
    """(median, min, max) of xs: the point and its error bar."""
    return statistics.median(xs), min(xs), max(xs)


def fcol(r, c, default=0.0):
    """Column c of row r as a finite number, or default (column absent or not a number)."""
    try:
        x = float(r.get(c, default))
    except (TypeError, ValueError):
        return default
    return x if math.isfinite(x) else default


def extras(r):
    """The extras column (name=value;...) as {name: text}."""
    e = r.get("extras", "-")
    return {k.strip(): v for k, sep, v in (kv.partition("=") for kv in e.split(";")) if sep}


def extras_of(r):
    """The extras as {name: number}; a value that is not a finite number is left out."""
    out = {}
    for k, v in extras(r).items():
        try:
            x = float(v)
        except ValueError:
            continue
        if math.isfinite(x):
            out[k] = x
    return out


def has_latency(rows, c="lat_p50_ns"):
    return any(fcol(r, c) > 0 for r in rows)


# ------------------------------------------------------------------ the run
KIND_COLORS = {"mutex": "#6e6e6e", "lockfree": "#1f77b4", "urcu": "#d62728",
               "spsc": "#2ca02c", "go": "#00add8"}
SPARE_COLORS = ("#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                "#393b79", "#637939")
GENERIC_LABELS = {"throughput": "M msg/s", "latency": "latency"}


@dataclass(frozen=True)
class Labels:
    """What a pattern's throughput counts and what its latency spans (meta.json's "patterns";
    the generic words for a run folder without them)."""
    throughput: str = GENERIC_LABELS["throughput"]
    latency: str = GENERIC_LABELS["latency"]
    summary: str = ""

    def latency_named(self):
        """'latency', or 'latency (what it spans)' when the run says."""
        generic = self.latency == GENERIC_LABELS["latency"]
        return "latency" if generic else f"latency ({self.latency})"


class Run:
    """One run folder's rows (dicts of column -> text, every REQUIRED column present and
    checked), its kinds in plotting order with their colours, and what titles say of it."""

    def __init__(self, rows, meta):
        self.rows = rows
        self.meta = meta
        r0 = rows[0]
        self.sanitized = any("sanit" in r.get("build_type", "") for r in rows)
        self.lost_rows = sum(1 for r in rows if r.get("lost", "0") not in ("0", "0.0"))
        build = r0.get("build_type", "")
        self.machine = (f"{r0.get('cpu_model', '?')}, {r0.get('cpus', '?')} cpus, "
                        f"{r0.get('compiler', '?')}" + (f" {build}" if build else ""))
        self.info = (f"run {r0.get('run_id', '?')} | {self.machine} | "
                     f"git {r0.get('git_rev', '?')}")
        if self.sanitized:
            self.info += "\nSANITIZED BUILD: these are not performance figures"
        split_go(rows)
        seen = list(dict.fromkeys(r["chan_kind"] for r in rows))
        known = list(KIND_COLORS)
        # mutex (the lock-based baseline) first, then the known kinds, then the sweep's order
        self.kinds = sorted(seen, key=lambda k: (known.index(k) if k in known else 99,
                                                 seen.index(k)))
        spare = iter(SPARE_COLORS * (1 + len(seen) // len(SPARE_COLORS)))
        self.color = {k: KIND_COLORS.get(k) or next(spare) for k in self.kinds}
        self.patterns = list(dict.fromkeys(r["pattern"] for r in rows))

    def first(self, name):
        return self.rows[0].get(name, "?")

    def of(self, *patterns):
        return [r for r in self.rows if r["pattern"] in patterns]

    def kinds_in(self, rows):
        present = {r["chan_kind"] for r in rows}
        return [k for k in self.kinds if k in present]

    def marker(self, k):
        return MARKERS[self.kinds.index(k) % len(MARKERS)]

    def labels(self, pattern):
        p = self.meta.get("patterns")
        p = p.get(pattern) if isinstance(p, dict) else None
        if not isinstance(p, dict):
            return Labels()
        get = (lambda k: p[k] if isinstance(p.get(k), str) and p[k] else GENERIC_LABELS[k])
        s = p.get("summary")
        return Labels(get("throughput"), get("latency"), s if isinstance(s, str) else "")

    def has_labels(self):
        return isinstance(self.meta.get("patterns"), dict)


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def split_go(rows):
    """Go's own channels (kind "go"): where one scenario has go rows at several GOMAXPROCS
    values (patlab sweep --gomaxprocs 1,2), each value becomes a kind of its own, go@N, as in
    patlab's summary; otherwise go stays one kind."""
    procs = (lambda r: extras(r).get("gomaxprocs", "?"))
    seen = {}
    for r in rows:
        if r["chan_kind"] == "go":
            seen.setdefault(config(r), set()).add(procs(r))
    split = {k[0] for k, v in seen.items() if len(v) > 1}
    for r in rows:
        if r["chan_kind"] == "go" and r["pattern"] in split:
            r["chan_kind"] = "go@" + procs(r)


# ------------------------------------------------------------------ reading
def load(run_dir):
    """Reads run_dir/results.csv and run_dir/meta.json. Raises PlotError with a message that
    names the file, the line and the column of the first problem found."""
    path = os.path.join(run_dir, "results.csv")
    rows = read_csv(path)
    return Run(rows, read_meta(os.path.join(run_dir, "meta.json")))


def read_csv(path):
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            lines = [(n, rec) for n, rec in enumerate(csv.reader(f), 1) if rec]
    except (OSError, csv.Error) as e:
        raise PlotError(f"cannot read {path}: {e}") from None
    if not lines:
        raise PlotError(f"{path} is empty")
    hline, header = lines[0]
    header = [h.strip() for h in header]
    col = {}
    for i, h in enumerate(header):
        col.setdefault(h, i)
    missing = [c for c in REQUIRED if c not in col]
    if missing:
        raise PlotError(f"{path}: malformed header (line {hline}): no column "
                        f"{', '.join(missing)}")
    if len(lines) == 1:
        raise PlotError(f"{path} has a header but no rows")
    rows = []
    for n, rec in lines[1:]:
        if len(rec) != len(header):
            raise PlotError(f"{path} line {n}: {len(rec)} fields, the header has "
                            f"{len(header)}")
        r = {h: rec[i].strip() for h, i in col.items()}
        for c in NUMERIC + (("queue_depth",) if r["queue_depth"] != "unbounded" else ()):
            check_number(path, n, c, r[c])
        if not r["pattern"] or not r["chan_kind"]:
            raise PlotError(f"{path} line {n}: empty pattern or chan_kind")
        rows.append(r)
    return rows


def check_number(path, n, c, v):
    try:
        x = float(v)
    except ValueError:
        raise PlotError(f"{path} line {n}: column {c} = '{v}' is not a number") from None
    if not math.isfinite(x) or x < 0:
        raise PlotError(f"{path} line {n}: column {c} = '{v}' is not a finite value >= 0")


def read_meta(path):
    """meta.json as a dict; {} when it is absent or unreadable (the CSV alone is enough)."""
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        print(f"plot: ignoring {path} ({e}): generic labels", file=sys.stderr)
        return {}
    return meta if isinstance(meta, dict) else {}
