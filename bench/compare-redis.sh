#!/usr/bin/env bash
# Compares pinwheel (1 core, then 2 cores) with redis-server on this machine,
# in one run, with redis-benchmark: SET and GET, 50 clients, pipeline 16 and 1.
# Prints ops/s and each pinwheel figure as a ratio of redis-server's.
#
#   bash bench/compare-redis.sh [requests]      (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-1000000}
redis_port=6390
pinwheel_port=7390

cargo build --release -p pinwheel --quiet
pinwheel=target/release/pinwheel

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_port() {
    for _ in $(seq 100); do
        redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server on port $1 did not start" >&2
    exit 1
}

# One redis-benchmark run: prints "SET GET" requests per second.
measure() {
    local port=$1 pipeline=$2
    redis-benchmark -p "$port" -t set,get -c 50 -n "$requests" -P "$pipeline" -q 2>/dev/null \
        | tr '\r' '\n' | awk '/^(SET|GET): .* requests per second/ { printf "%s ", $2 }'
}

declare -A result
run_server() {
    local name=$1; shift
    "$@" >/dev/null 2>&1 &
    pids+=($!)
    local port=$pinwheel_port
    [[ $name == redis ]] && port=$redis_port
    wait_port "$port"
    for pipeline in 16 1; do
        result[$name,$pipeline]=$(measure "$port" "$pipeline")
    done
    kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
}

run_server redis redis-server --port $redis_port --save '' --appendonly no
run_server pinwheel-1 $pinwheel serve --listen 127.0.0.1:$pinwheel_port --cores 1 --log-level warn
run_server pinwheel-2 $pinwheel serve --listen 127.0.0.1:$pinwheel_port --cores 2 --log-level warn

printf '%-12s %-4s %12s %12s %8s %8s\n' server P 'SET ops/s' 'GET ops/s' 'SET ×' 'GET ×'
for pipeline in 16 1; do
    read -r rset rget <<<"${result[redis,$pipeline]}"
    for name in redis pinwheel-1 pinwheel-2; do
        read -r set get <<<"${result[$name,$pipeline]}"
        awk -v n="$name" -v p="$pipeline" -v s="$set" -v g="$get" -v rs="$rset" -v rg="$rget" \
            'BEGIN { printf "%-12s %-4s %12s %12s %8.2f %8.2f\n", n, p, s, g, s / rs, g / rg }'
    done
done
