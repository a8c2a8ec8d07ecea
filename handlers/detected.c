/*
 * detected.c — the detected stage: what an alert does to the incident of its
 * dedup_key. A TRIGGER opens an incident (detected + classified), merges
 * into the open one (merged, maybe reclassified) or reopens a resolved one
 * inside its confirmation window (reopened + merged); ACKNOWLEDGE stops the
 * re-escalation timer; RESOLVE resolves the incident, starts its
 * confirmation window (followup.c) and hands it to the resolved stage.
 * Classification is decided here, from the rules in rules.c.
 *
 * Silences (silence.h): a TRIGGER that a silence or maintenance window
 * matches at ctx->now_ms, and that has no open incident, opens a silenced
 * DISTURBANCE (`detected`, `silenced` naming the silence; Incident.
 * silenced_by) that is never handed to the classified stage, so it is never
 * scoped or escalated; its RESOLVE resolves it. A TRIGGER merged into an
 * open disturbance while a silence matches never reclassifies it; once no
 * silence matches, triggers are processed normally (a silenced disturbance
 * may then be reclassified into an incident). An incident that is open
 * already stays what it is: a silence does not hide it.
 */
#include "hd_internal.h"

#include <stdio.h>
#include <string.h>

#include "silence.h"

/* Most recent trigger times kept for the reclassification window. */
#define TRIGGER_TIMES_MAX 64

/* ---- set arithmetic on repeated strings ------------------------------------ */

/* A new array: the distinct entries of @p base, then those of @p add not yet
 * present (copied into the arena), in order, at most @p cap of them (the
 * kept list stays bounded; beyond it names are not kept). Membership by
 * hash, so a merge costs O(n), not O(n^2). *added counts the names added. */
static char **strv_union(arena_t *arena, char *const *base, size_t n_base, char *const *add,
                         size_t n_add, size_t cap, size_t *n_out, size_t *added)
{
    *n_out = 0;
    *added = 0;
    if (n_base + n_add == 0)
        return NULL;
    size_t room = n_base + n_add < cap ? n_base + n_add : cap;
    if (room < n_base)
        room = n_base; /* a list kept before the bound stays as it is */
    char **v = arena_alloc(arena, (room ? room : 1) * sizeof(*v));
    hd_hset_t seen;
    hd_hset_init(&seen, arena, room);
    for (size_t i = 0; i < n_base; i++)
        if (base[i] && hd_hset_add(&seen, hd_hash64(base[i])))
            v[(*n_out)++] = base[i];
    for (size_t i = 0; i < n_add && *n_out < room; i++) {
        if (add[i] && hd_hset_add(&seen, hd_hash64(add[i]))) {
            v[(*n_out)++] = arena_strdup(arena, add[i]);
            (*added)++;
        }
    }
    return v;
}

/* Counts the alert's clients into clients_total: exact by the remembered
 * name hashes up to HD_CLIENT_HASHES_MAX of them, then each name not
 * remembered counts once more (an estimate). Replaces st->client_hashes. */
static void clients_count(arena_t *arena, hd_state_t *st, const hd_alert_t *alert)
{
    hd_incident_t *inc = st->incident;
    size_t n_old = st->n_client_hashes;
    size_t max = n_old + alert->n_clients + inc->n_clients;
    if (max > HD_CLIENT_HASHES_MAX)
        max = n_old > HD_CLIENT_HASHES_MAX ? n_old : HD_CLIENT_HASHES_MAX;
    hd_hset_t seen;
    hd_hset_init(&seen, arena, max);
    uint64_t *v = arena_alloc(arena, (max ? max : 1) * sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < n_old; i++)
        if (hd_hset_add(&seen, st->client_hashes[i]))
            v[n++] = st->client_hashes[i];
    /* A state from before the hashes: its kept names are the known ones. */
    if (n_old == 0)
        for (size_t i = 0; i < inc->n_clients && n < max; i++)
            if (inc->clients[i] && hd_hset_add(&seen, hd_hash64(inc->clients[i])))
                v[n++] = hd_hash64(inc->clients[i]);
    uint32_t total = inc->clients_total > n ? inc->clients_total : (uint32_t)n;
    for (size_t i = 0; i < alert->n_clients; i++) {
        if (!alert->clients[i])
            continue;
        uint64_t h = hd_hash64(alert->clients[i]);
        if (hd_hset_has(&seen, h))
            continue;
        if (n < max) {
            hd_hset_add(&seen, h);
            v[n++] = h;
        }
        if (total < UINT32_MAX)
            total++;
    }
    st->client_hashes = v;
    st->n_client_hashes = n;
    inc->clients_total = total;
}

