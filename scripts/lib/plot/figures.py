# SPDX-License-Identifier: MIT
"""One function per figure, and FIGURES: the figures each pattern's rows are drawn into.

A figure function takes (run, rows): the Run and the rows of the patterns FIGURES lists it
under (in the CSV's order). It returns a Plot (the matplotlib Figure, the line plots/README.md
gives it, and any part it left out with why) or raises Skip(why) when the rows do not allow
it. Its file name is its `svg` attribute (@figure), except generic()'s, which is named after
its pattern. What a pattern's throughput counts and what its latency spans come from
run.labels(pattern) (meta.json), never from here.

Adding a pattern's story: one function here, one line in FIGURES.
"""

from dataclasses import dataclass, field

from .data import (MARKERS, bucket, cells, dim_text, extras_of, fcol, fmt_ns, fmt_num, fmt_si,
                   has_latency, kind_name, med3, partition, plural, sort_key)
from .draw import (PALETTE, BarPanel, Bars, Line, Panel, bar_figure, grid_figure, tick_plain,
                   tick_ratio)

BASELINE = "mutex"   # the lock-based kind every other is compared with (ratio.svg)
AGGREGATED = "medians of the repetitions, error bars min-max"


class Skip(Exception):
    """The rows do not allow this figure; the message says why."""


@dataclass
class Plot:
    """A drawn figure: fig, its line in plots/README.md, and [(part, why)] for what it left
    out (e.g. ("latency panel", "the rows hold no latency"))."""
    fig: object
    desc: str
    skipped: list = field(default_factory=list)


def figure(svg):
    """Names the file a figure function's Plot is written to."""
    def named(fn):
        fn.svg = svg
        return fn
    return named


def reps_text(counts):
    counts = sorted(set(counts))
    return f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def heading(run, name, note, what, reps=None):
    """The figure title. Line 1: what is plotted; line 2: how the repetitions are
    aggregated (reps None: no line); then the run."""
    how = f"\nmedian of {reps} repetitions, error bars from min to max" if reps else ""
    return f"{name}" + (f" ({note})" if note else "") + f": {what}{how}\n{run.info}"


def depth_tick(d):
    return "unb" if d == "unbounded" else f"d{d}"


def depth_label(d):
    return "unbounded" if d == "unbounded" else f"d{d}"


def offset(i, n, width=0.12):
    """x offset of series i of n, so that error bars side by side do not hide each other."""
    return (i - (n - 1) / 2) * width / max(n - 1, 1) if n > 1 else 0.0


def wrap(panels_by_group, ncols=3):
    """[[panel row 1, panel row 2, ...] per group] -> grid rows: groups side by side, at most
    ncols per block; each block stacks the groups' panel rows."""
    grid = []
    for b in range(0, len(panels_by_group), ncols):
        block = panels_by_group[b:b + ncols]
        for k in range(len(block[0])):
            grid.append([g[k] for g in block])
    return grid


def rows_of(panels, ncols=3):
    return [panels[i:i + ncols] for i in range(0, len(panels), ncols)]


def points(rows, col, scale=1.0):
    """(median, min, max) of column col over rows (the repetitions of one point)."""
    return med3([fcol(r, col) * scale for r in rows])


def palette(values):
    """{value: (colour, marker)} for a story's series, in the given order."""
    return {v: (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)])
            for i, v in enumerate(values)}


