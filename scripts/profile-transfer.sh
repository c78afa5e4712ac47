#!/bin/sh
# Profiles a 1:1 loopback transfer on both sides (docs/performance.md): `btt bench transfer`
# writes CPU profiles of our seeder and downloader (pprof), and perf attaches to all four
# processes (ours and libtorrent's) as soon as the bench names them, for the kernel's share.
#
#   go build -o bin/ ./cmd/... && unshare -n sh -c 'ip link set lo up && exec scripts/profile-transfer.sh OUTDIR [MIB]'
#   go tool pprof -top bin/btt OUTDIR/download.pprof
#   perf report -i OUTDIR/libtorrent-leecher.perf.data --no-children --sort dso,sym
set -eu
out=${1:?usage: profile-transfer.sh OUTDIR [MIB]}
size=${2:-1024}
btt=${BTT:-bin/btt}
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
mkdir -p "$out"
"$btt" bench transfer --size "$size" --libtorrent --cpuprofile "$out" --json >"$out/out.txt" 2>"$out/err.txt" &
bench=$!
for who in "btt seeder" "btt downloader" "libtorrent seeder" "libtorrent leecher"; do
	# Bounded: gives up when the bench has exited without naming the process.
	until pid=$(sed -n "s/^$who.*pid \([0-9]*\).*/\1/p" "$out/err.txt") && [ -n "$pid" ]; do
		kill -0 "$bench" 2>/dev/null || { cat "$out/err.txt" >&2; exit 1; }
		sleep 0.02
	done
	perf record -F 999 -g -p "$pid" -o "$out/$(echo "$who" | tr ' ' -).perf.data" 2>>"$out/perf.log" &
done
wait "$bench"
wait # the perf recorders end with the processes they follow
cat "$out/out.txt"
