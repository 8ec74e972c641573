#!/usr/bin/env bash
# Measures `pinjail regex` against `fail2ban-regex` on the same generated
# Pexip reverse-proxy log, with the built-in pexiprp filter and with
# bench/everyline.conf, whose regex runs on every line; then the peak memory
# of `pinjail regex` on N and 4N lines, which should not grow with the log.
# The two tools must report the same counts of lines (tested, ignored,
# matched, missed), and for pexiprp the number of matches rpgen says the log
# holds; the script exits 1 otherwise.
#
# Environment:
#   N=lines      log size (default 1000000; 20000 with QUICK=1)
#   QUICK=1      a small, fast run
#   PINJAIL=path measure this binary instead of building ./cmd/pinjail
#   CI=true      install /usr/bin/time with apt-get if it is missing
#
# Times include each tool's start-up: wall-clock seconds, and CPU seconds
# (user and system, from /usr/bin/time), which a busy machine disturbs less.
# With hyperfine on PATH, runs shorter than 10 s are timed again by
# hyperfine, which reports the means.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

if [[ ${QUICK:-0} == 1 ]]; then
	n=${N:-20000}
else
	n=${N:-1000000}
fi
if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
	echo "regex.sh: N=$n is not a positive number of lines" >&2
	exit 2
fi

out=bench/out
pexip_filter=internal/builtin/conf/filter.d/pexiprp.conf
everyline_filter=bench/everyline.conf
mkdir -p "$out"

rpgen=$out/rpgen
go build -o "$rpgen" ./cmd/rpgen
pinjail=${PINJAIL:-}
if [[ -z $pinjail ]]; then
	pinjail=$out/pinjail
	go build -o "$pinjail" ./cmd/pinjail
fi

if ! [[ -x /usr/bin/time ]] && [[ ${CI:-} == true ]]; then
	apt-get install -y -qq time >/dev/null
fi

have_fail2ban=1
if ! command -v fail2ban-regex >/dev/null; then
	have_fail2ban=0
	echo "regex.sh: fail2ban-regex not found (apt-get install fail2ban); measuring pinjail alone" >&2
fi

# generate LINES FILE writes LINES lines of seed-1 traffic to FILE and sets
# expected to the number of lines the pexiprp filter must match.
generate() {
	local lines=$1 file=$2 report
	report=$("$rpgen" -n "$lines" -seed 1 -o "$file" 2>&1)
	expected=$(sed -n 's/.* lines: \([0-9]*\) PIN failures.*/\1/p' <<<"$report")
	if [[ -z $expected ]]; then
		echo "regex.sh: unexpected rpgen report: $report" >&2
		exit 1
	fi
}

# measure NAME COMMAND... runs COMMAND, keeps its output in $out/NAME.txt,
# and sets secs to its wall-clock seconds, cpu to its CPU seconds (user and
# system; "-" without /usr/bin/time), counts to its "N lines, N ignored, N
# matched, N missed" summary, and lines and matched to two of its figures.
measure() {
	local name=$1 t0 t1 wall user sys
	shift
	if [[ -x /usr/bin/time ]]; then
		if ! /usr/bin/time -f '%e %U %S' -o "$out/$name.time" "$@" >"$out/$name.txt" 2>&1; then
			echo "regex.sh: $* failed; its output is in $out/$name.txt" >&2
			exit 1
		fi
		read -r wall user sys <"$out/$name.time"
		secs=$wall
		cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
	else
		t0=$(date +%s.%N)
		if ! "$@" >"$out/$name.txt" 2>&1; then
			echo "regex.sh: $* failed; its output is in $out/$name.txt" >&2
			exit 1
		fi
		t1=$(date +%s.%N)
		secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
		cpu=-
	fi
	if command -v hyperfine >/dev/null && awk -v s="$secs" 'BEGIN { exit !(s < 10) }'; then
		hyperfine --style none --warmup 1 --min-runs 5 --export-csv "$out/$name.csv" \
			"$(printf '%q ' "$@")" >"$out/$name.hyperfine.txt" 2>&1
		# The CSV's columns: command, mean, stddev, median, user, system, ...
		secs=$(awk -F, 'NR == 2 { printf "%.3f", $2 }' "$out/$name.csv")
		cpu=$(awk -F, 'NR == 2 { printf "%.2f", $5 + $6 }' "$out/$name.csv")
	fi
	counts=$(sed -n 's/^Lines: \([0-9]* lines, [0-9]* ignored, [0-9]* matched, [0-9]* missed\).*/\1/p' "$out/$name.txt")
	if [[ -z $counts ]]; then
		echo "regex.sh: no \"Lines: ...\" summary in $out/$name.txt" >&2
		exit 1
	fi
	read -r lines _ _ _ matched _ <<<"$counts"
}