# ------------------------------------------------------------------ bar figures
class Scenarios:
    """A pattern's rows as bar clusters: groups (topology and the other parameters the sweep
    varied) x queue depths; each cell holds one kind's repetitions."""

    def __init__(self, run, rows):
        self.name = rows[0]["pattern"]
        self.groups, note = partition(rows, {"chan_kind", "queue_depth"}, topology=True)
        self.label = {g.key: g.label for g in self.groups}
        self.cells = cells(self.groups, "queue_depth", "chan_kind")
        self.kinds = run.kinds_in(rows)
        self.depths = sorted({r["queue_depth"] for r in rows}, key=sort_key)
        one = [dim_text("queue_depth", self.depths[0])] if len(self.depths) == 1 else []
        self.note = ", ".join(x for x in [note] + one if x)
        self.clusters = [(g.key, d) for g in self.groups for d in self.depths
                         if any((g.key, d, k) in self.cells for k in self.kinds)]
        self.reps = reps_text(len(rs) for rs in self.cells.values())
        self.labels = run.labels(self.name)

    def pts(self, kind, col, scale=1.0):
        """{cluster: (median, min, max)} of col for kind; latency left out where not
        recorded."""
        out = {}
        for cl in self.clusters:
            rs = self.cells.get(cl + (kind,))
            if rs and (not col.startswith("lat_") or has_latency(rs, col)):
                out[cl] = points(rs, col, scale)
        return out

    def tput_panel(self, run):
        series = [Bars(kind_name(k), run.color[k], i, self.pts(k, "throughput_mps", 1e-6))
                  for i, k in enumerate(self.kinds)]
        return BarPanel(f"throughput, {self.labels.throughput} (log scale)", tick_plain, series)

    def depth_xlabel(self):
        unb = " unb = unbounded," if "unbounded" in self.depths else ""
        grouped = any(self.label.values())
        return (f"queue depth d (d0 = rendezvous,{unb} capacity in messages)"
                + (", grouped by scenario (NpMc: N producers, M consumers)" if grouped else ""))

    def by_depth(self, title, clusters, panels, nslots):
        """A bar figure of clusters, ticked by depth and grouped by scenario."""
        return bar_figure(title, clusters, lambda c: c[0], lambda c: depth_tick(c[1]),
                          self.label.get, nslots, panels, self.depth_xlabel())


@figure("throughput.svg")
def throughput(run, rows):
    s = Scenarios(run, rows)
    fig = s.by_depth(heading(run, s.name, s.note, "throughput per scenario and kind", s.reps),
                     s.clusters, [s.tput_panel(run)], len(s.kinds))
    return Plot(fig, f"{s.name} throughput ({s.labels.throughput}) per scenario (producers p "
                "x consumers c at queue depth d), one bar per kind: median of the "
                "repetitions, error bars min-max, log scale")


PERCENTILES = (("lat_p50_ns", "p50", "-", "o"), ("lat_p99_ns", "p99", "--", "s"),
               ("lat_p999_ns", "p99.9", ":", "^"))


@figure("latency.svg")
def latency(run, rows):
    s = Scenarios(run, rows)
    if not has_latency(rows):
        raise Skip(f"the {s.name} rows hold no latency (--no-latency)")
    xi = {d: i for i, d in enumerate(s.depths)}
    xlabel = "queue depth (0: rendezvous" + (", unb: unbounded)" if "unbounded" in xi else ")")
    panels = []
    for g in s.groups:
        series = []
        for ki, k in enumerate(s.kinds):
            off = (ki - (len(s.kinds) - 1) / 2) * 0.09
            for col, q, ls, marker in PERCENTILES:
                pts = [(xi[d] + off,) + points(rs, col) for d in s.depths
                       if (rs := s.cells.get((g.key, d, k))) and has_latency(rs, col)]
                series.append(Line(f"{q} {kind_name(k)}", pts, run.color[k], marker, ls))
        if any(ln.pts for ln in series):
            panels.append(Panel(g.label, xlabel,
                                f"{s.labels.latency} (log scale)", series,
                                xticks=[(d if d != "unbounded" else "unb", i)
                                        for d, i in xi.items()],
                                xlim=(-0.5, len(xi) - 0.5), yfmt=fmt_ns, share="latency"))
    legend = [(kind_name(k), run.color[k], "-", None) for k in s.kinds]
    legend += [(q, "#222222", ls, marker) for _, q, ls, marker in PERCENTILES]
    fig = grid_figure(heading(run, s.name, s.note, f"{s.labels.latency_named()} vs queue "
                              "depth", s.reps), rows_of(panels), legend, "kind / percentile")
    return Plot(fig, f"{s.name} {s.labels.latency_named()} p50, p99 and p99.9 vs queue "
                "depth, one colour per kind and one line style per percentile, one panel per "
                f"topology; {AGGREGATED}, log scale")


