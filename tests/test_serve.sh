#!/usr/bin/env bash
# Loopback end-to-end test of `faultline serve`, `faultline admin` and the
# example programs (client/examples/publisher.c, subscriber.c), exactly as
# the README's "Running the reference client for real" tells a user to do:
#
#   - start `faultline serve` on 127.0.0.1 (port 0: it picks one and writes
#     it to a ready file with the admin port and token);
#   - start the bookmark subscriber and the reliable publisher (10,000
#     messages at 1000/s);
#   - mid-stream: cut both sessions with `faultline admin cut`, kill -9 the
#     publisher and restart it, kill -9 the subscriber and restart it, crash
#     the broker (it restarts from its journal files), stall the
#     subscriber's connection;
#   - send both programs SIGPIPE (what a write to a connection the broker
#     reset raises): they must ignore it, as every libevent program must;
#   - wait for both programs to finish, then check the subscriber's output:
#     every message 1..10,000 exactly once (none lost, none duplicated to
#     the application), and the broker journal holds exactly 10,000.
#
# Every wait has a timeout and fails at once, with the exit status or the
# signal, if the publisher or the subscriber died; every process started
# here is killed on exit. The programs start with SIGPIPE at its default
# action (env --default-signal, where env has it), as from a user's shell.
# usage: tests/test_serve.sh [BUILD_DIR]   (default build/debug)
# SERVE_TEST_MESSAGES overrides the message count; KEEP=1 keeps the temp dir.
set -u

