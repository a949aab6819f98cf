#!/usr/bin/env bash
# bench/scaleout.sh — the scale-out phase of BENCHMARKS.md (issue 15).
#
# In the same run, on loopback, with the same smtp-source load:
#   ceiling          smtp-source -> smtp-sink
#   direct           smtp-source -> one gateway -> smtp-sink
#   direct-redis     the same, the gateway with [state] redis
#   haproxy-2        smtp-source -> HAProxy (contrib/haproxy/haproxy.cfg as is:
#                    mode tcp, send-proxy-v2, /readyz checks, tcplog) ->
#                    two gateways (proxy_protocol) -> smtp-sink
#   haproxy-2-redis  the same, both gateways sharing one redis-server
# Every gateway counts connections_per_minute and messages_per_minute (set
# far above the load), so the Redis runs pay the round trips a real
# deployment pays (one per connection, one per MAIL) and the others count
# in the process. On 2 cores this shows what the balancer and Redis cost,
# not scaling: every process shares the same cores.
#
# Usage (as root on Debian, with postfix's smtp-source/smtp-sink, haproxy,
# redis-server: .ci/install-deps installs them):
#   bench/scaleout.sh              # 3 repetitions, ~3 minutes
#   REPS=1 QUICK=1 bench/scaleout.sh
# Environment: REPS (3), QUICK (0), BENCH_WORK (a new
# /tmp/gateway-scaleout.XXXXXX), GO (go), BENCH_MAX_SECONDS (900, hard
# stop for every loop). Results: $BENCH_WORK/results/results.txt (RESULT
# and LAT lines as bench/run.sh writes them, plus cpu split per process
# kind) and report.md (medians, benchtool report).
set -euo pipefail

REPS=${REPS:-3}
QUICK=${QUICK:-0}
GO=${GO:-go}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$(mktemp -d /tmp/gateway-scaleout.XXXXXX)}
RES=$WORK/results
BIN=$WORK/bin
mkdir -p "$RES" "$BIN"
HELO=client.bench-lab.net
FROM=sender@bench-lab.net
TO=rcpt@example.com
START=$(date +%s)
DEADLINE=$((START + ${BENCH_MAX_SECONDS:-900}))

log() { printf '%s [%4ds] %s\n' "$(date +%T)" $(($(date +%s) - START)) "$*" >&2; }
die() {
	log "FATAL: $*"
	exit 1
}
now() { date +%s.%N; }
left() { (($(date +%s) < DEADLINE)); }