@figure("ratio.svg")
def ratio(run, rows):
    s = Scenarios(run, rows)
    others = [k for k in s.kinds if k != BASELINE]
    if BASELINE not in s.kinds:
        raise Skip(f"no {BASELINE} (baseline) rows in the {s.name} workload")
    if not others:
        raise Skip(f"{BASELINE} is the only kind in the {s.name} workload")
    base = s.pts(BASELINE, "throughput_mps")
    ratios = {k: {cl: v[0] / base[cl][0] for cl, v in s.pts(k, "throughput_mps").items()
                  if cl in base and base[cl][0] > 0} for k in others}
    clusters = [cl for cl in s.clusters if any(cl in ratios[k] for k in others)]
    kinds = [k for k in others if ratios[k]]
    if not clusters:
        raise Skip(f"no {s.name} scenario has {BASELINE} and another kind")
    # a bar from 1 to the ratio: up = faster than the baseline, down = slower
    series = [Bars(f"{kind_name(k)} / {BASELINE}", run.color[k], i, ratios[k])
              for i, k in enumerate(kinds)]
    what = (f"throughput relative to {BASELINE} (the lock-based baseline) per scenario\n"
            f"ratio of the medians; above the line = faster than {BASELINE}")
    panel = BarPanel(f"kind / {BASELINE} throughput (log scale)", tick_ratio, series, base=1.0,
                     line=1.0)
    return Plot(s.by_depth(heading(run, s.name, s.note, what), clusters, [panel], len(kinds)),
                f"{s.name} throughput of each kind divided by the {BASELINE} kind's (the "
                "lock-based baseline), ratio of medians per scenario; bars rise above the line "
                f"at 1 when faster than {BASELINE}, log scale")


@figure("pingpong.svg")
def pingpong(run, rows):
    s = Scenarios(run, rows)
    if not has_latency(rows):
        raise Skip(f"the {s.name} rows hold no latency (--no-latency)")
    # one cluster per (kind, scenario): p50 and p99 side by side in the kind's colour
    clusters = [(k, sc) for sc in s.clusters for k in s.kinds if sc + (k,) in s.cells]
    multi = len(s.clusters) > 1
    shades = (("lat_p50_ns", "p50 (median)", 0.9), ("lat_p99_ns", "p99", 0.35))
    series = []
    for slot, (col, _, alpha) in enumerate(shades):
        for k in s.kinds:
            pts = s.pts(k, col)
            series.append(Bars(None, run.color[k], slot, {c: pts[c[1]] for c in clusters
                                                          if c[0] == k and c[1] in pts},
                               alpha))
    fig = bar_figure(heading(run, s.name, s.note, f"{s.labels.latency_named()} per kind",
                             s.reps),
                     clusters, lambda c: c[1], lambda c: kind_name(c[0]),
                     lambda sc: "\n".join(x for x in (s.label[sc[0]], depth_label(sc[1]))
                                          if x),
                     2, [BarPanel(f"p50 / p99 {s.labels.latency} (log scale)", fmt_ns, series,
                                  value_labels=True)],
                     "channel kind" + (", grouped by queue depth" if multi else ""),
                     extra_legend=[(t, a) for _, t, a in shades], group_labels=multi)
    return Plot(fig, f"{s.name} {s.labels.latency_named()} per kind: p50 (dark bar) and p99 "
                f"(light bar), {AGGREGATED}, the median written above each bar, log scale")


def generic(run, rows):
    """Any pattern: throughput and p99 per scenario and kind, from the generic columns."""
    s = Scenarios(run, rows)
    multi_depth = len(s.depths) > 1
    panels = [s.tput_panel(run)]
    skipped = []
    if has_latency(rows):
        panels.append(BarPanel(f"p99 {s.labels.latency} (log scale)", fmt_ns,
                               [Bars(None, run.color[k], i, s.pts(k, "lat_p99_ns"))
                                for i, k in enumerate(s.kinds)]))
    else:
        skipped.append(("latency panel", f"the {s.name} rows hold no latency"))
    what = "throughput" + (" and p99 latency" if len(panels) > 1 else "")
    fig = bar_figure(heading(run, s.name, s.note, f"{what} per scenario and kind", s.reps),
                     s.clusters, lambda c: c[0],
                     lambda c: depth_tick(c[1]) if multi_depth else (s.label[c[0]] or
                                                                      depth_label(c[1])),
                     s.label.get, len(s.kinds), panels,
                     "queue depth d, grouped by scenario" if multi_depth else "scenario",
                     group_labels=multi_depth and any(s.label.values()))
    return Plot(fig, f"{s.name}: {what} ({s.labels.throughput}"
                + (f"; {s.labels.latency}" if len(panels) > 1 else "")
                + f") per scenario and kind, {AGGREGATED}, log scale (the generic figure, "
                "from the columns every pattern has)", skipped)


