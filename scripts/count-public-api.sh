#!/usr/bin/env bash
# Counts the library's public API: every item a user can name without
# envelope::internal or another #[doc(hidden)] path (modules, types, traits,
# functions and inherent methods, constants; not fields, variants or trait
# impls), from rustdoc's JSON output. Needs a nightly rustdoc flag, so it runs
# stable rustdoc with RUSTC_BOOTSTRAP=1 (the first run rebuilds the
# dependencies under that setting: minutes). Not part of the test command.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTC_BOOTSTRAP=1 cargo rustdoc --lib --quiet -- -Z unstable-options --output-format json
python3 - target/doc/envelope.json <<'PY'
import collections, json, sys

d = json.load(open(sys.argv[1]))
idx = d["index"]
seen, counts = set(), collections.Counter()

def hidden(item):
    return any("hidden" in str(a) for a in item.get("attrs", []))

def walk(i):
    if i is None:
        return
    i = str(i)
    if i in seen or i not in idx:
        return
    item = idx[i]
    if item["crate_id"] != 0 or hidden(item):
        return
    seen.add(i)
    kind, inner = next(iter(item["inner"].items()))
    if kind == "module":
        if item.get("name") == "internal":
            return
        counts[kind] += 1
        for x in inner["items"]:
            walk(x)
    elif kind == "use":
        walk(inner.get("id"))
    elif kind in ("struct", "enum", "trait", "union"):
        counts[kind] += 1
        for x in inner.get("impls", []):
            walk(x)
        if kind == "trait":
            for x in inner.get("items", []):
                walk(x)
    elif kind == "impl":
        if inner.get("trait") is None:
            for x in inner["items"]:
                walk(x)
    elif item["visibility"] == "public" or kind in ("function", "assoc_const"):
        counts[kind] += 1

walk(d["root"])
print(f"{sum(counts.values())} public items:", ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
PY
