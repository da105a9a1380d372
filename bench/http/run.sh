#!/usr/bin/env bash
# HTTP benchmarks S1-S6 (../shared/BENCHMARKS.md) against nginx references measured in the
# same run. Ours = `backrunner proxy` + two `backrunner node` processes (groups 1 and 2), so
# CPU and peak RSS are reported for the proxy and the nodes separately.
# S5 also runs S5i's reference: a second proxy with `key_index = false` (S5i = backrunner /
# backrunner-noindex req/s).
# Usage: bench/http/run.sh   (env: DUR=10s REPS=3 SCEN="s1 s2 s3 s4 s5 s6" BIG=0|1 VIDEO_MIB=256
#        UP_MIB=1024; SCEN=s2big BIG=1 = only 4 x 64 MiB)
# Needs: wrk, nginx (Debian: apt-get install -y wrk nginx-light), python3, openssl, and
# `cargo build --release --workspace --bin backrunner --bin backend-delay --bin node-reads`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${BIN:-$ROOT/target/release/backrunner}
DELAY_BIN=${DELAY_BIN:-$ROOT/target/release/backend-delay}
DUR=${DUR:-10s}; REPS=${REPS:-3}; SCEN=${SCEN:-"s1 s2 s3 s4 s5 s6"}; BIG=${BIG:-0}
VIDEO_MIB=${VIDEO_MIB:-256}; UP_MIB=${UP_MIB:-1024}
if [ "$BIG" = 1 ] && [[ " $SCEN " == *" s2 "* ]]; then SCEN="$SCEN s2big"; fi   # 4 x 64 MiB runs last
BACK=18081; FRONT=18080; FRONTS=18443; DAV=18083; PROXY=19090; PROXYS=19443; N1PORT=11025; N2PORT=11026
PROXY_NOINDEX=19091   # S5i's reference: the same proxy with key_index = false
D=$(mktemp -d /tmp/bench-http.XXXXXX)
OUT=$D/results.tsv
echo "work dir $D"
mkdir -p "$D"/www/get/default "$D"/dav "$D"/dav-tmp "$D"/tmp-back "$D"/tmp-front "$D"/tmp-dav "$D"/n1 "$D"/n2 "$D"/up
chmod 755 "$D"; chmod 1777 "$D"/dav "$D"/dav-tmp "$D"/tmp-back "$D"/tmp-front "$D"/tmp-dav  # nginx workers run as another user
PIDS=()
cleanup() {
  for f in "$D"/nginx-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  sleep 0.5
  # keep the results, drop the data (GiBs after S4) unless KEEP=1
  [ "${KEEP:-0}" = 1 ] || rm -rf "$D"/n1 "$D"/n2 "$D"/dav "$D"/www "$D"/up "$D"/chk "$D"/want
}
trap cleanup EXIT
{ echo "start $(date -u +%FT%TZ); load: $(cat /proc/loadavg)"; nproc; } > "$D/checks.txt"

# --- objects: the same bytes on disk (nginx) and uploaded to the proxy ---
W=$D/www/get/default
for i in $(seq -f %04g 0 999); do head -c 4096 /dev/urandom > "$W/s$i"; done
for i in $(seq -f %04g 0 63); do head -c 1048576 /dev/urandom > "$W/l$i"; done
head -c 67108864 /dev/urandom > "$W/h0000"   # S6's slow readers read it
if [ "$BIG" = 1 ]; then for i in $(seq -f %04g 1 3); do head -c 67108864 /dev/urandom > "$W/h$i"; done; fi
if [[ " $SCEN " == *" s3 "* ]]; then head -c $((VIDEO_MIB << 20)) /dev/urandom > "$W/v0000"; fi
chmod -R a+rX "$D/www"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout "$D/tls.key" -out "$D/tls.crt" 2>/dev/null
chmod 644 "$D/tls.key"

for n in back front dav; do
  sed -e "s#@D@#$D#g" -e "s#@BACK@#$BACK#g" -e "s#@FRONT@#$FRONT#g" -e "s#@FRONTS@#$FRONTS#g" -e "s#@DAV@#$DAV#g" \
    "$HERE/nginx-$n.conf.in" > "$D/nginx-$n.conf"
  nginx -c "$D/nginx-$n.conf" -p "$D" -e "$D/nginx-$n.err"
done

