#!/usr/bin/env bash
# lab-test.sh: run the docker-compose labs for real and check their promises.
#
#   docker/lab-test.sh [basic|scale|all] [--screenshot FILE.png]
#
# Exit 0 only when every check held. Run as root on a Debian machine with
# docker.io, docker-compose, debootstrap, swaks, python3, curl and chromium
# (.ci/install-deps). It starts dockerd when none answers, and builds every
# image the compose files name when it is missing, so that nothing is pulled
# from a registry:
#   axllent/mailpit:v1.33.1   Mailpit from its Go module (web UI embedded)
#   coredns/coredns:1.15.0    CoreDNS from its Go module (the plugins the lab
#                             uses: file, log, errors), static, on scratch
#   debian:bookworm-slim, haproxy:2.6, redis:7.0
#                             a debootstrap'ed bookworm with swaks, haproxy
#                             and redis-server
#   the gateway               docker/Dockerfile with BUILDER_IMAGE (Debian +
#                             this machine's Go toolchain and the modules of
#                             go.sum, GOPROXY=off) and RUNTIME_IMAGE (scratch
#                             with CA certificates and the user nonroot)
# Images are reused on the next run; the gateway image is rebuilt from the
# working tree each run (docker's layer cache makes that quick).
# The host talks to the labs only through ports published on 127.0.0.1.
# Every lab is taken down with `docker-compose down -v` on exit, also when a
# check fails, and the script checks that nothing of it is left.
#
# Environment: DOCKER (client; default /usr/bin/docker, Debian's, matching
# its dockerd), LAB_CACHE (Go builds of the stand-ins; default
# /var/cache/gateway-lab), DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$here"

what=all
screenshot=""
while [[ $# -gt 0 ]]; do
	case $1 in
		basic | scale | all) what=$1 ;;
		--screenshot) screenshot=$(realpath -m "$2"); shift ;;
		*) echo "usage: $0 [basic|scale|all] [--screenshot FILE.png]" >&2; exit 2 ;;
	esac
	shift
done

DOCKER=${DOCKER:-}
if [[ -z $DOCKER ]]; then
	if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=$(command -v docker); fi
fi
LAB_CACHE=${LAB_CACHE:-/var/cache/gateway-lab}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export COMPOSE_PROJECT_NAME=gatewaylabtest
# docker-compose (Debian's) talks to the engine through its socket; the
# docker client and the engine stay the same version (DOCKER above).

MAILPIT_IMAGE=axllent/mailpit:v1.33.1
COREDNS_IMAGE=coredns/coredns:1.15.0
COREDNS_VERSION=v1.15.0
DEBIAN_IMAGE=debian:bookworm-slim
HAPROXY_IMAGE=haproxy:2.6
REDIS_IMAGE=redis:7.0
RUNTIME_IMAGE=gateway-lab/static:nonroot

failures=0
runid=$(date +%s)-$$
log() { printf '%s lab-test: %s\n' "$(date -u +%T)" "$*"; }
fail() { log "FAIL: $*"; failures=$((failures + 1)); }
ok() { log "ok: $*"; }
die() { log "FAIL: $*"; exit 1; }

# ---- the engine
start_dockerd() {
	if "$DOCKER" info >/dev/null 2>&1; then
		return
	fi
	command -v dockerd >/dev/null || [[ -x /usr/sbin/dockerd ]] || die "no dockerd (apt-get install docker.io)"
	log "starting dockerd (log: /var/log/gateway-lab-dockerd.log)"
	setsid "${DOCKERD:-/usr/sbin/dockerd}" >>/var/log/gateway-lab-dockerd.log 2>&1 </dev/null &
	for _ in $(seq 60); do
		"$DOCKER" info >/dev/null 2>&1 && return
		sleep 1
	done
	tail -n 20 /var/log/gateway-lab-dockerd.log >&2 || true
	die "dockerd did not answer within 60s"
}

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# import_dir DIR IMAGE [--change ...]: a tarball of DIR (owned by root) as IMAGE.
import_dir() {
	local dir=$1 image=$2
	shift 2
	tar -C "$dir" --numeric-owner --owner=0 --group=0 -c . | "$DOCKER" import "$@" - "$image" >/dev/null
}

