# SPDX-License-Identifier: MIT
"""micro_csv.py - Google Benchmark's JSON (--benchmark_out_format=json) to micro.csv.

scripts/micro keeps Google Benchmark's micro.json and writes micro.csv beside it, so the
micro-benchmarks sit in the same results folder layout as a sweep's results.csv and read with
the same tools. One row per entry of "benchmarks" (each repetition, and each aggregate when
--benchmark_repetitions > 1), in the JSON's order. The CSV follows results.csv's rules: a
header line, no quoting (text fields never hold a comma, a double quote or a newline: they are
replaced by ';', "'" and ' '), no empty field ('-' for text that does not apply).

Columns (results/README.md, section "micro.csv", documents them for readers):
  benchmark         Google Benchmark's full name, e.g. throughput/spsc/p:1/c:1/real_time_mean
  name              the benchmark without its channel kind and arguments, e.g. throughput
  kind              the channel kind named in it (mutex, lockfree, urcu, spsc, go), or -
  args              its arguments and timing modifiers, ';'-separated, e.g. p:1;c:1;real_time
  run_type          iteration (one repetition) or aggregate
  aggregate         mean, median, stddev, cv ... for an aggregate row; - otherwise
  repetition        0.. for an iteration row of a repeated benchmark; - otherwise
  threads           threads Google Benchmark ran the body on
  iterations        iterations timed (aggregate rows: the number of repetitions)
  real_time_ns      wall time per iteration, ns (value_unit ratio: the coefficient of variation)
  cpu_time_ns       CPU time per iteration of the main thread, ns (likewise)
  value_unit        ns, or ratio for an aggregate Google Benchmark reports as a percentage (cv):
                    then real_time_ns, cpu_time_ns and items_per_second hold that ratio
  items_per_second  the benchmark's SetItemsProcessed rate; 0 when it sets none
  counters          other user counters, name=value;... (bytes_per_second included), or -
  label             the benchmark's label, or -
  error             the error message of a benchmark that skipped itself with an error, or -

Usage: micro_csv.py MICRO_JSON MICRO_CSV     (the CSV is written atomically: temp, rename)
Exit:  0 ok, 1 unreadable or malformed JSON, 2 usage.
"""
import json
import os
import sys

ME = "micro_csv"
KINDS = ("mutex", "lockfree", "urcu", "spsc", "go")
MODIFIERS = ("real_time", "manual_time", "process_time")
COLUMNS = ["benchmark", "name", "kind", "args", "run_type", "aggregate", "repetition",
           "threads", "iterations", "real_time_ns", "cpu_time_ns", "value_unit",
           "items_per_second", "counters", "label", "error"]
TIME_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
# keys of a benchmark entry that are not user counters
STANDARD = {"name", "family_index", "per_family_instance_index", "run_name", "run_type",
            "repetitions", "repetition_index", "threads", "iterations", "real_time",
            "cpu_time", "time_unit", "items_per_second", "aggregate_name", "aggregate_unit",
            "label", "error_occurred", "error_message", "big_o", "rms", "complexity_n"}


def clean(s):
    s = str(s).replace(",", ";").replace('"', "'").replace("\r", " ").replace("\n", " ")
    s = s.strip()
    return s if s else "-"


def num(x):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"not a number: {x!r}")
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def split_name(run_name):
    """(name, kind, args) from a name like throughput/spsc/p:1/c:1/real_time."""
    name, kind, args = [], "-", []
    for part in run_name.split("/"):
        if kind == "-" and part in KINDS:
            kind = part
        elif ":" in part or part in MODIFIERS:
            args.append(part)
        else:
            name.append(part)
    return "/".join(name) or "-", kind, ";".join(args) or "-"


def row(b):
    full = b["name"]
    name, kind, args = split_name(b.get("run_name", full))
    run_type = b.get("run_type", "iteration")
    agg = b.get("aggregate_name", "-") if run_type == "aggregate" else "-"
    rep = (str(b["repetition_index"]) if run_type == "iteration" and "repetition_index" in b
           and b.get("repetitions", 1) > 1 else "-")
    error = clean(b.get("error_message", "error")) if b.get("error_occurred") else "-"
    if error != "-" and "real_time" not in b:
        real = cpu = "0"
        unit = "ns"
    elif b.get("aggregate_unit") == "percentage":
        real, cpu, unit = num(b["real_time"]), num(b["cpu_time"]), "ratio"
    else:
        scale = TIME_UNIT.get(b.get("time_unit", "ns"))
        if scale is None:
            raise ValueError(f"unknown time_unit {b.get('time_unit')!r}")
        real = num(float(b["real_time"]) * scale)
        cpu = num(float(b["cpu_time"]) * scale)
        unit = "ns"
    counters = ";".join(f"{clean(k)}={num(v)}" for k, v in b.items()
                        if k not in STANDARD and isinstance(v, (int, float))
                        and not isinstance(v, bool))
    return [clean(full), clean(name), kind, clean(args), clean(run_type), clean(agg), rep,
            str(int(b.get("threads", 1))), str(int(b.get("iterations", 0))), real, cpu, unit,
            num(b.get("items_per_second", 0)), counters or "-", clean(b.get("label", "-")),
            error]


def main(argv):
    if len(argv) != 2:
        print("usage: micro_csv.py MICRO_JSON MICRO_CSV", file=sys.stderr)
        return 2
    src, dst = argv
    try:
        with open(src, encoding="utf-8") as f:
            doc = json.load(f)
        benchmarks = doc["benchmarks"]
        if not isinstance(benchmarks, list):
            raise ValueError("'benchmarks' is not a list")
        rows = [row(b) for b in benchmarks]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"{ME}: {src}: {e}", file=sys.stderr)
        return 1
    tmp = dst + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(",".join(COLUMNS) + "\n")
            for r in rows:
                f.write(",".join(r) + "\n")
        os.replace(tmp, dst)
    except OSError as e:
        print(f"{ME}: cannot write {dst}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