# ------------------------------------------------------------------ the patterns' stories
BP_POLICIES = ("block", "timeout", "drop_newest", "drop_oldest", "reject", "codel", "shed",
               "rate_limit")


@figure("backpressure_policies.svg")
def backpressure_policies(run, rows):
    name = rows[0]["pattern"]
    lab = run.labels(name)
    if len({r.get("rate_target", "0") for r in rows}) > 1:
        used = {"rate_target", "policy"}
        xkey = (lambda r: (fcol(r, "rate_target"),))
        xtick = (lambda k: "closed" if k[0] == 0 else fmt_si(k[0]) + "/s")
        xlabel = "offered rate, messages/s over all producers (open loop)"
    else:
        used = {"producers", "consumers", "policy"}
        xkey = (lambda r: (fcol(r, "producers") / max(fcol(r, "consumers"), 1),
                           fcol(r, "producers"), fcol(r, "consumers")))
        xtick = (lambda k: f"{fmt_num(k[1])}:{fmt_num(k[2])}")
        xlabel = "producers : consumers"
    groups, note = partition(rows, used)
    pols = sorted({r["policy"] for r in rows},
                  key=lambda p: (BP_POLICIES.index(p) if p in BP_POLICIES else 99, p))
    style = palette(pols)
    lat = has_latency(rows, "lat_p99_ns")
    counts, per_group = [], []
    for g in groups:
        xs = sorted({xkey(r) for r in g.rows})
        xi = {k: i for i, k in enumerate(xs)}
        loss, p99 = [], []
        for si, pol in enumerate(pols):
            at = bucket([r for r in g.rows if r["policy"] == pol], xkey)
            lp, pp = [], []
            for k in (k for k in xs if k in at):
                counts.append(len(at[k]))
                x = xi[k] + offset(si, len(pols))
                lp.append((x,) + med3([refused_pct(r) for r in at[k]]))
                if has_latency(at[k], "lat_p99_ns"):
                    pp.append((x,) + points(at[k], "lat_p99_ns"))
            loss.append(Line(pol, lp, *style[pol]))
            p99.append(Line(pol, pp, *style[pol]))
        common = dict(title=g.label, xlabel=xlabel,
                      xticks=[(xtick(k), i) for k, i in xi.items()],
                      xlim=(-0.5, len(xs) - 0.5))
        panels = [Panel(ylabel="dropped + rejected, % of offered", series=loss, **common)]
        if lat:
            panels.append(Panel(ylabel=f"p99 {lab.latency} (log scale)", series=p99,
                                yfmt=fmt_ns, share="p99", **common))
        per_group.append(panels)
    top = max([v for g in per_group for ln in g[0].series for pt in ln.pts for v in pt[1:]]
              + [0.0])
    for g in per_group:   # one scale for every share panel, 100% at most
        g[0].ylim = (0.0, min(top * 1.12, 105.0) or 1.0)
    fig = grid_figure(heading(run, name, note, "what each policy refuses and what it costs in "
                              "latency", reps_text(counts)),
                      wrap(per_group), [(p, style[p][0], "-", style[p][1]) for p in pols],
                      "policy")
    return Plot(fig, f"{name}: per policy, the share of offered messages dropped or rejected "
                "(dropped + rejected over the extras' offered) and the p99 "
                f"{lab.latency_named()}, against the offered rate (or the producer:consumer "
                f"ratio when the rate does not vary); one panel column per other scenario; "
                f"{AGGREGATED}",
                [] if lat else [("latency panels", f"the {name} rows hold no latency")])


def refused_pct(r):
    """dropped + rejected as a % of what was offered (extras offered, or messages + refused)."""
    refused = fcol(r, "dropped") + fcol(r, "rejected")
    offered = extras_of(r).get("offered", 0.0)
    if offered <= 0:
        offered = fcol(r, "messages") + refused
    return 100.0 * refused / offered if offered else 0.0