# ---- stand-ins
# build_mailpit OUT: Mailpit v1.33.1 from its Go module with its web UI
# embedded. The module carries the UI's sources, not the built files
# (server/ui/dist), so they are built as Mailpit's release does (npm, then
# esbuild), with two changes this machine's npm registry needs: rapidoc
# (the API-docs page only) at 9.x, the newest it serves, and the pure-JS
# `sass` instead of the optional peer `sass-embedded`, which it lacks
# (--legacy-peer-deps). Without npm, the Mailpit has no web UI and the
# Chromium check falls back to the message's source.
build_mailpit() {
	local out=$1 src="$LAB_CACHE/mailpit-v1.33.1"
	if [[ ! -f $src/go.mod ]]; then
		(cd / && env "${gocache[@]}" go mod download github.com/axllent/mailpit@v1.33.1)
		rm -rf "$src"
		cp -r "$(env "${gocache[@]}" go env GOMODCACHE)/github.com/axllent/mailpit@v1.33.1" "$src"
		chmod -R u+w "$src"
	fi
	if [[ ! -s $src/server/ui/dist/app.js ]]; then
		if command -v npm >/dev/null; then
			log "building Mailpit's web UI (npm install, esbuild)"
			(
				cd "$src"
				sed -i 's/"rapidoc": "\^12[^"]*"/"rapidoc": "^9.3.8"/' package.json
				rm -f package-lock.json
				timeout 600 npm install --legacy-peer-deps --ignore-scripts --no-audit --no-fund >"$LAB_CACHE/mailpit-npm.log" 2>&1 &&
					timeout 300 npm run build >>"$LAB_CACHE/mailpit-npm.log" 2>&1
			) || log "note: Mailpit's web UI did not build (see $LAB_CACHE/mailpit-npm.log); Mailpit runs without it"
		else
			log "note: no npm: Mailpit is built without its web UI"
		fi
	fi
	(cd "$src" && env "${gocache[@]}" go build -trimpath -ldflags="-s -w" -o "$out" .)
}

build_go_standins() {
	have_image "$MAILPIT_IMAGE" && have_image "$COREDNS_IMAGE" && return
	mkdir -p "$LAB_CACHE"
	local gocache=("GOFLAGS=" "CGO_ENABLED=0" "GOTOOLCHAIN=local")
	if ! have_image "$MAILPIT_IMAGE"; then
		log "building $MAILPIT_IMAGE from github.com/axllent/mailpit@v1.33.1 (web UI with npm)"
		local d; d=$(mktemp -d)
		mkdir -p "$d/tmp" && chmod 1777 "$d/tmp"
		build_mailpit "$d/mailpit"
		import_dir "$d" "$MAILPIT_IMAGE" --change 'ENTRYPOINT ["/mailpit"]' --change 'EXPOSE 1025 8025'
		rm -rf "$d"
	fi
	if ! have_image "$COREDNS_IMAGE"; then
		log "building $COREDNS_IMAGE from github.com/coredns/coredns@$COREDNS_VERSION"
		local src="$LAB_CACHE/coredns" d
		mkdir -p "$src"
		cat >"$src/main.go" <<-'EOF'
			// CoreDNS with the plugins the gateway's lab uses (lab/Corefile).
			package main

			import (
				_ "github.com/coredns/coredns/plugin/errors"
				_ "github.com/coredns/coredns/plugin/file"
				_ "github.com/coredns/coredns/plugin/log"

				"github.com/coredns/coredns/coremain"
			)

			func main() { coremain.Run() }
		EOF
		printf 'module gatewaylab/coredns\n\ngo 1.26\n\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION" >"$src/go.mod"
		d=$(mktemp -d)
		(cd "$src" && env "${gocache[@]}" go mod tidy && env "${gocache[@]}" go build -trimpath -ldflags="-s -w" -o "$d/coredns" .)
		import_dir "$d" "$COREDNS_IMAGE" --change 'ENTRYPOINT ["/coredns"]' --change 'EXPOSE 53 53/udp'
		rm -rf "$d"
	fi
}

