#!/usr/bin/env bash
# deploy/demo.sh — the main job for a newcomer: the whole incident process on
# real Kafka and Redis. Started by `./deploy/dev.sh run`, which installs,
# builds and brings up the test bed, then calls this with INCIDENTD_BROKERS,
# INCIDENTD_REDIS and INCIDENTD_BIN set.
#
# It starts incidentd (all stages with people's commands, metrics on
# 127.0.0.1:9464, a short ack timeout and short follow-up windows), plays a
# monitoring system sending three alerts — a global incident, a local one and
# a disturbance — shows them move through the stages, lets the global one
# re-escalate, acknowledges and resolves them. Then the life after the
# resolution: the global alert fires again inside its confirmation window and
# the same incident reopens; resolved again, its window passes quietly
# (`confirmed`) and the completion gate blocks it, listing what is missing;
# the people add a preventive task, submit the review, sign off and finish
# the task, and the last of these closes it. It prints each ORMIS timeline
# and the chain verification. Bounded: about a minute.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${INCIDENTD_BIN:-$HERE/../build/bin}
: "${INCIDENTD_BROKERS:?set INCIDENTD_BROKERS (host:port), or run ./deploy/dev.sh run}"
: "${INCIDENTD_REDIS:?set INCIDENTD_REDIS (redis://host:port/0), or run ./deploy/dev.sh run}"
export INCIDENTD_BROKERS INCIDENTD_REDIS
PREFIX=${INCIDENTD_TOPIC_PREFIX:-demo$(date +%s).}
export INCIDENTD_TOPIC_PREFIX=$PREFIX
HTTP=${DEMO_HTTP:-127.0.0.1:9464}
LOG=${DEMO_LOG:-$(mktemp -t incidentd-demo.XXXXXX.log)}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() { "$BIN/incidentctl" "$@"; }

# person ACTOR incidentctl-command...: a person's command (incident.v1.Command
# on incidents.commands), as `incidentctl` gives it for them.
person() {
    local actor=$1
    shift
    ctl "$@" --actor "$actor" >/dev/null
    echo "  $actor: incidentctl $*"
}

# wait_action INCIDENT ACTION [COUNT]: waits (at most 30 s) until the ORMIS
# timeline of INCIDENT holds COUNT (1) records with ACTION.
wait_action() {
    local n=${3:-1}
    for _ in $(seq 1 60); do
        if ctl show "$1" --json 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin).get("timeline", [])
sys.exit(0 if sum(r["action"] == sys.argv[1] for r in t) >= int(sys.argv[2]) else 1)' "$2" "$n"; then
            return 0
        fi
        sleep 0.5
    done
    echo "no '$2' record for $1 within 30 s (log $LOG)" >&2
    return 1
}

# timeline INCIDENT [FROM]: the incident's records from the FROM-th on, one a line.
timeline() {
    ctl show "$1" --json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["timeline"][int(sys.argv[1]) - 1:]:
    print("  %3d  %-20s %-22s %s" % (r["seq"], r["action"], r["actor"], r["detail"]))' "${2:-1}"
}

say "starting incidentd (all stages; metrics on http://$HTTP/metrics; log $LOG)"
"$BIN/incidentd" --stages all --http "$HTTP" \
    --set topics.partitions=3 \
    --set escalation.ack_timeout=5s \
    --set followup.window.global=8s \
    --set followup.window.local=3s \
    --set comms.update_interval.global=1m \
    --set review.due=1h \
    --set timer.poll=500ms \
    --set handling.global_stakeholders=cto,head-of-support \
    --set roster.technical_manager.default=tina \
    --set roster.customer_service_manager.default=carl \
    --set "guideline.default=follow the service runbook" \
    >"$LOG" 2>&1 &
PID=$!
cleanup() {
    if kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID"
        wait "$PID" || true
    fi
}
trap cleanup EXIT

for _ in $(seq 1 120); do
    if curl -fsS "http://$HTTP/readyz" >/dev/null 2>&1; then break; fi
    kill -0 "$PID" 2>/dev/null || {
        tail -n 20 "$LOG" >&2
        exit 1
    }
    sleep 0.5
done
curl -fsS "http://$HTTP/readyz" >/dev/null || {
    echo "incidentd did not become ready (log $LOG)" >&2
    exit 1
}

say "a monitoring system sends three alerts"
ctl publish trigger --dedup-key payments-down --severity critical --service payments \
    --summary "payments API failing in two regions" --site paris --site frankfurt --client acme
ctl publish trigger --dedup-key shop-lyon-slow --severity major --service shop \
    --summary "shop slow in Lyon" --site lyon
ctl publish trigger --dedup-key disk-warn --severity warning --service backup \
    --summary "backup disk at 80%"

sleep 4
say "live incidents (incidentctl list)"
ctl list

say "nobody acknowledges the global incident: it re-escalates after the 5 s ack timeout"
sleep 7
ctl list

id_of() { ctl list --json | python3 -c 'import json,sys; k=sys.argv[1]; print(next(i["id"] for i in json.load(sys.stdin) if i["dedup_key"]==k))' "$1"; }
GLOBAL=$(id_of payments-down)

say "the Technical Manager acknowledges, then everything is resolved"
ctl publish ack --dedup-key payments-down --actor tina
ctl publish resolve --dedup-key payments-down --actor tina
ctl publish resolve --dedup-key shop-lyon-slow --actor carl
ctl publish resolve --dedup-key disk-warn --actor ops
wait_action "$GLOBAL" resolved
echo "  the disturbance closes at once; the local incident after its 3 s window;"
echo "  the global one is RESOLVED, inside its 8 s confirmation window:"
ctl list

say "the payments alert fires again inside the window: the SAME incident reopens"
ctl publish trigger --dedup-key payments-down --severity critical --service payments \
    --summary "payments API failing again" --site paris --site frankfurt --client acme
wait_action "$GLOBAL" reopened
ctl list
person carl client-update "$GLOBAL" "payments are failing again; we are on it, next update within the minute"

say "tina resolves it again (a command); this time the window passes quietly"
person tina resolve "$GLOBAL" --text "rolled back the payments gateway"
wait_action "$GLOBAL" completion_blocked
echo "  confirmed, final updates planned, and the completion gate lists what is missing:"
timeline "$GLOBAL" "$(ctl show "$GLOBAL" --json | python3 -c '
import json, sys
t = json.load(sys.stdin)["timeline"]
print(max(r["seq"] for r in t if r["action"] == "resolved"))')"

say "the people complete it: a preventive task, the review, the sign-offs, the task done"
person tina task add "$GLOBAL" "canary every gateway deploy" --id T-1 --assignee tina --preventive
person tina review "$GLOBAL" --root-cause "a gateway deploy without canary" \
    --text "caught late: no canary; the rollback took 20 minutes"
person cto signoff "$GLOBAL"
person head-of-support signoff "$GLOBAL"
person tina task "done" "$GLOBAL" T-1
wait_action "$GLOBAL" closed
echo "  the last piece (the task done) closed it"

say "the ORMIS timeline of the global incident (incidentctl show $GLOBAL)"
ctl show "$GLOBAL"

say "every audit chain verifies (incidentctl verify)"
ctl verify

say "a few metrics"
curl -fsS "http://$HTTP/metrics" | grep -E '^incidentd_(transitions|audit_records|escalations)_total' || true

say "done: incidentd stops on SIGTERM (finishes its batch, commits, leaves its groups)"
