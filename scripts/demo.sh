#!/usr/bin/env bash
# The main job: a Speed market on loopback. It builds the binaries and starts a ledger (on its
# embedded store), our tracker, a btt-seeder that sells its upload by auction (2 auctioned
# slots + 1 optimistic, 4 MB/s), and six leechers on 127.0.0.2-7 that find the seeder and each
# other only through the tracker: three bid with Speed at spending rates 1.0, 0.5 and 0.2 of a
# faucet-funded wallet, three are plain BitTorrent peers. It prints each leecher's download
# rate while it runs and its completion time, the seeder's earnings, checks every byte, and
# ends with the wallets' balances, which must add up.
#
# What to expect: the two highest bidders win the auctioned slots; a paid slot weighs 4 in
# the seeder's send scheduler and a free one 1 (docs/speed-market.md), so while both are
# served a winner downloads about 4x faster from the seeder than the optimistic peer. The
# leechers also trade with each other (tit-for-tat), which is what lets the others finish.
# Everything stays in ./demo-run. Run it as root in a private network namespace if you like:
#   unshare -n sh -c 'ip link set lo up && exec ./scripts/demo.sh'
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "Go is required"; exit 1; }

out=demo-run
rm -rf "$out"; mkdir -p "$out/bin" "$out/seed"
echo "== building"
go build -o "$out/bin/" ./cmd/...
btt="$out/bin/btt"
ledger=http://127.0.0.1:7100
mib=${DEMO_MIB:-64}

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

bidders=(2 3 4)
legacy=(5 6 7)
declare -A rate=([2]=1.0 [3]=0.5 [4]=0.2)
echo "== wallets, funded by the faucet (proof of work)"
for w in seeder leech2 leech3 leech4; do
	"$btt" wallet new --wallet "$out/$w.key" > /dev/null
	"$btt" wallet faucet --wallet "$out/$w.key" --ledger "$ledger" > /dev/null
	printf '  %-7s %s  %s\n' "$w" "$("$btt" wallet show --wallet "$out/$w.key" --ledger "$ledger" | grep '^address' | cut -d' ' -f2)" \
		"$("$btt" wallet balance --wallet "$out/$w.key" --ledger "$ledger" | grep '^balance')"
done

echo "== $mib MiB of data and a torrent announcing to our tracker"
mkdir -p "$out/seed/album"
head -c $((mib * 3 / 4 << 20)) /dev/urandom > "$out/seed/album/track1.bin"
head -c $((mib / 4 << 20)) /dev/urandom > "$out/seed/album/track2.bin"
echo "liner notes" > "$out/seed/album/notes.txt"
"$btt" create -o "$out/seed/album.torrent" --piece-length 262144 -a http://127.0.0.1:7200/announce "$out/seed/album" > /dev/null
"$btt" info "$out/seed/album.torrent" | grep -E '^(name|info-hash|pieces|total size|tracker)' || true

echo "== btt-seeder on 127.0.0.1:7001: Speed on, 2 auctioned slots + 1 optimistic, reserve 0.5 BTT/GiB, 4 MB/s"
"$out/bin/btt-seeder" --dir "$out/seed" --listen 127.0.0.1:7001 \
	--speed --wallet "$out/seeder.key" --ledger "$ledger" --slots 2 --rechoke 2s \
	--reserve-grace 0s --reserve-start 0.5 --reserve-cap 0.5 \
	--upload-limit 4000000 --report 5s > "$out/seeder.log" 2>&1 &
pids+=($!)
sleep 1

start=$SECONDS
leechers=()
for i in "${bidders[@]}" "${legacy[@]}"; do
	mkdir -p "$out/leech$i"
	speed=()
	what="no Speed (a plain BitTorrent peer)"
	if [ -n "${rate[$i]:-}" ]; then
		speed=(--speed --wallet "$out/leech$i.key" --ledger "$ledger" --spending-rate "${rate[$i]}")
		what="Speed, spending rate ${rate[$i]}"
	fi
	echo "== leecher $i on 127.0.0.$i:700$i: $what; uploads capped at 500 kB/s, seeds once complete"
	"$btt" download "$out/seed/album.torrent" --data "$out/leech$i" --listen "127.0.0.$i:700$i" --seed \
		--upload-limit 500000 --rechoke 2s "${speed[@]}" --progress-interval 2s > "$out/leech$i.log" 2>&1 &
	leechers+=($!)
	pids+=($!)
