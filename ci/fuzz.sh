#!/usr/bin/env bash
# Run each libFuzzer target for N seconds from its committed seed corpus.
# usage: ci/fuzz.sh FUZZ_BIN_DIR SECONDS
set -euo pipefail
dir=$1; secs=$2
rc=0
for bin in "$dir"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    seeds=tests/fuzz/corpus/${name#fuzz_}
    work=build/fuzz/corpus/${name#fuzz_}
    mkdir -p "$work" reports/fuzz
    [ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null || true
    if "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix=reports/fuzz/"$name"- \
        "$work" >reports/fuzz/"$name".log 2>&1; then
        execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' reports/fuzz/"$name".log | grep -oE '[0-9]+$' || echo ?)
        echo "fuzz $name: ${secs}s, $execs executions, no crash"
    else
        echo "fuzz $name: CRASH — see reports/fuzz/$name.log"; tail -30 reports/fuzz/"$name".log; rc=1
    fi
done
exit $rc
