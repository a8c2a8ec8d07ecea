/*
 * audit_read.c — ormis.audit into chains, and their verification; see
 * audit_read.h.
 */
#include "audit_read.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void audit_chains_init(audit_chains_t *ac, arena_t *arena, const char *only)
{
    memset(ac, 0, sizeof(*ac));
    ac->arena = arena;
    ac->only = only;
    strmap_init(&ac->chains);
}

void audit_chains_destroy(audit_chains_t *ac) { strmap_destroy(&ac->chains); }

audit_chain_t *audit_chains_get(audit_chains_t *ac, const char *id)
{
    return strmap_get(&ac->chains, id);
}

/* The chain of incident @p key, created when new. */
static audit_chain_t *audit_chains_add(audit_chains_t *ac, const char *key)
{
    audit_chain_t *ch = strmap_get(&ac->chains, key);
    if (!ch) {
        ch = arena_alloc(ac->arena, sizeof(*ch));
        ch->id = arena_strdup(ac->arena, key);
        strmap_put(&ac->chains, key, ch);
    }
    return ch;
}

static void audit_chain_push(audit_chain_t *ch, arena_t *arena, Incident__V1__AuditRecord *rec)
{
    if (ch->n == ch->cap) {
        size_t cap = ch->cap ? ch->cap * 2 : 16;
        Incident__V1__AuditRecord **v = arena_alloc(arena, cap * sizeof(*v));
        if (ch->n)
            memcpy(v, ch->recs, ch->n * sizeof(*v));
        ch->recs = v;
        ch->cap = cap;
    }
    ch->recs[ch->n++] = rec;
}

/* Takes one decoded record (@p rec; NULL: it did not decode, @p where it
 * was) into @p ch: an undecodable record cuts the chain there. */
static void audit_chain_take(audit_chain_t *ch, arena_t *arena, Incident__V1__AuditRecord *rec,
                             const char *where)
{
    if (!rec) {
        if (!ch->bad[0])
            snprintf(ch->bad, sizeof(ch->bad), "record %zu (%s) does not decode", ch->n + 1, where);
        return;
    }
    if (!ch->bad[0]) /* else the chain is already cut */
        audit_chain_push(ch, arena, rec);
}

void audit_chain_add_packed(audit_chain_t *ch, arena_t *arena, const void *data, size_t len,
                            const char *where)
{
    audit_chain_take(
        ch, arena, incident__v1__audit_record__unpack(arena_pb(arena), len, (const uint8_t *)data),
        where);
}

int audit_chains_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    audit_chains_t *ac = opaque;
    ac->records++;
    char key[512];
    int has_key = m->key && m->key_len > 0 && m->key_len < sizeof(key);
    if (has_key) {
        memcpy(key, m->key, m->key_len);
        key[m->key_len] = '\0';
        if (ac->only && strcmp(key, ac->only) != 0)
            return 0; /* not decoded: the common case of one incident */
    }
    Incident__V1__AuditRecord *rec =
        m->payload ? incident__v1__audit_record__unpack(arena_pb(ac->arena), m->len, m->payload)
                   : NULL;
    if (!has_key)
        snprintf(key, sizeof(key), "%s",
                 rec && rec->incident_id[0] ? rec->incident_id : "(no key)");
    if (ac->only && strcmp(key, ac->only) != 0)
        return 0;
    char where[64];
    snprintf(where, sizeof(where), "partition %" PRId32 " offset %" PRId64, m->partition,
             m->offset);
    audit_chain_take(audit_chains_add(ac, key), ac->arena, rec, where);
    return 0;
}

cJSON *audit_chain_json(const ormis_verify_result_t *vr, int ok)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", ok);
    cJSON_AddNumberToObject(o, "records", (double)vr->records);
    cJSON_AddNumberToObject(o, "first_bad", (double)vr->first_bad);
    cJSON_AddStringToObject(o, "reason", vr->reason);
    return o;
}

int audit_chain_verify(const audit_chain_t *ch, ormis_verify_result_t *vr)
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

int audit_chain_of_timeline(audit_chain_t *ch, arena_t *arena, const char *id,
                            const store_admin_timeline_t *tl, const hd_state_t *state,
                            uint64_t version, ormis_verify_result_t *vr)
{
    memset(ch, 0, sizeof(*ch));
    memset(vr, 0, sizeof(*vr));
    if (!state || tl->bytes < 0 || tl->n_records == 0 || tl->n_records != version)
        return 0;
    ch->id = id;
    for (size_t i = 0; i < tl->n_records; i++)
        audit_chain_add_packed(ch, arena, tl->records[i].data, tl->records[i].len,
                               "redis timeline");
    if (audit_chain_verify(ch, vr) < 0)
        return 0;
    const char *head = state->last_hash ? state->last_hash : "";
    return strcmp(ch->recs[ch->n - 1]->hash, head) == 0;
}
