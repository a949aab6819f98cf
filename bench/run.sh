#!/usr/bin/env bash
# bench/run.sh — the load harness of BENCHMARKS.md (issue 8).
#
# One command, on loopback only, measures side by side in the same run:
#   ceiling          smtp-source -> smtp-sink
#   gateway-monitor  smtp-source -> gateway (profile monitor, DNS checks off) -> smtp-sink
#   gateway-cpanel   smtp-source -> gateway (default profile, DNS checks on,
#                    answered by a loopback DNS server this script starts) -> smtp-sink
#   postfix          smtp-source -> private Postfix (relayhost = the sink) -> smtp-sink
#   haraka           smtp-source -> Haraka (queue/smtp_forward) -> smtp-sink (when npm installs it)
# then 10,000 idle connections, one 50 MB message, and the DNS checks.
#
# Usage (as root on Debian; installs postfix when smtp-source is missing):
#   bench/run.sh                 # full run: 3 repetitions, about 8 minutes
#   REPS=1 QUICK=1 bench/run.sh  # smoke run
# Environment: REPS (3), QUICK (0), HARAKA (auto|0), BENCH_WORK (a new
# /tmp/gateway-bench.XXXXXX), GO (go). Results: $BENCH_WORK/results/
# (results.txt: one line per run; report.md: medians and ratios).
set -euo pipefail

REPS=${REPS:-3}
QUICK=${QUICK:-0}
HARAKA=${HARAKA:-auto}
GO=${GO:-go}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$(mktemp -d /tmp/gateway-bench.XXXXXX)}
RES=$WORK/results
BIN=$WORK/bin
mkdir -p "$RES" "$BIN"
chmod 755 "$WORK" # the postfix user must reach the private instance
HELO=client.bench-lab.net
FROM=sender@bench-lab.net
TO=rcpt@example.com
START=$(date +%s)
DEADLINE=$((START + ${BENCH_MAX_SECONDS:-900})) # hard stop for every loop

log() { printf '%s [%4ds] %s\n' "$(date +%T)" $(($(date +%s) - START)) "$*" >&2; }
die() {
	log "FATAL: $*"
	exit 1
}
now() { date +%s.%N; }
left() { (($(date +%s) < DEADLINE)); }

