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
#include "audit_read.h"
#include "ctl.h"
#include "ctl_out.h"
#include "handlers.h"
#include "ormis.h"
#include "strmap.h"

/* The audit records of one incident, in topic order (audit_read.h). */
typedef audit_chain_t ctl_chain_t;

typedef struct ctl_audit {
    audit_chains_t set; /* the chains (set.chains: id -> ctl_chain_t) */
    ctl_progress_t progress;
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

#endif
