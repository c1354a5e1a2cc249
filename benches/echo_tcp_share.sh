#!/usr/bin/env bash
# How much of an echo server's CPU is the kernel's TCP work, which every server
# echoing the same bytes pays in full, and so how fast a server could be at best.
#
#   benches/echo_tcp_share.sh [SERVER ...]     (not part of `cargo test`)
#
# Runs `benches/echo.rs` at 50 connections once per server (default: all three),
# under `perf record -g`, and sorts the bench's samples on CPU 0 (where it pins the
# server thread; the client runs on CPU 1) by their call stacks: a sample in the
# TCP/IP stack (`tcp_sendmsg`, `tcp_recvmsg`, the softirq's `net_rx_action` and
# below) is work the server cannot avoid, one send and one receive per echo (on
# loopback the sender also runs the receiver's softirq); everything else
# (system call entry, epoll or io_uring, the runtime, the user's code) is the
# server's own. If the TCP work is a share S of the tokio server's CPU, a server
# with no cost of its own would reach at most 1 / S of tokio's rate.
#
# Installs perf from Debian's packages if it is missing; needs kernel symbols in
# the call stacks (root, or kernel.kptr_restrict=0 and perf_event_paranoid <= 1).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v perf >/dev/null; then
    echo "== installing perf" >&2
    apt-get update >/dev/null
    apt-get install -y linux-perf >/dev/null
fi
if [ "$#" -eq 0 ]; then
    set -- tokio-current-thread linear-uring linear-uring-multishot
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/linear-uring-tcp-share.XXXXXX")"
trap 'rm -rf "$dir"' EXIT

echo "== building" >&2
# Visible, so that a build error shows; then again (built) for the binary's path.
cargo bench --bench echo --no-run
bin="$(cargo bench --bench echo --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\/echo-[^"]*\)".*/\1/p' | tail -n 1)"
[ -x "$bin" ] || { echo "echo bench binary not found" >&2; exit 1; }

uname -r
printf '%-24s %12s %8s %10s %10s\n' server cpu_us_per_rt samples tcp_share at_most
for server in "$@"; do
    if ! perf record -q -g --sample-cpu -o "$dir/perf.data" -- \
        "$bin" --bench "echo/$server/50\$" >"$dir/bench.out" 2>&1; then
        echo "perf record or the bench failed for $server:" >&2
        cat "$dir/bench.out" >&2
        exit 1
    fi
    cpu="$(sed -n 's/.*server thread CPU \([0-9.]*\) us per round trip.*/\1/p' "$dir/bench.out")"
    if [ -z "$cpu" ]; then
        echo "no echo bench ran for '$server' (servers: tokio-current-thread," \
            "linear-uring, linear-uring-multishot)" >&2
        exit 1
    fi
    # One paragraph per sample: "comm tid [cpu]", then one "ip symbol" line per
    # frame. Only the bench's own samples were recorded: no idle, no other process.
    perf script -i "$dir/perf.data" -F comm,tid,cpu,ip,sym 2>/dev/null | awk -v server="$server" -v cpu="$cpu" '
        BEGIN {
            RS = ""; FS = "\n"
            split("tcp_sendmsg tcp_recvmsg net_rx_action tcp_v4_rcv __tcp_push_pending_frames tcp_write_xmit", names, " ")
            for (i in names) tcp[names[i]] = 1
        }
        {
            split($1, head, " ")
            if (head[3] != "[000]") next
            busy++
            for (i = 2; i <= NF; i++) {
                n = split($i, frame, " ")
                if (frame[n] in tcp) { net++; break }
            }
        }
        END {
            if (busy == 0 || net == 0) {
                # No busy sample, or no kernel symbol resolved (kptr_restrict).
                printf "%-24s %12s %8d %10s %10s\n", server, cpu, busy, "n/a", "n/a"
                exit
            }
            share = net / busy
            printf "%-24s %12s %8d %9.1f%% %9.2fx\n", server, cpu, busy, 100 * share, 1 / share
        }'
done
echo "at_most: the rate of a server that spent nothing but the TCP work, over this one's" >&2
echo "(n/a: no TCP frame was resolved; kernel symbols need root or kernel.kptr_restrict=0)" >&2
