#!/usr/bin/env bash
# Compares pinwheel (1 core and 2 cores) with redis-server on this machine,
# in one run, with issue 3's redis-benchmark command:
#
#   redis-benchmark -t set,get -c 50 -n REQUESTS -P {16,1} -q
#
# These machines are shared VMs whose throughput swings several-fold from
# one second to the next, so one run per server proves nothing. The three
# servers run side by side (idle ones cost nothing) and are measured in
# ROUNDS interleaved rounds, the order rotating each round, so drift hits
# every server alike. Printed: each server's median ops/s over the rounds,
# and the median over rounds of its ratio to redis-server measured in the
# same round.
#
#   bash bench/compare-redis.sh                 # 5 rounds, -n 1000000 (P16), 200000 (P1)
#   ROUNDS=3 P1_REQUESTS=1000000 bash bench/compare-redis.sh
#   RAW=results.tsv bash bench/compare-redis.sh # also keep every measurement
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rounds=${ROUNDS:-5}
p16_requests=${P16_REQUESTS:-1000000}
p1_requests=${P1_REQUESTS:-200000}
raw=${RAW:-$(mktemp)}
declare -A port=([redis]=6390 [pinwheel-1]=7390 [pinwheel-2]=7391)
servers=(redis pinwheel-1 pinwheel-2)

cargo build --release -p pinwheel --quiet
pinwheel=target/release/pinwheel

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

redis-server --port "${port[redis]}" --save '' --appendonly no >/dev/null 2>&1 &
pids+=($!)
$pinwheel serve --listen "127.0.0.1:${port[pinwheel-1]}" --cores 1 --log-level warn >/dev/null 2>&1 &
pids+=($!)
$pinwheel serve --listen "127.0.0.1:${port[pinwheel-2]}" --cores 2 --log-level warn >/dev/null 2>&1 &
pids+=($!)
for server in "${servers[@]}"; do wait_port "${port[$server]}"; done

# One redis-benchmark run; appends "round server P SET GET" to $raw.
measure() {
    local round=$1 server=$2 pipeline=$3 requests=$4
    local figures
    figures=$(redis-benchmark -p "${port[$server]}" -t set,get -c 50 -n "$requests" -P "$pipeline" -q 2>/dev/null \
        | tr '\r' '\n' | awk '/^(SET|GET): .* requests per second/ { printf "%s ", $2 }')
    echo "$round $server $pipeline $figures" >>"$raw"
    echo "round $round  $server  P$pipeline  SET GET: $figures" >&2
}

: >"$raw"
for round in $(seq "$rounds"); do
    for pipeline in 16 1; do
        requests=$p1_requests
        [[ $pipeline == 16 ]] && requests=$p16_requests
        for i in 0 1 2; do
            server=${servers[$(((i + round) % 3))]}
            measure "$round" "$server" "$pipeline" "$requests"
        done
    done
done

# Medians, and the median of the per-round ratios to redis-server.
awk "$MEDIAN_AWK"'
{ set[$2, $3] = set[$2, $3] " " $4; get[$2, $3] = get[$2, $3] " " $5; s[$1, $2, $3] = $4; g[$1, $2, $3] = $5; rounds[$1] = 1 }
END {
    printf "%-12s %-4s %12s %12s %8s %8s\n", "server", "P", "SET ops/s", "GET ops/s", "SET ×", "GET ×"
    split("16 1", ps, " "); split("redis pinwheel-1 pinwheel-2", names, " ")
    for (p = 1; p <= 2; p++) for (k = 1; k <= 3; k++) {
        name = names[k]; pl = ps[p]; rs = ""; rg = ""
        for (r in rounds) { rs = rs " " s[r, name, pl] / s[r, "redis", pl]; rg = rg " " g[r, name, pl] / g[r, "redis", pl] }
        printf "%-12s %-4s %12.0f %12.0f %8.2f %8.2f\n", name, pl, median(set[name, pl]), median(get[name, pl]), median(rs), median(rg)
    }
}' "$raw"
