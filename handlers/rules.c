/*
 * rules.c — the configurable rules shared by the stage handlers: the default
 * thresholds, the classification rule (incident or disturbance), the scope
 * rule (local or global), roster and guideline look-ups, enum names and the
 * deep copy of a stored incident that every handler starts from.
 */
#include "hd_internal.h"

#include <stdio.h>
#include <string.h>

void hd_rules_default(hd_rules_t *r)
{
    memset(r, 0, sizeof(*r));
    r->incident_min_severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    r->client_min_severity = INCIDENT__V1__SEVERITY__SEVERITY_MINOR;
    r->client_min_count = 1;
    r->reclassify_triggers = 3;
    r->reclassify_window_ms = 600000;
    r->global_min_sites = 2;
    r->global_min_clients = 10;
    r->tm_stakeholder = "technical-manager";
    r->ack_timeout_ms = 1800000;
    r->max_escalation_level = 3;
    r->max_clients = 1000;
    r->max_sites = 100;
    r->followup_window_global_ms = 30 * 60000;
    r->followup_window_local_ms = 10 * 60000;
    r->followup_window_disturbance_ms = 0;
    r->review_required_global = 1;
    r->review_min_severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    r->review_due_ms = 5LL * 24 * 3600000;
    r->client_update_global_ms = 30 * 60000;
    r->client_update_local_ms = 60 * 60000;
    r->client_updates_missed_max = 2;
    r->silence_max_ms = 7LL * 24 * 3600000;
}

/* ---- enum names ------------------------------------------------------------ */

#define HD_NAME(table, v) \
    ((unsigned)(v) < sizeof(table) / sizeof((table)[0]) ? (table)[(unsigned)(v)] : "UNKNOWN")

const char *hd_severity_name(Incident__V1__Severity s)
{
    static const char *const names[] = {"UNSPECIFIED", "INFO",  "WARNING",
                                        "MINOR",       "MAJOR", "CRITICAL"};
    return HD_NAME(names, s);
}

const char *hd_scope_name(Incident__V1__Scope s)
{
    static const char *const names[] = {"UNSPECIFIED", "LOCAL", "GLOBAL"};
    return HD_NAME(names, s);
}

const char *hd_stage_name(Incident__V1__Stage s)
{
    static const char *const names[] = {"UNSPECIFIED", "DETECTED", "CLASSIFIED", "SCOPED",
                                        "ESCALATED",   "RESOLVED", "CLOSED"};
    return HD_NAME(names, s);
}

const char *hd_status_name(Incident__V1__Status s)
{
    static const char *const names[] = {"UNSPECIFIED", "OPEN", "ACKNOWLEDGED", "RESOLVED",
                                        "CLOSED"};
    return HD_NAME(names, s);
}

const char *hd_kind_name(Incident__V1__Kind k)
{
    static const char *const names[] = {"UNSPECIFIED", "INCIDENT", "DISTURBANCE"};
    return HD_NAME(names, k);
}

const char *hd_role_name(Incident__V1__Role r)
{
    static const char *const names[] = {"UNSPECIFIED", "CUSTOMER_SERVICE_MANAGER",
                                        "TECHNICAL_MANAGER"};
    return HD_NAME(names, r);
}

const char *hd_command_kind_name(Incident__V1__CommandKind k)
{
    static const char *const names[] = {"UNSPECIFIED", "ACKNOWLEDGE",   "RESOLVE",   "REOPEN",
                                        "NOTE",        "TASK_ADD",      "TASK_DONE", "TASK_CANCEL",
                                        "MEETING",     "CLIENT_UPDATE", "SIGN_OFF",  "REVIEW",
                                        "HANDOVER"};
    return HD_NAME(names, k);
}

/* ---- classification -------------------------------------------------------- */

static int str_eq(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

/* The "any service" marker of roster and guideline entries. */
static int service_is_any(const char *service)
{
    return !service || service[0] == '\0' || strcmp(service, "*") == 0;
}

int hd_is_incident(const hd_rules_t *r, const hd_incident_t *inc, char *why, size_t why_size)
{
    if (!why)
        why_size = 0;
    if (!inc) {
        snprintf(why, why_size, "no incident");
        return 0;
    }
    const char *sev = hd_severity_name(inc->severity);
    if (inc->severity >= r->incident_min_severity) {
        snprintf(why, why_size, "severity %s >= %s", sev,
                 hd_severity_name(r->incident_min_severity));
        return 1;
    }
    if (inc->severity >= r->client_min_severity && inc->n_clients >= r->client_min_count) {
        snprintf(why, why_size, "severity %s with %zu client%s", sev, inc->n_clients,
                 inc->n_clients == 1 ? "" : "s");
        return 1;
    }
    const char *service = inc->service ? inc->service : "";
    if (service[0] != '\0') {
        for (size_t i = 0; i < r->n_critical_services; i++) {
            if (str_eq(r->critical_services[i], service)) {
                snprintf(why, why_size, "service %s is critical", service);
                return 1;
            }
        }
    }
    if (inc->n_clients == 0)
        snprintf(why, why_size, "severity %s, no clients: below incident rule", sev);
    else
        snprintf(why, why_size, "severity %s with %zu client%s: below incident rule", sev,
                 inc->n_clients, inc->n_clients == 1 ? "" : "s");
    return 0;
}

/* ---- scope ----------------------------------------------------------------- */

/* Number of distinct non-NULL strings in v, by hash (a kept list holds at
 * most limits.clients names; the table on the stack covers 2,048). */
static size_t distinct_count(char *const *v, size_t n)
{
    enum { SLOTS = 4096 };
    if (n > SLOTS / 2) {
        size_t count = 0; /* a list from before the bounds: slow but right */
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (v[i] && j < i && !str_eq(v[j], v[i]))
                j++;
            count += v[i] && j == i;
        }
        return count;
    }
    uint64_t slot[SLOTS];
    unsigned char used[SLOTS] = {0};
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i])
            continue;
        uint64_t h = hd_hash64(v[i]);
        size_t k = (size_t)(h ^ (h >> 29)) & (SLOTS - 1);
        while (used[k] && slot[k] != h)
            k = (k + 1) & (SLOTS - 1);
        if (!used[k]) {
            used[k] = 1;
            slot[k] = h;
            count++;
        }
    }
    return count;
}

