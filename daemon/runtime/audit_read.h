/*
 * audit_read.h — the ORMIS audit topic read into one hash chain per
 * incident, and a chain's verification: shared by incidentctl (show,
 * verify) and the API (GET /v1/incidents/{id}, which also verifies an
 * incident's timeline read from Redis with the same functions).
 *
 * audit_chains_on_msg() is a kafka_msg_cb for kafka_read_all() (kafka.h):
 * the read is bounded, committed records only, and never joins a consumer
 * group. Records live in the arena given to audit_chains_init().
 *
 * @locality the thread of the read (kafka_read_all() calls back on it)
 */
#ifndef INCIDENTD_AUDIT_READ_H
#define INCIDENTD_AUDIT_READ_H

#include <stdint.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "arena.h"
#include "handlers.h"
#include "ormis.h"
#include "store_admin.h"
#include "strmap.h"

/* The audit records of one incident, in topic order. */
typedef struct audit_chain {
    const char *id;
    Incident__V1__AuditRecord **recs;
    size_t n, cap;
    char bad[256]; /* an undecodable record cut the chain here */
} audit_chain_t;

typedef struct audit_chains {
    arena_t *arena;
    strmap_t chains;  /* id -> audit_chain_t */
    const char *only; /* keep just this incident (NULL = all) */
    uint64_t records; /* records read (all incidents) */
} audit_chains_t;

/** An empty set of chains in @p arena (borrowed), of incident @p only
 *  (NULL = all; borrowed). Free with audit_chains_destroy(). */
void audit_chains_init(audit_chains_t *ac, arena_t *arena, const char *only);

/** Frees the map (the chains live in the arena). */
void audit_chains_destroy(audit_chains_t *ac);

/** The chain of incident @p id, or NULL. */
audit_chain_t *audit_chains_get(audit_chains_t *ac, const char *id);

/** kafka_msg_cb: adds one record of ormis.audit (@p opaque: audit_chains_t).
 *  Always returns 0 (read on). */
int audit_chains_on_msg(const rd_kafka_message_t *m, void *opaque);

/** Adds one packed record (@p len bytes at @p data, borrowed) to @p ch,
 *  decoded into @p arena; one that does not decode cuts the chain there
 *  (@p where says where it was read). For a chain read elsewhere than the
 *  topic (the API: an incident's timeline in Redis); @p ch may start zeroed
 *  with its id set. */
void audit_chain_add_packed(audit_chain_t *ch, arena_t *arena, const void *data, size_t len,
                            const char *where);

/**
 * The chain of live incident @p id from the timeline Redis keeps of it
 * (store.h: tl:{<id>}, read with its @p state at @p version by
 * store_admin_timeline()) into @p ch (zeroed first), when that timeline is
 * whole: kept (not dropped past its bounds, not an incident older than
 * timelines), one record per version, a chain that verifies (@p vr) and
 * ends at the state's chain head. Returns 1 when it is, 0 when the
 * incident's records must be read from ormis.audit instead. The API's
 * incident page and incidentctl show both ask it.
 */
int audit_chain_of_timeline(audit_chain_t *ch, arena_t *arena, const char *id,
                            const store_admin_timeline_t *tl, const hd_state_t *state,
                            uint64_t version, ormis_verify_result_t *vr);

/**
 * Verifies one chain in its seq order (sorts it; an undecodable record or
 * no record at all breaks it). Returns 0 if it verifies, else -1 with the
 * reason in @p vr.
 */
int audit_chain_verify(const audit_chain_t *ch, ormis_verify_result_t *vr);

/** {"ok", "records", "first_bad", "reason"} of a verification. The caller
 *  frees with cJSON_Delete(). */
cJSON *audit_chain_json(const ormis_verify_result_t *vr, int ok);

#endif
