#!/usr/bin/env bash
# Line coverage of client/ and simulator/ taken together; fail under the gate.
# The last line printed is the figure.  usage: ci/coverage.sh BUILD_DIR MIN%
set -euo pipefail
bdir=$1; min=$2
mkdir -p reports/coverage
gcovr --root . --object-directory "$bdir" --filter 'client/' --filter 'simulator/' \
      --exclude 'simulator/main.c' \
      --txt reports/coverage/coverage.txt --xml reports/coverage/coverage.xml \
      --print-summary >reports/coverage/summary.txt 2>&1 || { cat reports/coverage/summary.txt; exit 1; }
pct=$(grep -E '^lines:' reports/coverage/summary.txt | grep -oE '[0-9]+(\.[0-9]+)?%' | head -1 | tr -d %)
echo "lowest-covered files:"
grep -E '^(client|simulator)/' reports/coverage/coverage.txt | sort -k4 -n >reports/coverage/by_file.txt || true
sed -n 1,8p reports/coverage/by_file.txt
ok=$(awk -v p="$pct" -v m="$min" 'BEGIN{print (p+0 >= m+0) ? 1 : 0}')
if [ "$ok" = 1 ]; then
    echo "coverage: ${pct}% of lines in client/ + simulator/ (gate ${min}%) OK"
else
    echo "coverage: ${pct}% of lines in client/ + simulator/ (gate ${min}%) FAILED"
    exit 1
fi