B=${1:-build/debug}
case "$B" in /*) ;; *) B="$PWD/$B" ;; esac
F="$B/faultline"
PUB="$B/examples/publisher"
SUB="$B/examples/subscriber"
N=${SERVE_TEST_MESSAGES:-10000}
RATE=1000

for x in "$F" "$PUB" "$SUB"; do
    if [ ! -x "$x" ]; then
        echo "SKIP: test_serve: $x is not built"
        exit 77
    fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/fl-test-serve.XXXXXX")
SERVE_PID=""
PUB_PID=""
SUB_PID=""
port=""
admin_port=""
token=""
# Exit statuses of the programs reaped so far, by pid: `wait` reports a
# child's status once only.
declare -A EXIT_RC=()
# The programs start with SIGPIPE at its default action, whatever this
# script inherited (coreutils env >= 8.31; without it, as inherited).
DEFSIG=()
if env --default-signal=PIPE true 2>/dev/null; then
    DEFSIG=(env --default-signal=PIPE)
fi

cleanup() {
    for p in $PUB_PID $SUB_PID; do
        kill -9 "$p" 2>/dev/null
    done
    if [ -n "$SERVE_PID" ]; then
        kill -TERM "$SERVE_PID" 2>/dev/null
        sleep 0.2
        kill -9 "$SERVE_PID" 2>/dev/null
    fi
    wait 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then
        echo "test_serve: kept $T"
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# reap PID: wait for the exited child PID once; its status in REAPED.
reap() {
    if [ -z "${EXIT_RC[$1]+x}" ]; then
        wait "$1" 2>/dev/null
        EXIT_RC[$1]=$?
    fi
    REAPED=${EXIT_RC[$1]}
}

# describe_rc STATUS: "1", or "137 (killed by SIGKILL)".
describe_rc() {
    if [ "$1" -gt 128 ] && [ "$1" -lt 160 ]; then
        echo "$1 (killed by SIG$(kill -l $(($1 - 128))))"
    else
        echo "$1"
    fi
}

# died PID WHAT: fail if the program PID has exited with a nonzero status
# (exit 0 is finishing the job, fine).
died() {
    [ -n "$1" ] || return 0
    kill -0 "$1" 2>/dev/null && return 0
    reap "$1"
    [ "$REAPED" -eq 0 ] && return 0
    fail "the $2 (pid $1) died: exit status $(describe_rc "$REAPED")"
}

fail() {
    echo "FAIL: test_serve: $*"
    for f in serve.log pub.log sub.log; do
        echo "--- last lines of $f"
        tail -n 15 "$T/$f" 2>/dev/null
    done
    exit 1
}

step() {
    echo "test_serve: $*"
}

# wait_for SECONDS WHAT COMMAND...: poll every 50 ms.
wait_for() {
    local limit=$(($1 * 20)) what=$2 i=0
    shift 2
    until "$@"; do
        died "$PUB_PID" publisher
        died "$SUB_PID" subscriber
        i=$((i + 1))
        [ $i -ge $limit ] && fail "timed out after ${limit}x50ms waiting for: $what"
        sleep 0.05
    done
}

received() {
    if [ -f "$T/received.txt" ]; then
        wc -l <"$T/received.txt"
    else
        echo 0
    fi
}

at_least() {
    [ "$(received)" -ge "$1" ]
}

# wait_exit SECONDS PID: wait for a child to exit, return its status.
wait_exit() {
    local limit=$(($1 * 20)) pid=$2 i=0
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        [ $i -ge $limit ] && return 124
        sleep 0.05
    done
    reap "$pid"
    return "$REAPED"
}

start_serve() {
    rm -f "$T/ready"
    "$F" serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --data-dir "$T/broker" \
        --ready-file "$T/ready" >>"$T/serve.log" 2>&1 &
    SERVE_PID=$!
    wait_for 10 "serve ready file" test -s "$T/ready"
    # shellcheck disable=SC1091
    . "$T/ready"
}

admin() {
    "$F" admin --port "$admin_port" --token "$token" --timeout 5s "$@" >>"$T/admin.log" 2>&1 ||
        fail "admin $* failed: $(tail -n 1 "$T/admin.log")"
}

sub_logged_on() {
    "$F" admin --port "$admin_port" --token "$token" status 2>&1 | grep -q "clients=[^ ]*sub-1"
}

start_pub() {
    (cd "$T" && exec ${DEFSIG[@]+"${DEFSIG[@]}"} "$PUB" --server "127.0.0.1:$port" --count "$N" --rate "$RATE" \
        --dir pub-1.data) >>"$T/pub.log" 2>&1 &
    PUB_PID=$!
}

start_sub() {
    (cd "$T" && exec ${DEFSIG[@]+"${DEFSIG[@]}"} "$SUB" --server "127.0.0.1:$port" --expect "$N" --out received.txt \
        --dir sub-1.data) >>"$T/sub.log" 2>&1 &
    SUB_PID=$!
}

kill9() {
    local pid=$1 what=$2
    if ! kill -0 "$pid" 2>/dev/null; then
        reap "$pid"
        fail "$what already exited ($(describe_rc "$REAPED")) before its kill -9 (not mid-stream)"
    fi
    kill -9 "$pid"
    reap "$pid"
}

# logged_on LOG: the program writing LOG reported a logon.
logged_on() {
    grep -q ": logged_on" "$T/$1"
}

step "serving on loopback ($T)"
start_serve
step "broker on port $port, admin on port $admin_port"

step "a malformed frame closes that connection, logged; the server goes on"
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to the broker port"
printf '\000\000\000\010\373\001\143\000junk' >&3
exec 3>&-
wait_for 10 "bad_frame in serve.log" grep -q "bad_frame" "$T/serve.log"

start_sub
start_pub
wait_for 20 "the subscriber's logon" logged_on sub.log
wait_for 20 "the publisher's logon" logged_on pub.log

# A write to a connection the broker has reset (a cut while the publisher
# writes, a broker crash) raises SIGPIPE, whose default action kills a
# process without a word: the programs must ignore it. Sent here so that
# losing that race is not needed to catch them not doing so; a dead program
# fails the next wait at once.
step "SIGPIPE to both programs (they must ignore it)"
kill -PIPE "$PUB_PID" "$SUB_PID"

wait_for 60 "1500 messages received" at_least 1500
step "$(received) received: cut both sessions"
admin cut pub-1
admin cut sub-1

wait_for 60 "3000 messages received" at_least 3000
step "$(received) received: kill -9 the publisher, restart it"
kill9 "$PUB_PID" publisher
start_pub

wait_for 60 "4500 messages received" at_least 4500
step "$(received) received: kill -9 the subscriber, restart it"
kill9 "$SUB_PID" subscriber
start_sub

wait_for 60 "6000 messages received" at_least 6000
step "$(received) received: crash the broker (restart after 300ms from its journal)"
admin crash 300ms

wait_for 60 "7500 messages received" at_least 7500
step "$(received) received: stall the subscriber's connection for 3s"
wait_for 20 "sub-1 logged on again" sub_logged_on
admin stall sub-1 3s

step "waiting for both programs to finish"
wait_exit 120 "$PUB_PID"
rc=$?
[ $rc -eq 0 ] || fail "publisher exited with $rc"
wait_exit 120 "$SUB_PID"
rc=$?
[ $rc -eq 0 ] || fail "subscriber exited with $rc"
PUB_PID=""
SUB_PID=""

step "checking the subscriber's output"
awk -v n="$N" '
    {
        seq = $1 + 0
        want = "#" seq
        if ($NF != want) { printf "line %d: payload %s does not match sequence %d\n", NR, $NF, seq; bad = 1 }
        if (seq < 1 || seq > n) { printf "line %d: sequence %d out of 1..%d\n", NR, seq, n; bad = 1 }
        if (seen[seq]++) { printf "duplicate to the application: %d\n", seq; bad = 1 }
        lines++
    }
    END {
        for (i = 1; i <= n; i++) if (!(i in seen)) { printf "lost: %d\n", i; bad = 1; if (++lost > 10) break }
        if (lines != n) { printf "%d lines, expected %d\n", lines, n; bad = 1 }
        exit bad
    }' "$T/received.txt" >"$T/check.txt" || fail "output check: $(head -n 5 "$T/check.txt")"

status=$("$F" admin --port "$admin_port" --token "$token" status 2>&1)
case "$status" in
*"journal_messages=$N "*) ;;
*) fail "broker journal does not hold exactly $N messages: $status" ;;
esac
grep -q "redelivered after a restart" "$T/sub.log" || fail "subscriber summary missing"

step "clean shutdown (SIGTERM), then the journal survives a restart"
kill -TERM "$SERVE_PID"
wait_exit 10 "$SERVE_PID"
rc=$?
[ $rc -eq 0 ] || fail "serve exited with $rc after SIGTERM"
grep -q "faultline serve: stopped" "$T/serve.log" || fail "no orderly stop in serve.log"
SERVE_PID=""
start_serve
status=$("$F" admin --port "$admin_port" --token "$token" status 2>&1)
case "$status" in
*"journal_messages=$N "*) ;;
*) fail "after restart the journal does not hold $N messages: $status" ;;
esac

step "credentials from a config file: a wrong password is refused, the right one works"
kill -TERM "$SERVE_PID"
wait_exit 10 "$SERVE_PID" >/dev/null
cat >"$T/serve.json" <<'JSON'
{"brokers": {"creds": {"topics": {"orders": {"journal": true}},
                       "credentials": {"pub-2": "right"}, "ack_interval": "50ms"}}}
JSON
rm -f "$T/ready"
"$F" serve --listen 127.0.0.1:0 --config "$T/serve.json" --data-dir "$T/broker2" \
    --ready-file "$T/ready" >>"$T/serve2.log" 2>&1 &
SERVE_PID=$!
wait_for 10 "serve ready file (config)" test -s "$T/ready"
# shellcheck disable=SC1091
. "$T/ready"
(cd "$T" && exec "$PUB" --server "127.0.0.1:$port" --name pub-2 --password wrong --count 100 \
    --rate 0) >>"$T/pub2.log" 2>&1 &
PUB_PID=$!
wait_for 20 "logon_refused for the wrong password" grep -q "logon_refused client=pub-2" "$T/serve2.log"
kill9 "$PUB_PID" "publisher with the wrong password"
(cd "$T" && exec "$PUB" --server "127.0.0.1:$port" --name pub-2 --password right --count 100 \
    --rate 0 --dir pub-2.ok) >>"$T/pub2.log" 2>&1 &
PUB_PID=$!
wait_exit 30 "$PUB_PID"
rc=$?
PUB_PID=""
[ $rc -eq 0 ] || fail "publisher with the right password exited with $rc"

echo "ok: test_serve: $N messages over loopback with a cut, kill -9 of the publisher and of the" \
    "subscriber, a broker crash and a stall: none lost, none duplicated" \
    "($(grep -h "redelivered after a restart" "$T/sub.log" | tail -n 1))"
