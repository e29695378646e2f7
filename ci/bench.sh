#!/usr/bin/env bash
# Run every benchmark binary, collect the figures they print (one JSON object
# per line) into reports/bench/<suite>.json in the documented shape
#   {"suite": S, "revision": R, "figures": [{"name", "value", "unit", "target",
#    "higher_is_better", "baseline"}]}
# and print all figures as one table (with the ratio to the baseline when the
# figure has one).  usage: ci/bench.sh BENCH_BIN_DIR
set -uo pipefail
dir=$1
mkdir -p reports/bench
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || rev="$rev-dirty"
lines=$(mktemp)
rc=0
for bin in "$dir"/bench_*; do
    [ -x "$bin" ] || continue
    echo "bench: $(basename "$bin") ..." >&2
    if ! "$bin" >>"$lines"; then
        echo "bench: $(basename "$bin") FAILED" >&2
        rc=1
    fi
done
python3 - "$lines" "$rev" <<'PY'
import json, sys, collections
path, rev = sys.argv[1], sys.argv[2]
suites = collections.OrderedDict()
for n, line in enumerate(open(path), 1):
    line = line.strip()
    if not line.startswith("{"):
        continue
    f = json.loads(line)
    s = f.pop("suite")
    for k in ("name", "value", "unit", "target", "higher_is_better", "baseline"):
        f.setdefault(k, None)
    suites.setdefault(s, []).append({k: f[k] for k in ("name", "value", "unit", "target", "higher_is_better", "baseline")})
def fmt(v):
    if v is None: return "-"
    return f"{v:,.1f}" if isinstance(v, float) else f"{v:,}"
print(f"{'suite':<13} {'figure':<40} {'value':>16} {'unit':<10} {'target':>12} {'baseline':>14} {'ratio':>7}  ok")
for s, figs in suites.items():
    json.dump({"suite": s, "revision": rev, "figures": figs}, open(f"reports/bench/{s}.json", "w"), indent=2)
    for f in figs:
        ratio = "-"
        if f["baseline"]:
            r = f["value"] / f["baseline"]
            ratio = f"{r:.2f}x"
        ok = "-"
        if f["target"] is not None:
            good = f["value"] >= f["target"] if f["higher_is_better"] else f["value"] <= f["target"]
            ok = "yes" if good else "MISS"
        print(f"{s:<13} {f['name']:<40} {fmt(f['value']):>16} {f['unit']:<10} {fmt(f['target']):>12} {fmt(f['baseline']):>14} {ratio:>7}  {ok}")
print("written: " + ", ".join(f"reports/bench/{s}.json" for s in suites))
PY
rm -f "$lines"
exit $rc
