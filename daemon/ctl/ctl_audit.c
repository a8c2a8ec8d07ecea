/*
 * ctl_audit.c — the audit topic read into chains, and their verification;
 * see ctl_audit.h. Owned by the ctl room.
 *
 * @locality incidentctl's main thread (kafka_read_all() calls back on it)
 */
#include "ctl_audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The chain of incident @p key, created when new. */
static ctl_chain_t *ctl_audit_chain(ctl_audit_t *au, const char *key)
{
    ctl_chain_t *ch = strmap_get(&au->chains, key);
    if (!ch) {
        ch = arena_alloc(au->arena, sizeof(*ch));
        ch->id = arena_strdup(au->arena, key);
        strmap_put(&au->chains, key, ch);
    }
    return ch;
}

static void ctl_chain_push(ctl_chain_t *ch, arena_t *arena, Incident__V1__AuditRecord *rec)
{
    ch->recs = ctl_arena_grow(arena, ch->recs, ch->n, &ch->cap, sizeof(*ch->recs), 16);
    ch->recs[ch->n++] = rec;
}

static int ctl_audit_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    ctl_audit_t *au = opaque;
    au->records++;
    char key[512];
    int has_key = m->key && m->key_len > 0 && m->key_len < sizeof(key);
    if (has_key) {
        memcpy(key, m->key, m->key_len);
        key[m->key_len] = '\0';
        if (au->only && strcmp(key, au->only) != 0)
            return 0; /* not decoded: the common case of show */
    }
    Incident__V1__AuditRecord *rec =
        m->payload ? incident__v1__audit_record__unpack(arena_pb(au->arena), m->len, m->payload)
                   : NULL;
    if (!has_key)
        snprintf(key, sizeof(key), "%s",
                 rec && rec->incident_id[0] ? rec->incident_id : "(no key)");
    if (au->only && strcmp(key, au->only) != 0)
        return 0;
    ctl_chain_t *ch = ctl_audit_chain(au, key);
    if (!rec) {
        if (!ch->bad[0])
            snprintf(ch->bad, sizeof(ch->bad),
                     "record %zu (partition %" PRId32 " offset %" PRId64 ") does not decode",
                     ch->n + 1, m->partition, m->offset);
        return 0;
    }
    if (!ch->bad[0]) /* else the chain is already cut */
        ctl_chain_push(ch, au->arena, rec);
    return 0;
}

static void ctl_audit_progress(uint64_t done, uint64_t total, void *opaque)
{
    ctl_audit_t *au = opaque;
    ctl_progress_draw(done, total, &au->progress);
}

void ctl_audit_init(ctl_audit_t *au, const ctl_t *c, arena_t *arena, const char *only)
{
    memset(au, 0, sizeof(*au));
    au->arena = arena;
    au->only = only;
    au->progress = ctl_progress_init(c, "reading ormis.audit");
    strmap_init(&au->chains);
}

void ctl_audit_destroy(ctl_audit_t *au) { strmap_destroy(&au->chains); }

int ctl_audit_read(ctl_t *c, ctl_audit_t *au, int missing_ok)
{
    char topic[512], err[512];
    ctl_topic(c, "ormis.audit", topic, sizeof(topic));
    kafka_read_t r = ctl_read_init(c, topic, ctl_audit_on_msg, ctl_audit_progress, au);
    int krc = kafka_read_all(&r, err, sizeof(err));
    ctl_progress_end(&au->progress);
    if (krc == KAFKA_NOTOPIC && missing_ok)
        return CTL_EXIT_OK;
    if (krc != KAFKA_OK) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    if (r.incomplete)
        ctl_warn_partial(c, topic, "a transaction still open, or interrupted");
    return CTL_EXIT_OK;
}

cJSON *ctl_chain_json(const ormis_verify_result_t *vr, int ok)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", ok);
    cJSON_AddNumberToObject(o, "records", (double)vr->records);
    cJSON_AddNumberToObject(o, "first_bad", (double)vr->first_bad);
    cJSON_AddStringToObject(o, "reason", vr->reason);
    return o;
}

int ctl_chain_verify(const ctl_chain_t *ch, ormis_verify_result_t *vr)
{
    /* The audit order is the chain's (seq), not the topic's: see ormis_sort(). */
    ormis_sort((const Incident__V1__AuditRecord **)ch->recs, ch->n);
    int rc = ormis_verify((const Incident__V1__AuditRecord *const *)ch->recs, ch->n, vr);
    if (rc == 0 && ch->bad[0]) {
        vr->first_bad = ch->n + 1;
        vr->records = ch->n + 1;
        snprintf(vr->reason, sizeof(vr->reason), "%s", ch->bad);
        rc = -1;
    }
    if (rc == 0 && ch->n == 0) {
        snprintf(vr->reason, sizeof(vr->reason), "no records");
        rc = -1;
    }
    return rc;
}