/* Merges the alert's labels into the state's (the alert's value wins). */
static void labels_merge(arena_t *arena, hd_state_t *st, const hd_alert_t *alert)
{
    if (alert->n_labels == 0)
        return;
    Incidentd__V1__StoredIncident__LabelsEntry **v =
        arena_alloc(arena, (st->n_labels + alert->n_labels) * sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < st->n_labels; i++)
        v[n++] = st->labels[i];
    for (size_t i = 0; i < alert->n_labels; i++) {
        const Incident__V1__Alert__LabelsEntry *in = alert->labels[i];
        if (!in)
            continue;
        Incidentd__V1__StoredIncident__LabelsEntry *e = arena_alloc(arena, sizeof(*e));
        Incidentd__V1__StoredIncident__LabelsEntry init =
            INCIDENTD__V1__STORED_INCIDENT__LABELS_ENTRY__INIT;
        *e = init;
        e->key = arena_strdup(arena, in->key);
        e->value = arena_strdup(arena, in->value);
        size_t j = 0;
        while (j < n && strcmp(hd_nz(v[j]->key), e->key) != 0)
            j++;
        if (j < n)
            v[j] = e; /* replace the entry, never write into the input's */
        else if (n < HD_LABELS_MAX)
            v[n++] = e; /* bounded: keys past HD_LABELS_MAX are not kept */
    }
    st->labels = v;
    st->n_labels = n;
}

/* Appends @p now to the trigger times and drops those older than the window. */
static void triggers_note(arena_t *arena, hd_state_t *st, int64_t now, int64_t window)
{
    int64_t *v = arena_alloc(arena, (st->n_trigger_times_ms + 1) * sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < st->n_trigger_times_ms; i++)
        if (st->trigger_times_ms[i] >= now - window)
            v[n++] = st->trigger_times_ms[i];
    v[n++] = now;
    if (n > TRIGGER_TIMES_MAX) {
        memmove(v, v + (n - TRIGGER_TIMES_MAX), TRIGGER_TIMES_MAX * sizeof(*v));
        n = TRIGGER_TIMES_MAX;
    }
    st->trigger_times_ms = v;
    st->n_trigger_times_ms = n;
}

/* ---- the alert actions --------------------------------------------------------- */

/* The `silenced` record of a trigger that opens a silenced disturbance. */
static void silenced_record(const hd_ctx_t *ctx, hd_state_t *st, const hd_silenced_t *sil,
                            const char *why_incident, hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    hd_incident_t *inc = st->incident;
    inc->kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    inc->stage = INCIDENT__V1__STAGE__STAGE_CLASSIFIED;
    inc->silenced_by = arena_strdup(a, sil->id);
    /* Its creator is reminded at its end if the alert still fires then
     * (hd_timer_silence_end()): one timer per disturbance, armed here only,
     * so a trigger merged later arms none. A maintenance window has no
     * creator to remind. */
    const char *remind = "";
    if (!sil->maintenance && sil->by && *sil->by) {
        st->silence_ends_at_ms = sil->ends_at_ms;
        st->silence_created_by = arena_strdup(a, sil->by);
        hd_timer_add(out, HD_TIMER_ARM, HD_TIMER_SILENCE_END, 0, sil->ends_at_ms);
        remind = arena_printf(a, HD_SILENCE_REMIND_MARK "%s at %lld", sil->by,
                              (long long)sil->ends_at_ms);
    }
    hd_record_add(ctx, st, out, HD_ACTION_SILENCED, NULL,
                  arena_printf(a,
                               "silenced by %s (%s: \"%s\") for another %s: a DISTURBANCE, "
                               "not escalated (otherwise %s)%s",
                               sil->id, hd_nz(sil->by), hd_nz(sil->comment),
                               hd_duration_text(a, sil->ends_at_ms - ctx->now_ms), why_incident,
                               remind));
}

