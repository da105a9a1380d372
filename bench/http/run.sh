#!/usr/bin/env bash
# HTTP benchmarks S1 (small GET), S2 (large GET), S5 (small PUT) against nginx references.
# Usage: bench/http/run.sh   (env: DUR=5s REPS=3 SCEN="s1 s2 s5" BIG=0|1; SCEN=s2big BIG=1 = only 4 x 64 MiB)
# Needs: wrk, nginx (Debian: apt-get install -y wrk nginx-light), target/release/backrunner.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${BIN:-$ROOT/target/release/backrunner}
DUR=${DUR:-5s}; REPS=${REPS:-3}; SCEN=${SCEN:-"s1 s2 s5"}; BIG=${BIG:-0}
if [ "$BIG" = 1 ] && [[ " $SCEN " == *" s2 "* ]]; then SCEN="$SCEN s2big"; fi   # 4 x 64 MiB runs last
BACK=18081; FRONT=18080; DAV=18083; PROXY=19090; NODEPORT=11025
D=$(mktemp -d /tmp/bench-http.XXXXXX)
OUT=$D/results.tsv
echo "work dir $D"
mkdir -p "$D"/www/get/default "$D"/dav "$D"/dav-tmp "$D"/tmp-back "$D"/tmp-front "$D"/tmp-dav "$D"/data
chmod 755 "$D"; chmod 1777 "$D"/dav "$D"/dav-tmp "$D"/tmp-back "$D"/tmp-front "$D"/tmp-dav  # nginx workers run as another user
PIDS=()
cleanup() {
  for f in "$D"/nginx-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# --- objects: the same bytes on disk (nginx) and uploaded to the proxy ---
W=$D/www/get/default
for i in $(seq -f %04g 0 999); do head -c 4096 /dev/urandom > "$W/s$i"; done
chmod -R a+rX "$D/www"
for i in $(seq -f %04g 0 63); do head -c 1048576 /dev/urandom > "$W/l$i"; done
if [ "$BIG" = 1 ]; then for i in $(seq -f %04g 0 3); do head -c 67108864 /dev/urandom > "$W/h$i"; done; fi
chmod -R a+rX "$D/www"

for n in back front dav; do
  sed -e "s#@D@#$D#g" -e "s#@BACK@#$BACK#g" -e "s#@FRONT@#$FRONT#g" -e "s#@DAV@#$DAV#g" \
    "$HERE/nginx-$n.conf.in" > "$D/nginx-$n.conf"
  nginx -c "$D/nginx-$n.conf" -p "$D" -e "$D/nginx-$n.err"
done

"$BIN" dev --data "$D/data" --listen 127.0.0.1:$PROXY --node-port $NODEPORT --log warn > "$D/dev.log" 2>&1 &
DEV=$!; PIDS+=($DEV)
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$PROXY/readyz && break; sleep 0.2; done
curl -sf -o /dev/null http://127.0.0.1:$PROXY/readyz || { echo "proxy not ready"; cat "$D/dev.log"; exit 1; }

echo "uploading..."
(cd "$W" && ls | xargs -P16 -I{} curl -s -m 60 -o /dev/null -w '%{http_code}\n' --data-binary @{} \
  "http://127.0.0.1:$PROXY/upload/default/{}") | sort | uniq -c | tee "$D/upload-status.txt"

# --- helpers ---
ticks() { local s=0; for p in "$@"; do read -r -a a < /proc/$p/stat; s=$((s + a[13] + a[14])); done; echo $s; }
hwm() { awk '/VmHWM/{print $2}' /proc/$1/status; }
nginx_workers() { pgrep -P "$(cat "$D/nginx-$1.pid")" | tr '\n' ' '; }
tolat() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.3f", v}' <<<"$1"; }
tobytes() { awk '{v=$1; m=1; if (v ~ /KB$/) m=1024; else if (v ~ /MB$/) m=1048576; else if (v ~ /GB$/) m=1073741824; sub(/[KMG]?B$/,"",v); printf "%.0f", v*m}' <<<"$1"; }
printf "scenario\tsystem\tconc\trep\treq_s\tbytes_s\tp50_ms\tp99_ms\tnon2xx\tsock_err\tcpu_s\n" > "$OUT"
# run NAME SYSTEM CONC REP LUA URL PIDS...
run() {
  local scen=$1 sys=$2 c=$3 rep=$4 lua=$5 url=$6; shift 6
  local t0; t0=$(ticks "$@")
  local o; o=$(wrk -t2 -c"$c" -d"$DUR" --timeout 30s --latency -s "$HERE/$lua" "$url" 2>&1)
  local t1; t1=$(ticks "$@")
  echo "$o" > "$D/wrk-$scen-$sys-c$c-$rep.txt"
  local rps bps p50 p99 non err
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$o")
  bps=$(tobytes "$(awk '/^Transfer\/sec/{print $2}' <<<"$o")")
  p50=$(tolat "$(awk '$1=="50%"{print $2}' <<<"$o")")
  p99=$(tolat "$(awk '$1=="99%"{print $2}' <<<"$o")")
  non=$(awk '/^NON2XX/{print $2}' <<<"$o"); non=${non:-$(awk '/Non-2xx or 3xx/{print $NF}' <<<"$o")}; non=${non:-0}
  err=$(awk '/Socket errors/{print $0}' <<<"$o" | tr -d '\n' | sed 's/\t/ /g'); err=${err:-0}
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$scen" "$sys" "$c" "$rep" "$rps" "$bps" "$p50" "$p99" "$non" "$err" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f",(b-a)/100}')" | tee -a "$OUT"
}
BACKW=$(nginx_workers back); FRONTW=$(nginx_workers front); DAVW=$(nginx_workers dav)
check_get() { # body check on a sample: status, length, sha256 against the file on disk
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

for s in $SCEN; do case $s in
s1)
  check_get s 1000
  for c in 16 64; do for r in $(seq "$REPS"); do
    BENCH_PREFIX=/get/default/s run S1 nginx-static $c $r get.lua http://127.0.0.1:$BACK $BACKW
    BENCH_PREFIX=/get/default/s run S1 nginx-2hop $c $r get.lua http://127.0.0.1:$FRONT $FRONTW $BACKW
    BENCH_PREFIX=/get/default/s run S1 backrunner $c $r get.lua http://127.0.0.1:$PROXY $DEV
  done; done ;;
