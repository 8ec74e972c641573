#!/usr/bin/env bash
# Measures the live daemon, `pinjail run`, from the outside, and
# fail2ban-server on the same input where that takes reasonable time:
#
#   latency  failure line appended to the log -> address in the kernel set
#   ingest   lines per second read from a file appended to as fast as it can
#   bans     a burst of bans through the log; the same bans restored from
#            the database at start; one nftables Commit of 100,000 bans
#   memory   RSS idle, and under a flood of distinct failing addresses
#
# Each daemon runs in a network namespace this script creates (its
# nftables sets are checked there over netlink by bench/daemonbench) and
# deletes; the host's firewall is never touched. Root is required.
#
# Environment:
#   QUICK=1       a small run, under a minute
#   FAIL2BAN=0    measure pinjail alone
#   PINJAIL=path  measure this binary instead of building ./cmd/pinjail
#   RECONCILE=d   the daemon's --reconcile interval (default 5s, the daemon's
#                 own default, so that reconciles run during the measurements)
#   PROFILE=1     run pinjail's daemon as bench/profiled (the same daemon
#                 with net/http/pprof) and keep CPU and heap profiles
#   LAT_N, F2B_LAT_N, LINES, F2B_LINES, BANS, F2B_BANS, FLOOD, F2B_FLOOD,
#   FLOOD_TIMEOUT  sizes and limits (defaults below; README)
#
# It prints a table of figures with the targets of issue 3 and, where
# fail2ban ran too, how many times better pinjail did. Daemon logs,
# configurations and databases are kept in bench/out/daemon/.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

if [[ ${QUICK:-0} == 1 ]]; then
	: "${LAT_N:=30}" "${F2B_LAT_N:=20}" "${LINES:=200000}" "${F2B_LINES:=50000}"
	: "${BANS:=20000}" "${F2B_BANS:=200}" "${FLOOD:=200000}" "${F2B_FLOOD:=20000}"
	: "${FLOOD_TIMEOUT:=30}" "${COMMIT_TEST:=0}"
else
	: "${LAT_N:=100}" "${F2B_LAT_N:=100}" "${LINES:=1000000}" "${F2B_LINES:=200000}"
	: "${BANS:=100000}" "${F2B_BANS:=1000}" "${FLOOD:=1000000}" "${F2B_FLOOD:=100000}"
	: "${FLOOD_TIMEOUT:=120}" "${COMMIT_TEST:=1}"
fi
# The daemon's own default (internal/daemon.DefaultSettings).
: "${RECONCILE:=5s}"
: "${FAIL2BAN:=1}"
: "${PROFILE:=0}"
kind=pinjail
if ((PROFILE)); then
	kind=profiled
fi

for v in LAT_N F2B_LAT_N LINES F2B_LINES BANS F2B_BANS FLOOD F2B_FLOOD FLOOD_TIMEOUT; do
	if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
		echo "daemon.sh: $v=${!v} is not a positive number" >&2
		exit 2
	fi
done
if ((EUID != 0)); then
	echo "daemon.sh: needs root (network namespaces and nftables)" >&2
	exit 2
fi
for c in ip nft go; do
	if ! command -v "$c" >/dev/null; then
		echo "daemon.sh: $c not found" >&2
		exit 2
	fi
done
f2b_server=$(command -v fail2ban-server || true)
if ((FAIL2BAN)) && { [[ -z $f2b_server ]] || ! /usr/bin/python3 -c 'import pyinotify' 2>/dev/null; }; then
	echo "daemon.sh: fail2ban-server with pyinotify not found (apt-get install fail2ban python3-pyinotify); measuring pinjail alone" >&2
	FAIL2BAN=0
fi

out=bench/out
state=$out/daemon
rm -rf "$state"
mkdir -p "$state"
bin=$out/daemon-bin
mkdir -p "$bin"
echo "daemon.sh: building" >&2
go build -o "$bin/rpgen" ./cmd/rpgen
go build -o "$bin/daemonbench" ./bench/daemonbench
go build -o "$bin/profiled" ./bench/profiled
pinjail=${PINJAIL:-}
if [[ -z $pinjail ]]; then
	pinjail=$bin/pinjail
	go build -o "$pinjail" ./cmd/pinjail