Incident__V1__Scope hd_scope_of(const hd_rules_t *r, const hd_state_t *st, char *why,
                                size_t why_size)
{
    if (!why)
        why_size = 0;
    if (!st || !st->incident) {
        snprintf(why, why_size, "no incident");
        return INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED;
    }
    const hd_incident_t *inc = st->incident;
    for (size_t i = 0; i < inc->n_sites; i++) {
        if (str_eq(inc->sites[i], "*")) {
            snprintf(why, why_size, "site \"*\" (all sites)");
            return INCIDENT__V1__SCOPE__SCOPE_GLOBAL;
        }
    }
    size_t sites = distinct_count(inc->sites, inc->n_sites);
    if (sites >= r->global_min_sites) {
        snprintf(why, why_size, "%zu distinct sites >= %u", sites, r->global_min_sites);
        return INCIDENT__V1__SCOPE__SCOPE_GLOBAL;
    }
    /* Past the cap of names kept, clients_total still counts. */
    size_t clients = distinct_count(inc->clients, inc->n_clients);
    if (inc->clients_total > clients)
        clients = inc->clients_total;
    if (clients >= r->global_min_clients) {
        snprintf(why, why_size, "%zu distinct clients >= %u", clients, r->global_min_clients);
        return INCIDENT__V1__SCOPE__SCOPE_GLOBAL;
    }
    for (size_t i = 0; i < st->n_labels; i++) {
        const Incidentd__V1__StoredIncident__LabelsEntry *e = st->labels[i];
        if (e && str_eq(e->key, "scope") && str_eq(e->value, "global")) {
            snprintf(why, why_size, "label scope=global");
            return INCIDENT__V1__SCOPE__SCOPE_GLOBAL;
        }
    }
    snprintf(why, why_size,
             "%zu site%s, %zu client%s: below global thresholds (%u sites, %u clients)", sites,
             sites == 1 ? "" : "s", clients, clients == 1 ? "" : "s", r->global_min_sites,
             r->global_min_clients);
    return INCIDENT__V1__SCOPE__SCOPE_LOCAL;
}

/* ---- roster and guidelines ------------------------------------------------- */

const char *hd_owner_of(const hd_rules_t *r, Incident__V1__Role role, const char *service)
{
    const hd_roster_entry_t *any = NULL;
    for (size_t i = 0; i < r->n_roster; i++) {
        const hd_roster_entry_t *e = &r->roster[i];
        if (e->role != role)
            continue;
        if (service_is_any(e->service)) {
            if (!any)
                any = e;
        } else if (str_eq(e->service, service)) {
            return e->owner ? e->owner : "";
        }
    }
    return any && any->owner ? any->owner : "";
}

const char *hd_guideline_of(const hd_rules_t *r, const char *service)
{
    const hd_guideline_t *any = NULL;
    for (size_t i = 0; i < r->n_guidelines; i++) {
        const hd_guideline_t *g = &r->guidelines[i];
        if (service_is_any(g->service)) {
            if (!any)
                any = g;
        } else if (str_eq(g->service, service)) {
            return g->text ? g->text : "";
        }
    }
    return any && any->text ? any->text : "";
}

/* ---- deep copy --------------------------------------------------------------- */

static char *str_or_empty(char *s) { return s ? s : (char *)protobuf_c_empty_string; }

static char **strv_copy(arena_t *arena, char *const *v, size_t n)
{
    if (n == 0 || !v)
        return NULL;
    char **copy = arena_alloc(arena, n * sizeof(*copy));
    for (size_t i = 0; i < n; i++)
        copy[i] = str_or_empty(v[i]);
    return copy;
}

/* Largest valid protobuf field number. */
#define PB_FIELD_NUMBER_MAX 536870911u

/*
 * Keeps the unknown fields of @p m (decoded fields of a newer schema, packed
 * again as they came) except those with an invalid field number: protobuf-c
 * decodes an over-long tag of field 0 (bytes 80 00) as an unknown field,
 * packs it back as 00 and then refuses its own output. A copy must always
 * pack to bytes that decode (Redis state, audit snapshots).
 */
