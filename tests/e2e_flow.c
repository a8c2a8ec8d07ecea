/*
 * e2e_flow.c — the storm flow of the never-lose, never-duplicate tests
 * (test_crash: SIGKILLed processes; test_ha_redis: a Redis failover):
 * incidents of four alerts each (trigger, merge, acknowledge, resolve)
 * published on a prefix, and the check of what came out of them. See e2e.h.
 *
 * Tests only (Criterion assertions inside); one test thread.
 * @locality: the test's thread.
 */
#include "e2e.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ormis.h"

void e2e_flow_alert(const char *prefix, int i, int round)
{
    static const Incident__V1__Severity sevs[] = {
        INCIDENT__V1__SEVERITY__SEVERITY_WARNING, INCIDENT__V1__SEVERITY__SEVERITY_MINOR,
        INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL};
    static const Incident__V1__Action acts[E2E_FLOW_ALERTS] = {
        INCIDENT__V1__ACTION__ACTION_TRIGGER, INCIDENT__V1__ACTION__ACTION_TRIGGER,
        INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE, INCIDENT__V1__ACTION__ACTION_RESOLVE};
    static char *site_a[] = {"paris"}, *site_b[] = {"lyon"};
    static char *clients[] = {"acme", "globex"};
    char key[192], aid[192], detected[256];
    snprintf(key, sizeof(key), "%sk%d", prefix, i);
    snprintf(aid, sizeof(aid), "%sa%d-%d", prefix, i, round);
    snprintf(detected, sizeof(detected), "%sincidents.detected", prefix);
    Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
    a.alert_id = aid;
    a.dedup_key = key;
    a.action = acts[round];
    a.severity = acts[round] == INCIDENT__V1__ACTION__ACTION_TRIGGER ? sevs[(i + round) % 4] : 0;
    a.service = "crash";
    a.summary = "crash test";
    a.n_sites = 1;
    a.sites = round == 0 ? site_a : (i % 3 == 0 ? site_b : site_a);
    a.n_clients = (size_t)(i % 3);
    a.clients = clients;
    size_t len = incident__v1__alert__get_packed_size(&a);
    unsigned char buf[1024];
    cr_assert(len <= sizeof(buf));
    incident__v1__alert__pack(&a, buf);
    cr_assert_eq(tu_produce_async(detected, key, buf, len), 0);
}

typedef struct flow_key {
    char id[64];   /* first incident id seen */
    int other_ids; /* records of any other incident id */
    Incident__V1__AuditRecord **recs;
    size_t n, cap;
} flow_key_t;

static int flow_key_index(const char *prefix, const char *key, int n)
{
    size_t pl = strlen(prefix);
    if (strncmp(key, prefix, pl) != 0 || key[pl] != 'k')
        return -1;
    int i = atoi(key + pl + 1);
    return i >= 0 && i < n ? i : -1;
}

static void flow_count(void *arg, tu_msg_t *m)
{
    int *n = arg;
    (void)m;
    (*n)++;
}

/* Reads the audit topic until every incident is closed (bounded by
 * @p max_ms), then until it is idle, into @p keys. */
static void flow_read_audit(const char *prefix, int n_inc, int max_ms, flow_key_t *keys,
                            e2e_flow_result_t *res)
{
    char audit[256];
    snprintf(audit, sizeof(audit), "%sormis.audit", prefix);
    const char *topics[] = {audit, NULL};
    tu_consumer_t *con = tu_consumer_new(topics);
    int closed = 0;
    int64_t deadline = tu_now_ms() + max_ms, last = tu_now_ms();
    while (tu_now_ms() < deadline && (closed < n_inc || tu_now_ms() - last < 5000)) {
        tu_msg_t *m = tu_consumer_next(con, 200);
        if (!m)
            continue;
        last = tu_now_ms();
        Incident__V1__AuditRecord *r = incident__v1__audit_record__unpack(NULL, m->len, m->val);
        tu_msg_free(m);
        cr_assert_not_null(r, "audit record decodes");
        res->records++;
        int k = r->snapshot ? flow_key_index(prefix, r->snapshot->dedup_key, n_inc) : -1;
        if (k < 0) {
            res->foreign++;
            incident__v1__audit_record__free_unpacked(r, NULL);
            continue;
        }
        flow_key_t *kt = &keys[k];
        if (!kt->id[0])
            snprintf(kt->id, sizeof(kt->id), "%s", r->incident_id);
        if (strcmp(kt->id, r->incident_id) != 0)
            kt->other_ids++;
        if (strcmp(r->action, "closed") == 0)
            closed++;
        if (kt->n == kt->cap) {
            kt->cap = kt->cap ? kt->cap * 2 : 16;
            kt->recs = realloc(kt->recs, kt->cap * sizeof(*kt->recs));
        }
        kt->recs[kt->n++] = r;
    }
    tu_consumer_destroy(con);
}

