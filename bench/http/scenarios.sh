# S3 (video seek), S4 (large uploads, memory) and S6 (abuse, TLS, fast 503): sourced by
# run.sh, which defines the systems, ports, `run`, `row` and the samplers used here.
# shellcheck shell=bash

# Sum of `reads_size` (bytes the nodes read for READs) over both nodes, from MONITOR_STAT
# (bench/src/bin/node-reads.rs).
node_reads() { "$ROOT/target/release/node-reads" "127.0.0.1:$N1PORT:2" || echo 0; }
# A counter of the proxy's /metrics (0 when absent).
metric() { curl -s "http://127.0.0.1:${2:-$PROXY}/metrics" | awk -v n="$1" '$1==n{print $2}' | tail -1 | awk '{printf "%.0f", $1+0}'; }
etag_of() { curl -sI "$1" | awk -F': ' 'tolower($1)=="etag"{print $2}' | tr -d '\r'; }
# ttfb URL OFFSET N: "p50 p99" of the time to first byte (ms) of N 1 MiB range GETs at OFFSET
ttfb() {
  for _ in $(seq "$3"); do curl -s -o /dev/null -r "$2-$(($2 + 1048575))" -w '%{time_starttransfer}\n' "$1"; done |
    sort -n | awk '{a[NR]=$1} END{i=int(NR*0.99); if(i<1)i=1; printf "%.3f %.3f", a[int((NR+1)/2)]*1000, a[i]*1000}'
}
# check_range URL RANGE IFRANGE EXPECTFILE: status 206 and the body byte-exact
check_range() {
  local st; st=$(curl -s -o "$D/chk" -w '%{http_code}' -H "Range: bytes=$2" ${3:+-H "If-Range: $3"} "$1")
  if [ "$st" != 206 ] || ! cmp -s "$D/chk" "$4"; then echo "RANGE MISMATCH $1 $2 status $st"; return 1; fi
}

scenario_s3() {
  local size=$((VIDEO_MIB << 20)) path=/get/default/v0000 f=$W/v0000 bad=0 n=0
  local et_ours et_ng
  et_ours=$(etag_of "http://127.0.0.1:$PROXY$path"); et_ng=$(etag_of "http://127.0.0.1:$FRONT$path")
  echo "S3 object $VIDEO_MIB MiB; ETag ours $et_ours, nginx $et_ng" | tee -a "$D/checks.txt"
  # every kind of request of the mix, byte-exact, on both systems
  for base in "http://127.0.0.1:$PROXY" "http://127.0.0.1:$FRONT"; do
    local et=$et_ours; [ "$base" = "http://127.0.0.1:$FRONT" ] && et=$et_ng
    for i in $(seq 25); do
      local s=$(( (RANDOM * 32768 + RANDOM) % (size - 1048576) ))
      { tail -c +$((s + 1)) "$f" | head -c 1048576 > "$D/want"; } 2>/dev/null || true  # tail gets SIGPIPE
      local ifr=""; [ $((i % 5)) = 0 ] && ifr=$et
      n=$((n + 1)); check_range "$base$path" "$s-$((s + 1048575))" "$ifr" "$D/want" || bad=$((bad + 1))
    done
    head -c 2 "$f" > "$D/want"; n=$((n + 1)); check_range "$base$path" "0-1" "" "$D/want" || bad=$((bad + 1))
    tail -c 65536 "$f" > "$D/want"; n=$((n + 1)); check_range "$base$path" "-65536" "" "$D/want" || bad=$((bad + 1))
  done
  echo "S3 range check: $n requests (1 MiB windows, 1 in 5 with If-Range, probe, suffix), mismatches $bad" | tee -a "$D/checks.txt"
  local reads0 served0 reads1 served1 rd=0 sv=0
  for r in $(seq "$REPS"); do
    BENCH_PATH=$path BENCH_SIZE=$size BENCH_ETAG=$et_ng run S3-seek nginx-2hop 16 "$r" seek.lua "http://127.0.0.1:$FRONT" $FRONTW $BACKW
    reads0=$(node_reads); served0=$(metric backrunner_http_object_bytes_served_total)
    BENCH_PATH=$path BENCH_SIZE=$size BENCH_ETAG=$et_ours run S3-seek backrunner 16 "$r" seek.lua "http://127.0.0.1:$PROXY" "$PXY"
    reads1=$(node_reads); served1=$(metric backrunner_http_object_bytes_served_total)
    rd=$((rd + reads1 - reads0)); sv=$((sv + served1 - served0))
  done
  echo "S3 amplification: nodes read $rd bytes (MONITOR_STAT reads_size) for $sv object bytes served (proxy metric): $(awk -v a="$rd" -v b="$sv" 'BEGIN{printf "%.3f", (b ? a/b : 0)}')x" | tee -a "$D/checks.txt"
  local far=$(( size * 9 / 10 ))
  for base in "http://127.0.0.1:$PROXY" "http://127.0.0.1:$FRONT"; do
    echo "S3 TTFB (ms p50 p99 of 100 x 1 MiB) $base: offset 0: $(ttfb "$base$path" 0 100); offset 90%: $(ttfb "$base$path" $far 100)" | tee -a "$D/checks.txt"
  done
}

