#!/bin/sh
# 1. HiGHS's run-to-run variation: other random seeds on the single-mode systems where its
#    cold and warm runs differed (exact settings, as in the main table).
# 2. TUNED=1 (count stages stop once no better count is possible, value stages at 1e-4), both
#    backends, the project's warm start, every system.
cd "$(dirname "$0")"
for seed in 1 2; do
  for nf in "10 0.5" "100 0.5" "100 0.75"; do set -- $nf
    echo "# load: $(cat /proc/loadavg)"
    HIGHS_SEED=$seed ./target/release/highs-eval --copies $1 --factor $2 --limit 20 --backends highs | sed "s/^RESULT/RESULT seed=$seed/"
  done
done > results/seeds.txt 2>&1
for n in 2 10 100; do for f in 0.5 0.75; do
  echo "# load: $(cat /proc/loadavg)"
  TUNED=1 ./target/release/highs-eval --copies $n --factor $f --limit 20 --starts warm
done; done > results/tuned-single.txt 2>&1
for n in 2 10; do for f in 0.5 0.75; do
  echo "# load: $(cat /proc/loadavg)"
  TUNED=1 ./target/release/highs-eval --multi --copies $n --factor $f --limit 20 --starts warm
done; done > results/tuned-multi.txt 2>&1
