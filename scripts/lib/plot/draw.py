# SPDX-License-Identifier: MIT
"""The two figure layouts every figure of plot.figures is made of, on matplotlib.

bar_figure(): clustered bars. A cluster is one scenario (its x tick: a depth, or a kind name
for pingpong) with one bar slot per series; the clusters of one group (topology plus the other
parameters the sweep varied) sit together, the group's name under them, dotted lines between
groups. A figure too wide for one row wraps into rows of whole groups; every row keeps the same
x scale and each panel's y range, so bars compare across rows.

grid_figure(): line panels (points with min-max error bars) in a grid, and a legend column.

Both return a matplotlib Figure (no pyplot, no global figure list, no display): the caller
saves it, a test inspects its axes. Layout is matplotlib's ("constrained"): nothing here
computes a margin. Log axes span whole decades around the data, one labelled tick per decade.
"""

import math
from dataclasses import dataclass, field

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from .data import fmt_ns

STYLE = {
    "svg.fonttype": "none",      # text stays text: searchable, and smaller files
    "svg.hashsalt": "patlab",    # the same data gives the same file
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.axisbelow": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.8,
    "legend.frameon": False,
    "errorbar.capsize": 2,
}
matplotlib.rcParams.update(STYLE)

TITLE_SIZE = 12
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#6e6e6e", "#bcbd22", "#393b79", "#637939")
MAX_ROW_CLUSTERS = 20      # clusters in one row of a bar figure before it wraps
PANEL_IN = (4.4, 3.1)      # one grid panel, inches


# ------------------------------------------------------------------ axes
def tick_plain(y):
    return f"{y:g}"


def tick_ratio(y):
    return f"{y:g}×"


def decades(values):
    """(lo, hi): whole powers of ten around the positive values (1-10 when there are none)."""
    vals = [v for v in values if v and v > 0]
    if not vals:
        return 1.0, 10.0
    lo = math.floor(math.log10(min(vals)))
    hi = max(math.ceil(math.log10(max(vals))), lo + 1)
    return 10.0 ** lo, 10.0 ** hi


def log_y(ax, fmt, lim):
    """A log y axis over lim, one tick per decade (every other one past eight) in fmt."""
    ax.set_yscale("log")
    ax.set_ylim(*lim)
    n = round(math.log10(lim[1] / lim[0]))
    step = 1 if n <= 8 else 2
    ax.yaxis.set_major_locator(FixedLocator([lim[0] * 10.0 ** e for e in range(0, n + 1,
                                                                                step)]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: fmt(y)))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0), numticks=100))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="minor", axis="y", color="#f2f2f2", linewidth=0.6)


def legend_handles(entries):
    """[(label, color, linestyle, marker)] -> legend lines (linestyle None: points only)."""
    return [Line2D([], [], color=color, ls=ls or "none", marker=marker, lw=1.6, ms=5,
                   label=label) for label, color, ls, marker in entries]


def new_figure(width, height, title):
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig


def title_lines(title):
    return title.count("\n") + 1


# ------------------------------------------------------------------ clustered bars
@dataclass
class Bars:
    """One series of bars. pts: {cluster: (median, min, max)} (an error bar) or {cluster:
    value}; slot: its place in a cluster; label None: not in the legend."""
    label: object
    color: str
    slot: int
    pts: dict
    alpha: float = 0.85


@dataclass
class BarPanel:
    """A panel of bars over every cluster. fmt: tick text of its log y axis. base: bars rise
    from the axis bottom (None) or from this value (1 for ratios); line: the y of a reference
    line; value_labels: the median written above each error bar."""
    ylabel: str
    fmt: object
    series: list
    base: object = None
    line: object = None
    value_labels: bool = False


def wrap_groups(groups, limit=MAX_ROW_CLUSTERS):
    """[(group, [clusters])] -> rows of whole groups, as few as the limit allows, evenly
    filled."""
    total = sum(len(cs) for _, cs in groups)
    nrows, used = 1, 0
    for _, cs in groups:
        if used and used + len(cs) > limit:
            nrows, used = nrows + 1, 0
        used += len(cs)
    target = total / nrows
    rows, cur, used = [], [], 0
    for g in groups:
        if cur and used + len(g[1]) / 2 > target and len(rows) < nrows - 1:
            rows.append(cur)
            cur, used = [], 0
        cur.append(g)
        used += len(g[1])
    rows.append(cur)
    return rows