# ---------------------------------------------------------------- processes
# Every process this script starts is recorded with its PID and stopped by
# that PID (Postfix: its master, which stops its daemons; then any daemon
# of master's session still alive, by PID).
PIDS=()
PFSID=
cleanup() {
	set +e
	if [[ -n $PFSID ]]; then stop_postfix; fi
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null
	done
	sleep 0.5
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # addr: wait until something answers there (bounded)
	local host=${1%:*} port=${1##*:} i
	for ((i = 0; i < 200; i++)); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	die "nothing listens on $1"
}

# ---------------------------------------------------------------- setup
install_deps() {
	if command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null && command -v postconf >/dev/null; then
		return
	fi
	[[ $(id -u) -eq 0 ]] || die "postfix (smtp-source, smtp-sink) is missing; run as root to install it"
	log "installing postfix (preseeded: No configuration)"
	export DEBIAN_FRONTEND=noninteractive
	if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q 'install ok installed'; then
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	fi
	apt-get -o DPkg::Lock::Timeout=300 update
	apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends postfix ca-certificates
}

raise_fds() {
	local want=40000
	if (($(ulimit -Hn) < want)); then ulimit -Hn "$want" 2>/dev/null || true; fi
	ulimit -n "$(ulimit -Hn)" || true
	(($(ulimit -n) >= 10300)) || log "WARNING: ulimit -n is $(ulimit -n); the 10,000-connection test needs ~10,300"
}

PORTBASE=$((20000 + RANDOM % 20000))
port() { echo $((PORTBASE + $1)); }
SINK=127.0.0.1:$(port 0)
DNS=127.0.0.1:$(port 1)
GW_MON=127.0.0.1:$(port 2)
GW_CP=127.0.0.1:$(port 3)
PF=127.0.0.1:$(port 4)
HK=127.0.0.1:$(port 5)
MET_MON=127.0.0.1:$(port 6)
MET_CP=127.0.0.1:$(port 7)

start_sink() {
	smtp-sink -c -u nobody -m 4000 "$SINK" 4096 >"$WORK/sink.count" 2>"$WORK/sink.err" &
	PIDS+=($!)
	SINKPID=$!
	wait_port "$SINK"
}
sink_count() { "$BIN/benchtool" sink -file "$WORK/sink.count" "$@"; }

start_dns() {
	"$BIN/benchtool" dns -addr "$DNS" -helo "$HELO" -cold 50 -cold-delay 200ms -max 20m >"$WORK/dns.out" 2>&1 &
	PIDS+=($!)
	for ((i = 0; i < 100; i++)); do grep -q READY "$WORK/dns.out" && return; sleep 0.05; done
	die "dns server did not start: $(cat "$WORK/dns.out")"
}

gateway_config() { # file listen metrics profile
	local dnschecks=""
	if [[ $4 == monitor ]]; then
		# The monitor run is the no-DNS baseline: monitor tags every check,
		# so the checks that need DNS are switched off here.
		dnschecks='forward_dns = "off"
forward_match = "off"
rdns = "off"
fcrdns = "off"
rdns_match = "off"
generic = "off"
big_company = "off"'
	fi
	cat >"$1" <<EOF
hostname = "mx.bench-gw.net"
local_domains = ["example.com"]
shutdown_timeout = "2s"
[dns]
servers = ["$DNS"]
timeout = "2s"
cache_size = 10000
[[listener]]
name = "mx"
address = "$2"
kind = "mx"
[relay]
downstream = "smtp://$SINK"
tls = "none"
max_connections = 250
max_idle = 250
[limits]
max_message_bytes = 62914560
max_connections = 12000
max_connections_per_ip = 12000
[helo]
profile = "$4"
[helo.checks]
$dnschecks
[log]
level = "info"
[metrics]
address = "$3"
EOF
}

start_gateway() { # name listen metrics profile -> sets GWPID
	gateway_config "$WORK/$1.toml" "$2" "$3" "$4"
	"$BIN/gateway" serve -config "$WORK/$1.toml" >"$WORK/$1.out" 2>"$WORK/$1.log" &
	PIDS+=($!)
	GWPID=$!
	wait_port "$2"
}

# Postfix: a private instance (own config, queue and port) relaying
# everything for example.com to the sink: relayhost = [sink].
start_postfix() {
	local d=$WORK/postfix conf=$WORK/postfix/etc
	mkdir -p "$conf" "$d/queue/pid" "$d/data"
	chown postfix "$d/data"
	local q
	for q in active bounce corrupt defer deferred flush hold incoming private saved trace; do
		mkdir -p -m 700 "$d/queue/$q"
		chown postfix:root "$d/queue/$q"
	done
	for q in maildrop:730 public:710; do
		mkdir -p "$d/queue/${q%:*}"
		chown postfix:postdrop "$d/queue/${q%:*}"
		chmod "${q#*:}" "$d/queue/${q%:*}"
	done
	cat >"$conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $d/maillog
maillog_file_prefixes = $d
myhostname = relay.bench-pf.net
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = example.com
relayhost = [${SINK%:*}]:${SINK##*:}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
notify_classes =
biff = no
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_error_sleep_time = 0s
default_process_limit = 250
message_size_limit = 62914560
EOF
	cat >"$conf/master.cf" <<EOF
$PF inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
EOF
	local daemons
	daemons=$(postconf -c "$conf" -d -h daemon_directory)
	# -s: foreground, own session (setsid); -e: exit on its own after 20 min.
	"$daemons/master" -c "$conf" -s -e 1200 >"$d/master.out" 2>&1 &
	PFPID=$!
	wait_port "$PF"
	local f
	read -r -a f <"/proc/$PFPID/stat"
	[[ ${f[5]} == "$PFPID" ]] || die "postfix master $PFPID is not a session leader (sid ${f[5]})"
	PFSID=$PFPID
}
stop_postfix() {
	kill -TERM "$PFPID" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do kill -0 "$PFPID" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$PFPID" 2>/dev/null || true
	wait "$PFPID" 2>/dev/null || true
	# Daemons master did not stop: those of its session, by PID.
	local st f
	for st in /proc/[0-9]*/stat; do
		read -r -a f <"$st" 2>/dev/null || continue
		if [[ ${f[5]} == "$PFSID" ]]; then kill -KILL "${f[0]}" 2>/dev/null || true; fi
	done
	PFSID=
}

# Haraka (optional): npm install Haraka into $WORK/haraka, smtp_forward to
# the sink. Node's resolver is pointed at the loopback DNS server.
start_haraka() {
	local d=$WORK/haraka
	mkdir -p "$d"
	if ! command -v npm >/dev/null; then
		log "haraka: npm not installed; skipped"
		return 1
	fi
	log "haraka: npm install Haraka (bounded to 180 s)"
	if ! (cd "$d" && timeout 180 npm install --no-audit --no-fund --loglevel=error Haraka >"$d/npm.log" 2>&1); then
		log "haraka: npm install failed or timed out; skipped (see $d/npm.log)"
		return 1
	fi
	local inst=$d/instance
	rm -rf "$inst"
	"$d/node_modules/.bin/haraka" -i "$inst" >/dev/null 2>&1 || { log "haraka: haraka -i failed; skipped"; return 1; }
	cat >"$inst/config/smtp.ini" <<EOF
listen=$HK
nodes=0
EOF
	echo "mx.bench-hk.net" >"$inst/config/me"
	printf '%s\n' "example.com" >"$inst/config/host_list"
	printf '%s\n' "rcpt_to.in_host_list" "queue/smtp_forward" >"$inst/config/plugins"
	cat >"$inst/config/smtp_forward.ini" <<EOF
host=${SINK%:*}
port=${SINK##*:}
enable_tls=false
max_connections=250
EOF
	echo "LOGWARN" >"$inst/config/loglevel"
	echo "require('dns').setServers(['$DNS']); require('dns').promises.setServers(['$DNS']);" >"$d/dns.js"
	NODE_OPTIONS="--require $d/dns.js" "$d/node_modules/.bin/haraka" -c "$inst" >"$d/haraka.log" 2>&1 &
	PIDS+=($!)
	HKPID=$!
	wait_port "$HK"
}

# ---------------------------------------------------------------- measurements
# run_load config addr c size n rep pid|sid:N
# One smtp-source run; prints a RESULT line: accepted rate at the front
# (smtp-source done), delivered rate (sink holds all n), peak RSS and CPU
# of the relaying process(es).
run_load() {
	local cfg=$1 addr=$2 c=$3 size=$4 n=$5 rep=$6 who=$7
	left || return 0
	local base t0 t1 t2 got cpu0 cpu1 rss=0 sampler=
	base=$(sink_count)
	case $who in
	pid:*)
		cpu0=$("$BIN/benchtool" proc -pid "${who#pid:}" -reset-hwm | sed 's/.*cpu_s=//')
		;;
	sid:*)
		cpu0=$("$BIN/benchtool" proc -sid "${who#sid:}" | sed 's/.*cpu_s=//')
		"$BIN/benchtool" sample -sid "${who#sid:}" -out "$WORK/sample.out" -max 150s &
		sampler=$!
		;;
	*) cpu0=0 ;;
	esac
	t0=$(now)
	timeout 150 smtp-source -s "$c" -m "$n" -l "$size" -M "$HELO" -f "$FROM" -t "$TO" "$addr" >>"$WORK/source.log" 2>&1 ||
		log "$cfg c=$c: smtp-source failed (rc $?)"
	t1=$(now)
	got=$(sink_count -wait $((base + n)) -max 150s)
	t2=$(now)
	case $who in
	pid:*)
		read -r rss cpu1 < <("$BIN/benchtool" proc -pid "${who#pid:}" | sed 's/rss_kb=[0-9]* hwm_kb=\([0-9]*\) cpu_s=/\1 /')
		;;
	sid:*)
		cpu1=$("$BIN/benchtool" proc -sid "${who#sid:}" | sed 's/.*cpu_s=//')
		kill -TERM "$sampler" 2>/dev/null || log "rss sampler $sampler ended early"
		wait "$sampler" || true
		rss=$(sed 's/peak_rss_kb=//' "$WORK/sample.out")
		;;
	*) cpu1=0 ;;
	esac
	local delivered=$((got - base))
	awk -v cfg="$cfg" -v c="$c" -v size="$size" -v rep="$rep" -v n="$n" -v d="$delivered" \
		-v t0="$t0" -v t1="$t1" -v t2="$t2" -v rss="$rss" -v cpu0="$cpu0" -v cpu1="$cpu1" 'BEGIN {
		printf "RESULT config=%s c=%d size=%d rep=%d n=%d delivered=%d accepted_mps=%.1f delivered_mps=%.1f rss_kb=%d cpu_s_per_1k=%.3f\n",
			cfg, c, size, rep, n, d, n/(t1-t0), d/(t2-t0), rss, (cpu1-cpu0)*1000/n }' | tee -a "$RES/results.txt"
	if ((delivered < n)); then log "$cfg c=$c size=$size: only $delivered of $n delivered within the bound"; fi
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

