/*
 * handlers.h — the rules of the incident process, as pure functions.
 *
 * One file per stage (detected.c, classified.c, scoped.c, escalated.c,
 * resolved.c) plus validate.c and rules.c. A handler takes the incident's
 * current state and one input and fills an hd_transition_t: the new state,
 * the ORMIS audit records (one per state change, seq numbered, hashes left
 * empty for the runtime's chain), the events to emit and the index/timer
 * effects. No Kafka, no Redis, no clock, no I/O here: the runtime passes the
 * time in hd_ctx_t and applies the transition atomically.
 *
 * Memory: everything a handler returns is allocated from ctx->arena. Inputs
 * are borrowed and never modified; a handler copies before changing (arrays
 * included: build a new array, never write into the input's).
 */
#ifndef INCIDENTD_HANDLERS_H
#define INCIDENTD_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "incident/v1/incident.pb-c.h"
#include "incidentd/v1/internal.pb-c.h"

typedef Incident__V1__Alert hd_alert_t;
typedef Incident__V1__Incident hd_incident_t;
typedef Incident__V1__IncidentEvent hd_event_t;
typedef Incident__V1__AuditRecord hd_record_t;
typedef Incidentd__V1__StoredIncident hd_state_t;
typedef Incidentd__V1__TimerFired hd_timer_t;

/* Contract limits of an Alert. */
#define HD_ALERT_ID_MAX 128
#define HD_DEDUP_KEY_MAX 255
#define HD_SHORT_MAX 255    /* source, service, actor, each site/client, label key */
#define HD_SUMMARY_MAX 1024 /* summary, label value */
#define HD_SITES_MAX 64
#define HD_CLIENTS_MAX 1024
#define HD_LABELS_MAX 64

/* One owner in the roster: role + service ("" or "*" = any service). */
typedef struct hd_roster_entry {
    Incident__V1__Role role;
    const char *service;
    const char *owner;
} hd_roster_entry_t;

/* Handling guideline of a service for local incidents. */
typedef struct hd_guideline {
    const char *service; /* "" or "*" = default */
    const char *text;
} hd_guideline_t;

/*
 * The configurable rules. hd_rules_default() gives the contract's defaults.
 * String arrays are borrowed from whoever filled them (the config).
 */
typedef struct hd_rules {
    /* classification */
    Incident__V1__Severity incident_min_severity; /* MAJOR: incident by itself */
    Incident__V1__Severity
        client_min_severity;        /* MINOR: incident when clients >= client_min_count */
    uint32_t client_min_count;      /* 1 */
    const char **critical_services; /* always incidents; empty by default */
    size_t n_critical_services;
    uint32_t reclassify_triggers; /* 3 triggers ... */
    int64_t reclassify_window_ms; /* ... within 10 min */
    /* scope */
    uint32_t global_min_sites;   /* 2 distinct sites */
    uint32_t global_min_clients; /* 10 distinct clients */
    /* ownership */
    const hd_roster_entry_t *roster;
    size_t n_roster;
    /* handling */
    const char **global_stakeholders; /* informed on GLOBAL */
    size_t n_global_stakeholders;
    const char
        *tm_stakeholder; /* informed when a local CRITICAL goes to level 1 ("technical-manager") */
    const char **level_stakeholders[4]; /* extra people informed on reaching level i (1..3) */
    size_t n_level_stakeholders[4];
    const hd_guideline_t *guidelines;
    size_t n_guidelines;
    int64_t ack_timeout_ms;        /* 30 min */
    uint32_t max_escalation_level; /* 3 */
    /* bounds of what an incident keeps (contract "Bounds") */
    uint32_t max_clients; /* 1000 client names (clients_total counts on) */
    uint32_t max_sites;   /* 100 sites */
} hd_rules_t;

/* Distinct client names an incident remembers by hash (StoredIncident
 * client_hashes, 8 bytes each) to count clients_total exactly; past it the
 * count goes on for names not found (an estimate: a repeat may count again). */
#define HD_CLIENT_HASHES_MAX 10000

/** Fills @p r with the contract's default rules (no roster, no stakeholders). */
void hd_rules_default(hd_rules_t *r);

/* The per-call context. */
typedef struct hd_ctx {
    const hd_rules_t *rules; /* borrowed */
    arena_t *arena;          /* everything returned is allocated here */
    int64_t now_ms;          /* the decision time (stored with the transition) */
    const char *actor;       /* default actor of records, e.g. "incidentd/scoped" */
    const char *cause_id;    /* cause of this transition: alert id, event id, timer id */
} hd_ctx_t;

typedef enum hd_verdict {
    HD_NOOP = 0,   /* nothing changes (the input is still recorded as applied) */
    HD_APPLY = 1,  /* apply: state and/or effects below */
    HD_REJECT = 2, /* bad input: to the dead-letter topic with `error` */
} hd_verdict_t;