void hd_timer_silence_end(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                          hd_transition_t *out)
{
    (void)timer; /* one per disturbance: the state says whether it is still due */
    if (!cur || !hd_is_open(cur->incident) || cur->silence_ends_at_ms <= 0 ||
        !cur->silence_created_by || !*cur->silence_created_by)
        return; /* resolved before the end, or reminded already */
    arena_t *a = ctx->arena;
    hd_state_t *st = hd_state_copy(a, cur);
    const char *id = hd_nz(st->incident->silenced_by);
    const char *by = st->silence_created_by;
    int64_t ends = st->silence_ends_at_ms;
    st->silence_created_by = ""; /* given once (the end stays: the notice says it) */
    hd_record_add(ctx, st, out, HD_ACTION_NOTE, NULL,
                  arena_printf(a,
                               HD_SILENCE_REMINDED "silence %s ended at %lld and the alert "
                                                   "still fires (%u alert%s): %s is reminded",
                               id, (long long)ends, st->incident->alert_count,
                               st->incident->alert_count == 1 ? "" : "s", by));
    hd_recipient_t to = {.name = by, .client = 0};
    hd_notify_plan(ctx, st, out, HD_NOTICE_SILENCE_REMINDER, &to, 1,
                   arena_printf(a, "silence %s ended, the alert still fires", id));
}

static void trigger_open(const hd_ctx_t *ctx, const hd_alert_t *alert, const char *new_id,
                         const hd_silenced_t *sil, hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    hd_state_t *st = arena_alloc(a, sizeof(*st));
    hd_state_t st_init = INCIDENTD__V1__STORED_INCIDENT__INIT;
    *st = st_init;
    hd_incident_t *inc = arena_alloc(a, sizeof(*inc));
    hd_incident_t inc_init = INCIDENT__V1__INCIDENT__INIT;
    *inc = inc_init;
    st->incident = inc;

    size_t added;
    inc->id = arena_strdup(a, new_id);
    inc->dedup_key = arena_strdup(a, alert->dedup_key);
    inc->stage = INCIDENT__V1__STAGE__STAGE_DETECTED;
    inc->status = INCIDENT__V1__STATUS__STATUS_OPEN;
    inc->kind = INCIDENT__V1__KIND__KIND_UNSPECIFIED;
    inc->severity = alert->severity;
    inc->service = arena_strdup(a, alert->service);
    inc->summary = arena_strdup(a, alert->summary);
    inc->sites = strv_union(a, NULL, 0, alert->sites, alert->n_sites, ctx->rules->max_sites,
                            &inc->n_sites, &added);
    inc->clients = strv_union(a, NULL, 0, alert->clients, alert->n_clients, ctx->rules->max_clients,
                              &inc->n_clients, &added);
    clients_count(a, st, alert);
    inc->alert_count = 1;
    inc->detected_at_ms = ctx->now_ms;
    triggers_note(a, st, ctx->now_ms, ctx->rules->reclassify_window_ms);
    labels_merge(a, st, alert);
    hd_record_add(ctx, st, out, HD_ACTION_DETECTED, NULL,
                  arena_printf(a,
                               "opened by alert %s: severity %s, service '%s', "
                               "%zu site%s, %zu client%s",
                               hd_nz(alert->alert_id), hd_severity_name(inc->severity),
                               inc->service, inc->n_sites, inc->n_sites == 1 ? "" : "s",
                               inc->n_clients, inc->n_clients == 1 ? "" : "s"));

    char why[256];
    int incident = hd_is_incident(ctx->rules, inc, why, sizeof(why));
    out->index_op = HD_INDEX_OPEN;
    if (sil) {
        silenced_record(ctx, st, sil,
                        arena_printf(a, "%s: %s", incident ? "INCIDENT" : "DISTURBANCE", why), out);
        return; /* never on incidents.classified: never scoped nor escalated */
    }
    inc->kind = incident ? INCIDENT__V1__KIND__KIND_INCIDENT : INCIDENT__V1__KIND__KIND_DISTURBANCE;
    inc->stage = INCIDENT__V1__STAGE__STAGE_CLASSIFIED;
    hd_record_add(ctx, st, out, HD_ACTION_CLASSIFIED, NULL,
                  arena_printf(a, "%s: %s", hd_kind_name(inc->kind), why));
    hd_output_add(out, HD_TOPIC_CLASSIFIED);
}