# ratio A B prints A / B as a speed-up, or "-" when either is unknown.
ratio() {
	if [[ $1 == - || $2 == - ]]; then
		echo -
	else
		awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'
	fi
}

# per_second SECONDS prints $n lines over SECONDS as lines per second.
per_second() {
	awk -v n="$n" -v s="$1" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }'
}

# max_rss LOG prints the peak RSS in KiB of pinjail regex with pexiprp over
# LOG, and keeps its output in $out/rss.txt.
max_rss() {
	if ! /usr/bin/time -v -o "$out/time.txt" "$pinjail" regex "$1" "$pexip_filter" >"$out/rss.txt" 2>&1; then
		echo "regex.sh: pinjail regex $1 failed; its output is in $out/rss.txt" >&2
		exit 1
	fi
	awk -F': ' '/Maximum resident set size/ { print $2 }' "$out/time.txt"
}

status=0

# fail prints a failed check and makes the script exit 1 at the end.
fail() {
	echo "MISMATCH: $*" >&2
	status=1
}

row() {
	printf '%-12s %-16s %10s %9s %12s %10s\n' "$@"
}

# compare LABEL FILTER LOG EXPECTED runs both tools with FILTER over LOG
# and prints their rows and the speed-up, in wall-clock and in CPU time.
# EXPECTED is the match count the log must give.
compare() {
	local label=$1 filter=$2 log=$3 want=$4 pj_secs pj_cpu pj_matched pj_counts
	measure "pinjail-$label" "$pinjail" regex "$log" "$filter"
	pj_secs=$secs pj_cpu=$cpu pj_matched=$matched pj_counts=$counts
	[[ $lines == "$n" ]] || fail "pinjail read $lines lines of $log, want $n"
	[[ $matched == "$want" ]] || fail "pinjail matched $matched lines with $label, want $want"
	if ((have_fail2ban)); then
		measure "fail2ban-$label" fail2ban-regex "$log" "$filter"
		[[ $lines == "$n" ]] || fail "fail2ban-regex read $lines lines of $log, want $n"
		[[ $counts == "$pj_counts" ]] || fail "$label: fail2ban-regex counted $counts, pinjail $pj_counts"
		row "$label" fail2ban-regex "$secs" "$cpu" "$(per_second "$secs")" "$matched"
	fi
	row "$label" pinjail "$pj_secs" "$pj_cpu" "$(per_second "$pj_secs")" "$pj_matched"
	if ((have_fail2ban)); then
		row "$label" speed-up "$(ratio "$secs" "$pj_secs")" "$(ratio "$cpu" "$pj_cpu")" "" ""
	fi
}

log=$out/rp-$n.log
generate "$n" "$log"
pexip_expected=$expected
echo "bench/regex.sh: $n lines ($(du -m "$log" | cut -f1) MB) of generated Pexip RP log, seed 1; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
echo
row filter tool seconds cpu-s lines/s matched
compare pexiprp "$pexip_filter" "$log" "$pexip_expected"
compare every-line "$everyline_filter" "$log" "$n"
echo

# Peak memory of pinjail regex must not grow with the log.
if [[ -x /usr/bin/time ]]; then
	big=$out/rp-$((4 * n)).log
	generate $((4 * n)) "$big"
	small_kb=$(max_rss "$log")
	big_kb=$(max_rss "$big")
	grep -q "^Lines: $((4 * n)) lines, [0-9]* ignored, $expected matched" "$out/rss.txt" ||
		fail "pinjail regex over $big: $(grep '^Lines:' "$out/rss.txt"), want $expected matched"
	rm -f "$big"
	awk -v n="$n" -v a="$small_kb" -v b="$big_kb" 'BEGIN {
		printf "memory: pinjail regex (pexiprp) max RSS %.1f MiB at %d lines, %.1f MiB at %d lines (%.2fx)\n",
			a / 1024, n, b / 1024, 4 * n, b / a
	}'
else
	echo "memory: skipped, /usr/bin/time is missing (apt-get install time, or run with CI=true)"
fi

exit "$status"