typedef enum hd_topic {
    HD_TOPIC_CLASSIFIED = 0,
    HD_TOPIC_SCOPED,
    HD_TOPIC_ESCALATED,
    HD_TOPIC_RESOLVED,
} hd_topic_t;

typedef enum hd_timer_op {
    HD_TIMER_NONE = 0,
    HD_TIMER_ARM,    /* arm the ack timer: fire at timer_due_ms for timer_level */
    HD_TIMER_CANCEL, /* drop any ack timer of the incident */
} hd_timer_op_t;

typedef enum hd_index_op {
    HD_INDEX_NONE = 0,
    HD_INDEX_OPEN,  /* dedup_key -> id enters the open index */
    HD_INDEX_CLOSE, /* dedup_key leaves the open index (resolved) */
} hd_index_op_t;

#define HD_MAX_RECORDS 8
#define HD_MAX_OUTPUTS 4

typedef struct hd_output {
    hd_topic_t topic;
    const hd_incident_t *snapshot; /* the incident after the whole transition */
} hd_output_t;

typedef struct hd_transition {
    hd_verdict_t verdict;
    char error[256]; /* HD_REJECT: why, for the x-error header */
    /* HD_APPLY: the new state, or NULL when only effects change (timer arm).
     * state->incident->version == seq of the last record; last_hash is left
     * for the runtime (it chains the records). */
    hd_state_t *state;
    hd_record_t *records[HD_MAX_RECORDS]; /* seq = previous version + 1, 2, ...;
                                             snapshot = state after that record
                                             (version = seq); prev_hash/hash "" */
    size_t n_records;
    hd_output_t outputs[HD_MAX_OUTPUTS];
    size_t n_outputs;
    hd_index_op_t index_op;
    hd_timer_op_t timer_op;
    int64_t timer_due_ms;
    uint32_t timer_level;
    int closed; /* the incident is closed: start its retention */
} hd_transition_t;

/**
 * Checks an alert against the contract's limits (required fields, sizes,
 * enum ranges). Returns 0 if valid, else -1 with a reason in @p err.
 */
int hd_alert_validate(const hd_alert_t *alert, char *err, size_t err_size);

/**
 * Checks a stage input event: an incident snapshot with an id is present.
 * Returns 0 if valid, else -1 with a reason in @p err.
 */
int hd_event_validate(const hd_event_t *ev, char *err, size_t err_size);

/**
 * Detected stage: detection, dedup/merge, classification, reclassification,
 * acknowledge and resolve. @p cur is the open incident of the alert's
 * dedup_key, or NULL; @p new_id is the id to give an incident this alert
 * opens. The alert must have passed hd_alert_validate().
 */
void hd_detected_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_alert_t *alert,
                       const char *new_id, hd_transition_t *out);

/** Classified stage: scope (local/global, widening) and ownership. */
void hd_classified_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_event_t *ev,
                         hd_transition_t *out);

/** Scoped stage: handling protocol, escalation level, stakeholders,
 *  resolution meeting, client communication. */
void hd_scoped_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_event_t *ev,
                     hd_transition_t *out);

/** Escalated stage, escalated event: arms the ack timer when unacknowledged. */
void hd_escalated_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_event_t *ev,
                        hd_transition_t *out);

/** Escalated stage, fired ack timer: re-escalates one level when still due. */
void hd_timer_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                    hd_transition_t *out);

/** Resolved stage: final updates, completeness check of the record, close. */
void hd_resolved_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_event_t *ev,
                       hd_transition_t *out);

/* ---- helpers shared by the handlers (rules.c) ------------------------------ */

/** Classification rule: non-zero when @p inc (severity, clients, service)
 *  is an INCIDENT; writes the reason in @p why. */
int hd_is_incident(const hd_rules_t *r, const hd_incident_t *inc, char *why, size_t why_size);

/** Scope rule over an incident's sites, clients and the stored labels. */
Incident__V1__Scope hd_scope_of(const hd_rules_t *r, const hd_state_t *st, char *why,
                                size_t why_size);

/** Owner from the roster for (role, service): exact service first, then any. */
const char *hd_owner_of(const hd_rules_t *r, Incident__V1__Role role, const char *service);

/** Guideline text of @p service (or the default one, or ""). */
const char *hd_guideline_of(const hd_rules_t *r, const char *service);

/** Enum value names without prefix, e.g. "MAJOR", "GLOBAL" (never NULL). */
const char *hd_severity_name(Incident__V1__Severity s);
const char *hd_scope_name(Incident__V1__Scope s);
const char *hd_stage_name(Incident__V1__Stage s);
const char *hd_status_name(Incident__V1__Status s);
const char *hd_kind_name(Incident__V1__Kind k);
const char *hd_role_name(Incident__V1__Role r);

/** A deep copy of @p st in @p arena (arrays copied, strings shared). */
hd_state_t *hd_state_copy(arena_t *arena, const hd_state_t *st);

#endif
