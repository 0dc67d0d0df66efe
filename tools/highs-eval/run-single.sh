#!/bin/sh
# Single mode: N = 2, 10, 100 copies; capacities f = 0.5, 0.75 of the unlimited solve's use.
cd "$(dirname "$0")"
for n in 2 10 100; do for f in 0.5 0.75; do
  echo "# load: $(cat /proc/loadavg)"
  ./target/release/highs-eval --copies $n --factor $f --limit ${LIMIT:-20} --project --write results/system-$n-$f.json
done; done