# ---------------------------------------------------------------- main
# bench/queue.sh sources this file for its functions only.
if [[ ${BENCH_LIB:-0} == 1 ]]; then return 0; fi
install_deps
raise_fds
command -v "$GO" >/dev/null || die "go not found (set GO=)"
log "building the gateway and benchtool from $ROOT into $BIN"
(cd "$ROOT" && "$GO" build -o "$BIN/gateway" ./cmd/gateway && "$GO" build -o "$BIN/benchtool" ./bench/cmd/benchtool)

if ((QUICK)); then
	CONCS=(1 10 50 200)
	declare -A N=([1]=100 [10]=300 [50]=500 [200]=500)
	declare -A NPF=([1]=50 [10]=150 [50]=200 [200]=200)
	N1M=20 LATN=100 IDLE=2000
else
	CONCS=(1 10 50 200)
	declare -A N=([1]=300 [10]=1500 [50]=3000 [200]=3000)
	declare -A NPF=([1]=100 [10]=300 [50]=400 [200]=400)
	N1M=60 LATN=300 IDLE=10000
fi

{
	echo "# gateway load harness run $(date -u +%FT%TZ)"
	echo "# $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(free -m | awk '/Mem:/ {print $2 " MB RAM"}')"
	echo "# $("$GO" version); postfix $(postconf -d -h mail_version); commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo ?)"
} | tee "$RES/results.txt"