done

echo "== the market as it runs: each leecher's download rate, and market events from the logs"
deadline=$((SECONDS + 300))
declare -A shown=() finished=()
while :; do
	for f in "$out/seeder.log" "$out"/leech*.log; do
		lines=$(grep -h 'msg="speed: \(bid\|channel opened\|channel settled\)' "$f" || true)
		n=$(printf '%s' "$lines" | grep -c . || true)
		if [ "$n" -gt "${shown[$f]:-0}" ]; then
			who=$(basename "$f" .log)
			printf '%s\n' "$lines" | tail -n +$((${shown[$f]:-0} + 1)) |
				sed -E "s/^time=[^ ]+ level=[A-Z]+ msg=\"([^\"]*)\"/  [$who] \1/" | cut -c1-150
			shown[$f]=$n
		fi
	done
	t=$((SECONDS - start))
	line="  t=${t}s"
	for i in "${bidders[@]}" "${legacy[@]}"; do
		if [ -z "${finished[$i]:-}" ] && grep -q '^complete' "$out/leech$i.log"; then finished[$i]=$t; fi
		if [ -n "${finished[$i]:-}" ]; then
			line+=$(printf '  L%d done@%ss' "$i" "${finished[$i]}")
		else
			r=$(grep -E 'pieces' "$out/leech$i.log" | tail -1 | sed -nE 's/.*down ([^ ]+ [^ ]+\/s).*/\1/p')
			line+=$(printf '  L%d %s' "$i" "${r:--}")
		fi
	done
	echo "$line"
	[ "${#finished[@]}" -eq 6 ] && break
	[ "$SECONDS" -gt "$deadline" ] && { echo "timed out"; exit 1; }
	sleep 2
done

echo "== completion times (seconds since the leechers started)"
sum() { local s=0; for i in "$@"; do s=$((s + finished[$i])); done; echo "$s"; }
for i in "${bidders[@]}" "${legacy[@]}"; do
	what="no Speed"
	[ -n "${rate[$i]:-}" ] && what="Speed, spending rate ${rate[$i]}"
	printf '  leecher %d  %-28s %4ss\n' "$i" "$what" "${finished[$i]}"
done
bmean=$(awk -v s="$(sum "${bidders[@]:0:2}")" 'BEGIN { printf "%.1f", s / 2 }')
lmean=$(awk -v s="$(sum "${legacy[@]}")" 'BEGIN { printf "%.1f", s / 3 }')
echo "  the two highest bidders: ${bmean}s on average; the plain peers: ${lmean}s ($(awk -v a="$lmean" -v b="$bmean" 'BEGIN { printf "%.2f", a / b }')x longer)"

echo "== verifying every byte; what the leechers uploaded to each other"
for i in "${bidders[@]}" "${legacy[@]}"; do
	for f in track1.bin track2.bin notes.txt; do cmp -s "$out/seed/album/$f" "$out/leech$i/album/$f"; done
	echo "  leecher $i: identical to the seeder's data; $(grep -h '^complete' "$out/leech$i.log" | sed 's/.*(//; s/)//')"
done
seeded=$(grep -h '^earnings' "$out/seeder.log" | tail -1 | sed -nE 's/.*uploaded ([0-9]+) B.*/\1/p')
awk -v s="${seeded:-0}" -v m="$mib" 'BEGIN { t = 6 * m; u = s / 1048576;
	printf "  the leechers downloaded %d MiB in all; the seeder uploaded %.0f MiB of it, the leechers %.0f MiB to each other\n", t, u, t - u }'

echo "== leechers leave; the seeder settles their channels on the ledger"
kill "${leechers[@]}" 2>/dev/null || true
wait "${leechers[@]}" 2>/dev/null || true
sleep 3
grep -h 'speed: channel settled' "$out/seeder.log" | sed -E 's/^time=[^ ]+ level=[A-Z]+ msg="([^"]*)"/  \1/' || echo "  (no channel was paid)"
grep -h '^earnings' "$out/seeder.log" | tail -1 | sed 's/^/  seeder /'

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
echo "== done"