# gather policy: its legend text, in the legend's order; service-time distributions
FF_MODES = {"all": "all (no hedging)", "quorum": "quorum (no hedging)",
            "first": "first / tied (no hedging)", "hedged": "hedged",
            "allhedged": "allhedged (hedged shards)"}
FF_DISTS = ("fixed", "exp", "bimodal")


def ff_split(r):
    """A fanout_fanin policy <gather>_<distribution> as (gather, distribution)."""
    mode, _, dist = r.get("policy", "-").rpartition("_")
    return mode, dist


@figure("fanout_hedging.svg")
def fanout_hedging(run, rows):
    name = rows[0]["pattern"]
    lab = run.labels(name)
    rows = [r for r in rows if ff_split(r)[0] in FF_MODES and ff_split(r)[1] in FF_DISTS]
    if not rows:
        raise Skip(f"no {name} rows with a <gather>_<distribution> policy")
    if not has_latency(rows, "lat_p99_ns"):
        raise Skip(f"the {name} rows hold no latency")
    groups, note = partition(rows, {"policy"}, labels={
        "consumers": lambda v: f"n={v}",
        "producers": lambda v: plural(v, "caller"),
        "timeout_ns": lambda v: ("hedge delay default" if float(v) == 0
                                 else f"hedge delay {fmt_ns(float(v))}")})
    modes = [m for m in FF_MODES if any(ff_split(r)[0] == m for r in rows)]
    style = {m: (PALETTE[i], MARKERS[i]) for i, m in enumerate(FF_MODES)}
    has_calls = any("calls_per_req" in extras_of(r) for r in rows)
    counts, per_group = [], []
    for g in groups:
        dists = [d for d in FF_DISTS if any(ff_split(r)[1] == d for r in g.rows)]
        at = bucket(g.rows, ff_split)
        p99, calls = [], []
        for si, m in enumerate(modes):
            pp, cp = [], []
            for xi, d in enumerate(dists):
                rs = at.get((m, d), [])
                counts += [len(rs)] if rs else []
                x = xi + offset(si, len(modes), 0.4)
                if has_latency(rs, "lat_p99_ns"):
                    pp.append((x,) + points(rs, "lat_p99_ns"))
                cs = [extras_of(r)["calls_per_req"] for r in rs
                      if "calls_per_req" in extras_of(r)]
                if cs:
                    cp.append((x,) + med3(cs))
            p99.append(Line(f"p99 {m}", pp, *style[m], ls="none"))
            calls.append(Line(f"calls {m}", cp, *style[m], ls="none"))
        common = dict(title=g.label, xlabel="backends' service-time distribution",
                      xticks=[(d, i) for i, d in enumerate(dists)],
                      xlim=(-0.6, len(dists) - 0.4))
        panels = [Panel(ylabel=f"p99 {lab.latency} (log scale)", series=p99, yfmt=fmt_ns,
                        share="p99", **common)]
        if has_calls:
            panels.append(Panel(ylabel="backend calls per request", series=calls,
                                share="calls", **common))
        per_group.append(panels)
    legend = [(FF_MODES[m], style[m][0], None, style[m][1]) for m in modes]
    fig = grid_figure(heading(run, name, note, f"p99 {lab.latency_named()} with and without "
                              "hedging, and what it costs in backend calls", reps_text(counts)),
                      wrap(per_group), legend, "gather policy")
    return Plot(fig, f"{name}: p99 {lab.latency_named()} per service-time distribution "
                "(fixed, exponential, bimodal), one point per gather policy (all, quorum, "
                "first: no hedging; hedged, allhedged: hedging), and the backend calls each "
                "request cost (extras calls_per_req); one panel column per other scenario "
                f"(n = backends per request); {AGGREGATED}")


def grace_name(t):
    if t == 0:
        return "grace default (10 ms)"
    if t == 1:
        return "grace 1 ns (already over)"
    return f"grace {fmt_ns(t)}"


def done_pct(r):
    """The share of the jobs in flight that finished (extras done / in_flight), or None."""
    e = extras_of(r)
    inflight = e.get("in_flight", fcol(r, "producers"))
    return 100.0 * e["done"] / inflight if "done" in e and inflight > 0 else None