/* Merges the alert into @p st (the handler's copy); @p sil: a silence
 * matches it (a disturbance is then not reclassified), or NULL. */
static void trigger_merge(const hd_ctx_t *ctx, hd_state_t *st, const hd_alert_t *alert,
                          const hd_silenced_t *sil, hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    const hd_rules_t *r = ctx->rules;
    hd_incident_t *inc = st->incident;

    Incident__V1__Severity old_severity = inc->severity;
    size_t new_sites, new_clients;
    inc->alert_count++;
    if (alert->severity > inc->severity)
        inc->severity = alert->severity;
    uint32_t old_total =
        inc->clients_total > inc->n_clients ? inc->clients_total : (uint32_t)inc->n_clients;
    inc->sites = strv_union(a, inc->sites, inc->n_sites, alert->sites, alert->n_sites, r->max_sites,
                            &inc->n_sites, &new_sites);
    clients_count(a, st, alert);
    inc->clients = strv_union(a, inc->clients, inc->n_clients, alert->clients, alert->n_clients,
                              r->max_clients, &inc->n_clients, &new_clients);
    new_clients = inc->clients_total > old_total ? inc->clients_total - old_total : 0;
    labels_merge(a, st, alert);
    triggers_note(a, st, ctx->now_ms, r->reclassify_window_ms);

    const char *severity_text =
        inc->severity != old_severity
            ? arena_printf(a, "severity %s -> %s", hd_severity_name(old_severity),
                           hd_severity_name(inc->severity))
            : arena_printf(a, "severity %s", hd_severity_name(inc->severity));
    hd_record_add(ctx, st, out, HD_ACTION_MERGED, NULL,
                  arena_printf(a,
                               "alert %s merged: %u alerts, %s, %zu new site%s, "
                               "%zu new client%s%s%s",
                               hd_nz(alert->alert_id), inc->alert_count, severity_text, new_sites,
                               new_sites == 1 ? "" : "s", new_clients, new_clients == 1 ? "" : "s",
                               sil ? "; silenced by " : "", sil ? sil->id : ""));

    if (inc->kind == INCIDENT__V1__KIND__KIND_DISTURBANCE && !sil) {
        char why[256];
        const char *reason = NULL;
        if (hd_is_incident(r, inc, why, sizeof(why)))
            reason = why;
        else if (st->n_trigger_times_ms >= r->reclassify_triggers)
            reason = arena_printf(a, "%zu triggers within %s", st->n_trigger_times_ms,
                                  hd_duration_text(a, r->reclassify_window_ms));
        if (reason) {
            inc->kind = INCIDENT__V1__KIND__KIND_INCIDENT;
            inc->stage = INCIDENT__V1__STAGE__STAGE_CLASSIFIED;
            hd_record_add(ctx, st, out, HD_ACTION_RECLASSIFIED, NULL,
                          arena_printf(a, "DISTURBANCE -> INCIDENT: %s", reason));
            hd_output_add(out, HD_TOPIC_CLASSIFIED);
        }
    } else if (inc->kind == INCIDENT__V1__KIND__KIND_INCIDENT &&
               inc->scope != INCIDENT__V1__SCOPE__SCOPE_GLOBAL) {
        /* The classified stage decides whether the merge widens the scope. */
        hd_output_add(out, HD_TOPIC_CLASSIFIED);
    }
}

static void acknowledge(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_alert_t *alert,
                        hd_transition_t *out)
{
    if (cur->incident->status != INCIDENT__V1__STATUS__STATUS_OPEN)
        return; /* already acknowledged */
    arena_t *a = ctx->arena;
    hd_state_t *st = hd_state_copy(a, cur);
    hd_incident_t *inc = st->incident;
    const char *actor = alert->actor && *alert->actor ? alert->actor : hd_nz(ctx->actor);
    inc->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    inc->acknowledged_at_ms = ctx->now_ms;
    hd_record_add(ctx, st, out, HD_ACTION_ACKNOWLEDGED, actor,
                  arena_printf(a,
                               "acknowledged by %s (alert %s): re-escalation stopped "
                               "at level %u",
                               actor, hd_nz(alert->alert_id), inc->escalation_level));
    hd_timer_add(out, HD_TIMER_CANCEL, HD_TIMER_ACK, inc->escalation_level, 0);
}