fi
pinjail=$(realpath "$pinjail")
bench=$(realpath "$bin/daemonbench")
profiled=$(realpath "$bin/profiled")
state=$(realpath "$state")

# The followed logs live on tmpfs where there is one, so that the speed of
# the disk (and of the writer) does not cap the daemon's.
if [[ -d /dev/shm && -w /dev/shm ]]; then
	logs=$(mktemp -d /dev/shm/pinjail-bench.XXXXXX)
else
	logs=$(mktemp -d "$state/logs.XXXXXX")
fi
ns=pjbench-$$
metrics=127.0.0.1:9191
pprof=127.0.0.1:6060
daemon_pid=
daemon_log=

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [[ -n $daemon_pid ]]; then
		kill -KILL "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$logs"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up

in_ns() { ip netns exec "$ns" "$@"; }

status=0
# failed WHAT DETAIL notes a measurement that did not complete; the script
# goes on with the others and exits 1.
failed() {
	echo "daemon.sh: FAILED: $1: $2" >&2
	status=1
}

# measure NAME COMMAND... runs a daemonbench command in the namespace and
# sets the global associative array fig to its key=value figures; it
# returns 1, with the error noted, if the command failed.
declare -A fig
measure() {
	local name=$1 line kv
	shift
	fig=()
	if ! line=$(in_ns "$bench" "$@" 2>"$state/$name.err"); then
		failed "$name" "$(tail -1 "$state/$name.err")"
		return 1
	fi
	echo "$line" >"$state/$name.txt"
	for kv in $line; do
		fig[${kv%%=*}]=${kv#*=}
	done
}

# wait_for_line FILE TEXT waits until FILE holds TEXT while the daemon
# lives.
wait_for_line() {
	local i
	for ((i = 0; i < 600; i++)); do
		if grep -qF -- "$2" "$1" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$daemon_pid" 2>/dev/null; then
			break
		fi
		sleep 0.05
	done
	failed "start" "no \"$2\" in $1"
	return 1
}

# pinjail_cmd NAME KIND sets cmd to the command line of a pinjail daemon
# with configuration directory $state/NAME: `pinjail run` for KIND pinjail,
# bench/profiled (the same daemon and defaults, with pprof) for KIND
# profiled.
pinjail_cmd() {
	local dir=$state/$1
	if [[ $2 == profiled ]]; then
		cmd=("$profiled" -config-dir "$dir" -pprof "$pprof")
	else
		cmd=("$pinjail" --config-dir "$dir" run)
	fi
	cmd+=(--db "$dir/pinjail.db" --socket "$dir/pinjail.sock" --metrics "$metrics" --reconcile "$RECONCILE")
}

# pinjail_start NAME KIND starts a pinjail daemon (see pinjail_cmd) and
# waits until it runs.
pinjail_start() {
	local name=$1
	pinjail_cmd "$name" "$2"
	daemon_log=$state/$name/daemon.log
	# Not through in_ns: $! must be the daemon (ip netns exec execs it),
	# not a subshell running a function.
	ip netns exec "$ns" "${cmd[@]}" >"$daemon_log" 2>&1 &
	daemon_pid=$!
	wait_for_line "$daemon_log" 'msg="pinjail running"'
}

# jail_local NAME TEXT writes the jail.local of configuration NAME.
jail_local() {
	mkdir -p "$state/$1"
	printf '%s\n' "$2" >"$state/$1/jail.local"
}

# The three built-in jails besides pexiprp, switched off.
others_off='[pexiprp-slow]
enabled = false
[pexip-registration]
enabled = false
[pexip-aliasscan]
enabled = false'

# f2b_conf NAME MAXRETRY BANTIME LOG writes a fail2ban configuration
# directory: one jail, pexiprp, with pinjail's pexiprp failregex for a 403
# (fail2ban 1.0.2 counts the filter's <F-NOFAIL> join lines as failures,
# so they are left out; this is pinjail's mode = strict) and fail2ban's own
# nftables action, which runs nft inside the namespace.
f2b_conf() {
	local dir=$state/$1 filter=internal/builtin/conf/filter.d/pexiprp.conf failregex datepattern
	failregex=$(sed -n 's/^failregex = //p' "$filter")
	datepattern=$(sed -n 's/^datepattern = //p' "$filter")
	if [[ -z $failregex || -z $datepattern ]]; then
		echo "daemon.sh: no failregex or datepattern line in $filter" >&2
		exit 1
	fi
	mkdir -p "$dir/filter.d" "$dir/run"
	ln -sfn /etc/fail2ban/action.d "$dir/action.d"
	printf '[Definition]\nfailregex = %s\nignoreregex =\ndatepattern = %s\n' "$failregex" "$datepattern" >"$dir/filter.d/pexiprp-strict.conf"
	cat >"$dir/fail2ban.conf" <<-EOF
		[Definition]
		loglevel = INFO
		logtarget = $dir/fail2ban.log
		syslogsocket = auto
		socket = $dir/run/fail2ban.sock
		pidfile = $dir/run/fail2ban.pid
		dbfile = $dir/fail2ban.sqlite3
		dbpurgeage = 1d
		allowipv6 = auto
	EOF
	cat >"$dir/jail.conf" <<-EOF
		[DEFAULT]
		ignoreself = true
		ignoreip = 127.0.0.1/8 ::1
		backend = pyinotify
		findtime = 5m
		[pexiprp]
		enabled = true
		filter = pexiprp-strict
		logpath = $4
		maxretry = $2
		bantime = $3
		action = nftables[name=pexiprp, port=443, protocol=tcp]
	EOF
}

# f2b_cmd NAME sets cmd to the command line of fail2ban-server with
# configuration directory $state/NAME.
f2b_cmd() {
	cmd=(/usr/bin/python3 "$f2b_server" -c "$state/$1" -f -x start)
}

f2b_start() {
	f2b_cmd "$1"
	daemon_log=$state/$1/fail2ban.log
	ip netns exec "$ns" "${cmd[@]}" >"$state/$1/server.out" 2>&1 &
	daemon_pid=$!
	wait_for_line "$daemon_log" "Jail 'pexiprp' started"
}

# stop_daemon [GRACE] stops the running daemon with SIGTERM; one that is
# still there after GRACE seconds (default 20) dumps its goroutines into
# its log (SIGQUIT; Go programs only) and is killed. It sets stop_secs to
# the seconds the daemon took to stop, or "killed".
stop_daemon() {
	local grace=${1:-20} i t0
	stop_secs=
	[[ -n $daemon_pid ]] || return 0
	t0=$(date +%s.%N)
	kill -TERM "$daemon_pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	stop_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	if kill -0 "$daemon_pid" 2>/dev/null; then
		stop_secs=killed
		echo "daemon.sh: the daemon did not stop within ${grace}s of SIGTERM; killed (goroutines in $daemon_log)" >&2
		kill -QUIT "$daemon_pid" 2>/dev/null || true
		sleep 1
		kill -KILL "$daemon_pid" 2>/dev/null || true
	fi
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=
	# The next measurement starts from an empty ruleset in the namespace.
	in_ns nft flush ruleset
}

# cpu_profile NAME SECONDS, with PROFILE=1, starts taking a CPU profile of
# the daemon for SECONDS in the background; cpu_profile_done waits for it.
cpu_profile() {
	profile_pid=
	((PROFILE)) || return 0
	in_ns env PPROF_TMPDIR="$state/pprof" go tool pprof -proto "http://$pprof/debug/pprof/profile?seconds=$2" \
		>"$state/$1-cpu.pb.gz" 2>"$state/$1-cpu.err" &
	profile_pid=$!
	sleep 0.5 # let the profile start before the measurement
}

cpu_profile_done() {
	if [[ -n $profile_pid ]]; then
		wait "$profile_pid" || true
	fi
}

# heap_profile NAME, with PROFILE=1, keeps the daemon's heap profile.
heap_profile() {
	((PROFILE)) || return 0
	in_ns env PPROF_TMPDIR="$state/pprof" go tool pprof -proto "http://$pprof/debug/pprof/heap" \
		>"$state/$1-heap.pb.gz" 2>"$state/$1-heap.err" || true
}

rss_mib() {
	awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$daemon_pid/status"
}

# generate LINES FILE writes LINES lines of Pexip RP traffic starting now,
# so that neither daemon takes its failures for old news (both drop
# failures older than findtime).
generate() {
	"$bin/rpgen" -n "$1" -seed 1 -start "$(date -u +%Y-%m-%dT%H:%M:%SZ)" -o "$2" 2>"$2.rpgen"
}

# The figures: result[KEY] holds what the table prints.
declare -A result

# ---------------------------------------------------------------------------
echo "daemon.sh: ban latency" >&2
jail_local latency "[pexiprp]
logpath = $logs/latency.log
mode = strict
maxretry = 1
$others_off"
: >"$logs/latency.log"
if pinjail_start latency "$kind"; then
	result[rss_1jail]=$(rss_mib)
	if measure latency-pinjail latency -log "$logs/latency.log" -n "$LAT_N" -table pinjail -set pexiprp-v4; then
		result[lat_pj_p50]=${fig[p50_ms]} result[lat_pj_p99]=${fig[p99_ms]} result[lat_pj_max]=${fig[max_ms]}
	fi
fi
stop_daemon
if ((FAIL2BAN)); then
	: >"$logs/latency-f2b.log"
	f2b_conf latency-f2b 1 5m "$logs/latency-f2b.log"
	if f2b_start latency-f2b; then
		result[rss_f2b]=$(rss_mib)
		if measure latency-fail2ban latency -log "$logs/latency-f2b.log" -n "$F2B_LAT_N" -table f2b-table -set addr-set-pexiprp; then
			result[lat_f2b_p50]=${fig[p50_ms]} result[lat_f2b_p99]=${fig[p99_ms]} result[lat_f2b_max]=${fig[max_ms]}
		fi
	fi
	stop_daemon
fi

# ---------------------------------------------------------------------------
# Side by side: pinjail's pexiprp as fail2ban sees it (every 403 counts,
# no room budget, fixed ban time, one address per ban), both timed until a
# sentinel address is banned after the input.
echo "daemon.sh: ingest, pinjail and fail2ban on $F2B_LINES lines" >&2
generate "$F2B_LINES" "$logs/same-src.log"
jail_local same "[pexiprp]
logpath = $logs/same.log
mode = strict
roombudget = 0
maxretry = 5
findtime = 5m
bantime = 5m
bantime.increment = false
ipv6prefix = 128
$others_off"
: >"$logs/same.log"
if pinjail_start same "$kind"; then
	if measure ingest-same-pinjail ingest -src "$logs/same-src.log" -log "$logs/same.log" -pid "$daemon_pid" \
		-sentinel 5 -table pinjail -set pexiprp-v4; then
		result[same_pj]=${fig[lines_per_s]} result[same_pj_cpu]=${fig[cpu_seconds]}
	fi
fi
stop_daemon
if ((FAIL2BAN)); then
	: >"$logs/same-f2b.log"
	f2b_conf same-f2b 5 5m "$logs/same-f2b.log"
	if f2b_start same-f2b; then
		if measure ingest-same-fail2ban ingest -src "$logs/same-src.log" -log "$logs/same-f2b.log" -pid "$daemon_pid" \
			-sentinel 5 -table f2b-table -set addr-set-pexiprp; then
			result[same_f2b]=${fig[lines_per_s]} result[same_f2b_cpu]=${fig[cpu_seconds]}
		fi
	fi
	stop_daemon
fi
rm -f "$logs"/same*.log

# ---------------------------------------------------------------------------
echo "daemon.sh: ingest, pinjail on $LINES lines" >&2
generate "$LINES" "$logs/rp.log"
jail_local ingest-pexiprp "[pexiprp]
logpath = $logs/ingest-pexiprp.log
$others_off"
: >"$logs/ingest-pexiprp.log"
if pinjail_start ingest-pexiprp "$kind"; then
	cpu_profile ingest-pexiprp $((LINES / 200000 + 3))
	if measure ingest-pexiprp ingest -src "$logs/rp.log" -log "$logs/ingest-pexiprp.log" -pid "$daemon_pid" \
		-metrics "http://$metrics/metrics" -jails pexiprp; then
		result[ingest_pexiprp]=${fig[lines_per_s]} result[ingest_pexiprp_cpu]=${fig[cpu_seconds]}
	fi
	cpu_profile_done
fi
stop_daemon
rm -f "$logs/ingest-pexiprp.log"
# A real reverse proxy runs all four built-in jails on its log; pexiprp's
# logpath is theirs too.
jail_local ingest-all "[pexiprp]
logpath = $logs/ingest-all.log"
: >"$logs/ingest-all.log"
if pinjail_start ingest-all "$kind"; then
	sleep 2
	result[rss_idle]=$(rss_mib)
	cpu_profile ingest-all $((LINES / 100000 + 3))
	if measure ingest-all ingest -src "$logs/rp.log" -log "$logs/ingest-all.log" -pid "$daemon_pid" \
		-metrics "http://$metrics/metrics"; then
		result[ingest_all]=${fig[lines_per_s]} result[ingest_all_cpu]=${fig[cpu_seconds]}
	fi
	cpu_profile_done
fi
stop_daemon
rm -f "$logs"/rp.log* "$logs/ingest-all.log"

# ---------------------------------------------------------------------------
echo "daemon.sh: $BANS bans through the log, then restored at start" >&2
jail_local bans "[pexiprp]
logpath = $logs/bans.log
mode = strict
roombudget = 0
maxretry = 1
bantime = 1h
$others_off"
: >"$logs/bans.log"
if pinjail_start bans "$kind"; then
	if measure bans-pinjail bans -log "$logs/bans.log" -n "$BANS" -first 172.16.0.1 -table pinjail -set pexiprp-v4; then
		result[bans_pj]=${fig[bans_per_s]} result[bans_pj_s]=${fig[seconds]}
	fi
	result[rss_bans]=$(rss_mib)
	heap_profile bans
	stop_daemon
	if [[ -n ${result[bans_pj]:-} ]]; then
		pinjail_cmd bans "$kind"
		if measure restore-pinjail restore -n "$BANS" -first 172.16.0.1 -table pinjail -set pexiprp-v4 \
			-output "$state/bans/restore.log" -- "${cmd[@]}"; then
			result[restore_pj]=${fig[seconds]} result[restore_pj_rate]=${fig[bans_per_s]}
		fi
		in_ns nft flush ruleset
	fi
fi
if ((FAIL2BAN)); then
	: >"$logs/bans-f2b.log"
	f2b_conf bans-f2b 1 1h "$logs/bans-f2b.log"
	if f2b_start bans-f2b; then
		if measure bans-fail2ban bans -log "$logs/bans-f2b.log" -n "$F2B_BANS" -first 172.16.0.1 -table f2b-table -set addr-set-pexiprp; then
			result[bans_f2b]=${fig[bans_per_s]}
		fi
		stop_daemon
		if [[ -n ${result[bans_f2b]:-} ]]; then
			f2b_cmd bans-f2b
			if measure restore-fail2ban restore -count -n "$F2B_BANS" -first 172.16.0.1 -table f2b-table -set addr-set-pexiprp \
				-output "$state/bans-f2b/restore.out" -- "${cmd[@]}"; then
				result[restore_f2b]=${fig[seconds]} result[restore_f2b_rate]=${fig[bans_per_s]}
			fi
			in_ns nft flush ruleset
		fi
	fi
fi
if ((COMMIT_TEST)); then
	echo "daemon.sh: nftables Commit of 100,000 bans (go test)" >&2
	if go test -count=1 -run '^TestCommit100k$' -v ./internal/enforce/nft >"$state/commit100k.txt" 2>&1; then
		result[commit]=$(sed -n 's/.* \([0-9][0-9]*\) elements\/s;.*/\1/p' "$state/commit100k.txt" | head -1)
	else
		failed "go test TestCommit100k" "see $state/commit100k.txt"
	fi
fi

# ---------------------------------------------------------------------------
echo "daemon.sh: flood of $FLOOD distinct failing addresses" >&2
jail_local flood "[pexiprp]
logpath = $logs/flood.log
mode = strict
roombudget = 0
maxretry = 100
$others_off"
: >"$logs/flood.log"
if pinjail_start flood "$kind"; then
	cpu_profile flood $((FLOOD / 50000 + 3))
	if measure flood-pinjail flood -log "$logs/flood.log" -n "$FLOOD" -pid "$daemon_pid" -timeout "${FLOOD_TIMEOUT}s" \
		-metrics "http://$metrics/metrics" -jails pexiprp; then
		result[flood_rate]=${fig[lines_per_s]} result[flood_read]=${fig[lines_read]} result[flood_complete]=${fig[complete]}
		result[flood_before]=${fig[rss_before_mib]} result[flood_peak]=${fig[rss_peak_mib]}
		result[flood_settled]=${fig[rss_settled_mib]} result[flood_tracked]=${fig[tracked]}
		heap_profile flood
	fi
	cpu_profile_done
fi
# Stopping saves every tracked address once more.
stop_daemon 60
result[flood_stop]=$stop_secs
rm -f "$state/flood/pinjail.db"* # a million tickets: 300 MB
rm -f "$logs/flood.log"
if ((FAIL2BAN)); then
	: >"$logs/flood-f2b.log"
	f2b_conf flood-f2b 100 5m "$logs/flood-f2b.log"
	if f2b_start flood-f2b; then
		if measure flood-fail2ban flood -log "$logs/flood-f2b.log" -n "$F2B_FLOOD" -pid "$daemon_pid" \
			-sentinel 100 -table f2b-table -set addr-set-pexiprp; then
			result[flood_f2b_rate]=${fig[lines_per_s]} result[flood_f2b_before]=${fig[rss_before_mib]}
			result[flood_f2b_peak]=${fig[rss_peak_mib]}
			result[flood_f2b_tracked]=$(fail2ban-client -c "$state/flood-f2b" status pexiprp 2>/dev/null |
				sed -n 's/.*Currently failed:[[:space:]]*//p')
		fi
	fi
	stop_daemon
fi

# ---------------------------------------------------------------------------
# The table.

# num KEY [FORMAT] prints result[KEY] in FORMAT (default %.0f), or "-";
# a value that is not a number is printed as it is.
num() {
	local v=${result[$1]:-}
	if [[ -z $v || $v == -1* ]]; then
		echo -
	elif ! [[ $v =~ ^[0-9.e+-]+$ ]]; then
		echo "$v"
	else
		awk -v v="$v" -v f="${2:-%.0f}" 'BEGIN { printf f, v }'
	fi
}

# times A B prints A / B as "N.Nx", or "-" when either is unknown.
times() {
	if [[ $1 == - || $2 == - || $1 == "(skipped)" || $2 == "(skipped)" ]]; then
		echo -
	else
		awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'
	fi
}

# verdict VALUE OP LIMIT prints ok or MISS, or "" without a value.
verdict() {
	if [[ $1 == - ]]; then
		echo ""
	else
		awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
			ok = (op == "<=") ? v <= l : v >= l
			print ok ? "ok" : "MISS"
		}'
	fi
}