@figure("shutdown_inflight.svg")
def shutdown_inflight(run, rows):
    name = rows[0]["pattern"]
    lab = run.labels(name)
    if not has_latency(rows):
        raise Skip(f"the {name} rows hold no latency")
    groups, note = partition(rows, {"producers", "timeout_ns"},
                             labels={"consumers": lambda v: plural(v, "worker")})
    graces = sorted({fcol(r, "timeout_ns") for r in rows})
    style = palette(graces)
    counts, per_group = [], []
    for g in groups:
        jobs = sorted({r["producers"] for r in g.rows}, key=sort_key)
        at = bucket(g.rows, lambda r: (r["producers"], fcol(r, "timeout_ns")))
        lat, done = [], []
        for si, t in enumerate(graces):
            p50, p99, dn = [], [], []
            for xi, j in enumerate(jobs):
                rs = at.get((j, t))
                if not rs:
                    continue
                counts.append(len(rs))
                x = xi + offset(si, len(graces), 0.2)
                p50.append((x,) + points(rs, "lat_p50_ns"))
                p99.append((x,) + points(rs, "lat_p99_ns"))
                fr = [v for v in map(done_pct, rs) if v is not None]
                if fr:
                    dn.append((x,) + med3(fr))
            lat.append(Line(f"p50 {grace_name(t)}", p50, *style[t]))
            lat.append(Line(f"p99 {grace_name(t)}", p99, *style[t], ls="--"))
            done.append(Line(f"done {grace_name(t)}", dn, *style[t]))
        common = dict(title=g.label, xlabel="jobs in flight at the shutdown (producers)",
                      xticks=[(j, i) for i, j in enumerate(jobs)], xlim=(-0.5, len(jobs) - 0.5))
        panels = [Panel(ylabel=f"p50 / p99 {lab.latency} (log scale)", series=lat, yfmt=fmt_ns,
                        share="latency", **common)]
        if any(ln.pts for ln in done):
            panels.append(Panel(ylabel="jobs done, % of those in flight", series=done,
                                ylim=(0.0, 105.0), **common))
        per_group.append(panels)
    nrow = min(len(p) for p in per_group)
    legend = [(grace_name(t), style[t][0], "-", style[t][1]) for t in graces]
    legend += [("p50 (solid)", "#222222", "-", None), ("p99 (dashed)", "#222222", "--", None)]
    fig = grid_figure(heading(run, name, note, f"{lab.latency_named()} vs jobs in flight",
                              reps_text(counts)),
                      wrap([p[:nrow] for p in per_group]), legend, "grace (timeout_ns)")
    return Plot(fig, f"{name}: {lab.latency_named()} p50 and p99 against the jobs in flight, "
                "one colour per grace period (timeout_ns), and the share of in-flight jobs that "
                "finished (extras done / in_flight; the rest were cancelled or handed back); "
                f"{AGGREGATED}")


