#!/usr/bin/env bash
# jmeter/run.sh PLAN [JMETER-ARGS...]
#
# Runs one JMeter plan headless with Debian's JMeter 2.13 and reports on it:
#   jmeter/run.sh jmeter/claim-storm.jmx -Jhost=localhost -Jport=8443 -Jthreads=50
#
# - installs nothing: checks that jmeter (with its HTTP module) and javac are
#   there, else says to run `scripts/deps.sh jmeter`;
# - compiles the XStream fix (jmeter/xstream-fix/, see README.md) into
#   build/jmeter/xstream-fix/ when missing or stale, and puts it first on the
#   classpath through JAVA_CLASSPATH, which /usr/bin/jmeter honours;
# - for a plan that reads user tokens (claim-storm, mixed, queue-storm: a CSV Data Set of
#   "user_id,token" lines, property `tokens`), mints them with tk-token for
#   the users u-1 .. u-{users} of -Jusers (default 10000), in random order,
#   into a mode-0600 file removed at exit, unless -Jtokens=FILE names a CSV
#   of your own;
# - runs `jmeter -n -t PLAN -l RESULTS.jtl -j LOG` with CSV results, bounded in
#   time by JMETER_TIMEOUT seconds (default 600);
# - exits non-zero when the plan did not load (JMeter 2.13 exits 0 then, so the
#   log is searched), when JMeter failed, when there were no samples, or when
#   any sample failed (an assertion, or a connection/TLS error);
# - prints samples, errors by response code, throughput (samples/s) and
#   p50/p95/p99 latency, computed from the result file with awk and sort.
#
# Environment:
#   JMETER_OUT      directory for results and logs (default var/jmeter/)
#   JMETER_TIMEOUT  seconds before the run is killed (default 600)
#   ADMIN_TOKEN     admin token for admin-setup.jmx when no -Jtoken= is given;
#                   passed through a mode-0600 properties file (-q) so it is
#                   seen neither in `ps` nor in the JMeter log
#   JAVA_ARGS       JVM options (default -Xms128m -Xmx512m)
#   USER_TOKEN_SECRET_FILE  the gateway's user token secret, for tk-token
#                   (default $VAR_DIR/secrets/user_token_secret, VAR_DIR
#                   default ROOT/var: the one `make run` generates); with
#                   USER_TOKEN_ISSUER / USER_TOKEN_AUDIENCE when the gateway
#                   checks them (tk-token reads both)
#   TK_TOKEN        the tk-token binary (default build/release/bin/tk-token,
#                   else build/san/bin/tk-token, else tk-token on PATH)
# Exit status: 0 all samples passed; 1 samples failed or none; 2 usage or
# missing tools; 3 the plan did not load or JMeter failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

usage() { echo "usage: jmeter/run.sh PLAN.jmx [-Jname=value ...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
plan=$1; shift
[ -f "$plan" ] || { echo "run.sh: no such plan: $plan" >&2; exit 2; }
plan=$(cd "$(dirname "$plan")" && pwd)/$(basename "$plan")

# --- tools -----------------------------------------------------------------
missing=
command -v jmeter >/dev/null 2>&1 || missing="$missing jmeter"
command -v javac >/dev/null 2>&1 || missing="$missing javac"
# Debian's jmeter only recommends jmeter-http; without it no HTTP plan loads.
[ -f /usr/share/jmeter/lib/ext/ApacheJMeter_http.jar ] || ! [ -d /usr/share/jmeter ] ||
    missing="$missing jmeter-http"
if [ -n "$missing" ]; then
    echo "run.sh: missing:$missing -- install with: scripts/deps.sh jmeter (as root)" >&2
    exit 2
fi

# --- the XStream fix -----------------------------------------------------------
fix_src=$here/xstream-fix/NoTypePermission.java
fix_dir=$root/build/jmeter/xstream-fix
fix_class=$fix_dir/com/thoughtworks/xstream/security/NoTypePermission.class
xstream_jar=/usr/share/java/xstream.jar
if [ ! -f "$fix_class" ] || [ "$fix_src" -nt "$fix_class" ]; then
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/jmfix.XXXXXX")
    cp_opt=()
    [ -f "$xstream_jar" ] && cp_opt=(-cp "$xstream_jar")
    if ! javac -nowarn "${cp_opt[@]}" -d "$tmp" "$fix_src" >&2; then
        rm -rf "$tmp"; echo "run.sh: javac failed on $fix_src" >&2; exit 3
    fi
    mkdir -p "$(dirname "$fix_dir")"
    rm -rf "$fix_dir.old"; [ -d "$fix_dir" ] && mv "$fix_dir" "$fix_dir.old"
    mv "$tmp" "$fix_dir"; rm -rf "$fix_dir.old"
fi
export JAVA_CLASSPATH="$fix_dir${JAVA_CLASSPATH:+:$JAVA_CLASSPATH}"
export JAVA_ARGS="${JAVA_ARGS:--Xms128m -Xmx512m}"

# --- output ----------------------------------------------------------------
out=${JMETER_OUT:-$root/var/jmeter}
mkdir -p "$out"
name=$(basename "$plan" .jmx)-$(date +%Y%m%d-%H%M%S)-$$
jtl=$out/$name.jtl
log=$out/$name.log
stdout=$out/$name.out

# The admin token (-Jtoken=... or env ADMIN_TOKEN) goes to JMeter through a
# mode-0600 properties file (-q), never on its command line: JMeter 2.13 logs
# every -J property it is given, and the command line shows in `ps`.
args=() token=
have_token=no
for a in "$@"; do
    case "$a" in
        -Jtoken=*) token=${a#-Jtoken=}; have_token=yes ;;
        *) args+=("$a") ;;
    esac
