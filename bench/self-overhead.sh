#!/usr/bin/env bash
# Self-overhead of pinwheel-bench: against one redis-server on this machine,
# compare pinwheel-bench's ops/s with redis-benchmark's at the same
# connections and pipeline, runs interleaved so drift hits both alike.
# Usage: bench/self-overhead.sh [runs-per-setting]   (needs redis-server,
# redis-benchmark; builds pinwheel-bench in release mode.)
set -euo pipefail
RUNS=${1:-3}
PORT=6399
CONNS=50
REQUESTS=${REQUESTS:-300000}   # redis-benchmark request count per run
DURATION=${DURATION:-5s}       # pinwheel-bench measured time per run
cd "$(dirname "$0")/.."
source bench/lib.sh
TABLE=$(mktemp)
# BENCH=path overrides the binary (and skips the release build).
if [ -z "${BENCH:-}" ]; then
  cargo build --release -p pinwheel-bench >&2
  BENCH=target/release/pinwheel-bench
fi
redis-server --save '' --appendonly no --port "$PORT" --bind 127.0.0.1 --daemonize no >/dev/null &
SERVER=$!
trap 'kill "$SERVER"' EXIT
wait_port "$PORT"
printf '%-9s %-4s %14s %14s %7s\n' pipeline run redis-benchmark pinwheel-bench ratio
for P in 1 16; do
  for RUN in $(seq "$RUNS"); do
    RB=$(redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$CONNS" -P "$P" -n "$REQUESTS" -t set -r 100000 -d 3 --csv -q \
         | awk -F'"' '/SET/ {print $4}')
    PB=$("$BENCH" --quiet --target "redis://127.0.0.1:$PORT" --workload set --keys 100000 --value-size 3 \
         --connections "$CONNS" --pipeline "$P" --duration "$DURATION" --warmup 1s --json /dev/stdout \
         | sed -n 's/.*"throughput_ops": \([0-9.]*\).*/\1/p' | head -1)
    printf '%-9s %-4s %14.0f %14.0f %7.2f\n' "$P" "$RUN" "$RB" "$PB" "$(echo "$PB / $RB" | bc -l)"
  done
done | tee "$TABLE"
# One run says little on a VM whose throughput swings several-fold: the
# verdict is the median of the per-run ratios.
awk "$MEDIAN_AWK"'$1 ~ /^[0-9]+$/ { r[$1] = r[$1] " " $5 }
END {
  for (p in r) printf "pipeline %s: median ratio %.2f over %d runs\n", p, median(r[p]), split(r[p], runs, " ")
}' "$TABLE"