def bar_figure(title, clusters, group_of, tick_of, label_of, nslots, panels, xlabel,
               extra_legend=(), group_labels=True):
    """Draws panels of clustered bars over clusters (in order); group_of(cluster) -> group,
    tick_of(cluster) -> its x tick, label_of(group) -> the text under the group."""
    groups = []
    for c in clusters:
        if groups and groups[-1][0] == group_of(c):
            groups[-1][1].append(c)
        else:
            groups.append((group_of(c), [c]))
    rows = wrap_groups(groups)
    # x of each cluster, per row: one unit a cluster, half a unit between groups
    layout = []
    for row in rows:
        x, pos, spans = 0.0, {}, []
        for i, (g, cs) in enumerate(row):
            x += 0.6 if i else 0.0
            spans.append((label_of(g) or "", x, x + len(cs) - 1))
            for c in cs:
                pos[c] = x
                x += 1.0
        layout.append((pos, spans, x))
    units = max(u for _, _, u in layout)
    longest_tick = max((len(tick_of(c)) for c in clusters), default=1)
    unit_in = max(0.16 * nslots + 0.22, 0.075 * longest_tick + 0.12)
    legend = [s.label for p in panels for s in p.series if s.label] + [e[0] for e in
                                                                       extra_legend]
    legend_in = 0.4 + 0.075 * max((len(t) for t in legend), default=0)
    width = max(1.3 + units * unit_in + legend_in, 8.0)
    lab_lines = max((lab.count("\n") + 1 for _, spans, _ in layout for lab, _, _ in spans),
                    default=1) if group_labels else 0
    n = len(panels) * len(rows)
    height = 0.4 + 0.22 * title_lines(title) + n * (2.7 + 0.18 * lab_lines) + 0.3
    fig = new_figure(width, height, title)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    w = 0.8 / max(nslots, 1)
    handles = {}
    for pi, p in enumerate(panels):
        vals = [v for s in p.series for pt in s.pts.values()
                for v in (pt if isinstance(pt, tuple) else (pt,))]
        lo, hi = decades(vals + ([p.line] if p.line else []))
        if p.value_labels:
            hi *= 10.0
        for ri, (pos, spans, _) in enumerate(layout):
            ax = axes[pi * len(rows) + ri]
            log_y(ax, p.fmt, (lo, hi))
            ax.set_xlim(-0.6, units - 0.4)
            ax.set_ylabel(p.ylabel)
            ax.xaxis.set_major_locator(FixedLocator(list(pos.values())))
            ax.set_xticklabels([tick_of(c) for c in pos])
            ax.tick_params(axis="x", length=0)
            for _, a, _ in spans[1:]:
                ax.axvline(a - 0.8, ls=":", color="#999999", lw=1)
            label_axis = ax
            if group_labels:
                sec = label_axis = ax.secondary_xaxis("bottom")
                sec.set_xticks([(a + b) / 2 for _, a, b in spans],
                               [lab for lab, _, _ in spans])
                sec.tick_params(axis="x", length=0, pad=16)
                sec.spines["bottom"].set_visible(False)
            if p.line:
                ax.axhline(p.line, color="#000000", lw=1.6, zorder=3)
            for s in p.series:
                here = [c for c in s.pts if c in pos]
                if not here:
                    continue
                xs = [pos[c] + w * (s.slot + 0.5 - nslots / 2) for c in here]
                pts = [s.pts[c] for c in here]
                med = [pt[0] if isinstance(pt, tuple) else pt for pt in pts]
                base = p.base if p.base is not None else lo
                err = ([[m - pt[1] for m, pt in zip(med, pts)],
                        [pt[2] - m for m, pt in zip(med, pts)]]
                       if isinstance(pts[0], tuple) else None)
                bars = ax.bar(xs, [m - base for m in med], width=w * 0.92, bottom=base,
                              color=s.color, alpha=s.alpha, edgecolor="#333333", lw=0.6,
                              yerr=err, error_kw=dict(ecolor="#111111", elinewidth=1.1),
                              label=s.label or "")
                if s.label:
                    handles.setdefault(s.label, bars)
                if p.value_labels and err:
                    for x, m, pt in zip(xs, med, pts):
                        ax.annotate(fmt_ns(m), (x, pt[2]), xytext=(0, 2),
                                    textcoords="offset points", ha="center", va="bottom",
                                    fontsize=7.5)
    label_axis.set_xlabel(xlabel)  # the last axes' (below its group labels, if any)
    extra = [Patch(facecolor="#555555", alpha=a, edgecolor="#333333", label=t)
             for t, a in extra_legend]
    if handles or extra:
        axes[0].legend(list(handles.values()) + extra, list(handles) + [e.get_label() for e
                                                                        in extra],
                       loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return fig


# ------------------------------------------------------------------ line panels in a grid
@dataclass
class Line:
    """One series of points: pts [(x, median, min, max)]; ls "none": points only."""
    label: str
    pts: list
    color: str
    marker: str = "o"
    ls: str = "-"


@dataclass
class Panel:
    """One panel of a grid. xticks [(label, x)]; xlog: a base-2 log x axis; yfmt: tick text
    of a log y axis (None: linear, over ylim, or from 0 to a little above the largest value
    when ylim is None); share: panels with the same key share their y range."""
    title: str
    xlabel: str
    ylabel: str
    series: list
    xticks: list = field(default_factory=list)
    xlim: object = None
    xlog: bool = False
    yfmt: object = None
    ylim: object = None
    share: str = ""


def grid_figure(title, grid, legend, legend_title):
    """Line panels in a grid (rows of Panel; None leaves a cell empty) and a legend column
    built from legend: [(label, color, linestyle, marker)] (see legend_handles)."""
    ncols = max(len(r) for r in grid)
    legend_in = 0.6 + 0.075 * max([len(e[0]) for e in legend] + [len(legend_title)])
    width = max(ncols * PANEL_IN[0] + legend_in,
                0.085 * max(len(t) for t in title.split("\n")) + 0.6)
    height = 0.3 + 0.22 * title_lines(title) + len(grid) * PANEL_IN[1]
    fig = new_figure(width, height, title)
    gs = fig.add_gridspec(len(grid), ncols + 1,
                          width_ratios=[PANEL_IN[0]] * ncols + [legend_in])
    panels = [(ri, ci, p) for ri, row in enumerate(grid) for ci, p in enumerate(row) if p]
    shared = {}
    for p in (p for _, _, p in panels):
        shared.setdefault(p.share or id(p), []).extend(
            v for s in p.series for pt in s.pts for v in pt[1:])
    for ri, ci, p in panels:
        ax = fig.add_subplot(gs[ri, ci])
        ax.set_title(p.title)
        ax.set_xlabel(p.xlabel)
        ax.set_ylabel(p.ylabel)
        if p.xlog:
            ax.set_xscale("log", base=2)
        if p.xticks:
            ax.xaxis.set_major_locator(FixedLocator([x for _, x in p.xticks]))
            ax.set_xticklabels([t for t, _ in p.xticks])
            ax.xaxis.set_minor_locator(FixedLocator([]))
        if p.xlim:
            ax.set_xlim(*p.xlim)
        if p.yfmt:
            log_y(ax, p.yfmt, decades(shared[p.share or id(p)]))
        else:
            top = max(shared[p.share or id(p)] + [0.0])
            ax.set_ylim(*(p.ylim or (0.0, top * 1.12 or 1.0)))
        for s in p.series:
            if not s.pts:
                continue
            xs, ms, lo, hi = zip(*s.pts)
            ax.errorbar(xs, ms, yerr=[[m - a for m, a in zip(ms, lo)],
                                      [b - m for m, b in zip(ms, hi)]],
                        color=s.color, marker=s.marker, ls=s.ls, lw=1.6, ms=4.5,
                        label=s.label)
    key = fig.add_subplot(gs[:, ncols])
    key.axis("off")
    key.legend(handles=legend_handles(legend), title=legend_title, loc="upper left",
               alignment="left", borderaxespad=0)
    return fig