done
if [ "$have_token" = no ] && [ -n "${ADMIN_TOKEN:-}" ]; then
    token=$ADMIN_TOKEN; have_token=yes
fi
extra=()
scratch=()
trap 'rm -f ${scratch[@]+"${scratch[@]}"}' EXIT
if [ "$have_token" = yes ]; then
    tokfile=$out/.$name.token.properties
    scratch+=("$tokfile")
    (umask 077; printf 'token=%s\n' "$token" > "$tokfile")
    extra+=(-q "$tokfile")
elif grep -q '__P(token,' "$plan"; then
    echo "run.sh: warning: this plan uses the admin token; give -Jtoken=... or env ADMIN_TOKEN" >&2
fi

# --- user tokens ---------------------------------------------------------------
# The gateway takes a claim only with a signed user token (USER_AUTH=required).
# A plan that reads them gets N lines "u-<i>,<token>" (i = 1..N, N = -Jusers,
# the plan's own default 10000) from tk-token, shuffled so that users come in
# random order as they did when the plans drew random ids, valid for longer
# than the run may last. The CSV holds secrets: mode 0600, removed at exit.
users=10000 tokens_given=no
for a in "$@"; do
    case "$a" in
        -Jusers=*) users=${a#-Jusers=} ;;
        -Jtokens=*) tokens_given=yes ;;
    esac
done
if grep -q '__P(tokens' "$plan" && [ "$tokens_given" = no ]; then
    if ! [[ "$users" =~ ^[1-9][0-9]{0,7}$ ]] || [ "$users" -gt 10000000 ]; then
        echo "run.sh: -Jusers=$users: expected 1..10000000" >&2; exit 2
    fi
    tk_token=${TK_TOKEN:-}
    if [ -z "$tk_token" ]; then
        for c in "$root/build/release/bin/tk-token" "$root/build/san/bin/tk-token" "$(command -v tk-token || true)"; do
            [ -n "$c" ] && [ -x "$c" ] && { tk_token=$c; break; }
        done
    fi
    [ -n "$tk_token" ] && [ -x "$tk_token" ] ||
        { echo "run.sh: tk-token not found: build it (make build) or set TK_TOKEN" >&2; exit 2; }
    secret=${USER_TOKEN_SECRET_FILE:-${VAR_DIR:-$root/var}/secrets/user_token_secret}
    [ -r "$secret" ] || {
        echo "run.sh: cannot read the user token secret $secret: set USER_TOKEN_SECRET_FILE to the gateway's (make run writes var/secrets/user_token_secret)" >&2
        exit 2
    }
    ttl=$(( ${JMETER_TIMEOUT:-600} + 600 ))
    [ "$ttl" -ge 3600 ] || ttl=3600
    [ "$ttl" -le 604800 ] || ttl=604800
    csv=$out/.$name.tokens.csv
    scratch+=("$csv")
    if ! (umask 077; "$tk_token" --secret-file "$secret" --csv "$users" --prefix u- --ttl "$ttl" | shuf > "$csv") ||
       [ "$(wc -l < "$csv")" -ne "$users" ]; then
        echo "run.sh: tk-token could not mint $users user tokens with $secret" >&2
        exit 2
    fi
    echo "run.sh: $users user tokens (u-1 .. u-$users, valid ${ttl} s) from $secret"
    args+=("-Jtokens=$csv")
fi

