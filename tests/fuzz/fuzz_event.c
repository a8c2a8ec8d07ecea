/*
 * fuzz_event.c — libFuzzer target of the stage inputs after detection: any
 * bytes are decoded as incident.v1.IncidentEvent (a message of
 * incidents.classified, .scoped, .escalated or .resolved), checked by
 * hd_event_validate() and, when valid, given to the classified, scoped,
 * escalated and resolved handlers with three current states: none, the
 * event's own snapshot (what the runtime usually holds for it), and a small
 * fixed open incident at the handler's stage. Every transition must keep the
 * contract of hd_transition_t and pack. Seeds: corpus/fuzz_event/
 * (gen_corpus.c).
 *
 * The event is decoded with malloc, not an arena as the runtime does, so
 * that ASan sees the exact size of every decoded string and array.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_hd.h"
#include "handlers.h"
#include "pb_strings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct event_stage {
    const char *actor;
    fuzz_stage_apply_fn apply;
    Incident__V1__Stage stage; /* the stage of the fixed state it gets */
    Incident__V1__Scope scope;
    Incident__V1__Status status;
} event_stages[] = {
    {.actor = "incidentd/classified",
     .apply = hd_classified_apply,
     .stage = INCIDENT__V1__STAGE__STAGE_CLASSIFIED,
     .scope = INCIDENT__V1__SCOPE__SCOPE_LOCAL,
     .status = INCIDENT__V1__STATUS__STATUS_OPEN},
    {.actor = "incidentd/scoped",
     .apply = hd_scoped_apply,
     .stage = INCIDENT__V1__STAGE__STAGE_SCOPED,
     .scope = INCIDENT__V1__SCOPE__SCOPE_LOCAL,
     .status = INCIDENT__V1__STATUS__STATUS_OPEN},
    {.actor = "incidentd/escalated",
     .apply = hd_escalated_apply,
     .stage = INCIDENT__V1__STAGE__STAGE_ESCALATED,
     .scope = INCIDENT__V1__SCOPE__SCOPE_GLOBAL,
     .status = INCIDENT__V1__STATUS__STATUS_OPEN},
    {.actor = "incidentd/resolved",
     .apply = hd_resolved_apply,
     .stage = INCIDENT__V1__STAGE__STAGE_RESOLVED,
     .scope = INCIDENT__V1__SCOPE__SCOPE_GLOBAL,
     .status = INCIDENT__V1__STATUS__STATUS_RESOLVED},
};

/* A label entry in the arena. */
static Incidentd__V1__StoredIncident__LabelsEntry **event_label(arena_t *a, const char *key,
                                                                const char *value)
{
    Incidentd__V1__StoredIncident__LabelsEntry init =
        INCIDENTD__V1__STORED_INCIDENT__LABELS_ENTRY__INIT;
    Incidentd__V1__StoredIncident__LabelsEntry **v = arena_alloc(a, sizeof(*v));
    v[0] = arena_alloc(a, sizeof(*v[0]));
    *v[0] = init;
    v[0]->key = arena_strdup(a, key);
    v[0]->value = arena_strdup(a, value);
    return v;
}

/* An incident of the event's id at @p s's stage: MAJOR, two sites, three
 * clients, version 4, with the records of detection and classification. */
