#!/usr/bin/env bash
# timeline.html renders in a real browser: the sample page written by
# `test_report --timeline-sample` is loaded in headless Chromium and the DOM
# it ends up with (after the page's own script ran) must have the swimlanes,
# the fault shading and the violation markers, and opening it at
# #violation-0 must reveal that violation's context events (the same code
# path as clicking the marker). Skips (exit 77) only when Chromium is absent.
# usage: tests/test_timeline.sh [BUILD_DIR]
set -euo pipefail
bdir=${1:-build/debug}
gen=$bdir/tests/test_report

browser=""
for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null 2>&1; then
        browser=$b
        break
    fi
done
if [ -z "$browser" ]; then
    echo "timeline-check: SKIP (chromium is not installed)"
    exit 77
fi
if [ ! -x "$gen" ]; then
    echo "timeline-check: FAILED ($gen is not built; build the unit tests first)"
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" --timeline-sample "$tmp/timeline.html"

dump() { # URL -> DOM on stdout
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-extensions \
        --no-first-run --user-data-dir="$tmp/profile" --dump-dom "$1" 2>"$tmp/browser.log"
}
fail() {
    echo "timeline-check: FAILED ($1)"
    tail -5 "$tmp/browser.log" 2>/dev/null || true
    exit 1
}
count() { # PATTERN FILE -> number of matches
    grep -o "$1" "$2" | wc -l | tr -d ' '
}

dump "file://$tmp/timeline.html" >"$tmp/dom.html" || fail "chromium did not render the page"
dom=$tmp/dom.html
[ "$(count '<g class="lane" data-name="[^"]*"' "$dom")" -eq 4 ] || fail "expected 4 swimlanes"
for lane in pub-1 sub-1 a b; do
    grep -q "<g class=\"lane\" data-name=\"$lane\"" "$dom" || fail "no lane for $lane"
done
[ "$(count '<rect class="fault"' "$dom")" -eq 3 ] || fail "expected 3 fault intervals"
[ "$(count '<g class="violation"' "$dom")" -eq 2 ] || fail "expected 2 violation markers"
grep -q 'data-ready="1"' "$dom" || fail "the page's script did not run"
[ "$(count 'class="violation-item"' "$dom")" -eq 2 ] || fail "the script did not list the violations"
grep -q 'data-shown=' "$dom" && fail "a violation is shown before any click"

dump "file://$tmp/timeline.html#violation-0" >"$tmp/dom0.html" || fail "chromium did not render #violation-0"
grep -q 'id="details" data-shown="0"' "$tmp/dom0.html" || fail "#violation-0 did not open its details"
[ "$(count 'class="context-event"' "$tmp/dom0.html")" -eq 4 ] || fail "expected 4 context events"
grep -q 'persisted_ack' "$tmp/dom0.html" || fail "context events are not shown"

echo "timeline-check: timeline.html renders in $browser with 4 lanes, 3 faults, 2 clickable violations"