# --- ours: two node processes and the proxy process ---
node_conf() { # NAME PORT GROUP [REMOTE]
  local remotes=""; [ -n "${4:-}" ] && remotes="\"$4\""
  cat > "$D/$1.toml" <<EOT
listen = "127.0.0.1:$2"
protocol_version = "2.26"
remotes = [$remotes]
[[backends]]
id = 1
group = $3
dir = "$D/$1"
sync = "never"
EOT
}
node_conf n1 $N1PORT 1; node_conf n2 $N2PORT 2 "127.0.0.1:$N1PORT:2"
"$BIN" node --config "$D/n1.toml" --log warn > "$D/n1.log" 2>&1 & N1=$!; PIDS+=($N1)
sleep 0.5
"$BIN" node --config "$D/n2.toml" --log warn > "$D/n2.log" 2>&1 & N2=$!; PIDS+=($N2)
sleep 1
"$BIN" bucket put default --groups 1,2 --remote 127.0.0.1:$N1PORT:2 --log warn
proxy_conf() { # FILE PORT HTTPS_PORT EXTRA...
  local f=$1 port=$2 https=$3; shift 3
  { echo "listen = \"127.0.0.1:$port\""
    echo "remotes = [\"127.0.0.1:$N1PORT:2\", \"127.0.0.1:$N2PORT:2\"]"
    echo "metadata_groups = [1, 2]"; echo 'protocol_version = "2.26"'
    echo "max_chunked_upload_size = $((2 << 30))"
    for x in "$@"; do echo "$x"; done
    if [ -n "$https" ]; then printf '[https]\nlisten = "127.0.0.1:%s"\ncert = "%s"\nkey = "%s"\n' "$https" "$D/tls.crt" "$D/tls.key"; fi
  } > "$f"
}
wait_ready() { for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$1/readyz" && return 0; sleep 0.2; done; echo "proxy :$1 not ready"; return 1; }
proxy_conf "$D/proxy.toml" $PROXY $PROXYS
"$BIN" proxy --config "$D/proxy.toml" --log warn > "$D/proxy.log" 2>&1 & PXY=$!; PIDS+=($PXY)
wait_ready $PROXY || { cat "$D/proxy.log"; exit 1; }
if [[ " $SCEN " == *" s5 "* ]]; then
  proxy_conf "$D/proxy-noindex.toml" $PROXY_NOINDEX "" "key_index = false"
  "$BIN" proxy --config "$D/proxy-noindex.toml" --log warn > "$D/proxy-noindex.log" 2>&1 & PXN=$!; PIDS+=($PXN)
  wait_ready $PROXY_NOINDEX || { cat "$D/proxy-noindex.log"; exit 1; }
fi

echo "uploading..."
(cd "$W" && ls | xargs -P16 -I{} curl -s -m 120 -o /dev/null -w '%{http_code}\n' --data-binary @{} \
  "http://127.0.0.1:$PROXY/upload/default/{}") | sort | uniq -c | tee "$D/upload-status.txt"

# --- helpers ---
ticks() { local s=0; for p in "$@"; do read -r -a a < /proc/$p/stat; s=$((s + a[13] + a[14])); done; echo $s; }
hwm() { awk '/VmHWM/{print $2}' /proc/$1/status; }
nginx_workers() { pgrep -P "$(cat "$D/nginx-$1.pid")" | tr '\n' ' '; }
tolat() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.3f", v}' <<<"$1"; }
tobytes() { awk '{v=$1; m=1; if (v ~ /KB$/) m=1024; else if (v ~ /MB$/) m=1048576; else if (v ~ /GB$/) m=1073741824; sub(/[KMG]?B$/,"",v); printf "%.0f", v*m}' <<<"$1"; }
# sample_rss PID FILE: the largest VmRSS (KiB) seen every 50 ms, written to FILE when killed
sample_rss() { local max=0 v; trap 'echo $max > "$2"; exit 0' TERM; while true; do
  v=$(awk '/VmRSS/{print $2}' /proc/$1/status 2>/dev/null || echo 0); [ "${v:-0}" -gt "$max" ] && max=$v; sleep 0.05; done; }
start_sampler() { rm -f "$D/rss.$1"; sample_rss "$1" "$D/rss.$1" & SAMPLER=$!; }
# stop_sampler PID: sets RSS to the sampled peak (not in a $(...) subshell: it must wait)
stop_sampler() { kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true; RSS=$(cat "$D/rss.$1" 2>/dev/null || echo 0); }
# settle: write dirty pages back and drop the page cache (as root; otherwise only sync), so
# every upload run starts from the same memory state. Without it a run pays the kernel's
# reclaim of the previous runs' pages, and unevenly: nginx dav's files are deleted after
# each run (their pages freed), ours stay in the append-only blobs.
settle() { sync; if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; fi; }
cpu_s() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f",(b-a)/100}'; }
printf "scenario\tsystem\tconc\trep\treq_s\tbytes_s\tp50_ms\tp99_ms\tnon2xx\tsock_err\tcpu_s\tnode_cpu_s\tpeak_rss_kib\n" > "$OUT"
row() { local IFS=$'\t'; echo "$*" | tee -a "$OUT"; }
# run SCEN SYSTEM CONC REP LUA URL PIDS... (system backrunner*: PIDS = the proxy; node CPU too)
run() {
  local scen=$1 sys=$2 c=$3 rep=$4 lua=$5 url=$6; shift 6
  local nodes=""; [[ $sys == backrunner* ]] && nodes="$N1 $N2"
  local t0 n0; t0=$(ticks "$@"); n0=$(ticks $nodes)
  start_sampler "$1"
  local o; o=$(wrk -t2 -c"$c" -d"$DUR" --timeout 30s --latency -s "$HERE/$lua" "$url" 2>&1)
  stop_sampler "$1"; local rss=$RSS
  local t1 n1; t1=$(ticks "$@"); n1=$(ticks $nodes)
  echo "$o" > "$D/wrk-$scen-$sys-c$c-$rep.txt"
  local rps bps p50 p99 non err
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$o")
  bps=$(tobytes "$(awk '/^Transfer\/sec/{print $2}' <<<"$o")")
  p50=$(tolat "$(awk '$1=="50%"{print $2}' <<<"$o")")
  p99=$(tolat "$(awk '$1=="99%"{print $2}' <<<"$o")")
  non=$(awk '/^NON2XX/{print $2}' <<<"$o"); non=${non:-$(awk '/Non-2xx or 3xx/{print $NF}' <<<"$o")}; non=${non:-0}
  err=$(awk '/Socket errors/{print $0}' <<<"$o" | tr -d '\n' | sed 's/\t/ /g'); err=${err:-0}
  local ncpu=-; [ -n "$nodes" ] && ncpu=$(cpu_s "$n0" "$n1")
  row "$scen" "$sys" "$c" "$rep" "$rps" "$bps" "$p50" "$p99" "$non" "$err" "$(cpu_s "$t0" "$t1")" "$ncpu" "$rss"
}
BACKW=$(nginx_workers back); FRONTW=$(nginx_workers front); DAVW=$(nginx_workers dav)
check_get() { # body check on a sample: status, length, content against the file on disk
  local prefix=$1 n=$2 bad=0
  for i in $(seq 1 20); do
    local k; k=$(printf "%s%04d" "$prefix" $((RANDOM % n)))
    for base in "http://127.0.0.1:$PROXY" "http://127.0.0.1:$FRONT"; do
      local st; st=$(curl -s -o "$D/chk" -w '%{http_code}' "$base/get/default/$k")
      if [ "$st" != 200 ] || ! cmp -s "$D/chk" "$W/$k"; then echo "BODY MISMATCH $base $k status $st"; bad=$((bad+1)); fi
    done
  done
  echo "body check $prefix: 20 keys x 2 systems, mismatches $bad" | tee -a "$D/checks.txt"
}
# shellcheck source=bench/http/scenarios.sh
. "$HERE/scenarios.sh"

for s in $SCEN; do case $s in
s1)
  check_get s 1000
  for c in 16 64; do for r in $(seq "$REPS"); do
    BENCH_PREFIX=/get/default/s run S1 nginx-static $c $r get.lua http://127.0.0.1:$BACK $BACKW
    BENCH_PREFIX=/get/default/s run S1 nginx-2hop $c $r get.lua http://127.0.0.1:$FRONT $FRONTW $BACKW
    BENCH_PREFIX=/get/default/s run S1 backrunner $c $r get.lua http://127.0.0.1:$PROXY $PXY
  done; done ;;