build_debian_standins() {
	have_image "$DEBIAN_IMAGE" && have_image "$HAPROXY_IMAGE" && have_image "$REDIS_IMAGE" && return
	command -v debootstrap >/dev/null || die "no debootstrap (apt-get install debootstrap)"
	log "debootstrap bookworm (swaks, haproxy, redis-server) for $DEBIAN_IMAGE, $HAPROXY_IMAGE, $REDIS_IMAGE"
	local d; d=$(mktemp -d)
	debootstrap --variant=minbase --include=swaks,haproxy,redis-server,ca-certificates \
		bookworm "$d" "$DEBIAN_MIRROR" >"$d.log" 2>&1 || { tail -n 20 "$d.log" >&2; die "debootstrap failed"; }
	rm -rf "$d"/var/cache/apt/archives/*.deb "$d"/var/lib/apt/lists/* "$d.log"
	import_dir "$d" "$DEBIAN_IMAGE" --change 'CMD ["bash"]'
	import_dir "$d" "$HAPROXY_IMAGE" --change 'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]'
	import_dir "$d" "$REDIS_IMAGE" --change 'CMD ["redis-server", "--protected-mode", "no"]'
	rm -rf "$d"
}

# The gateway's builder: the Debian stand-in, this machine's Go, and the
# modules go.sum names (from this machine's module cache, else the proxy).
builder_image() {
	local sum; sum=$(cat "$repo/go.mod" "$repo/go.sum" | sha256sum | cut -c1-12)
	echo "gateway-lab/go-builder:$(go env GOVERSION)-$sum"
}

build_gateway_bases() {
	local builder; builder=$(builder_image)
	if ! have_image "$builder"; then
		log "building $builder (Go $(go env GOVERSION), modules of go.sum)"
		local d; d=$(mktemp -d)
		cp -a "$(go env GOROOT)" "$d/go"
		(cd "$repo" && GOFLAGS= GOMODCACHE="$d/mod" GOPROXY="file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)" GONOSUMDB='*' GOFLAGS=-modcacherw go mod download)
		cat >"$d/Dockerfile" <<-EOF
			FROM $DEBIAN_IMAGE
			COPY go /usr/local/go
			COPY mod /go/pkg/mod
			ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			    GOPATH=/go GOTOOLCHAIN=local GOPROXY=off GOFLAGS=
			LABEL gateway-lab.standin=1
		EOF
		"$DOCKER" build -q -t "$builder" "$d" >/dev/null
		rm -rf "$d"
	fi
	if ! have_image "$RUNTIME_IMAGE"; then
		log "building $RUNTIME_IMAGE (scratch, CA certificates, nonroot)"
		local d; d=$(mktemp -d)
		mkdir -p "$d/etc/ssl/certs" "$d/tmp" "$d/home/nonroot"
		chmod 1777 "$d/tmp"
		cp /etc/ssl/certs/ca-certificates.crt "$d/etc/ssl/certs/"
		printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$d/etc/passwd"
		printf 'root:x:0:\nnonroot:x:65532:\n' >"$d/etc/group"
		tar -C "$d" --numeric-owner --owner=0 --group=0 --exclude=./home/nonroot -c . >"$d.tar"
		tar -C "$d" --numeric-owner --owner=65532 --group=65532 -rf "$d.tar" ./home/nonroot
		"$DOCKER" import --change 'LABEL gateway-lab.standin=1' - "$RUNTIME_IMAGE" <"$d.tar" >/dev/null
		rm -rf "$d" "$d.tar"
	fi
	# The Dockerfile's default base images (what the README's plain
	# `docker-compose up --build -d` builds from) are these stand-ins too,
	# unless the machine has the real ones: so the README's lab commands
	# work as written here, and build_gateway uses them exactly so.
	standin_tag "$builder" "$(dockerfile_default BUILDER_IMAGE)"
	standin_tag "$RUNTIME_IMAGE" "$(dockerfile_default RUNTIME_IMAGE)"
}

# dockerfile_default NAME: the default of ARG NAME in docker/Dockerfile.
dockerfile_default() {
	sed -n "s/^ARG $1=//p" "$here/Dockerfile" | head -n 1
}

# standin_tag SRC NAME: tag the stand-in SRC as NAME when NAME is missing
# or is itself a stand-in of ours (never over a real image).
standin_tag() {
	local src=$1 name=$2
	[[ -n $name ]] || die "docker/Dockerfile has no default for a base image"
	if have_image "$name" && [[ $("$DOCKER" image inspect -f '{{index .Config.Labels "gateway-lab.standin"}}' "$name" 2>/dev/null) != 1 ]]; then
		log "keeping the real $name (not replaced by a stand-in)"
		return
	fi
	"$DOCKER" tag "$src" "$name"
}

# ---- compose helpers
compose_file=""
dc() { docker-compose -f "$compose_file" "$@"; }

build_gateway() {
	log "building the gateway image with docker/Dockerfile ($compose_file)"
	# As the README's `docker-compose up --build -d` does: the Dockerfile's
	# default base images, which build_gateway_bases made stand-ins of.
	dc build -q "$@" >/dev/null
}

down_and_check() {
	local f=$1
	compose_file=$f
	dc --profile client down -v --remove-orphans >/dev/null 2>&1 || dc down -v --remove-orphans >/dev/null 2>&1 || true
	local label="label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
	local left
	left="$("$DOCKER" ps -aq --filter "$label")$("$DOCKER" network ls -q --filter "$label")$("$DOCKER" volume ls -q --filter "$label")"
	if [[ -n $left ]]; then
		fail "docker-compose down -v left something of $f behind: $left"
		return 1
	fi
	ok "docker-compose -f $f down -v left no container, network or volume"
}

active_lab=""
cleanup() {
	local rc=$?
	if [[ -n $active_lab ]]; then
		if [[ $rc -ne 0 || $failures -ne 0 ]]; then
			compose_file=$active_lab
			dc logs --no-color --tail=40 >&2 2>&1 || true
		fi
		down_and_check "$active_lab" || rc=1
	fi
	if [[ $rc -eq 0 && $failures -ne 0 ]]; then rc=1; fi
	if [[ $rc -eq 0 ]]; then log "PASS"; else log "FAILED ($failures check(s) failed, exit $rc)"; fi
	exit $rc
}
trap cleanup EXIT
trap "exit 130" INT TERM

wait_http() { # URL what
	for _ in $(seq 60); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 1
	done
	return 1
}

# mailpit_headers SUBJECT: the headers (JSON) of the one message with that subject.
mailpit_id() {
	local q; q=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "subject:\"$1\"")
	for _ in $(seq 20); do
		id=$(curl -fsS "http://127.0.0.1:8025/api/v1/search?query=$q" | python3 -c 'import json,sys; m=json.load(sys.stdin)["messages"]; print(m[0]["ID"] if len(m)==1 else "")')
		[[ -n $id ]] && { echo "$id"; return 0; }
		sleep 0.5
	done
	return 1
}
header() { # ID NAME: the header's values, one a line
	curl -fsS "http://127.0.0.1:8025/api/v1/message/$1/headers" | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin).get(sys.argv[1], [])))' "$2"
}

# ---- the lab (docker-compose.yml)
run_basic() {
	compose_file=docker-compose.yml
	build_gateway gateway
	active_lab=$compose_file
	log "docker-compose up -d"
	dc up -d >/dev/null
	wait_http http://127.0.0.1:9925/readyz || die "the gateway's /readyz did not answer on 127.0.0.1:9925"
	wait_http http://127.0.0.1:8025/api/v1/info || die "Mailpit did not answer on 127.0.0.1:8025"

	# (1) The README's swaks line from the host, with a subject to find it.
	local subject="lab-test $runid from the host"
	local out
	if ! out=$(swaks --server 127.0.0.1:2525 --ehlo client.lab.example.net \
		--from alice@lab.example.net --to bob@example.com --header "Subject: $subject" 2>&1); then
		fail "swaks from the host was refused:"$'\n'"$out"
	fi
	local id
	if id=$(mailpit_id "$subject"); then
		ok "the host's message is in Mailpit ($id)"
		local recv ar helo
		recv=$(header "$id" Received)
		ar=$(header "$id" Authentication-Results)
		helo=$(header "$id" X-Helo-Check)
		grep -q "by mx.lab.example.net" <<<"$recv" && grep -q "client.lab.example.net" <<<"$recv" &&
			ok "Received: by the gateway" || fail "no Received header of the gateway: $recv"
		grep -q "^mx.lab.example.net" <<<"$ar" && ok "Authentication-Results: $ar" || fail "no Authentication-Results of the gateway: $ar"
		if grep -q "client-ip=172.30.0.1;" <<<"$helo" && grep -q "fcrdns=pass" <<<"$helo"; then
			ok "X-HELO-Check: $helo"
		else
			fail "X-HELO-Check of the host's message lacks client-ip=172.30.0.1 and fcrdns=pass: $helo"
		fi
		lab_message_id=$id
		lab_subject=$subject
	else
		fail "the host's message ($subject) is not in Mailpit"
	fi

	# (2) The in-lab clients, through the real CoreDNS.
	check_client client 172.30.0.20 "rdns=pass" "fcrdns=pass"
	check_client client-noptr 172.30.0.21 "rdns=fail"
	# What the lab config says for the client without PTR, asked from inside
	# the lab (the same CoreDNS): accepted, rdns only tagged.
	local ch
	ch=$(dc exec -T gateway /usr/local/bin/gateway check-helo -config /etc/gateway/config.toml -ip 172.30.0.21 elsewhere.lab.example.net 2>&1) &&
		grep -Eq 'rdns +fail +tag' <<<"$ch" && ok "check-helo in the lab: rdns fails and is tagged for 172.30.0.21" ||
		fail "check-helo in the lab for 172.30.0.21:"$'\n'"$ch"

	# (3) A refused HELO gets the cPanel reply; the metrics endpoint answers.
	out=$(swaks --server 127.0.0.1:2525 --ehlo DESKTOP-4F2K1 --from a@lab.example.net --to bob@example.com 2>&1) || true
	if grep -q "550 5.7.1 Access denied - Invalid HELO name (See RFC2821 4.1.1.1)" <<<"$out"; then
		ok "HELO DESKTOP-4F2K1 refused with the cPanel reply"
	else
		fail "HELO DESKTOP-4F2K1 did not get the cPanel reply:"$'\n'"$out"
	fi
	local metrics
	metrics=$(curl -fsS http://127.0.0.1:9925/metrics) || fail "GET http://127.0.0.1:9925/metrics failed"
	if grep -q '^gateway_' <<<"$metrics"; then
		ok "metrics answer ($(grep -c '^gateway_' <<<"$metrics") gateway_ samples)"
	else
		fail "no gateway_ metrics on 127.0.0.1:9925"
	fi

	if [[ -n ${lab_message_id:-} ]]; then
		check_web_ui
	fi

	down_and_check "$compose_file"
	active_lab=""
}

# check_client SERVICE IP WANT...: docker-compose run SERVICE; its message
# reaches Mailpit with an X-HELO-Check for IP containing each WANT.
check_client() {
	local svc=$1 ip=$2
	shift 2
	local out
	if ! out=$(timeout 120 docker-compose -f "$compose_file" --profile client run -T --rm "$svc" </dev/null 2>&1); then
		fail "docker-compose run $svc:"$'\n'"$out"
		return
	fi
	grep -q '<-  250 .*queued\|<-  250 2.0.0' <<<"$out" || { fail "$svc: no 250 after DATA:"$'\n'"$out"; return; }
	local ids helo="" id
	ids=$(curl -fsS 'http://127.0.0.1:8025/api/v1/messages?limit=50' | python3 -c 'import json,sys; print("\n".join(m["ID"] for m in json.load(sys.stdin)["messages"]))')
	for id in $ids; do
		helo=$(header "$id" X-Helo-Check)
		grep -q "client-ip=$ip;" <<<"$helo" && break
		helo=""
	done
	[[ -n $helo ]] || { fail "$svc ($ip): its message is not in Mailpit"; return; }
	local w
	for w in "$@"; do
		grep -q "$w" <<<"$helo" || { fail "$svc ($ip): X-HELO-Check lacks $w: $helo"; return; }
	done
	ok "$svc ($ip) accepted, X-HELO-Check: $helo"
}

# Mailpit's web UI in headless Chromium, on the message from the host.
check_web_ui() {
	local chromium; chromium=$(command -v chromium || command -v chromium-browser || true)
	if [[ -z $chromium ]]; then
		fail "no chromium (apt-get install chromium) for the web UI check"
		return
	fi
	local prof; prof=$(mktemp -d)
	local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
		--disable-background-networking --disable-component-update --disable-sync
		--user-data-dir="$prof" --virtual-time-budget=8000 --window-size=1100,560)
	local url="http://127.0.0.1:8025/view/$lab_message_id"
	# Without its web UI (built with npm by build_mailpit) Mailpit's page
	# is blank: then Chromium shows the message's source as Mailpit serves
	# it (every header the gateway added), and the script says so.
	if ! curl -fs -o /dev/null http://127.0.0.1:8025/dist/app.js; then
		log "note: this Mailpit has no web UI assets (built from its Go module without npm); Chromium opens the message's source instead"
		url="http://127.0.0.1:8025/api/v1/message/$lab_message_id/raw"
	fi
	local dom
	dom=$(timeout 120 "$chromium" "${flags[@]}" --dump-dom "$url" 2>/dev/null) || true
	if grep -qF "$lab_subject" <<<"$dom"; then
		ok "Chromium shows the message from Mailpit ($url)"
	else
		fail "Chromium at $url does not show \"$lab_subject\""
	fi
	if [[ -n $screenshot ]]; then
		rm -f "$screenshot"
		local pw="$LAB_CACHE/mailpit-v1.33.1/node_modules/playwright-core"
		if [[ $url == */view/* && -d $pw ]] && command -v node >/dev/null; then
			# The Headers tab needs a click: playwright-core (from Mailpit's
			# own npm install) drives the same Chromium.
			timeout 120 node "$here/lab/screenshot.cjs" "$pw" "$chromium" "$url" "$lab_subject" "$screenshot" ||
				fail "Chromium via playwright-core: no screenshot of the Headers tab"
		else
			rm -rf "$prof"; prof=$(mktemp -d)
			flags[8]=--user-data-dir="$prof"
			timeout 120 "$chromium" "${flags[@]}" --screenshot="$screenshot" "$url" >/dev/null 2>&1 || true
		fi
		[[ -s $screenshot ]] && ok "screenshot: $screenshot" || fail "no screenshot written to $screenshot"
	fi
	rm -rf "$prof"
}

# ---- the scale-out lab (docker-compose.scale.yml): HAProxy, two gateways,
# Redis. Clients on the host send through HAProxy (127.0.0.1:2525) while
# gateway1 is killed (SIGKILL); every message a client saw accepted (250
# after DATA) must be in Mailpit. A client retries a message whose
# transaction failed, so a message may arrive twice (the gateway had relayed
# it when it died before answering): counted, not a failure.
run_scale() {
	compose_file=docker-compose.scale.yml
	build_gateway gateway1
	active_lab=$compose_file
	log "docker-compose -f $compose_file up -d"
	dc up -d >/dev/null
	wait_http http://127.0.0.1:9925/readyz || die "gateway1's /readyz did not answer on 127.0.0.1:9925"
	wait_http http://127.0.0.1:9926/readyz || die "gateway2's /readyz did not answer on 127.0.0.1:9926"
	wait_http http://127.0.0.1:8025/api/v1/info || die "Mailpit did not answer on 127.0.0.1:8025"
	local tag="scale-$runid" n=${SCALE_MESSAGES:-400}
	local result; result=$(mktemp)
	python3 - "$tag" "$n" "$result" <<-'PY' &
		import smtplib, sys, threading, time
		tag, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
		accepted, errors, lock = [], [], threading.Lock()
		def worker(k):
		    for i in range(k, n, 4):
		        msg = "From: alice@lab.example.net\r\nTo: bob@example.com\r\nSubject: %s-%d\r\n\r\nscale-out lab\r\n" % (tag, i)
		        for attempt in range(20):
		            try:
		                with smtplib.SMTP("127.0.0.1", 2525, "client.lab.example.net", timeout=30) as s:
		                    s.sendmail("alice@lab.example.net", ["bob@example.com"], msg)
		                with lock:
		                    accepted.append(i)
		                break
		            except Exception as e:
		                with lock:
		                    errors.append("%d: %r" % (i, e))
		                time.sleep(0.5)
		ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
		[t.start() for t in ts]
		[t.join(timeout=600) for t in ts]
		with open(out, "w") as f:
		    f.write(" ".join(map(str, sorted(accepted))) + "\n")
		    f.write("\n".join(errors) + "\n")
	PY
	local client=$!
	# Kill gateway1 once mail flows through it.
	local i
	for i in $(seq 120); do
		if curl -fsS http://127.0.0.1:9925/metrics 2>/dev/null | grep -Eq '^gateway_relay_[a-z_]*total\{[^}]*\} [1-9]|^gateway_messages_[a-z_]*total\{[^}]*\} [1-9]'; then
			break
		fi
		sleep 0.25
	done
	kill -0 "$client" 2>/dev/null || fail "scale-out: the clients finished before gateway1 could be killed (raise SCALE_MESSAGES)"
	log "killing gateway1 (SIGKILL) while mail flows"
	dc kill -s SIGKILL gateway1 >/dev/null
	wait "$client" || fail "the scale-out client failed"
	local accepted errors
	accepted=$(head -n 1 "$result")
	errors=$(tail -n +2 "$result" | grep -c . || true)
	local count; count=$(wc -w <<<"$accepted")
	[[ $count -eq $n ]] || fail "only $count of $n messages accepted through HAProxy"
	# Every accepted message in Mailpit; count duplicates.
	local got
	for i in $(seq 30); do
		got=$(curl -fsS "http://127.0.0.1:8025/api/v1/search?query=$(python3 -c 'import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1]))' "subject:$tag")&limit=5000" |
			python3 -c 'import json,sys; print("\n".join(m["Subject"] for m in json.load(sys.stdin)["messages"]))')
		[[ $(sort -u <<<"$got" | grep -c .) -ge $count ]] && break
		sleep 1
	done
	local missing=0 dup
	for i in $accepted; do
		grep -qx "$tag-$i" <<<"$got" || missing=$((missing + 1))
	done
	dup=$(( $(grep -c . <<<"$got") - $(sort -u <<<"$got" | grep -c .) ))
	if [[ $missing -eq 0 ]]; then
		ok "scale-out: gateway1 killed mid-run; $count messages accepted, all $count in Mailpit, $dup duplicate(s), $errors failed attempt(s) retried"
	else
		fail "scale-out: $missing of $count accepted messages are not in Mailpit"
	fi
	rm -f "$result"
	down_and_check "$compose_file"
	active_lab=""
}

start_dockerd
log "engine: $("$DOCKER" version --format 'client {{.Client.Version}}, server {{.Server.Version}}')"
build_go_standins
build_debian_standins
build_gateway_bases

case $what in
	basic) run_basic ;;
	scale) run_scale ;;
	all) run_basic; run_scale ;;
esac
