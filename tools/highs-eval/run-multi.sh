#!/bin/sh
# Heterogeneous mode: N = 2, 10 copies; capacities f = 0.5, 0.75 of the unlimited solve's use.
cd "$(dirname "$0")"
for n in 2 10; do for f in 0.5 0.75; do
  echo "# load: $(cat /proc/loadavg)"
  ./target/release/highs-eval --multi --copies $n --factor $f --limit ${LIMIT:-20} --project
done; done
