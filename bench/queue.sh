#!/usr/bin/env bash
# bench/queue.sh — queue mode next to Postfix (issue 14's "Benchmarks"):
# both are durable queues that fsync before the 250. In the same run, on
# loopback only, 10 KB messages at c = 10/50/200:
#   postfix          smtp-source -> private Postfix (relayhost = the sink) -> smtp-sink
#   gateway-proxy    smtp-source -> gateway, [relay] mode = "proxy" -> smtp-sink
#   gateway-queue    smtp-source -> gateway, [relay] mode = "queue" -> smtp-sink
#   gateway-queue-down
#                    smtp-source -> gateway, mode = "queue" -> benchtool gate -> smtp-sink,
#                    the gate down (connections refused): accepted rate with
#                    the downstream down (recipient from the verify cache);
#                    then the gate is up again and the drain of the backlog
#                    is timed (drain_mps).
# accepted = N / time until smtp-source is done; delivered = N / time until
# the sink counted all N. The gateways use the monitor profile with the DNS
# checks off (run.sh's gateway-monitor), the queue defaults except
# retry_min = "1s", retry_max = "2s" (the down run's backlog is retried
# within seconds of the sink's return).
#
# Usage (as root on Debian; installs postfix when smtp-source is missing):
#   bench/queue.sh                 # 3 repetitions, about 2 minutes
#   REPS=1 QUICK=1 bench/queue.sh  # smoke run, well under a minute
# Environment: REPS (3), QUICK (0), BENCH_WORK, GO, BENCH_MAX_SECONDS (600),
# QUEUE_CONCURRENCY ([queue] concurrency; empty: the default).
# Results: $BENCH_WORK/results/ (results.txt, report.md with medians and
# ratios, the queue table included).
set -euo pipefail
BENCH_MAX_SECONDS=${BENCH_MAX_SECONDS:-600}
BENCH_LIB=1
# shellcheck source=bench/run.sh
source "$(dirname "$0")/run.sh"

GW_PROXY=127.0.0.1:$(port 40)
GW_QUEUE=127.0.0.1:$(port 41)
GW_QDOWN=127.0.0.1:$(port 42)
MET_PROXY=127.0.0.1:$(port 43)
MET_QUEUE=127.0.0.1:$(port 44)
MET_QDOWN=127.0.0.1:$(port 45)
# The gate's port must lie below the ephemeral range: while it is down,
# a client's connect to a port in that range can pick the same port as
# its own source and connect to itself (TCP simultaneous open), which
# then holds the port and the gate cannot listen there again.
lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
GATE=127.0.0.1:$((lo > 12000 ? 10000 + RANDOM % 2000 : 1024 + RANDOM % (lo > 2048 ? lo - 1024 : 1)))

# queue_gateway name listen metrics mode downstream -> sets GWPID
queue_gateway() {
	local f=$WORK/$1.toml
	gateway_config "$f" "$2" "$3" monitor
	sed -i "s|^downstream = .*|downstream = \"smtp://$5\"|" "$f"
	if [[ $4 == queue ]]; then
		sed -i '/^\[relay\]$/a mode = "queue"' "$f"
		cat >>"$f" <<EOF
[queue]
dir = "$WORK/spool-$1"
retry_min = "1s"
retry_max = "2s"
EOF
		if [[ -n ${QUEUE_CONCURRENCY:-} ]]; then echo "concurrency = $QUEUE_CONCURRENCY" >>"$f"; fi
	fi
	"$BIN/gateway" serve -config "$f" >"$WORK/$1.out" 2>"$WORK/$1.log" &
	PIDS+=($!)
	GWPID=$!
	wait_port "$2"
}

# The down run's downstream: benchtool gate forwards GATE to the sink;
# SIGUSR1 takes it down (listener and connections closed: refused),
# SIGUSR2 brings it back. (smtp-sink cannot be restarted on its port
# while the connections it closed sit in TIME_WAIT.)
gate_switch() { # USR1|USR2 DOWN|UP: the last line of gate.out says it is done
	kill -"$1" "$GATEPID"
	for ((i = 0; i < 200; i++)); do
		[[ $(tail -1 "$WORK/gate.out") == "$2" ]] && return
		sleep 0.05
	done
	die "gate did not switch $2"
}