s2)
  check_get l 64
  for c in 16; do for r in $(seq "$REPS"); do
    BENCH_PREFIX=/get/default/l BENCH_KEYS=64 run S2-1MiB nginx-static $c $r get-nohook.lua http://127.0.0.1:$BACK $BACKW
    BENCH_PREFIX=/get/default/l BENCH_KEYS=64 run S2-1MiB nginx-2hop $c $r get-nohook.lua http://127.0.0.1:$FRONT $FRONTW $BACKW
    BENCH_PREFIX=/get/default/l BENCH_KEYS=64 run S2-1MiB backrunner $c $r get-nohook.lua http://127.0.0.1:$PROXY $PXY
  done; done ;;
s2big)
  if [ "$BIG" = 1 ]; then check_get h 4; for r in $(seq "$REPS"); do
    BENCH_PREFIX=/get/default/h BENCH_KEYS=4 run S2-64MiB nginx-2hop 16 $r get-nohook.lua http://127.0.0.1:$FRONT $FRONTW $BACKW
    BENCH_PREFIX=/get/default/h BENCH_KEYS=4 run S2-64MiB backrunner 16 $r get-nohook.lua http://127.0.0.1:$PROXY $PXY
  done; fi ;;
s3) scenario_s3 ;;
s4) scenario_s4 ;;
s5)
  for r in $(seq "$REPS"); do
    settle; BENCH_RUN=$r BENCH_PREFIX=/upload/default/p run S5 nginx-dav 32 $r put.lua http://127.0.0.1:$DAV $DAVW
    settle; BENCH_RUN=$r BENCH_PREFIX=/upload/default/p run S5 backrunner 32 $r put.lua http://127.0.0.1:$PROXY $PXY
    # S5i: the same PUTs with the key index off (other keys: prefix q)
    settle; BENCH_RUN=$r BENCH_PREFIX=/upload/default/q run S5 backrunner-noindex 32 $r put.lua http://127.0.0.1:$PROXY_NOINDEX $PXN
  done
  # the index lists what was uploaded through the proxy that logs uploads
  listed=$(curl -s "http://127.0.0.1:$PROXY/list/default?prefix=p1-1-&max-keys=1000" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key-count"])')
  echo "S5i: /list shows $listed keys of run 1 thread 1 (first page, at most 1000)" | tee -a "$D/checks.txt"
  # every key of a sample reads back (status, length, sha256 of the 4 KiB body)
  want=$(printf '0123456789abcdef%.0s' $(seq 256) | sha256sum)
  bad=0; total=0
  for r in $(seq "$REPS"); do for t in 1 2; do for k in 2 3 50 500 1000; do  # counter 1 is never sent: wrk calls request() once per thread to verify the script (script_verify_request)
    key="p$r-$t-$k"; total=$((total+1))
    st=$(curl -s -o "$D/chk" -w '%{http_code}' "http://127.0.0.1:$PROXY/get/default/$key")
    if [ "$st" != 200 ] || [ "$(wc -c < "$D/chk")" != 4096 ] || [ "$(sha256sum < "$D/chk")" != "$want" ]; then
      echo "PUT READBACK FAIL $key status $st"; bad=$((bad+1)); fi
    [ -f "$D/dav/upload/default/$key" ] || echo "(nginx dav has no $key either: not sent by wrk)"
  done; done; done
  echo "S5 read-back: $total keys, failures $bad" | tee -a "$D/checks.txt" ;;
s6) scenario_s6 ;;
esac; done