/* Checks one incident's records: chain, final state. */
static void flow_check_key(int i, flow_key_t *kt, e2e_flow_result_t *res)
{
    if (kt->n == 0) {
        res->lost++;
        return;
    }
    if (kt->other_ids)
        res->extra_incidents++;
    /* Topic order may differ from seq order after a replay (see
     * ormis_sort()); the chain must be whole in seq order. */
    for (size_t j = 1; j < kt->n; j++)
        if (kt->recs[j]->seq < kt->recs[j - 1]->seq) {
            res->reordered++;
            break;
        }
    ormis_sort((const Incident__V1__AuditRecord **)kt->recs, kt->n);
    ormis_verify_result_t vr;
    if (ormis_verify((const Incident__V1__AuditRecord *const *)kt->recs, kt->n, &vr) < 0) {
        res->broken++;
        if (strstr(vr.reason, "repeated"))
            res->dup_records++;
        if (res->broken <= 5)
            cr_log_warn("incident %s (key %d): %s", kt->id, i, vr.reason);
    }
    const Incident__V1__AuditRecord *lastr = kt->recs[kt->n - 1];
    int merged = 0, closes = 0;
    for (size_t j = 0; j < kt->n; j++) {
        merged += strcmp(kt->recs[j]->action, "merged") == 0;
        closes += strcmp(kt->recs[j]->action, "closed") == 0;
    }
    if (strcmp(lastr->action, "closed") != 0 || closes != 1 || merged != 1 ||
        lastr->snapshot->alert_count != 2 ||
        lastr->snapshot->status != INCIDENT__V1__STATUS__STATUS_CLOSED ||
        lastr->snapshot->acknowledged_at_ms == 0) {
        res->wrong_state++;
        if (res->wrong_state <= 5)
            cr_log_warn("key %d: last %s, %d closes, %d merges, alert_count %u", i, lastr->action,
                        closes, merged, lastr->snapshot->alert_count);
    }
    if (closes == 0)
        res->lost++;
}

void e2e_flow_check(const char *prefix, int n_inc, int max_ms, e2e_flow_result_t *res)
{
    memset(res, 0, sizeof(*res));
    flow_key_t *keys = calloc((size_t)n_inc, sizeof(*keys));
    cr_assert_not_null(keys);
    flow_read_audit(prefix, n_inc, max_ms, keys, res);
    for (int i = 0; i < n_inc; i++)
        flow_check_key(i, &keys[i], res);

    /* No transition twice on any output topic. */
    static const char *const outs[] = {"incidents.classified", "incidents.scoped",
                                       "incidents.escalated", "incidents.resolved"};
    for (size_t t = 0; t < 4; t++) {
        char name[256];
        snprintf(name, sizeof(name), "%s%s", prefix, outs[t]);
        e2e_ids_t ids = {0};
        res->events += e2e_drain(name, 3000, 120000, e2e_collect_event_id, &ids);
        res->dup_events += e2e_ids_duplicates(&ids);
    }
    char dlqt[256];
    snprintf(dlqt, sizeof(dlqt), "%sincidents.dlq", prefix);
    e2e_drain(dlqt, 3000, 60000, flow_count, &res->dlq);

    for (int i = 0; i < n_inc; i++) {
        for (size_t j = 0; j < keys[i].n; j++)
            incident__v1__audit_record__free_unpacked(keys[i].recs[j], NULL);
        free(keys[i].recs);
    }
    free(keys);
}

void e2e_flow_expect(const e2e_flow_result_t *res)
{
    cr_expect_eq(res->lost, 0, "lost incidents");
    cr_expect_eq(res->dup_records, 0, "repeated audit records");
    cr_expect_eq(res->dup_events, 0, "duplicated output events");
    cr_expect_eq(res->broken, 0, "broken chains");
    cr_expect_eq(res->wrong_state, 0, "incidents in a wrong final state");
    cr_expect_eq(res->extra_incidents, 0, "keys with more than one incident");
    cr_expect_eq(res->foreign, 0, "audit records of unknown keys");
}
