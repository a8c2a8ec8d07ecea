/*
 * ctl_audit.h — reading the ORMIS audit topic into one hash chain per
 * incident and verifying a chain, for incidentctl show and verify.
 *
 * The read is bounded (the topic up to its end at the start, committed
 * records only) and never joins a consumer group (kafka.h). Owned by the
 * ctl room.
 *
 * @locality incidentctl's main thread
 */
#ifndef INCIDENTD_CTL_AUDIT_H
#define INCIDENTD_CTL_AUDIT_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "ctl.h"
#include "ctl_out.h"
#include "handlers.h"
#include "ormis.h"
#include "strmap.h"

/* The audit records of one incident, in topic order. */
typedef struct ctl_chain {
    const char *id;
    Incident__V1__AuditRecord **recs;
    size_t n, cap;
    char bad[256]; /* an undecodable record cut the chain here */
} ctl_chain_t;

typedef struct ctl_audit {
    arena_t *arena;
    ctl_progress_t progress;
    strmap_t chains;  /* id -> ctl_chain_t */
    const char *only; /* keep just this incident (NULL = all) */
    uint64_t records; /* records read (all incidents) */
} ctl_audit_t;

/** An empty read into @p arena (borrowed), of incident @p only (NULL = all). */
void ctl_audit_init(ctl_audit_t *au, const ctl_t *c, arena_t *arena, const char *only);

/** Frees the map (the chains live in the arena). */
void ctl_audit_destroy(ctl_audit_t *au);

/**
 * Reads the whole audit topic into @p au, with a progress bar. Returns an
 * exit code (errors reported); with @p missing_ok a topic that does not
 * exist reads as empty.
 */
int ctl_audit_read(ctl_t *c, ctl_audit_t *au, int missing_ok);

/**
 * Verifies one chain in its seq order (sorts it; an undecodable record or
 * no record at all breaks it). Returns 0 if it verifies, else -1 with the
 * reason in @p vr.
 */
int ctl_chain_verify(const ctl_chain_t *ch, ormis_verify_result_t *vr);

/** {"ok", "records", "first_bad", "reason"} of a verification. */
cJSON *ctl_chain_json(const ormis_verify_result_t *vr, int ok);

#endif
