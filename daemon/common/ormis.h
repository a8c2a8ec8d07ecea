/*
 * ormis.h — the ORMIS audit chain: hashing and verification of AuditRecords.
 *
 * Each record's `hash` is SHA-256 (hex) over the record serialised with its
 * `hash` field empty — so it covers `prev_hash`, seq, stage, action, actor,
 * time, detail, cause and the snapshot. `prev_hash` of seq 1 is "". Any
 * altered, missing, repeated or reordered record breaks the chain.
 */
#ifndef INCIDENTD_ORMIS_H
#define INCIDENTD_ORMIS_H

#include <stddef.h>
#include <stdint.h>

#include "incident/v1/incident.pb-c.h"

#define ORMIS_HASH_HEX 65 /* 64 hex digits + NUL */

/** Computes the hash of @p rec (its `hash` field is ignored) into @p hex. */
void ormis_hash(const Incident__V1__AuditRecord *rec, char hex[ORMIS_HASH_HEX]);

/**
 * Chains @p recs in order after @p prev_hash ("" for a new incident): sets
 * each record's prev_hash and hash (strings are written into @p bufs, which
 * the caller provides: 2 * n * ORMIS_HASH_HEX bytes). Returns the last hash.
 */
const char *ormis_chain(Incident__V1__AuditRecord **recs, size_t n, const char *prev_hash,
                        char *bufs);

typedef struct ormis_verify_result {
    uint64_t records;   /* records checked */
    uint64_t first_bad; /* seq position (1-based index) of the first problem, 0 = none */
    char reason[256];   /* what is wrong */
} ormis_verify_result_t;

/**
 * Sorts one incident's records by seq (stable). The audit topic keeps the
 * records of one incident in one partition, but a stage replaying a
 * transition after a crash may commit it after a later stage's records:
 * the chain (seq + prev_hash), not the topic order, is the audit order.
 */
void ormis_sort(const Incident__V1__AuditRecord **recs, size_t n);

/**
 * Verifies one incident's chain: @p recs in seq order (see ormis_sort()). Checks: same incident id,
 * seq 1..n without gaps or repeats, each prev_hash equals the previous hash, each hash matches the
 * content. Returns 0 if the chain verifies, -1 otherwise (details in @p res).
 */
int ormis_verify(const Incident__V1__AuditRecord *const *recs, size_t n,
                 ormis_verify_result_t *res);

#endif
