#!/usr/bin/env bash
# Run the scenario library (scenarios/*.json except the schema) with the
# faultline CLI of the given build directory: the regression suite.
# With --summary (make run), also say where the reports and timelines are.
set -uo pipefail
bdir=$1; shift || true
summary=0
[ "${1:-}" = "--summary" ] && summary=1
cli=$bdir/faultline
if [ ! -x "$cli" ]; then
    echo "scenario suite: NOT RUN — the faultline CLI was not built ($cli missing)."
    exit 1
fi
shopt -s nullglob
files=()
for f in scenarios/*.json; do
    [ "$(basename "$f")" = schema.json ] || files+=("$f")
done
if [ ${#files[@]} -eq 0 ]; then
    echo "scenario suite: no scenarios in scenarios/"
    exit 1
fi
out=reports/runs
mkdir -p "$out"
"$cli" run --report-dir "$out" --junit reports/junit/scenarios.xml "${files[@]}"
rc=$?
if [ $summary = 1 ]; then
    echo
    echo "Reports: $out/<scenario>/ (report.json, timeline.html, repro.json on failure)"
    echo "JUnit:   reports/junit/scenarios.xml     Run history: $bdir/faultline history"
fi
exit $rc