# Every process started here is recorded and stopped by its PID.
PIDS=()
cleanup() {
	set +e
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null; done
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # addr: wait until something answers there (bounded: 10 s)
	local host=${1%:*} port=${1##*:} i
	for ((i = 0; i < 200; i++)); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	die "nothing listens on $1"
}

HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
for t in smtp-source smtp-sink redis-server redis-cli "$HAPROXY"; do
	command -v "$t" >/dev/null || die "$t not found: run .ci/install-deps (postfix, haproxy, redis-server)"
done
command -v "$GO" >/dev/null || die "go not found (set GO=)"
ulimit -n "$(ulimit -Hn)" || true

PORTBASE=$((20000 + RANDOM % 20000))
port() { echo $((PORTBASE + $1)); }
SINK=127.0.0.1:$(port 0)
DNS=127.0.0.1:$(port 1)
REDIS=127.0.0.1:$(port 2)
# Gateways: a, b without Redis; c, d with. a and c also have a direct listener.
declare -A LB=([a]=127.0.0.1:$(port 10) [b]=127.0.0.1:$(port 11) [c]=127.0.0.1:$(port 12) [d]=127.0.0.1:$(port 13))
declare -A MET=([a]=127.0.0.1:$(port 20) [b]=127.0.0.1:$(port 21) [c]=127.0.0.1:$(port 22) [d]=127.0.0.1:$(port 23))
DIRECT_A=127.0.0.1:$(port 30)
DIRECT_C=127.0.0.1:$(port 31)
HA_MX=127.0.0.1:$(port 40)
HA_SUB=127.0.0.1:$(port 41)
HAR_MX=127.0.0.1:$(port 42)
HAR_SUB=127.0.0.1:$(port 43)

log "building the gateway and benchtool from $ROOT into $BIN"
(cd "$ROOT" && "$GO" build -o "$BIN/gateway" ./cmd/gateway && "$GO" build -o "$BIN/benchtool" ./bench/cmd/benchtool)

smtp-sink -c -u nobody -m 4000 "$SINK" 4096 >"$WORK/sink.count" 2>"$WORK/sink.err" &
PIDS+=($!)
wait_port "$SINK"
sink_count() { "$BIN/benchtool" sink -file "$WORK/sink.count" "$@"; }

"$BIN/benchtool" dns -addr "$DNS" -helo "$HELO" -max 20m >"$WORK/dns.out" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do grep -q READY "$WORK/dns.out" && break; sleep 0.05; done
grep -q READY "$WORK/dns.out" || die "dns server did not start: $(cat "$WORK/dns.out")"

redis-server --bind 127.0.0.1 --port "${REDIS##*:}" --save "" --appendonly no --dir "$WORK" \
	--logfile "$WORK/redis.log" &
PIDS+=($!)
REDISPID=$!
wait_port "$REDIS"

declare -A GWPID
start_gateway() { # name direct-address|"" redis-url|""
	local n=$1 direct=$2 redis=$3 f=$WORK/gw-$1.toml
	{
		cat <<EOF
hostname = "mx.bench-gw.net"
local_domains = ["example.com"]
shutdown_timeout = "2s"
[dns]
servers = ["$DNS"]
timeout = "2s"
[[listener]]
name = "lb"
address = "${LB[$n]}"
kind = "mx"
proxy_protocol = true
proxy_trusted = ["127.0.0.1"]
EOF
		if [[ -n $direct ]]; then
			printf '[[listener]]\nname = "direct"\naddress = "%s"\nkind = "mx"\n' "$direct"
		fi
		cat <<EOF
[relay]
downstream = "smtp://$SINK"
tls = "none"
max_connections = 250
max_idle = 250
[limits]
max_connections = 12000
max_connections_per_ip = 12000
connections_per_minute = 100000000
messages_per_minute = 100000000
[helo]
profile = "monitor"
[helo.checks]
forward_dns = "off"
forward_match = "off"
rdns = "off"
fcrdns = "off"
rdns_match = "off"
generic = "off"
big_company = "off"
[log]
level = "info"
[metrics]
address = "${MET[$n]}"
EOF
		if [[ -n $redis ]]; then
			printf '[state]\nredis = "%s"\nkey_prefix = "bench:"\n' "$redis"
		fi
	} >"$f"
	"$BIN/gateway" serve -config "$f" >"$WORK/gw-$n.out" 2>"$WORK/gw-$n.log" &
	PIDS+=($!)
	GWPID[$n]=$!
	wait_port "${LB[$n]}"
}
start_gateway a "$DIRECT_A" ""
start_gateway b "" ""
start_gateway c "$DIRECT_C" "redis://$REDIS/0"
start_gateway d "" "redis://$REDIS/0"
grep -q 'shared state.*up=true' "$WORK/gw-c.log" || die "gateway c is not sharing through Redis: $(cat "$WORK/gw-c.log")"

declare -A HAPID
start_haproxy() { # name mx sub gw1 gw2
	# contrib/haproxy/haproxy.cfg as shipped; the submission frontend is
	# pointed at the same listeners (it carries no load here).
	env MX_BIND="$2" SUB_BIND="$3" GW1_MX="${LB[$4]}" GW2_MX="${LB[$5]}" GW1_SUB="${LB[$4]}" GW2_SUB="${LB[$5]}" \
		GW1_METRICS_PORT="${MET[$4]##*:}" GW2_METRICS_PORT="${MET[$5]##*:}" \
		"$HAPROXY" -db -f "$ROOT/contrib/haproxy/haproxy.cfg" >"$WORK/haproxy-$1.log" 2>&1 &
	PIDS+=($!)
	HAPID[$1]=$!
	wait_port "$2"
}
start_haproxy plain "$HA_MX" "$HA_SUB" a b
start_haproxy redis "$HAR_MX" "$HAR_SUB" c d
sleep 2.5 # two health checks (inter 1s, rise 2) pass before any load

{
	echo "# gateway scale-out run $(date -u +%FT%TZ)"
	echo "# $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
	echo "# $("$GO" version); $("$HAPROXY" -v | head -n1); $(redis-server --version | cut -d' ' -f1-3); commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo ?)"
} | tee "$RES/results.txt"

cpu() { "$BIN/benchtool" proc -pid "$1" | sed 's/.*cpu_s=//'; }
cpu_sum() { # pids...: CPU seconds of all
	local p s=0
	for p in "$@"; do s=$(awk -v a="$s" -v b="$(cpu "$p")" 'BEGIN { print a + b }'); done
	echo "$s"
}

# run_load config addr c n rep "gateway pids" "haproxy pid" "redis pid"
run_load() {
	local cfg=$1 addr=$2 c=$3 n=$4 rep=$5 gws=$6 lb=$7 rd=$8
	left || return 0
	local base t0 t1 t2 got g0 g1 l0=0 l1=0 r0=0 r1=0 keys0=0 keys1=0
	base=$(sink_count)
	# shellcheck disable=SC2086
	g0=$(cpu_sum $gws)
	[[ -n $lb ]] && l0=$(cpu "$lb")
	if [[ -n $rd ]]; then
		r0=$(cpu "$rd")
		keys0=$(redis-cli -h "${REDIS%:*}" -p "${REDIS##*:}" INFO commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
	fi
	t0=$(now)
	timeout 150 smtp-source -s "$c" -m "$n" -l 10240 -M "$HELO" -f "$FROM" -t "$TO" "$addr" >>"$WORK/source.log" 2>&1 ||
		log "$cfg c=$c: smtp-source failed (rc $?)"
	t1=$(now)
	got=$(sink_count -wait $((base + n)) -max 150s)
	t2=$(now)
	# shellcheck disable=SC2086
	g1=$(cpu_sum $gws)
	[[ -n $lb ]] && l1=$(cpu "$lb")
	if [[ -n $rd ]]; then
		r1=$(cpu "$rd")
		keys1=$(redis-cli -h "${REDIS%:*}" -p "${REDIS##*:}" INFO commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
	fi
	awk -v cfg="$cfg" -v c="$c" -v rep="$rep" -v n="$n" -v d=$((got - base)) -v t0="$t0" -v t1="$t1" -v t2="$t2" \
		-v g="$(awk -v a="$g0" -v b="$g1" 'BEGIN { print b - a }')" -v l="$(awk -v a="$l0" -v b="$l1" 'BEGIN { print b - a }')" \
		-v r="$(awk -v a="$r0" -v b="$r1" 'BEGIN { print b - a }')" -v k=$((${keys1:-0} - ${keys0:-0})) 'BEGIN {
		printf "RESULT config=%s c=%d size=10240 rep=%d n=%d delivered=%d accepted_mps=%.1f delivered_mps=%.1f cpu_s_per_1k=%.3f gw_cpu_s_per_1k=%.3f lb_cpu_s_per_1k=%.3f redis_cpu_s_per_1k=%.3f redis_scripts_per_msg=%.2f\n",
			cfg, c, rep, n, d, n/(t1-t0), d/(t2-t0), (g+l+r)*1000/n, g*1000/n, l*1000/n, r*1000/n, k/n }' | tee -a "$RES/results.txt"
	if ((got - base < n)); then log "$cfg c=$c: only $((got - base)) of $n delivered within the bound"; fi
}

run_latency() { # config addr rep
	left || return 0
	local out
	out=$("$BIN/benchtool" latency -addr "$2" -n "$LATN" -size 10240 -helo "$HELO" -max 60s) || {
		log "latency $1: $out"
		return 0
	}
	echo "LAT config=$1 rep=$3 $out" | tee -a "$RES/results.txt"
}

if ((QUICK)); then
	CONCS=(10 50)
	declare -A N=([10]=500 [50]=1000 [200]=1000)
	LATN=100
else
	CONCS=(10 50 200)
	declare -A N=([10]=1500 [50]=3000 [200]=3000)
	LATN=300
fi

configs() {
	echo "ceiling $SINK - - -"
	echo "direct $DIRECT_A ${GWPID[a]} - -"
	echo "direct-redis $DIRECT_C ${GWPID[c]} - $REDISPID"
	echo "haproxy-2 $HA_MX ${GWPID[a]},${GWPID[b]} ${HAPID[plain]} -"
	echo "haproxy-2-redis $HAR_MX ${GWPID[c]},${GWPID[d]} ${HAPID[redis]} $REDISPID"
}

# Warm-up: pools, caches, Redis scripts, HAProxy's connections.
while read -r cfg addr _; do
	timeout 60 smtp-source -s 5 -m 50 -l 10240 -M "$HELO" -f "$FROM" -t "$TO" "$addr" >>"$WORK/source.log" 2>&1 || true
done < <(configs)

for ((rep = 1; rep <= REPS; rep++)); do
	log "repetition $rep of $REPS"
	while read -r cfg addr gws lb rd; do
		[[ $gws == - ]] && gws=""
		[[ $lb == - ]] && lb=""
		[[ $rd == - ]] && rd=""
		for c in "${CONCS[@]}"; do
			run_load "$cfg" "$addr" "$c" "${N[$c]}" "$rep" "${gws//,/ }" "$lb" "$rd"
		done
		run_latency "$cfg" "$addr" "$rep"
	done < <(configs)
done

# Both replicas behind each HAProxy must have taken load, and no
# gateway may have fallen back from Redis during the run.
for n in a b c d; do
	got=$(grep -c 'msg=relayed' "$WORK/gw-$n.log" || true)
	log "gateway $n: $got messages relayed (msg=relayed lines)"
done
if grep -q 'redis unavailable' "$WORK/gw-c.log" "$WORK/gw-d.log"; then
	log "WARNING: a gateway fell back from Redis during the run; the redis rows are not what they say"
fi

"$BIN/benchtool" report "$RES/results.txt" >"$RES/report.md"
cat "$RES/report.md"
log "done in $(($(date +%s) - START)) s; results in $RES"