# CSV results with just the fields the report needs, tab-separated (a
# response code of a failed connection is free text).
save=(
    -Jjmeter.save.saveservice.output_format=csv
    -Jjmeter.save.saveservice.print_field_names=true
    "-Jjmeter.save.saveservice.default_delimiter=\\t"
    -Jjmeter.save.saveservice.timestamp_format=ms
    -Jjmeter.save.saveservice.time=true
    -Jjmeter.save.saveservice.label=true
    -Jjmeter.save.saveservice.response_code=true
    -Jjmeter.save.saveservice.successful=true
    -Jjmeter.save.saveservice.latency=true
    -Jjmeter.save.saveservice.bytes=true
    -Jjmeter.save.saveservice.thread_counts=true
    -Jjmeter.save.saveservice.response_message=false
    -Jjmeter.save.saveservice.thread_name=false
    -Jjmeter.save.saveservice.data_type=false
    -Jjmeter.save.saveservice.assertion_results_failure_message=false
    -Jjmeter.save.saveservice.subresults=false
    -Jsummariser.interval=10
)

echo "run.sh: $(basename "$plan") -> $jtl"
set +e
timeout --kill-after=10 "${JMETER_TIMEOUT:-600}" \
    jmeter -n -t "$plan" -l "$jtl" -j "$log" "${save[@]}" ${extra[@]+"${extra[@]}"} ${args[@]+"${args[@]}"} 2>&1 | tee "$stdout"
rc=${PIPESTATUS[0]}
set -e

# --- did it load and run? --------------------------------------------------------
if grep -qE 'ForbiddenClassException|CannotResolveClassException|ConversionException|Error in NonGUIDriver|Problem loading XML|Failed to load' "$log" "$stdout" 2>/dev/null ||
   ! grep -q 'Created the tree successfully' "$stdout"; then
    echo "run.sh: FAIL: the plan did not load (JMeter exits 0 regardless); from $log:" >&2
    grep -m5 -E 'ERROR|Exception' "$log" "$stdout" >&2 || true
    exit 3
fi
if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "run.sh: FAIL: killed after ${JMETER_TIMEOUT:-600} s (JMETER_TIMEOUT)" >&2
    echo "run.sh: FAIL: jmeter exited $rc; log: $log" >&2
    exit 3
fi
if [ ! -s "$jtl" ]; then
    echo "run.sh: FAIL: no result file or an empty one: $jtl" >&2
    exit 1
fi

# --- report ------------------------------------------------------------------
# Columns are found by name in the header line. Latency percentiles are
# nearest-rank over the elapsed time (ms) of every sample.
sorted=$(mktemp "${TMPDIR:-/tmp}/jmsort.XXXXXX")
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
            { print $col["elapsed"] }' "$jtl" | sort -n > "$sorted"
set +e
awk -F'\t' -v sorted="$sorted" -v jtl="$jtl" '
NR == 1 {
    for (i = 1; i <= NF; i++) col[$i] = i
    if (!("elapsed" in col) || !("success" in col) || !("responseCode" in col) || !("timeStamp" in col)) {
        print "run.sh: FAIL: unexpected result columns: " $0 > "/dev/stderr"; bad = 1; exit 3
    }
    next
}
{
    n++
    ts = $col["timeStamp"] + 0; el = $col["elapsed"] + 0
    if (n == 1 || ts < t0) t0 = ts
    if (ts + el > t1) t1 = ts + el
    code = $col["responseCode"]; lab = $col["label"]
    bycode[code]++
    bylabel[lab]++
    if ($col["success"] != "true") { fail++; failcode[code]++; faillabel[lab]++ }
}
END {
    if (bad) exit 3
    if (n == 0) { print "run.sh: FAIL: zero samples in " jtl > "/dev/stderr"; exit 1 }
    k = 0
    while ((getline v < sorted) > 0) lat[++k] = v + 0
    span = (t1 - t0) / 1000.0
    printf "samples:    %d (%d failed, %.2f%%)\n", n, fail, 100.0 * fail / n
    printf "duration:   %.2f s\n", span
    printf "throughput: %.1f samples/s\n", (span > 0 ? n / span : 0)
    printf "latency ms: p50 %d  p95 %d  p99 %d  max %d\n", lat[pct(50, k)], lat[pct(95, k)], lat[pct(99, k)], lat[k]
    print  "by response code (all / failed):"
    for (c in bycode) printf "  %-40s %7d / %d\n", c, bycode[c], failcode[c] + 0
    print  "by request (all / failed):"
    for (l in bylabel) printf "  %-40s %7d / %d\n", l, bylabel[l], faillabel[l] + 0
    if (fail > 0) { printf "run.sh: FAIL: %d of %d samples failed; results: %s\n", fail, n, jtl > "/dev/stderr"; exit 1 }
    printf "run.sh: OK: %d samples, none failed; results: %s\n", n, jtl
}
function pct(p, k,   r) { r = int((p * k + 99) / 100); if (r < 1) r = 1; if (r > k) r = k; return r }
' "$jtl"
status=$?
set -e
rm -f "$sorted"
exit $status