echo "peak RSS (VmHWM, KiB) over the whole run: proxy $(hwm $PXY), node1 $(hwm $N1), node2 $(hwm $N2); nginx back workers $(for p in $BACKW; do hwm $p; done | tr '\n' ' ')front $(for p in $FRONTW; do hwm $p; done | tr '\n' ' ')dav $(for p in $DAVW; do hwm $p; done | tr '\n' ' ')" | tee -a "$D/checks.txt"
echo "end $(date -u +%FT%TZ); load: $(cat /proc/loadavg)" >> "$D/checks.txt"
echo; echo "== medians (of the repetitions; min-max in brackets) =="
awk -F'\t' 'NR>1{k=$1" "$2" c"$3; n[k]++; R[k,n[k]]=$5; B[k,n[k]]=$6; P5[k,n[k]]=$7; P9[k,n[k]]=$8; N[k]+=$9; C[k,n[k]]=$11; NC[k,n[k]]=$12; S[k,n[k]]=$13; if(!(k in seen)){seen[k]=1; order[++m]=k}}
function med(A,k,n,  i,j,t,x){for(i=1;i<=n;i++)x[i]=A[k,i]+0; for(i=1;i<=n;i++)for(j=i+1;j<=n;j++)if(x[j]<x[i]){t=x[i];x[i]=x[j];x[j]=t}; return x[int((n+1)/2)] }
function mn(A,k,n, i,v){v=A[k,1]+0; for(i=2;i<=n;i++) if(A[k,i]+0<v) v=A[k,i]+0; return v}
function mx(A,k,n, i,v){v=A[k,1]+0; for(i=2;i<=n;i++) if(A[k,i]+0>v) v=A[k,i]+0; return v}
END{for(i=1;i<=m;i++){k=order[i]; printf "%-34s req/s %9.0f (%.0f-%.0f)  MiB/s %8.1f (%.0f-%.0f)  p50 %8.3f ms  p99 %8.3f ms  non2xx %d  cpu-s %5.2f  node-cpu-s %5.2f  rss-MiB %5.0f\n", k, med(R,k,n[k]), mn(R,k,n[k]), mx(R,k,n[k]), med(B,k,n[k])/1048576, mn(B,k,n[k])/1048576, mx(B,k,n[k])/1048576, med(P5,k,n[k]), med(P9,k,n[k]), N[k], med(C,k,n[k]), med(NC,k,n[k]), med(S,k,n[k])/1024}}' "$OUT" | tee "$D/summary.txt"
echo; cat "$D/checks.txt"
echo "raw: $OUT"