static void unknown_fields_clean(arena_t *arena, ProtobufCMessage *m)
{
    unsigned keep = 0;
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag >= 1 && m->unknown_fields[i].tag <= PB_FIELD_NUMBER_MAX)
            keep++;
    if (keep == m->n_unknown_fields)
        return;
    ProtobufCMessageUnknownField *v = keep ? arena_alloc(arena, keep * sizeof(*v)) : NULL;
    keep = 0;
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag >= 1 && m->unknown_fields[i].tag <= PB_FIELD_NUMBER_MAX)
            v[keep++] = m->unknown_fields[i];
    m->unknown_fields = v;
    m->n_unknown_fields = keep;
}

/* The tasks of an incident: a new array of copied tasks (strings shared). */
static hd_task_t **tasks_copy(arena_t *arena, hd_task_t *const *v, size_t n, size_t *n_out)
{
    *n_out = 0;
    if (n == 0 || !v)
        return NULL;
    hd_task_t **copy = arena_alloc(arena, n * sizeof(*copy));
    for (size_t i = 0; i < n; i++) {
        if (!v[i])
            continue; /* never in decoded input; drop rather than crash */
        hd_task_t *t = arena_alloc(arena, sizeof(*t));
        *t = *v[i];
        unknown_fields_clean(arena, &t->base);
        t->id = str_or_empty(v[i]->id);
        t->title = str_or_empty(v[i]->title);
        t->assignee = str_or_empty(v[i]->assignee);
        copy[(*n_out)++] = t;
    }
    return copy;
}

static hd_incident_t *incident_copy(arena_t *arena, const hd_incident_t *src)
{
    hd_incident_t *inc = arena_alloc(arena, sizeof(*inc));
    *inc = *src;
    unknown_fields_clean(arena, &inc->base);
    inc->id = str_or_empty(src->id);
    inc->dedup_key = str_or_empty(src->dedup_key);
    inc->owner = str_or_empty(src->owner);
    inc->service = str_or_empty(src->service);
    inc->summary = str_or_empty(src->summary);
    inc->sites = strv_copy(arena, src->sites, src->n_sites);
    inc->n_sites = inc->sites ? src->n_sites : 0;
    inc->clients = strv_copy(arena, src->clients, src->n_clients);
    inc->n_clients = inc->clients ? src->n_clients : 0;
    inc->stakeholders = strv_copy(arena, src->stakeholders, src->n_stakeholders);
    inc->n_stakeholders = inc->stakeholders ? src->n_stakeholders : 0;
    inc->tasks = tasks_copy(arena, src->tasks, src->n_tasks, &inc->n_tasks);
    inc->signed_off = strv_copy(arena, src->signed_off, src->n_signed_off);
    inc->n_signed_off = inc->signed_off ? src->n_signed_off : 0;
    inc->root_cause = str_or_empty(src->root_cause);
    return inc;
}

hd_state_t *hd_state_copy(arena_t *arena, const hd_state_t *st)
{
    if (!st)
        return NULL;
    hd_state_t *copy = arena_alloc(arena, sizeof(*copy));
    *copy = *st;
    unknown_fields_clean(arena, &copy->base);
    copy->incident = st->incident ? incident_copy(arena, st->incident) : NULL;
    copy->last_hash = str_or_empty(st->last_hash);
    copy->guideline = str_or_empty(st->guideline);
    copy->silence_created_by = str_or_empty(st->silence_created_by);

    copy->trigger_times_ms = NULL;
    copy->n_trigger_times_ms = 0;
    if (st->n_trigger_times_ms && st->trigger_times_ms) {
        copy->trigger_times_ms =
            arena_alloc(arena, st->n_trigger_times_ms * sizeof(*copy->trigger_times_ms));
        memcpy(copy->trigger_times_ms, st->trigger_times_ms,
               st->n_trigger_times_ms * sizeof(*copy->trigger_times_ms));
        copy->n_trigger_times_ms = st->n_trigger_times_ms;
    }

    copy->labels = NULL;
    copy->n_labels = 0;
    if (st->n_labels && st->labels) {
        copy->labels = arena_alloc(arena, st->n_labels * sizeof(*copy->labels));
        for (size_t i = 0; i < st->n_labels; i++) {
            const Incidentd__V1__StoredIncident__LabelsEntry *e = st->labels[i];
            if (!e)
                continue; /* never in decoded input; drop rather than crash */
            Incidentd__V1__StoredIncident__LabelsEntry *ec = arena_alloc(arena, sizeof(*ec));
            *ec = *e;
            unknown_fields_clean(arena, &ec->base);
            ec->key = str_or_empty(e->key);
            ec->value = str_or_empty(e->value);
            copy->labels[copy->n_labels++] = ec;
        }
    }

    copy->recorded_actions = strv_copy(arena, st->recorded_actions, st->n_recorded_actions);
    copy->n_recorded_actions = copy->recorded_actions ? st->n_recorded_actions : 0;
    return copy;
}
