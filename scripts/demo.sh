#!/usr/bin/env bash
# The main job: a local swarm on loopback. It builds the binaries, makes a torrent of generated
# data, serves it with btt-seeder, and runs three btt leechers (each on its own 127.0.0.x
# address, each told of the seeder and of the leechers before it), which trade pieces with
# each other while the seeder gives out one upload slot. It prints their progress, checks every
# downloaded byte, and leaves everything it made in ./demo-run.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "Go is required"; exit 1; }

out=demo-run
rm -rf "$out"; mkdir -p "$out/bin" "$out/seed"
echo "== building"
go build -o "$out/bin/" ./cmd/...

echo "== making 48 MiB of data and a torrent of it"
mkdir -p "$out/seed/album"
head -c $((32 << 20)) /dev/urandom > "$out/seed/album/track1.bin"
head -c $((16 << 20)) /dev/urandom > "$out/seed/album/track2.bin"
echo "liner notes" > "$out/seed/album/notes.txt"
"$out/bin/btt" create -o "$out/seed/album.torrent" --piece-length 262144 "$out/seed/album"
"$out/bin/btt" info "$out/seed/album.torrent"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== seeder on 127.0.0.1:7001 (one upload slot, 8 MB/s, so the leechers must trade)"
"$out/bin/btt" seed "$out/seed/album.torrent" --data "$out/seed" --listen 127.0.0.1:7001 \
	--upload-limit 8000000 --progress-interval 2s > "$out/seeder.log" 2>&1 &
pids+=($!)
sleep 1

peers=(--peer 127.0.0.1:7001)
for i in 2 3 4; do
	mkdir -p "$out/leech$i"
	echo "== leecher $i on 127.0.0.$i:700$i"
	"$out/bin/btt" download "$out/seed/album.torrent" --data "$out/leech$i" --listen "127.0.0.$i:700$i" \
		"${peers[@]}" --seed --progress-interval 2s > "$out/leech$i.log" 2>&1 &
	pids+=($!)
	peers+=(--peer "127.0.0.$i:700$i")
done

echo "== progress (leecher logs in $out/leech*.log)"
deadline=$((SECONDS + 120))
while :; do
	done_count=0
	for i in 2 3 4; do
		line=$(grep -E 'pieces|complete' "$out/leech$i.log" | tail -1 || true)
		printf '  leecher %d: %s\n' "$i" "${line:-starting}"
		grep -q '^complete' "$out/leech$i.log" && done_count=$((done_count + 1))
	done
	[ "$done_count" -eq 3 ] && break
	[ "$SECONDS" -gt "$deadline" ] && { echo "timed out"; exit 1; }
	sleep 2
done

echo "== verifying"
for i in 2 3 4; do
	cmp -s "$out/seed/album/track1.bin" "$out/leech$i/album/track1.bin"
	cmp -s "$out/seed/album/track2.bin" "$out/leech$i/album/track2.bin"
	cmp -s "$out/seed/album/notes.txt" "$out/leech$i/album/notes.txt"
	echo "  leecher $i: every byte matches the seeder's"
done
grep -h '^complete' "$out"/leech*.log
echo "== the seeder's last report"
tail -1 "$out/seeder.log"
echo "== done: all three leechers finished; pieces they uploaded to each other show as 'up' in their logs"