static hd_state_t *event_fixed_state(arena_t *a, const hd_event_t *ev, const struct event_stage *s)
{
    static char *sites[] = {"site-a", "site-b"};
    static char *clients[] = {"client-1", "client-2", "client-1"};
    static char *stakeholders[] = {"cto"};
    static char *actions[] = {"detected", "classified", "scoped"};
    static int64_t triggers[] = {FUZZ_NOW_MS - 60000, FUZZ_NOW_MS - 1000};

    hd_state_t *st = arena_alloc(a, sizeof(*st));
    hd_state_t sinit = INCIDENTD__V1__STORED_INCIDENT__INIT;
    *st = sinit;
    hd_incident_t *inc = arena_alloc(a, sizeof(*inc));
    hd_incident_t iinit = INCIDENT__V1__INCIDENT__INIT;
    *inc = iinit;
    inc->id = ev->incident->id;
    inc->dedup_key = "db-down";
    inc->stage = s->stage;
    inc->status = s->status;
    inc->kind = INCIDENT__V1__KIND__KIND_INCIDENT;
    inc->scope = s->scope;
    inc->owner_role = INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER;
    inc->owner = "tm-oncall";
    inc->severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    inc->service = "db";
    inc->summary = "database down";
    inc->sites = sites;
    inc->n_sites = 2;
    inc->clients = clients;
    inc->n_clients = 3;
    inc->stakeholders = stakeholders;
    inc->n_stakeholders = 1;
    /* the event's level, so that the escalated stage does not take the
     * event for a stale one */
    inc->escalation_level = ev->incident->escalation_level;
    inc->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    inc->alert_count = 2;
    inc->version = 4;
    inc->detected_at_ms = FUZZ_NOW_MS - 60000;
    st->incident = inc;
    st->trigger_times_ms = triggers;
    st->n_trigger_times_ms = 2;
    st->labels = event_label(a, "team", "dba");
    st->n_labels = 1;
    st->recorded_actions = actions;
    st->n_recorded_actions = 3;
    st->guideline = "";
    st->last_hash = "";
    return st;
}

/* The state the runtime usually holds for @p ev: its own snapshot. */
static hd_state_t *event_own_state(arena_t *a, const hd_event_t *ev)
{
    static char *actions[] = {"detected", "classified"};
    hd_state_t *st = arena_alloc(a, sizeof(*st));
    hd_state_t sinit = INCIDENTD__V1__STORED_INCIDENT__INIT;
    *st = sinit;
    st->incident = ev->incident;
    st->recorded_actions = actions;
    st->n_recorded_actions = 2;
    /* Label scope=global only for snapshots without sites, so that both
     * ways to GLOBAL and LOCAL itself stay reachable. */
    if (ev->incident->n_sites == 0) {
        st->labels = event_label(a, "scope", "global");
        st->n_labels = 1;
    }
    return st;
}

static const hd_state_t *event_apply(const struct event_stage *s, const hd_ctx_t *ctx,
                                     const hd_state_t *cur, const hd_event_t *ev)
{
    hd_transition_t tr;
    s->apply(ctx, cur, ev, &tr);
    FUZZ_CHECK(tr.verdict != HD_REJECT, "a valid event was rejected: %s", tr.error);
    return fuzz_transition_check(&tr, cur && cur->incident ? cur->incident->version : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_event_t *ev = (hd_event_t *)pb_strings_unpack(&incident__v1__incident_event__descriptor,
                                                     NULL, size, data);
    if (!ev)
        return 0;
    char why[256];
    why[0] = '\0';
    if (hd_event_validate(ev, why, sizeof(why)) != 0) {
        FUZZ_CHECK(why[0] != '\0', "an invalid event without a reason");
        incident__v1__incident_event__free_unpacked(ev, NULL);
        return 0;
    }

    hd_rules_t rules;
    fuzz_rules_init(&rules);
    arena_t arena;
    arena_init(&arena, 0);
    const hd_state_t *own = event_own_state(&arena, ev);

    for (size_t i = 0; i < sizeof(event_stages) / sizeof(event_stages[0]); i++) {
        const struct event_stage *s = &event_stages[i];
        hd_ctx_t ctx;
        fuzz_ctx_init(&ctx, &rules, &arena, s->actor, ev->event_id);
        event_apply(s, &ctx, NULL, ev);
        event_apply(s, &ctx, event_fixed_state(&arena, ev, s), ev);
        /* The event's own snapshot, then what the stage made of it through
         * the remaining stages, as the pipeline would. */
        const hd_state_t *cur = own;
        for (size_t j = i; j < sizeof(event_stages) / sizeof(event_stages[0]) && cur; j++) {
            fuzz_ctx_init(&ctx, &rules, &arena, event_stages[j].actor, ev->event_id);
            const hd_state_t *next = event_apply(&event_stages[j], &ctx, cur, ev);
            if (next)
                cur = next;
        }
    }

    arena_destroy(&arena);
    incident__v1__incident_event__free_unpacked(ev, NULL);
    return 0;
}