# run_down c n rep pid: accepted rate with the sink stopped, then the
# drain once it is back (bounded). The spool must be empty again before
# the next run.
run_down() {
	local c=$1 n=$2 rep=$3 pid=$4
	left || return 0
	local base t0 t1 t2 t3 got cpu0 cpu1
	base=$(sink_count)
	gate_switch USR1 DOWN
	cpu0=$("$BIN/benchtool" proc -pid "$pid" | sed 's/.*cpu_s=//')
	t0=$(now)
	timeout 150 smtp-source -s "$c" -m "$n" -l 10240 -M "$HELO" -f "$FROM" -t "$TO" "$GW_QDOWN" >>"$WORK/source.log" 2>&1 ||
		log "gateway-queue-down c=$c: smtp-source failed (rc $?)"
	t1=$(now)
	cpu1=$("$BIN/benchtool" proc -pid "$pid" | sed 's/.*cpu_s=//')
	gate_switch USR2 UP
	t2=$(now)
	got=$(sink_count -wait $((base + n)) -max 150s)
	t3=$(now)
	awk -v c="$c" -v rep="$rep" -v n="$n" -v d=$((got - base)) -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v cpu0="$cpu0" -v cpu1="$cpu1" 'BEGIN {
		printf "RESULT config=gateway-queue-down c=%d size=10240 rep=%d n=%d delivered=%d accepted_mps=%.1f drain_mps=%.1f cpu_s_per_1k=%.3f\n",
			c, rep, n, d, n/(t1-t0), d/(t3-t2), (cpu1-cpu0)*1000/n }' | tee -a "$RES/results.txt"
	if ((got - base < n)); then log "gateway-queue-down c=$c: only $((got - base)) of $n delivered after the downstream came back"; fi
}

install_deps
raise_fds
command -v "$GO" >/dev/null || die "go not found (set GO=)"
log "building the gateway and benchtool from $ROOT into $BIN"
(cd "$ROOT" && "$GO" build -o "$BIN/gateway" ./cmd/gateway && "$GO" build -o "$BIN/benchtool" ./bench/cmd/benchtool)

CONCS=(10 50 200)
if ((QUICK)); then
	declare -A N=([10]=300 [50]=500 [200]=500)
	declare -A NPF=([10]=150 [50]=200 [200]=200)
else
	declare -A N=([10]=1500 [50]=3000 [200]=3000)
	declare -A NPF=([10]=300 [50]=400 [200]=400)
fi

{
	echo "# gateway queue-mode harness run $(date -u +%FT%TZ)"
	echo "# $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(free -m | awk '/Mem:/ {print $2 " MB RAM"}')"
	echo "# $("$GO" version); postfix $(postconf -d -h mail_version); commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo ?); spool and Postfix queue on $(df --output=source "$WORK" | tail -1)"
} | tee "$RES/results.txt"

start_sink
"$BIN/benchtool" gate -listen "$GATE" -to "$SINK" >"$WORK/gate.out" 2>"$WORK/gate.err" &
GATEPID=$!
PIDS+=($GATEPID)
wait_port "$GATE"
start_dns
queue_gateway gw-proxy "$GW_PROXY" "$MET_PROXY" proxy "$SINK"
GWPROXY=$GWPID
queue_gateway gw-queue "$GW_QUEUE" "$MET_QUEUE" queue "$SINK"
GWQUEUE=$GWPID
queue_gateway gw-qdown "$GW_QDOWN" "$MET_QDOWN" queue "$GATE"
GWQDOWN=$GWPID
start_postfix
log "sink $SINK, gateway proxy $GW_PROXY (pid $GWPROXY), queue $GW_QUEUE (pid $GWQUEUE), queue-down $GW_QDOWN (pid $GWQDOWN, downstream gate $GATE), postfix $PF (master $PFPID)"

# Warm-up: pools, page cache, and the down gateway's verify cache (the
# recipient was accepted by its downstream).
for a in "$GW_PROXY" "$GW_QUEUE" "$GW_QDOWN" "$PF"; do
	timeout 60 smtp-source -s 5 -m 50 -l 10240 -M "$HELO" -f "$FROM" -t "$TO" "$a" >>"$WORK/source.log" 2>&1 || true
done
sink_count -wait 200 -max 60s >/dev/null

for ((rep = 1; rep <= REPS; rep++)); do
	log "repetition $rep of $REPS"
	for c in "${CONCS[@]}"; do
		run_load postfix "$PF" "$c" 10240 "${NPF[$c]}" "$rep" "sid:$PFSID"
		run_load gateway-proxy "$GW_PROXY" "$c" 10240 "${N[$c]}" "$rep" "pid:$GWPROXY"
		run_load gateway-queue "$GW_QUEUE" "$c" 10240 "${N[$c]}" "$rep" "pid:$GWQUEUE"
		run_down "$c" "${N[$c]}" "$rep" "$GWQDOWN"
	done
done

# The spools are empty at the end (every message delivered).
for g in gw-queue gw-qdown; do
	rest=$(find "$WORK/spool-$g" -maxdepth 1 -name '*.msg' | wc -l)
	echo "SPOOL config=$g left=$rest" | tee -a "$RES/results.txt"
done
stop_postfix

"$BIN/benchtool" report "$RES/results.txt" >"$RES/report.md"
cat "$RES/report.md"
log "done in $(($(date +%s) - START)) s; results in $RES"
