#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every #include goes down the layers (docs/layers.md), never up or sideways into a folder's
internals, so the circles between context, channels and harness cannot come back.

    sync -> context -> chan -> primitive -> harness -> app

A file may include headers of its own layer or of a lower one. What each path is:
  patterns/sync/, patterns/context/, patterns/chan/, patterns/harness/   that layer
  patterns/<pattern>/workload.c                      harness (the pattern's vtable adapter)
  patterns/<pattern>/svc.c                           app (an executable of its own)
  patterns/<pattern>/ anything else                  primitive (what a service links)
  patterns/include/patlab/<name>.h                   the layer PUBLIC says
  bench/                                             app
A primitive folder's own headers are its own: only that folder (and apps) include them.
tests/ may include anything and is not checked.

Usage: test_layers.py [ROOT]       check the tree at ROOT (default: this checkout)
       test_layers.py --self-test  the checker refuses planted violations, accepts a clean tree
Exit: 0 clean, 1 violations (each printed as file:line: what), 2 usage.
"""
import os
import re
import sys
import tempfile

ORDER = ["sync", "context", "chan", "primitive", "harness", "app"]
RANK = {name: i for i, name in enumerate(ORDER)}
LAYER_DIRS = {"sync", "context", "chan", "harness"}

# The public headers, by layer. A new public header must be placed here (else: an error).
PUBLIC = {
    "thread.h": "sync",
    "ctx.h": "context",
    "chan.h": "chan",
    "select.h": "chan",
    "pool.h": "primitive",
    "pipeline.h": "primitive",
    "fanout.h": "primitive",
    "backpressure.h": "primitive",
    "signals.h": "primitive",
    "shutdown.h": "primitive",
    "timer.h": "primitive",
    "hist.h": "harness",
    "pattern.h": "harness",
    "patlab.h": "harness",  # the umbrella: everything
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE = (".c", ".h", ".cc")


def classify(rel):
    """(layer, owner folder or None) of a repository-relative path; layer None: unchecked."""
    parts = rel.split("/")
    if parts[0] == "bench":
        return "app", None
    if parts[0] != "patterns" or len(parts) < 3:
        return None, None
    if parts[1] == "include":
        name = parts[-1]
        if name not in PUBLIC:
            raise LookupError(f"{rel}: a public header the layer table does not place "
                              f"(add it to PUBLIC in {os.path.basename(__file__)})")
        return PUBLIC[name], None
    if parts[1] in LAYER_DIRS:
        return parts[1], None
    if parts[-1] == "workload.c":
        return "harness", parts[1]
    if parts[-1] == "svc.c":
        return "app", parts[1]
    return "primitive", parts[1]


def resolve(root, rel, bracket, name):
    """The repository-relative path #include names, or None for a system header."""
    if bracket == "<":
        if name.startswith("patlab/"):
            return "patterns/include/" + name
        return None
    here = os.path.dirname(rel)
    for base in (here, "patterns", "bench"):
        cand = os.path.normpath(os.path.join(base, name))
        # A header made at configure time from NAME.in is where its template is.
        full = os.path.join(root, cand)
        if os.path.isfile(full) or os.path.isfile(full + ".in"):
            return cand
    return ""  # unresolvable: reported


def check(root):
    """Violations in the tree at @root, as 'file:line: message' strings."""
    bad = []
    for top in ("patterns", "bench"):
        for dirpath, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(d for d in dirs if d not in ("build", "__pycache__"))
            for f in sorted(files):
                if not f.endswith(SOURCE):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                try:
                    layer, owner = classify(rel)
                except LookupError as e:
                    bad.append(str(e))
                    continue
                if layer is None:
                    continue
                with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as fh:
                    lines = fh.readlines()
                for n, line in enumerate(lines, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = resolve(root, rel, m.group(1), m.group(2))
                    where = f"{rel}:{n}"
                    if target is None:
                        continue
                    if target == "":
                        bad.append(f"{where}: cannot find \"{m.group(2)}\"")
                        continue
                    try:
                        tlayer, towner = classify(target)
                    except LookupError as e:
                        bad.append(f"{where}: {e}")
                        continue
                    if tlayer is None:
                        continue
                    if RANK[tlayer] > RANK[layer]:
                        bad.append(f"{where}: {layer} includes {target} ({tlayer}): "
                                   f"an upward include (order: {' -> '.join(ORDER)})")
                    elif (tlayer == "primitive" and towner is not None and towner != owner
                          and layer != "app"):
                        bad.append(f"{where}: includes {target}, internal to "
                                   f"patterns/{towner}/")
    return bad


def self_test():
    """The checker must fail on planted violations and pass on a clean tree."""
    clean = {
        "patterns/include/patlab/ctx.h": "#include <stdint.h>\n",
        "patterns/include/patlab/pattern.h": '#include "hist.h"\n',
        "patterns/include/patlab/hist.h": "",
        "patterns/sync/park.h": "#include <stdatomic.h>\n",
        "patterns/context/ctx.c": '#include <patlab/ctx.h>\n#include "sync/park.h"\n',
        "patterns/chan/chan.c": '#include "context/ctx_watch.h"\n',
        "patterns/context/ctx_watch.h": "",
        "patterns/pool/pool.c": '#include "chan/block.h"\n#include "pool/own.h"\n',
        "patterns/pool/own.h": "",
        "patterns/chan/block.h": '#include "sync/park.h"\n',
        "patterns/pool/workload.c": '#include "harness/util.h"\n#include "pool/own.h"\n',
        "patterns/harness/util.h": "#include <patlab/pattern.h>\n",
        "bench/main.c": '#include "harness/util.h"\n#include "bench.h"\n',
        "bench/bench.h": "",
    }
    planted = [
        ("patterns/context/ctx.c", '#include "chan/block.h"\n', "upward include"),
        ("patterns/sync/park.h", "#include <patlab/ctx.h>\n", "upward include"),
        ("patterns/chan/chan.c", '#include "harness/util.h"\n', "upward include"),
        ("patterns/pool/pool.c", "#include <patlab/pattern.h>\n", "upward include"),
        ("patterns/other/x.c", '#include "pool/own.h"\n', "internal to"),
        ("patterns/chan/chan.c", '#include "nowhere.h"\n', "cannot find"),
        ("patterns/include/patlab/new.h", "", "does not place"),
    ]

    def tree(extra):
        d = tempfile.mkdtemp(prefix="layers.")
        files = dict(clean)
        if extra:
            path, text, _ = extra
            files[path] = files.get(path, "") + text
        for path, text in files.items():
            os.makedirs(os.path.join(d, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(d, path), "w") as fh:
                fh.write(text)
        return d

    failures = 0
    got = check(tree(None))
    if got:
        print("self-test: the clean tree was refused:", *got, sep="\n  ")
        failures += 1
    for case in planted:
        got = check(tree(case))
        if not any(case[2] in g for g in got):
            print(f"self-test: missed {case[2]!r} planted in {case[0]}: got {got}")
            failures += 1
    print(f"self-test: {len(planted) + 1 - failures} passed, {failures} failed")
    return 1 if failures else 0


def main(argv):
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test()
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print("usage: test_layers.py [ROOT] | --self-test", file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else os.path.join(os.path.dirname(__file__), "..", "..")
    if not os.path.isdir(os.path.join(root, "patterns")):
        print(f"test_layers: {root}: no patterns/ folder", file=sys.stderr)
        return 2
    bad = check(root)
    for b in bad:
        print(b)
    print(f"test_layers: {len(bad)} violation(s) of {' -> '.join(ORDER)}"
          if bad else f"test_layers: every #include follows {' -> '.join(ORDER)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