row() {
	printf '%-54s %10s %10s %8s %11s %5s\n' "$@"
}

f2b_or_skip() {
	if ((FAIL2BAN)); then num "$@"; else echo "(skipped)"; fi
}

pj_p50=$(num lat_pj_p50 %.2f) pj_p99=$(num lat_pj_p99 %.2f)
f2b_p50=$(f2b_or_skip lat_f2b_p50 %.1f) f2b_p99=$(f2b_or_skip lat_f2b_p99 %.1f)
same_pj=$(num same_pj) same_f2b=$(f2b_or_skip same_f2b)
bans_pj=$(num bans_pj) bans_f2b=$(f2b_or_skip bans_f2b)
restore_pj=$(num restore_pj %.2f) restore_f2b=$(f2b_or_skip restore_f2b %.2f)
restore_pj_rate=$(num restore_pj_rate) restore_f2b_rate=$(f2b_or_skip restore_f2b_rate)
ingest_pexiprp=$(num ingest_pexiprp) commit=$(num commit)
((COMMIT_TEST)) || commit="(skipped)"
rss_idle=$(num rss_idle %.1f) flood_peak=$(num flood_peak %.1f)
per_addr() { # BEFORE PEAK N: bytes per address
	if [[ $1 == - || $2 == - ]]; then echo -; else awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.0f", (b - a) * 1048576 / n }'; fi
}
flood_pj_addr=$(per_addr "$(num flood_before %.3f)" "$(num flood_peak %.3f)" "$FLOOD")
flood_f2b_addr=$(per_addr "$(num flood_f2b_before %.3f)" "$(num flood_f2b_peak %.3f)" "$F2B_FLOOD")