start_sink
start_dns
start_gateway gw-monitor "$GW_MON" "$MET_MON" monitor
GWMON=$GWPID
start_gateway gw-cpanel "$GW_CP" "$MET_CP" cpanel
GWCP=$GWPID
start_postfix
HKOK=0
if [[ $HARAKA != 0 ]] && start_haraka; then HKOK=1; fi
log "sink $SINK, dns $DNS, gateway monitor $GW_MON (pid $GWMON), cpanel $GW_CP (pid $GWCP), postfix $PF (master $PFPID), haraka $([[ $HKOK == 1 ]] && echo "$HK (pid $HKPID)" || echo none)"

# Warm-up: one short run through each relay (pools, caches, page cache).
for a in "$SINK" "$GW_MON" "$GW_CP" "$PF" $([[ $HKOK == 1 ]] && echo "$HK"); do
	timeout 60 smtp-source -s 5 -m 50 -l 10240 -M "$HELO" -f "$FROM" -t "$TO" "$a" >>"$WORK/source.log" 2>&1 || true
done
sink_count -wait $(($(sink_count) + 0)) >/dev/null

configs() {
	echo "ceiling $SINK none"
	echo "gateway-monitor $GW_MON pid:$GWMON"
	echo "gateway-cpanel $GW_CP pid:$GWCP"
	echo "postfix $PF sid:$PFSID"
	if [[ $HKOK == 1 ]]; then echo "haraka $HK pid:$HKPID"; fi
}

for ((rep = 1; rep <= REPS; rep++)); do
	log "repetition $rep of $REPS"
	while read -r cfg addr who; do
		for c in "${CONCS[@]}"; do
			n=${N[$c]}
			[[ $cfg == postfix || $cfg == haraka ]] && n=${NPF[$c]}
			run_load "$cfg" "$addr" "$c" 10240 "$n" "$rep" "$who"
		done
		n1=$N1M
		[[ $cfg == postfix || $cfg == haraka ]] && n1=$((N1M / 3))
		run_load "$cfg" "$addr" 10 1048576 "$n1" "$rep" "$who"
		run_latency "$cfg" "$addr" "$rep"
	done < <(configs)
done

# DNS: cache hit rate of the cpanel gateway over everything above, and
# whether cold lookups serialize sessions (50 sessions, each with its own
# HELO name whose answers the DNS server holds for 200 ms).
m=$("$BIN/benchtool" metrics -url "http://$MET_CP/metrics")
q=$(sed -n 's/.*gateway_dns_queries_total=\([0-9.e+]*\).*/\1/p' <<<"$m")
h=$(sed -n 's/.*gateway_dns_cache_hits_total=\([0-9.e+]*\).*/\1/p' <<<"$m")
awk -v q="$q" -v h="$h" 'BEGIN { printf "DNS config=gateway-cpanel queries=%d cache_hits=%d hit_rate=%.4f\n", q, h, (q>0 ? h/q : 0) }' | tee -a "$RES/results.txt"
if left; then
	out=$("$BIN/benchtool" cold -addr "$GW_CP" -n 50 -domain bench-lab.net)
	echo "COLD config=gateway-cpanel dns_delay_ms=200 $out" | tr -d '"' | sed 's/ err=$//' | tee -a "$RES/results.txt"