s2)
  check_get l 64
  for c in 16; do for r in $(seq "$REPS"); do
    BENCH_PREFIX=/get/default/l BENCH_KEYS=64 run S2-1MiB nginx-static $c $r get-nohook.lua http://127.0.0.1:$BACK $BACKW
    BENCH_PREFIX=/get/default/l BENCH_KEYS=64 run S2-1MiB nginx-2hop $c $r get-nohook.lua http://127.0.0.1:$FRONT $FRONTW $BACKW
    BENCH_PREFIX=/get/default/l BENCH_KEYS=64 run S2-1MiB backrunner $c $r get-nohook.lua http://127.0.0.1:$PROXY $DEV
  done; done
 ;;
s2big)
  if [ "$BIG" = 1 ]; then check_get h 4; for r in $(seq "$REPS"); do
    BENCH_PREFIX=/get/default/h BENCH_KEYS=4 run S2-64MiB nginx-2hop 16 $r get-nohook.lua http://127.0.0.1:$FRONT $FRONTW $BACKW
    BENCH_PREFIX=/get/default/h BENCH_KEYS=4 run S2-64MiB backrunner 16 $r get-nohook.lua http://127.0.0.1:$PROXY $DEV
  done; fi ;;
s5)
  for r in $(seq "$REPS"); do
    BENCH_RUN=$r BENCH_PREFIX=/upload/default/p run S5 nginx-dav 32 $r put.lua http://127.0.0.1:$DAV $DAVW
    BENCH_RUN=$r BENCH_PREFIX=/upload/default/p run S5 backrunner 32 $r put.lua http://127.0.0.1:$PROXY $DEV
  done
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
esac; done

echo "peak RSS (VmHWM, KiB): backrunner dev $(hwm $DEV); nginx back workers $(for p in $BACKW; do hwm $p; done | tr '\n' ' ')front $(for p in $FRONTW; do hwm $p; done | tr '\n' ' ')dav $(for p in $DAVW; do hwm $p; done | tr '\n' ' ')" | tee -a "$D/checks.txt"
echo; echo "== medians (of $REPS) =="
awk -F'\t' 'NR>1{k=$1" "$2" c"$3; n[k]++; R[k,n[k]]=$5; B[k,n[k]]=$6; P5[k,n[k]]=$7; P9[k,n[k]]=$8; N[k]+=$9; C[k,n[k]]=$11; if(!(k in seen)){seen[k]=1; order[++m]=k}}
function med(A,k,n,  i,j,t,x){for(i=1;i<=n;i++)x[i]=A[k,i]+0; for(i=1;i<=n;i++)for(j=i+1;j<=n;j++)if(x[j]<x[i]){t=x[i];x[i]=x[j];x[j]=t}; return x[int((n+1)/2)] }
function mn(A,k,n, i,v){v=A[k,1]+0; for(i=2;i<=n;i++) if(A[k,i]+0<v) v=A[k,i]+0; return v}
function mx(A,k,n, i,v){v=A[k,1]+0; for(i=2;i<=n;i++) if(A[k,i]+0>v) v=A[k,i]+0; return v}
END{for(i=1;i<=m;i++){k=order[i]; printf "%-28s req/s %9.0f (%.0f-%.0f)  MiB/s %8.1f  p50 %7.3f ms  p99 %7.3f ms  non2xx %d  cpu-s %5.2f\n", k, med(R,k,n[k]), mn(R,k,n[k]), mx(R,k,n[k]), med(B,k,n[k])/1048576, med(P5,k,n[k]), med(P9,k,n[k]), N[k], med(C,k,n[k])}}' "$OUT" | tee "$D/summary.txt"
echo "raw: $OUT"