echo
tools="pinjail run"
if ((FAIL2BAN)); then
	tools+=" and fail2ban-server $(fail2ban-server -V 2>/dev/null | head -1)"
fi
echo "bench/daemon.sh: $tools; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); logs on $(df --output=fstype "$logs" | tail -1); --reconcile $RECONCILE"
echo
row figure pinjail fail2ban better target ""
row "ban latency p50, ms ($LAT_N bans; fail2ban $F2B_LAT_N)" "$pj_p50" "$f2b_p50" "$(times "$f2b_p50" "$pj_p50")" "<= 5" "$(verdict "$pj_p50" '<=' 5)"
row "ban latency p99, ms" "$pj_p99" "$f2b_p99" "$(times "$f2b_p99" "$pj_p99")" "<= 20" "$(verdict "$pj_p99" '<=' 20)"
row "ban latency max, ms" "$(num lat_pj_max %.2f)" "$(f2b_or_skip lat_f2b_max %.1f)" "" "" ""
row "ingest, same strict jail, lines/s ($F2B_LINES)" "$same_pj" "$same_f2b" "$(times "$same_pj" "$same_f2b")" "" ""
row "  daemon CPU seconds" "$(num same_pj_cpu %.2f)" "$(f2b_or_skip same_f2b_cpu %.2f)" "$(times "$(num same_f2b_cpu %.2f)" "$(num same_pj_cpu %.2f)")" "" ""
row "ingest, pexiprp as shipped, lines/s ($LINES)" "$ingest_pexiprp" "" "" ">= 1000000" "$(verdict "$ingest_pexiprp" '>=' 1000000)"
row "  daemon CPU seconds" "$(num ingest_pexiprp_cpu %.2f)" "" "" "" ""
row "ingest, all 4 Pexip jails, lines/s ($LINES)" "$(num ingest_all)" "" "" "" ""
row "  daemon CPU seconds" "$(num ingest_all_cpu %.2f)" "" "" "" ""
row "bans through the log, bans/s ($BANS; f2b $F2B_BANS)" "$bans_pj" "$bans_f2b" "$(times "$bans_pj" "$bans_f2b")" "" ""
row "bans restored at start, seconds" "$restore_pj" "$restore_f2b" "" "< 2" "$(verdict "$restore_pj" '<=' 2)"
row "  bans restored per second" "$restore_pj_rate" "$restore_f2b_rate" "$(times "$restore_pj_rate" "$restore_f2b_rate")" "" ""
row "one nftables Commit of 100000 bans, bans/s" "$commit" "" "" ">= 200000" "$( [[ $commit == "(skipped)" ]] || verdict "$commit" '>=' 200000)"
row "RSS idle, 4 Pexip jails, MiB" "$rss_idle" "" "" "< 64" "$(verdict "$rss_idle" '<=' 64)"
row "RSS idle, 1 jail, MiB" "$(num rss_1jail %.1f)" "$(f2b_or_skip rss_f2b %.1f)" "$(times "$(num rss_f2b %.1f)" "$(num rss_1jail %.1f)")" "" ""
row "RSS with $BANS bans, MiB" "$(num rss_bans %.1f)" "" "" "" ""
row "flood, lines/s ($FLOOD addresses; f2b $F2B_FLOOD)" "$(num flood_rate)" "$(f2b_or_skip flood_f2b_rate)" "$(times "$(num flood_rate)" "$(f2b_or_skip flood_f2b_rate)")" "" ""
row "  peak RSS, MiB" "$flood_peak" "$(f2b_or_skip flood_f2b_peak %.1f)" "" "bounded" ""
row "  RSS 3 s later, MiB" "$(num flood_settled %.1f)" "" "" "" ""
row "  addresses tracked" "$(num flood_tracked)" "$(f2b_or_skip flood_f2b_tracked)" "" "" ""
row "  seconds to stop (saves every tracked address)" "$(num flood_stop %.1f)" "" "" "" ""
row "  bytes per address at the peak" "$flood_pj_addr" "$flood_f2b_addr" "$(times "$flood_f2b_addr" "$flood_pj_addr")" "" ""
echo
if [[ ${result[flood_complete]:-} == false ]]; then
	echo "The flood was not read within ${FLOOD_TIMEOUT}s: $(num flood_read) of $FLOOD lines; the flood figures are for those."
fi
echo "Daemon logs, configurations and the figures of each step: $state/"
exit "$status"
