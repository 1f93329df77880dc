# Shared by the benchmark scripts in this directory: sourced, not run.

# Waits until a RESP server answers PING on 127.0.0.1:$1; exits after 10 s.
wait_port() {
    for _ in $(seq 100); do
        redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server on port $1 did not start" >&2
    exit 1
}

# An awk function for `awk "$MEDIAN_AWK"'...program...'`: median(list) of a
# space-separated list of numbers. These VMs' throughput swings several-fold,
# so every script reports medians over interleaved runs.
MEDIAN_AWK='
function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
'
