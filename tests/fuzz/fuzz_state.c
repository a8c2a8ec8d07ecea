/*
 * fuzz_state.c — libFuzzer target of what the daemon reads back from Redis:
 * any bytes are decoded as incidentd.v1.StoredIncident (the "state" field of
 * inc:{<id>}, decoded by worker.c and store_admin.c). A state without its
 * incident counts as none, as in the runtime; any other is copied
 * (hd_state_copy), packed again and taken as the current state of every
 * handler: detected with a TRIGGER, ACKNOWLEDGE and RESOLVE alert,
 * classified, scoped, escalated and resolved with the event announcing the
 * state, and a timer of every kind at the state's level or sequence (and a
 * stale one). Every transition must keep the
 * contract of hd_transition_t and pack. Seeds: corpus/fuzz_state/
 * (gen_corpus.c).
 *
 * The state is decoded with malloc, not an arena as the runtime does, so
 * that ASan sees the exact size of every decoded string and array.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_hd.h"
#include "handlers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    const char *actor;
    fuzz_stage_apply_fn apply;
} state_stages[] = {
    {"incidentd/classified", hd_classified_apply},
    {"incidentd/scoped", hd_scoped_apply},
    {"incidentd/escalated", hd_escalated_apply},
    {"incidentd/resolved", hd_resolved_apply},
};

static const Incident__V1__Action state_actions[] = {
    INCIDENT__V1__ACTION__ACTION_TRIGGER,
    INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE,
    INCIDENT__V1__ACTION__ACTION_RESOLVE,
};

/* The version an alert's records count from: an incident that is no longer
 * open counts as none, unless a trigger reopens it inside its confirmation
 * window. */
static uint64_t state_alert_base(const hd_rules_t *r, const hd_state_t *st,
                                 Incident__V1__Action action)
{
    Incident__V1__Status s = st->incident->status;
    if (s == INCIDENT__V1__STATUS__STATUS_OPEN || s == INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED)
        return st->incident->version;
    if (action == INCIDENT__V1__ACTION__ACTION_TRIGGER && hd_in_window(r, st, FUZZ_NOW_MS))
        return st->incident->version;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_state_t *st = incidentd__v1__stored_incident__unpack(NULL, size, data);
    if (!st)
        return 0;
    if (!st->incident) {
        incidentd__v1__stored_incident__free_unpacked(st, NULL);
        return 0;
    }

    hd_rules_t rules;
    fuzz_rules_init(&rules);
    arena_t arena;
    arena_init(&arena, 0);
    hd_ctx_t ctx;
    hd_transition_t tr;

    hd_state_t *copy = hd_state_copy(&arena, st);
    FUZZ_CHECK(copy != NULL && copy->incident != NULL, "hd_state_copy lost the incident");
    fuzz_pack_roundtrip(&copy->base);

    /* The detected stage: alerts of the state's dedup_key. */
    static char *sites[] = {"site-b", "site-c"};
    static char *clients[] = {"client-9"};
    for (size_t i = 0; i < sizeof(state_actions) / sizeof(state_actions[0]); i++) {
        hd_alert_t alert = INCIDENT__V1__ALERT__INIT;
        alert.alert_id = "fuzz-alert";
        alert.dedup_key = st->incident->dedup_key[0] ? st->incident->dedup_key : "fuzz";
        alert.action = state_actions[i];
        alert.severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
        alert.service = "payments";
        alert.actor = i == 1 ? "alice" : "";
        alert.sites = sites;
        alert.n_sites = 2;
        alert.clients = clients;
        alert.n_clients = 1;
        /* A stored dedup key that is no valid alert field (not UTF-8, too
         * long: never written by incidentd) is replaced. */
        if (hd_alert_validate(&alert, NULL, 0) != 0)
            alert.dedup_key = "fuzz";
        FUZZ_CHECK(hd_alert_validate(&alert, NULL, 0) == 0, "the fixed alert is invalid");
        fuzz_ctx_init(&ctx, &rules, &arena, "incidentd/detected", alert.alert_id);
        hd_detected_apply(&ctx, st, &alert, "INC-fuzz-1", &tr);
        fuzz_transition_check(&tr, state_alert_base(&rules, st, alert.action));
    }

    /* The later stages: the event announcing this state. */
    hd_event_t ev = INCIDENT__V1__INCIDENT_EVENT__INIT;
    hd_incident_t snapshot = *st->incident;
    if (!snapshot.id[0])
        snapshot.id = "INC-fuzz-1";
    ev.event_id = "INC-fuzz-1:1";
    ev.incident = &snapshot;
    ev.at_ms = FUZZ_NOW_MS - 1000;
    /* A stored state whose strings are not valid UTF-8 (never written by
     * incidentd) makes an event every stage must reject, not a valid one. */
    char why[256];
    int valid = hd_event_validate(&ev, why, sizeof(why)) == 0;
    for (size_t i = 0; i < sizeof(state_stages) / sizeof(state_stages[0]); i++) {
        fuzz_ctx_init(&ctx, &rules, &arena, state_stages[i].actor, ev.event_id);
        state_stages[i].apply(&ctx, st, &ev, &tr);
        FUZZ_CHECK(!valid || tr.verdict != HD_REJECT, "a valid event was rejected: %s", tr.error);
        FUZZ_CHECK(valid || tr.verdict == HD_REJECT, "an invalid event was taken (%s)", why);
        if (!valid)
            continue;
        fuzz_transition_check(&tr, st->incident->version);
    }

    /* Each kind of timer armed at the state's level or sequence (and a
     * stale one). */
    const uint32_t levels[HD_TIMER_KINDS] = {st->incident->escalation_level,
                                             st->incident->reopen_count, st->client_update_seq,
                                             st->review_seq, 0};
    for (int kind = 0; kind < HD_TIMER_KINDS; kind++) {
        for (uint32_t d = 0; d < 2; d++) {
            hd_timer_t timer = INCIDENTD__V1__TIMER_FIRED__INIT;
            timer.incident_id = snapshot.id;
            timer.kind = (Incidentd__V1__TimerKind)kind;
            timer.level = levels[kind] + d;
            timer.due_ms = FUZZ_NOW_MS;
            fuzz_ctx_init(&ctx, &rules, &arena, "incidentd/escalated", "timer:fuzz");
            hd_timer_apply(&ctx, st, &timer, &tr);
            FUZZ_CHECK(tr.verdict != HD_REJECT, "a timer was rejected: %s", tr.error);
            fuzz_transition_check(&tr, st->incident->version);
        }
    }

    arena_destroy(&arena);
    incidentd__v1__stored_incident__free_unpacked(st, NULL);
    return 0;
}
