#!/usr/bin/env bash
# Drives examples/http with curl: keep-alive (two requests, one connection), a
# header over the limit (431), a request body sent slower than the read deadline
# (408). Installs curl if the machine lacks it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v curl >/dev/null; then
    apt-get update && apt-get install -y curl
fi

cargo build --example http
log=$(mktemp)
# Port 0: the kernel picks a free port, which the server prints.
./target/debug/examples/http --addr 127.0.0.1:0 --read-timeout-ms 500 >"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT
addr=
for _ in $(seq 100); do
    addr=$(sed -n 's/^http: listening on \([0-9.:]*\) .*/\1/p' "$log")
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { echo "http-curl: the server did not start" >&2; exit 1; }

fail() { echo "http-curl: $*" >&2; exit 1; }
echo "-- server on $addr"

echo "-- keep-alive: two requests on one connection"
out=$(curl -sv "http://$addr/a" "http://$addr/b" 2>&1)
grep -q "Re-using existing connection" <<<"$out" || fail "the connection was not reused: $out"
[ "$(grep -c "served by linear-uring" <<<"$out")" = 2 ] || fail "two answers expected: $out"

echo "-- oversized headers: 431"
big=$(head -c 10000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w "%{http_code}" -H "X-Big: $big" "http://$addr/big")
[ "$code" = 431 ] || fail "expected 431, got $code"

echo "-- a body slower than the deadline: 408"
code=$(head -c 2000 /dev/zero | curl -s -o /dev/null -w "%{http_code}" --limit-rate 100 \
    --data-binary @- "http://$addr/slow" || true)
[ "$code" = 408 ] || fail "expected 408, got $code"

echo "http-curl: ok"