fi

# Big message: one 50 MB message through the gateway, next to the plain copy.
big() { # config addr pid|none rep
	left || return 0
	local base t0 t1 got rss0=0 hwm=0
	base=$(sink_count)
	if [[ $3 != none ]]; then
		rss0=$("$BIN/benchtool" proc -pid "$3" -reset-hwm | sed 's/rss_kb=\([0-9]*\).*/\1/')
	fi
	t0=$(now)
	timeout 120 smtp-source -s 1 -m 1 -l 52428800 -M "$HELO" -f "$FROM" -t "$TO" "$2" >>"$WORK/source.log" 2>&1 || log "big $1: smtp-source failed"
	got=$(sink_count -wait $((base + 1)) -max 120s)
	t1=$(now)
	if [[ $3 != none ]]; then
		hwm=$("$BIN/benchtool" proc -pid "$3" | sed 's/.*hwm_kb=\([0-9]*\).*/\1/')
	fi
	awk -v cfg="$1" -v rep="$4" -v t0="$t0" -v t1="$t1" -v r0="$rss0" -v h="$hwm" -v d=$((got - base)) 'BEGIN {
		printf "BIG config=%s rep=%d delivered=%d mb_per_s=%.1f rss_before_kb=%d rss_growth_kb=%d\n", cfg, rep, d, 50/(t1-t0), r0, (h>r0 ? h-r0 : 0) }' | tee -a "$RES/results.txt"
}
for ((rep = 1; rep <= REPS; rep++)); do
	big ceiling "$SINK" none "$rep"
	big gateway-monitor "$GW_MON" "$GWMON" "$rep"
done

# Postfix is done: stop it before the idle test (it has nothing to do there).
stop_postfix

# Idle connections: IDLE sessions from 127.0.X.Y (100 per address), each
# greeted and EHLO'd, then idle; RSS per connection; 100 messages through
# while they sit there.
if left; then
	rss0=$("$BIN/benchtool" proc -pid "$GWMON" | sed 's/rss_kb=\([0-9]*\).*/\1/')
	"$BIN/benchtool" idle -addr "$GW_MON" -n "$IDLE" -per-ip 100 -helo "$HELO" -hold 120s >"$WORK/idle.out" 2>&1 &
	IDLEPID=$!
	PIDS+=($IDLEPID)
	for ((i = 0; i < 1200; i++)); do grep -q READY "$WORK/idle.out" && break; sleep 0.05; done
	sleep 1 # let the sessions settle (verdict goroutines end)
	rss1=$("$BIN/benchtool" proc -pid "$GWMON" | sed 's/rss_kb=\([0-9]*\).*/\1/')
	ready=$(grep READY "$WORK/idle.out" || echo "READY open=0")
	open=$(sed 's/.*open=\([0-9]*\).*/\1/' <<<"$ready")
	base=$(sink_count)
	t0=$(now)
	timeout 60 smtp-source -s 10 -m 100 -l 10240 -M "$HELO" -f "$FROM" -t "$TO" "$GW_MON" >>"$WORK/source.log" 2>&1 || log "idle: smtp-source failed"
	got=$(sink_count -wait $((base + 100)) -max 60s)
	t1=$(now)
	kill -TERM "$IDLEPID"
	wait "$IDLEPID" || true
	alive=$(sed -n 's/CLOSED alive_at_end=//p' "$WORK/idle.out")
	awk -v want="$IDLE" -v open="$open" -v alive="${alive:-0}" -v r0="$rss0" -v r1="$rss1" -v d=$((got - base)) -v t0="$t0" -v t1="$t1" 'BEGIN {
		printf "IDLE config=gateway-monitor wanted=%d open=%d alive_at_end=%d rss_before_kb=%d rss_idle_kb=%d kb_per_conn=%.1f delivered=%d delivered_mps=%.1f\n",
			want, open, alive, r0, r1, (open>0 ? (r1-r0)/open : 0), d, d/(t1-t0) }' | tee -a "$RES/results.txt"
fi

"$BIN/benchtool" report "$RES/results.txt" >"$RES/report.md"
cat "$RES/report.md"
grep '^\(DNS\|COLD\|BIG\|IDLE\)' "$RES/results.txt" || true
log "done in $(($(date +%s) - START)) s; results in $RES"
