#!/usr/bin/env bash
# The main job: a Speed swarm on loopback. It builds the binaries and starts a ledger (on its
# embedded store), a tracker, a seeder that auctions its upload slots, and three leechers whose
# wallets are funded by the ledger's proof-of-work faucet and who bid with different spending
# rates. The leechers find the seeder only through the tracker. It prints bids, auction
# unchokes with prices, vouchers and settlements as they happen, checks every downloaded byte,
# and ends with the wallets' balances, which must add up. Everything stays in ./demo-run.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "Go is required"; exit 1; }

out=demo-run
rm -rf "$out"; mkdir -p "$out/bin" "$out/seed"
echo "== building"
go build -o "$out/bin/" ./cmd/...
btt="$out/bin/btt"
ledger=http://127.0.0.1:7100

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== ledger on $ledger (bbolt store in $out/ledger.db), tracker on 127.0.0.1:7200 (HTTP) and :7201 (UDP)"
# Every wallet of the demo claims the faucet from 127.0.0.1: lift the per-IP faucet limit.
"$out/bin/btt-ledger" --listen 127.0.0.1:7100 --db "$out/ledger.db" --faucet-per-ip 0 > "$out/ledger.log" 2>&1 &
pids+=($!)
"$out/bin/btt-tracker" --http 127.0.0.1:7200 --udp 127.0.0.1:7201 > "$out/tracker.log" 2>&1 &
pids+=($!)
sleep 1

echo "== wallets, funded by the faucet (proof of work)"
for w in seeder leech2 leech3 leech4; do
	"$btt" wallet new --wallet "$out/$w.key" > /dev/null
	"$btt" wallet faucet --wallet "$out/$w.key" --ledger "$ledger" > /dev/null
	printf '  %-7s %s  %s\n' "$w" "$("$btt" wallet show --wallet "$out/$w.key" --ledger "$ledger" | grep '^address' | cut -d' ' -f2)" \
		"$("$btt" wallet balance --wallet "$out/$w.key" --ledger "$ledger" | grep '^balance')"
done

echo "== 64 MiB of data and a torrent announcing to our tracker"
mkdir -p "$out/seed/album"
head -c $((48 << 20)) /dev/urandom > "$out/seed/album/track1.bin"
head -c $((16 << 20)) /dev/urandom > "$out/seed/album/track2.bin"
echo "liner notes" > "$out/seed/album/notes.txt"
"$btt" create -o "$out/seed/album.torrent" --piece-length 262144 -a http://127.0.0.1:7200/announce "$out/seed/album" > /dev/null
"$btt" info "$out/seed/album.torrent" | grep -E '^(name|info-hash|pieces|total size|tracker)' || true

echo "== seeder on 127.0.0.1:7001: Speed on, 2 auctioned slots, reserve 0.5 BTT/GiB, 8 MB/s"
"$btt" seed "$out/seed/album.torrent" --data "$out/seed" --listen 127.0.0.1:7001 \
	--speed --wallet "$out/seeder.key" --ledger "$ledger" --slots 2 --rechoke 2s \
	--reserve-grace 0s --reserve-start 0.5 --reserve-cap 0.5 \
	--upload-limit 8000000 --progress-interval 2s > "$out/seeder.log" 2>&1 &
pids+=($!)
sleep 1

leechers=()
rates=(x x 0.2 0.5 1.0)
for i in 2 3 4; do
	mkdir -p "$out/leech$i"
	echo "== leecher $i on 127.0.0.$i:700$i, spending rate ${rates[$i]}, finds peers through the tracker"
	"$btt" download "$out/seed/album.torrent" --data "$out/leech$i" --listen "127.0.0.$i:700$i" \
		--speed --wallet "$out/leech$i.key" --ledger "$ledger" --spending-rate "${rates[$i]}" \
		--progress-interval 2s > "$out/leech$i.log" 2>&1 &
	leechers+=($!)
	pids+=($!)
done

echo "== the market as it runs (from the logs)"
deadline=$((SECONDS + 180))
declare -A shown
while :; do
	done_count=0
	for i in 2 3 4; do grep -q '^complete' "$out/leech$i.log" && done_count=$((done_count + 1)); done
	# New market events from each log: bids, won slots, channels, settlements (vouchers are
	# counted at the end: there is one per piece bought).
	for f in "$out/seeder.log" "$out"/leech*.log; do
		lines=$(grep -h 'msg="speed:' "$f" | grep -v 'msg="speed: voucher"' || true)
		n=$(printf '%s' "$lines" | grep -c . || true)
		if [ "$n" -gt "${shown[$f]:-0}" ]; then
			who=$(basename "$f" .log)
			printf '%s\n' "$lines" | tail -n +$((${shown[$f]:-0} + 1)) |
				sed -E "s/^time=[^ ]+ level=[A-Z]+ msg=\"([^\"]*)\"/  [$who] \1/" | cut -c1-160
			shown[$f]=$n
		fi
	done
	for i in 2 3 4; do
		printf '  leecher %d: %s\n' "$i" "$(grep -E 'pieces' "$out/leech$i.log" | tail -1 | cut -c1-150)"
	done
	[ "$done_count" -eq 3 ] && break
	[ "$SECONDS" -gt "$deadline" ] && { echo "timed out"; exit 1; }
	sleep 2
done

echo "== verifying every byte"
for i in 2 3 4; do
	for f in track1.bin track2.bin notes.txt; do cmp -s "$out/seed/album/$f" "$out/leech$i/album/$f"; done
	echo "  leecher $i: identical to the seeder's data; $(grep -h '^complete' "$out/leech$i.log" | sed 's/.*(//; s/)//')"
done

echo "== leechers leave; the seeder settles their channels on the ledger"
kill "${leechers[@]}" 2>/dev/null || true
wait "${leechers[@]}" 2>/dev/null || true
sleep 3
grep -h 'speed: channel settled' "$out/seeder.log" | sed -E 's/^time=[^ ]+ level=[A-Z]+ msg="([^"]*)"/  \1/' || echo "  (no channel was paid)"
vouchers=$(grep -h 'msg="speed: voucher"' "$out"/leech*.log | wc -l)
echo "  $vouchers vouchers were sent, one per verified piece bought at auction"

echo "== balances (they started at 10 BTT each: 40 BTT in all)"
total=0
for w in seeder leech2 leech3 leech4; do
	b=$("$btt" wallet balance --wallet "$out/$w.key" --ledger "$ledger" | grep '^balance' | awk '{print $2}')
	printf '  %-7s %s BTT\n' "$w" "$b"
	total=$(awk -v a="$total" -v b="$b" 'BEGIN { printf "%.6f", a + b }')
done
echo "  sum     $total BTT"
if [ "$total" != "40.000000" ]; then
	echo "  (the difference is still locked in channels that were not settled; the ledger refunds them at expiry)"
fi
tail -1 "$out/seeder.log" | sed 's/^/  seeder: /' | cut -c1-220
echo "== done"
