#!/usr/bin/env bash
# Issue 4's benchmark: lock acquire+release pairs against the same server's
# SET throughput, in one run, with pinwheel-bench (closed loop, 50
# connections, pipeline 1: a waiting acquire blocks its connection, so lock
# pairs are never pipelined).
#
#   uncontended: --workload lock --keys 100000   (many names)
#   contended:   --workload lock --keys 1        (one name, 50 clients queued)
#   baseline:    --workload set  --keys 100000
#
# A pair is two commands, so the figure compared with SET is 2 × pairs/s.
# Rounds are interleaved (this VM's throughput drifts several-fold); each
# line of the table is a median over the rounds, and the ratio is the median
# of the per-round ratios.
#
#   bash bench/locks-vs-set.sh            # 5 rounds of 5 s, pinwheel --cores 1
#   ROUNDS=3 DURATION=10s CORES=2 bash bench/locks-vs-set.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rounds=${ROUNDS:-5}
duration=${DURATION:-5s}
cores=${CORES:-1}
port=7396
raw=$(mktemp)

cargo build --release -p pinwheel -p pinwheel-bench --quiet
target/release/pinwheel serve --listen "127.0.0.1:$port" --cores "$cores" --log-level warn >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
wait_port "$port"

# One run; appends "round name ops/s p50 p99 errors" to $raw.
measure() {
    local round=$1 name=$2; shift 2
    local json
    json=$(mktemp)
    target/release/pinwheel-bench --quiet --target "redis://127.0.0.1:$port" \
        --connections 50 --pipeline 1 --duration "$duration" --warmup 1s "$@" --json "$json" >/dev/null
    python3 - "$round" "$name" "$json" >>"$raw" <<'EOF'
import json, sys
round_, name, path = sys.argv[1], sys.argv[2], sys.argv[3]
report = json.load(open(path))[0]
errors = sum(report["errors"].values())
print(round_, name, report["throughput_ops"], report["latency_us"]["p50"], report["latency_us"]["p99"], errors)
EOF
    tail -1 "$raw" >&2
}

for round in $(seq "$rounds"); do
    measure "$round" set --workload set --keys 100000
    measure "$round" lock --workload lock --keys 100000
    measure "$round" lock-1-name --workload lock --keys 1
done

python3 - "$raw" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {}
for r, name, ops, p50, p99, errors in rows:
    by.setdefault(name, {})[r] = (float(ops), float(p50), float(p99), int(errors))
print(f"{'workload':<14} {'pairs/s':>10} {'cmds/s':>10} {'p50 µs':>8} {'p99 µs':>9} {'errors':>7} {'cmds/s ÷ SET':>13}")
for name in ["set", "lock", "lock-1-name"]:
    runs = by[name]
    per_cmd = 1 if name == "set" else 2
    ops = statistics.median(v[0] for v in runs.values())
    ratio = statistics.median(v[0] * per_cmd / by["set"][r][0] for r, v in runs.items())
    pairs = f"{ops:10.0f}" if per_cmd == 2 else f"{'':>10}"
    print(f"{name:<14} {pairs} {ops * per_cmd:10.0f} {statistics.median(v[1] for v in runs.values()):8.0f} "
          f"{statistics.median(v[2] for v in runs.values()):9.0f} {sum(v[3] for v in runs.values()):7d} {ratio:13.2f}")
EOF