# s4_put SCEN SYSTEM CONC REP FILE URL_PREFIX CHUNKED: CONC parallel PUTs of FILE, one row
s4_put() {
  local scen=$1 sys=$2 c=$3 rep=$4 file=$5 prefix=$6 chunked=$7 pids nodes="" watch
  if [ "$sys" = backrunner ]; then pids=$PXY; nodes="$N1 $N2"; watch=$PXY; else pids=$DAVW; watch=$(awk '{print $1}' <<<"$DAVW"); fi
  settle
  local t0 n0 s0 s1; t0=$(ticks $pids); n0=$(ticks $nodes)
  start_sampler "$watch"
  s0=$(date +%s.%N)
  local curls=()
  for i in $(seq "$c"); do
    curl -s -H 'Expect:' ${chunked:+-H 'Transfer-Encoding: chunked'} -T "$file" -o "$D/s4-reply-$i" \
      -w '%{http_code}\n' "$prefix-$i" > "$D/s4-status-$i" & curls+=($!)
  done
  wait "${curls[@]}" || true
  s1=$(date +%s.%N)
  stop_sampler "$watch"; local rss=$RSS
  local bytes=$(( $(stat -c %s "$file") * c )) non=0
  for i in $(seq "$c"); do case $(cat "$D/s4-status-$i") in 2??) ;; *) non=$((non + 1));; esac; done
  local secs; secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.3f", b-a}')
  local ncpu=-; [ -n "$nodes" ] && ncpu=$(cpu_s "$n0" "$(ticks $nodes)")
  row "$scen" "$sys" "$c" "$rep" "$(awk -v c="$c" -v s="$secs" 'BEGIN{printf "%.3f", c/s}')" \
    "$(awk -v b="$bytes" -v s="$secs" 'BEGIN{printf "%.0f", b/s}')" "$(awk -v s="$secs" 'BEGIN{print s*1000}')" \
    "$(awk -v s="$secs" 'BEGIN{print s*1000}')" "$non" 0 "$(cpu_s "$t0" "$(ticks $pids)")" "$ncpu" "$rss"
}

# s4_verify KEY FILE: lookup size and the SHA-256 of the object read back through the proxy
s4_verify() {
  local want got size
  want=$(sha256sum < "$2" | cut -c1-64)
  got=$(curl -s "http://127.0.0.1:$PROXY/get/default/$1" | sha256sum | cut -c1-64)
  size=$(curl -s "http://127.0.0.1:$PROXY/lookup/default/$1" | grep -o '"size":[0-9]*' | head -2 | tr '\n' ' ')
  local ok=ok; [ "$want" = "$got" ] || ok=MISMATCH
  echo "S4 read-back $1: sha256 $ok, lookup $size (file $(stat -c %s "$2"))" | tee -a "$D/checks.txt"
}

# reclaim KEY_PREFIX CONC: deletes our objects KEY_PREFIX-1..CONC and defragments both nodes
# (outside any timed part) — the counterpart of the rm after each nginx dav run. The blobs
# are append-only, so without it every repetition's GiBs stay on disk (3 repetitions of S4
# would need ~25 GiB free).
reclaim() {
  for i in $(seq "$2"); do curl -s -o /dev/null -X POST "http://127.0.0.1:$PROXY/delete/default/$1-$i"; done
  for port in $N1PORT $N2PORT; do
    "$BIN" defrag --remote "127.0.0.1:$port:2" --backend 1 --wait --log warn > /dev/null || echo "defrag of :$port failed"
  done
}