@figure("workers.svg")
def workers(run, rows):
    panels, counts, notes = [], [], []
    for pname, prows in bucket(rows, lambda r: r["pattern"]).items():
        lab = run.labels(pname)
        groups, note = partition(prows, {"chan_kind", "producers", "consumers"})
        notes += [f"{pname}: {note}"] if note else []
        for g in groups:
            # one panel per producer count, then one per producers/consumers ratio; each needs
            # two consumer counts at least, and one holding the same rows as another is left out
            ratio_of = (lambda r: fcol(r, "producers") / max(fcol(r, "consumers"), 1))
            cands = [(plural(fmt_num(p), "producer"), rs) for p, rs in sorted(
                bucket(g.rows, lambda r: fcol(r, "producers")).items())]
            cands += [("producers = consumers" if q == 1 else f"producers = {q:g} x consumers",
                       rs) for q, rs in sorted(bucket(g.rows, ratio_of).items())]
            seen = []
            for what, rs in cands:
                cs = sorted({fcol(r, "consumers") for r in rs})
                if len(cs) < 2 or {id(r) for r in rs} in seen:
                    continue
                seen.append({id(r) for r in rs})
                kinds = run.kinds_in(rs)
                at = bucket(rs, lambda r: (r["chan_kind"], fcol(r, "consumers")))
                series = []
                for si, k in enumerate(kinds):
                    pts = []
                    for c in (c for c in cs if (k, c) in at):
                        counts.append(len(at[(k, c)]))
                        pts.append((c * 2 ** offset(si, len(kinds)),)
                                   + points(at[(k, c)], "throughput_mps", 1e-6))
                    series.append(Line(kind_name(k), pts, run.color[k], run.marker(k)))
                panels.append(Panel(
                    title=f"{pname}: {what}" + (f", {g.label}" if g.label else ""),
                    xlabel="consumers (workers), log scale",
                    ylabel=f"throughput, {lab.throughput} (log scale)", series=series,
                    xticks=[(fmt_num(c), c) for c in cs], xlim=(cs[0] / 1.4, cs[-1] * 1.4),
                    xlog=True, yfmt=tick_plain, share=pname))
    if not panels:
        names = " or ".join(dict.fromkeys(r["pattern"] for r in rows))
        raise Skip(f"no {names} rows where the consumer count varies")
    kinds = run.kinds_in(rows)
    shown = {s.label for p in panels for s in p.series}
    legend = [(kind_name(k), run.color[k], "-", run.marker(k)) for k in kinds
              if kind_name(k) in shown]
    title = ("throughput vs consumers (workers) per kind"
             + (f" ({'; '.join(notes)})" if notes else "")
             + f"\nmedian of {reps_text(counts)} repetitions, error bars from min to max\n"
             + run.info)
    fig = grid_figure(title, rows_of(panels), legend, "kind")
    return Plot(fig, "throughput against the consumer (worker) count, one line per kind, for "
                f"the {', '.join(dict.fromkeys(r['pattern'] for r in rows))} rows: one panel "
                "per producer count and one per producer:consumer ratio that has two consumer "
                f"counts or more; {AGGREGATED}, log scales")


# ------------------------------------------------------------------ which figures a pattern gets
# pattern -> the figures drawn from its rows, in order. A figure listed under several patterns
# is drawn once, from all their rows; a pattern not listed gets DEFAULT.
FIGURES = {
    "chan": (throughput, latency, ratio, workers),
    "pingpong": (pingpong,),
    "worker_pool": (generic, workers),
    "fanout_fanin": (generic, fanout_hedging),
    "backpressure": (generic, backpressure_policies),
    "graceful_shutdown": (generic, shutdown_inflight),
}
DEFAULT = (generic,)


def generic_svg(pattern, taken):
    """generic()'s file for pattern: <pattern>.svg unless that is another figure's name, or the
    name is not a plain word (then pattern-<name>.svg / pattern.svg), made unique."""
    base = pattern if pattern.replace("_", "").replace("-", "").isalnum() else "pattern"
    reserved = {fn.svg for fns in FIGURES.values() for fn in fns if fn is not generic}
    svg = f"pattern-{base}.svg" if f"{base}.svg" in reserved else f"{base}.svg"
    while svg in taken:
        svg = svg[:-4] + "_.svg"
    return svg


def plan(run):
    """[(svg, function, patterns)]: every figure FIGURES gives this run's patterns (and the
    figures of patterns it lacks: they are skipped with a reason), each once."""
    out, by_fn = [], {}
    listed = list(FIGURES.items()) + [(p, DEFAULT) for p in run.patterns if p not in FIGURES]
    for pattern, fns in listed:
        for fn in fns:
            if fn is generic:
                if pattern in run.patterns:
                    out.append((generic_svg(pattern, {o[0] for o in out}), fn, [pattern]))
            elif fn in by_fn:
                by_fn[fn].append(pattern)
            else:
                by_fn[fn] = [pattern]
                out.append((fn.svg, fn, by_fn[fn]))
    return out


def draw(run):
    """Yields (svg, Plot or None, [(what, why)] left out) for every figure of plan(run)."""
    for svg, fn, patterns in plan(run):
        rows = run.of(*patterns)
        if not rows:
            yield svg, None, [(svg, f"no rows of the {' or '.join(patterns)} pattern in this "
                               "run")]
            continue
        try:
            p = fn(run, rows)
        except Skip as e:
            yield svg, None, [(svg, str(e))]
            continue
        yield svg, p, [(f"{svg} {part}", why) for part, why in p.skipped]