static void resolve(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_alert_t *alert,
                    hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    hd_state_t *st = hd_state_copy(a, cur);
    hd_incident_t *inc = st->incident;
    const char *actor = alert->actor && *alert->actor ? alert->actor : hd_nz(ctx->actor);
    hd_resolve(ctx, st, out, actor,
               arena_printf(a, "%s resolved by %s (alert %s) after %u alert%s",
                            hd_kind_name(inc->kind), actor, hd_nz(alert->alert_id),
                            inc->alert_count, inc->alert_count == 1 ? "" : "s"));
}

/* A trigger inside the confirmation window: the same incident again. */
static void trigger_reopen(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_alert_t *alert,
                           hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    hd_state_t *st = hd_state_copy(a, cur);
    int64_t end = hd_window_end(ctx->rules, cur);
    hd_reopen(ctx, st, out, NULL,
              arena_printf(a, "alert %s triggered %s before the confirmation window ended",
                           hd_nz(alert->alert_id), hd_duration_text(a, end - ctx->now_ms)));
    trigger_merge(ctx, st, alert, NULL, out);
}

/* Why an acknowledge or resolve finds nothing to act on. */
static void reject_not_open(const hd_state_t *cur, const hd_alert_t *alert, hd_transition_t *out)
{
    out->verdict = HD_REJECT;
    if (cur && cur->incident->status == INCIDENT__V1__STATUS__STATUS_RESOLVED)
        snprintf(out->error, sizeof(out->error), "incident %s of dedup_key %s is resolved already",
                 hd_nz(cur->incident->id), hd_nz(alert->dedup_key));
    else
        snprintf(out->error, sizeof(out->error), "no open incident for dedup_key %s",
                 hd_nz(alert->dedup_key));
}

void hd_detected_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_alert_t *alert,
                       const char *new_id, hd_transition_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!alert) {
        out->verdict = HD_REJECT;
        snprintf(out->error, sizeof(out->error), "alert: missing");
        return;
    }
    if (cur && !cur->incident) {
        out->verdict = HD_REJECT;
        snprintf(out->error, sizeof(out->error), "stored incident of dedup_key %s has no snapshot",
                 hd_nz(alert->dedup_key));
        return;
    }
    /* Only an open incident takes alerts, and a trigger reopens one inside
     * its confirmation window (the window ends at its end: then a trigger
     * opens a new incident, even before the CONFIRM timer is processed). */
    const hd_state_t *resolved = cur;
    if (cur && !hd_is_open(cur->incident))
        cur = NULL;
    hd_silenced_t sil;
    int silenced;

    switch (alert->action) {
    case INCIDENT__V1__ACTION__ACTION_TRIGGER:
        silenced = hd_silence_match(ctx, alert, &sil);
        if (cur) {
            trigger_merge(ctx, hd_state_copy(ctx->arena, cur), alert, silenced ? &sil : NULL, out);
        } else if (hd_in_window(ctx->rules, resolved, ctx->now_ms)) {
            trigger_reopen(ctx, resolved, alert, out);
        } else if (!new_id || !*new_id) {
            out->verdict = HD_REJECT;
            snprintf(out->error, sizeof(out->error), "no incident id to open dedup_key %s",
                     hd_nz(alert->dedup_key));
            return;
        } else {
            trigger_open(ctx, alert, new_id, silenced ? &sil : NULL, out);
        }
        break;
    case INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE:
    case INCIDENT__V1__ACTION__ACTION_RESOLVE:
        if (!cur) {
            reject_not_open(resolved, alert, out);
            return;
        }
        if (alert->action == INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE)
            acknowledge(ctx, cur, alert, out);
        else
            resolve(ctx, cur, alert, out);
        break;
    default:
        out->verdict = HD_REJECT;
        snprintf(out->error, sizeof(out->error), "action: unknown value %d", (int)alert->action);
        return;
    }
    hd_outputs_finish(out);
}
