#!/usr/bin/env bash
# Run cmocka test binaries: JUnit XML per binary under reports/junit/, one
# line per binary on the console, the full output of any failing binary, and
# a closing "N passed, N failed" line. Exit 1 if anything failed.
# usage: ci/run-tests.sh BUILD_DIR BINARY...
set -uo pipefail
bdir=$1; shift
variant=$(basename "$bdir")
out=reports/junit/$variant
mkdir -p "$out"
pass=0; fail=0; failed_bins=()
for bin in "$@"; do
    name=$(basename "$bin")
    rm -f "$out/$name".xml "$out/$name"-*.xml
    CMOCKA_MESSAGE_OUTPUT=XML CMOCKA_XML_FILE="$out/$name-%g.xml" "$bin" >/dev/null 2>"$out/$name.stderr"
    rc=$?
    t=0; f=0
    for x in "$out/$name"-*.xml; do
        [ -f "$x" ] || continue
        t=$((t + $(grep -o '<testcase ' "$x" | wc -l)))
        f=$((f + $(grep -o '<failure' "$x" | wc -l)))
    done
    if [ $rc -ne 0 ] || [ $t -eq 0 ]; then
        [ $f -eq 0 ] && f=1
        printf 'FAIL  %-28s %3d tests, %d failed (exit %d)\n' "$name" "$t" "$f" "$rc"
        "$bin" 2>&1 | tail -40
        failed_bins+=("$name")
    else
        printf 'ok    %-28s %3d tests\n' "$name" "$t"
    fi
    pass=$((pass + t - f)); fail=$((fail + f))
done
echo "unit tests ($variant): ${#@} binaries"
[ ${#failed_bins[@]} -gt 0 ] && echo "failing: ${failed_bins[*]}"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
