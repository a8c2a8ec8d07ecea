#!/usr/bin/env bash
# deploy/demo.sh — the main job for a newcomer: the whole incident process on
# real Kafka and Redis. Started by `./deploy/dev.sh run`, which installs,
# builds and brings up the test bed, then calls this with INCIDENTD_BROKERS,
# INCIDENTD_REDIS and INCIDENTD_BIN set.
#
# It starts incidentd (all five stages, metrics on 127.0.0.1:9464, a short
# ack timeout), plays a monitoring system sending three alerts — a global
# incident, a local one and a disturbance — shows them move through the
# stages, lets the global one re-escalate, acknowledges and resolves them,
# and prints each ORMIS timeline and the chain verification.
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

say "starting incidentd (all stages; metrics on http://$HTTP/metrics; log $LOG)"
"$BIN/incidentd" --stages all --http "$HTTP" \
    --set topics.partitions=3 \
    --set escalation.ack_timeout=5s \
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
sleep 4

say "the ORMIS timeline of the global incident (incidentctl show $GLOBAL)"
ctl show "$GLOBAL"

say "every audit chain verifies (incidentctl verify)"
ctl verify

say "a few metrics"
curl -fsS "http://$HTTP/metrics" | grep -E '^incidentd_(transitions|audit_records|escalations)_total' || true

say "done: incidentd stops on SIGTERM (finishes its batch, commits, leaves its groups)"
