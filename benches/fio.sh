#!/usr/bin/env bash
# Page-cached file reads: linear-uring (benches/file_read.rs) against fio's io_uring
# engine on the same 1 GiB file, in one session, and the ratio of their IOPS.
#
#   benches/fio.sh [SECONDS]        (default 5 s per case; not part of `cargo test`)
#
# Installs fio from Debian's packages if it is missing. Cases: 4 KiB random reads
# and 64 KiB sequential reads, at queue depth 1 and 32, buffered (--direct=0), one
# thread each. The file is read once first so that every case hits the page cache
# (and fio is told not to drop it from the cache, which it does by default).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-5}"
if ! command -v fio >/dev/null; then
    echo "== installing fio" >&2
    apt-get update >/dev/null
    apt-get install -y fio >/dev/null
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/linear-uring-fio.XXXXXX")"
trap 'rm -rf "$dir"' EXIT
file="$dir/data"
echo "== a 1 GiB file in $dir, read once into the page cache" >&2
head -c $((1 << 30)) /dev/urandom >"$file"
cat "$file" >/dev/null

echo "== building" >&2
cargo bench --bench file_read --no-run 2>/dev/null
bin="$(cargo bench --bench file_read --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "file_read":
        print(m["executable"])')"

fio --version
uname -r
printf '%-10s %6s %5s %12s %12s %7s\n' rw bs depth fio_iops lu_iops ratio
for spec in "randread 4096" "read 65536"; do
    set -- $spec
    rw=$1 bs=$2
    for depth in 1 32; do
        fio_iops="$(fio --name=case --filename="$file" --rw="$rw" --bs="$bs" \
            --iodepth="$depth" --ioengine=io_uring --direct=0 --invalidate=0 --time_based \
            --runtime="$secs" --numjobs=1 --output-format=json |
            python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs"][0]["read"]["iops"]))')"
        lu_iops="$("$bin" "$file" --bs "$bs" --depth "$depth" --rw "$rw" --secs "$secs" |
            sed -n 's/.*iops=\([0-9]*\).*/\1/p')"
        ratio="$(python3 -c "print(f'{$lu_iops / $fio_iops:.3f}')")"
        printf '%-10s %6s %5s %12s %12s %7s\n' "$rw" "$bs" "$depth" "$fio_iops" "$lu_iops" "$ratio"
    done
done