scenario_s4() {
  local big=$D/up/big part=$D/up/part size=$((UP_MIB << 20))
  head -c "$size" /dev/urandom > "$big"; head -c $((size / 8)) /dev/urandom > "$part"
  chmod 644 "$big" "$part"
  local dav=http://127.0.0.1:$DAV/upload/default ours=http://127.0.0.1:$PROXY/upload/default
  for r in $(seq "$REPS"); do
    s4_put S4a-length nginx-dav 1 "$r" "$big" "$dav/S4a" ""; rm -f "$D"/dav/upload/default/S4*
    if [ "$r" -gt 1 ]; then reclaim S4a 1; fi
    s4_put S4a-length backrunner 1 "$r" "$big" "$ours/S4a" ""
    s4_put S4b-8x nginx-dav 8 "$r" "$part" "$dav/S4b" ""; rm -f "$D"/dav/upload/default/S4*
    if [ "$r" -gt 1 ]; then reclaim S4b 8; fi
    s4_put S4b-8x backrunner 8 "$r" "$part" "$ours/S4b" ""
    s4_put S4c-chunked nginx-dav 1 "$r" "$big" "$dav/S4c" 1; rm -f "$D"/dav/upload/default/S4*
    if [ "$r" -gt 1 ]; then reclaim S4c 1; fi
    s4_put S4c-chunked backrunner 1 "$r" "$big" "$ours/S4c" 1
  done
  grep -h -o '"success-groups":\[[0-9,]*\]' "$D"/s4-reply-* | sort | uniq -c | sed 's/^/S4 replies (last run): /' | tee -a "$D/checks.txt"
  s4_verify S4a-1 "$big"; s4_verify S4b-3 "$part"; s4_verify S4c-1 "$big"
  # (b) again with group 2 slowed by 50 ms per operation (BACKEND_CONTROL CTL delay)
  "$DELAY_BIN" "127.0.0.1:$N2PORT:2" 1 50 | tee -a "$D/checks.txt"
  for r in $(seq "$REPS"); do
    if [ "$r" -gt 1 ]; then reclaim S4s 8; fi
    s4_put S4b-8x-slow50ms backrunner 8 "$r" "$part" "$ours/S4s" ""
  done
  "$DELAY_BIN" "127.0.0.1:$N2PORT:2" 1 0 | tee -a "$D/checks.txt"
  grep -h -o '"success-groups":\[[0-9,]*\],"error-groups":\[[0-9,]*\]' "$D"/s4-reply-* | sort | uniq -c | sed 's/^/S4 slowed replies (last run): /' | tee -a "$D/checks.txt"
  s4_verify S4s-5 "$part"
  rm -f "$big" "$part"
}

scenario_s6() {
  local url=http://127.0.0.1:$PROXY
  for r in $(seq "$REPS"); do BENCH_PREFIX=/get/default/s run S6-clean backrunner 16 "$r" get.lua "$url" "$PXY"; done
  local secs=$(( 9 + REPS * ($(sed 's/s$//' <<<"$DUR") + 2) ))
  local rss_pid; rm -f "$D/rss.s6"; sample_rss "$PXY" "$D/rss.s6" & rss_pid=$!
  local abuse=${S6_ABUSE:-"idle loris readers"}   # which abusers run (all by default)
  local n_idle=0 n_loris=0 n_readers=0
  [[ " $abuse " == *" idle "* ]] && n_idle=2000
  [[ " $abuse " == *" loris "* ]] && n_loris=50
  [[ " $abuse " == *" readers "* ]] && n_readers=100
  python3 "$HERE/abuse.py" idle 127.0.0.1 $PROXY $n_idle "$secs" > "$D/s6-idle.json" 2>"$D/s6-idle.err" &
  local idle=$!
  python3 "$HERE/abuse.py" slowloris 127.0.0.1 $PROXY $n_loris "$secs" > "$D/s6-slowloris.json" 2>"$D/s6-slowloris.err" &
  local loris=$!
  local readers=()
  for _ in $(seq $n_readers); do
    curl -s --limit-rate 64k -m "$((secs - 1))" -o /dev/null -w '%{http_code} %{size_download} %{exitcode}\n' \
      "$url/get/default/h0000" >> "$D/s6-slow-readers.txt" 2>/dev/null & readers+=($!)
  done
  sleep 8   # the readers first fill their socket buffers (several MiB each) at full speed
  echo "S6 under abuse: $(ls /proc/$PXY/fd | wc -l) proxy fds open" | tee -a "$D/checks.txt"
  local gen0 gen1 gens="$idle $loris ${readers[*]}"
  gen0=$(ticks $gens 2>/dev/null || echo 0)
  for r in $(seq "$REPS"); do BENCH_PREFIX=/get/default/s run S6-abuse backrunner 16 "$r" get.lua "$url" "$PXY"; done
  gen1=$(ticks $gens 2>/dev/null || echo 0)
  echo "S6 CPU-seconds of the abuse generators (python + 100 curl, same 2 cores) during the abuse runs: $(cpu_s "$gen0" "$gen1")" | tee -a "$D/checks.txt"
  wait "$idle" "$loris" "${readers[@]}" 2>/dev/null || true
  kill "$rss_pid" 2>/dev/null; wait "$rss_pid" 2>/dev/null || true
  echo "S6 idle keep-alive: $(cat "$D/s6-idle.json")" | tee -a "$D/checks.txt"
  echo "S6 slowloris: $(cat "$D/s6-slowloris.json")" | tee -a "$D/checks.txt"
  echo "S6 slow readers (status, curl exit: 28 = the client's own -m $((secs - 1))s limit): $(awk '{print $1" exit "$3}' "$D/s6-slow-readers.txt" | sort | uniq -c | tr -s ' ' | tr '\n' ';'); bytes min/median/max $(awk '{print $2}' "$D/s6-slow-readers.txt" | sort -n | awk '{b[NR]=$1} END{printf "%d / %d / %d", b[1], b[int((NR+1)/2)], b[NR]}')" | tee -a "$D/checks.txt"
  echo "S6 proxy peak RSS during abuse: $(( $(cat "$D/rss.s6") / 1024 )) MiB" | tee -a "$D/checks.txt"
  # TLS: S1 over HTTPS, ours and the nginx two-hop, beside their HTTP in the same loop
  for r in $(seq "$REPS"); do
    BENCH_PREFIX=/get/default/s run S6-http nginx-2hop 16 "$r" get.lua "http://127.0.0.1:$FRONT" $FRONTW $BACKW
    BENCH_PREFIX=/get/default/s run S6-https nginx-2hop 16 "$r" get.lua "https://127.0.0.1:$FRONTS" $FRONTW $BACKW
    BENCH_PREFIX=/get/default/s run S6-http backrunner 16 "$r" get.lua "$url" "$PXY"
    BENCH_PREFIX=/get/default/s run S6-https backrunner 16 "$r" get.lua "https://127.0.0.1:$PROXYS" "$PXY"
  done
  # fast 503 at capacity: a second proxy allowing 8 requests, all held by slow uploads
  local port=19091
  proxy_conf "$D/proxy503.toml" $port "" "max_concurrent_requests = 8"
  "$BIN" proxy --config "$D/proxy503.toml" --log warn > "$D/proxy503.log" 2>&1 & local p503=$!; PIDS+=($p503)
  wait_ready $port
  local ups=()
  for i in $(seq 8); do
    curl -s -H 'Expect:' --limit-rate 32k -m 25 -T "$W/l0000" -o /dev/null "http://127.0.0.1:$port/upload/default/slowup$i" & ups+=($!)
  done
  sleep 2
  local st body
  st=$(curl -s -o "$D/s6-503.json" -w '%{http_code}' "http://127.0.0.1:$port/get/default/s0001"); body=$(cat "$D/s6-503.json")
  echo "S6 at capacity (8 slow uploads held): status $st body $body" | tee -a "$D/checks.txt"
  local o; o=$(wrk -t1 -c8 -d5s --latency "http://127.0.0.1:$port/get/default/s0001" 2>&1)
  echo "$o" > "$D/wrk-S6-503.txt"
  echo "S6 fast 503: $(awk '/^Requests\/sec/{r=$2} $1=="50%"{p5=$2} $1=="99%"{p9=$2} /Non-2xx/{n=$NF} / requests in /{t=$1} END{printf "%s req/s, %s requests of which non-2xx %s, latency p50 %s p99 %s", r, t, n, p5, p9}' <<<"$o")" | tee -a "$D/checks.txt"
  kill "${ups[@]}" 2>/dev/null || true; kill "$p503" 2>/dev/null || true
}
