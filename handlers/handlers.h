/*
 * handlers.h — the rules of the incident process, as pure functions.
 *
 * One file per stage (detected.c, classified.c, scoped.c, escalated.c,
 * resolved.c), commands.c for the commands of people, followup.c for the
 * confirmation window and the completion gate, plus validate.c and rules.c. A handler takes the
 * incident's current state and one input and fills an hd_transition_t: the new state, the ORMIS
 * audit records (one per state change, seq numbered, hashes left empty for the runtime's chain),
 * the events to emit and the index/timer effects. No Kafka, no Redis, no clock, no I/O here: the
 * runtime passes the time in hd_ctx_t and applies the transition atomically.
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
typedef Incident__V1__Command hd_command_t;
typedef Incident__V1__Task hd_task_t;
typedef Incidentd__V1__DeliveryReceipt hd_receipt_t;
typedef Incident__V1__Silence hd_silence_t;
typedef Incident__V1__SilenceMatchers hd_matchers_t;

/* Maintenance windows (silence.h) and on-call rotations (rotation.h). */
typedef struct hd_maintenance hd_maintenance_t;
typedef struct hd_rotation hd_rotation_t;
typedef struct hd_override hd_override_t;

/* Contract limits of an Alert. */
#define HD_ALERT_ID_MAX 128
#define HD_DEDUP_KEY_MAX 255
#define HD_SHORT_MAX 255    /* source, service, actor, each site/client, label key */
#define HD_SUMMARY_MAX 1024 /* summary, label value */
#define HD_SITES_MAX 64
#define HD_CLIENTS_MAX 1024
#define HD_LABELS_MAX 64

/* Contract limits of a Command, and what commands may grow an incident to. */
#define HD_COMMAND_ID_MAX 128
#define HD_COMMAND_TEXT_MAX 8192 /* text */
#define HD_TASK_TITLE_MAX 1024   /* text of TASK_ADD (kept in the incident) */
#define HD_ROOT_CAUSE_MAX 1024   /* root_cause of REVIEW (kept in the incident) */
#define HD_ATTENDEES_MAX 64      /* attendees of MEETING */
#define HD_TASKS_MAX 100         /* tasks an incident keeps; TASK_ADD past it is refused */
#define HD_SIGNOFFS_MAX 64       /* sign-offs an incident keeps; SIGN_OFF past it is refused */

/*
 * The audit actions (AuditRecord.action). The record carries the wire string
 * hd_action_name() gives ("merged", "client_update_due", ...); the enum is the
 * one list of them.
 */
typedef enum hd_action {
    HD_ACTION_DETECTED = 0,
    HD_ACTION_CLASSIFIED,
    HD_ACTION_RECLASSIFIED,
    HD_ACTION_MERGED,
    HD_ACTION_SCOPED,
    HD_ACTION_ASSIGNED,
    HD_ACTION_ESCALATED,
    HD_ACTION_HANDLED,
    HD_ACTION_CLIENT_NOTIFIED,
    HD_ACTION_ACKNOWLEDGED,
    HD_ACTION_RESOLVED,
    HD_ACTION_FOLLOWED_UP,
    HD_ACTION_CLOSED,
    HD_ACTION_REOPENED,
    HD_ACTION_CONFIRMED,
    HD_ACTION_COMPLETION_BLOCKED,
    HD_ACTION_NOTE,
    HD_ACTION_MEETING_PLANNED,
    HD_ACTION_TASK_ADDED,
    HD_ACTION_TASK_DONE,
    HD_ACTION_TASK_CANCELLED,
    HD_ACTION_MEETING_HELD,
    HD_ACTION_CLIENT_UPDATE,
    HD_ACTION_CLIENT_UPDATE_DUE,
    HD_ACTION_SIGNED_OFF,
    HD_ACTION_REVIEW_SUBMITTED,
    HD_ACTION_HANDED_OVER,
    HD_ACTION_NOTIFICATION_PLANNED,
    HD_ACTION_NOTIFIED,
    HD_ACTION_DELIVERY_FAILED,
    HD_ACTION_SILENCED,
    HD_ACTION_COUNT /* not an action: the number of them */
} hd_action_t;

/** The wire string of @p action ("merged"); "unknown" out of range. Static. */
const char *hd_action_name(hd_action_t action);

/** The action whose wire string is @p name, or -1 when none is (NULL too). */
int hd_action_parse(const char *name);

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

/* Delivery channels of a contact (bits of hd_contact_t.channels; one bit per
 * hd_delivery_t). Clients have email and webhook only. */
#define HD_CHANNEL_EMAIL 1u
#define HD_CHANNEL_WEBHOOK 2u
#define HD_CHANNEL_SLACK 4u
#define HD_CHANNELS_ALL (HD_CHANNEL_EMAIL | HD_CHANNEL_WEBHOOK | HD_CHANNEL_SLACK)

/* One person (people.<name>.*) or client (clients.<c>.*) of the directory:
 * the channels it can be reached on. The addresses stay with the runtime. */
typedef struct hd_contact {
    const char *name;
    int client;        /* non-zero: a client, else a person */
    unsigned channels; /* HD_CHANNEL_* bits configured for it */
} hd_contact_t;

/** "email", "webhook", "slack" for one HD_CHANNEL_* bit; "unknown" else. Static. */
const char *hd_channel_name(unsigned channel);

/** The HD_CHANNEL_* bit whose name is @p name, or 0 (NULL too). */
unsigned hd_channel_parse(const char *name);

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
    /* follow-up: the confirmation window after RESOLVE (followup.window.*) */
    int64_t followup_window_global_ms;      /* 30 min */
    int64_t followup_window_local_ms;       /* 10 min (also an incident not scoped yet) */
    int64_t followup_window_disturbance_ms; /* 0: confirmed at once */
    /* completion gate (review.required, review.due, completion.signoff) */
    int review_required_global;                 /* 1: every GLOBAL incident needs a review */
    Incident__V1__Severity review_min_severity; /* CRITICAL: and any incident this severe
                                                   (UNSPECIFIED = severity never requires it) */
    int64_t review_due_ms;                      /* 5 days: reminder + escalation after */
    const char **completion_signoff;            /* who must sign off; NULL/empty = the default: */
    size_t n_completion_signoff; /* global_stakeholders for GLOBAL, the owner for LOCAL */
    /* client communication plan (comms.update_interval.*) */
    int64_t client_update_global_ms;    /* 30 min */
    int64_t client_update_local_ms;     /* 60 min */
    uint32_t client_updates_missed_max; /* 2: missed in a row escalate one level */
    /* the directory (people.<name>.*, clients.<c>.*): who can be reached how;
     * borrowed; a recipient not found here is audited "no channel" */
    const hd_contact_t *contacts;
    size_t n_contacts;
    /* silences (silence.h): the longest silence (silences.max_duration, 7d)
     * and the maintenance windows (maintenance.<name>.*), borrowed */
    int64_t silence_max_ms;
    const hd_maintenance_t *maintenance;
    size_t n_maintenance;
    /* on-call rotations (rotation.h): rotation.<name>.* and the overrides
     * (borrowed); a roster owner "@<rotation>" is its member on call */
    const hd_rotation_t *rotations;
    size_t n_rotations;
    const hd_override_t *overrides;
    size_t n_overrides;
} hd_rules_t;

/** The contact @p name of the directory, a client when @p client, or NULL. */
const hd_contact_t *hd_contact_of(const hd_rules_t *r, const char *name, int client);

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
    /* the silences of the global table (incidents.silences) the detected
     * stage judges a TRIGGER by, at now_ms (borrowed; may be none) */
    const hd_silence_t *const *silences;
    size_t n_silences;
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
    HD_TIMER_ARM,    /* arm the timer (kind, level): fire at due_ms */
    HD_TIMER_CANCEL, /* drop every timer of that kind of the incident, all levels */
} hd_timer_op_t;

/*
 * The durable timers of an incident. The runtime keeps one timer per
 * (incident id, kind, level) and hands it back, when due, as a TimerFired
 * with kind and level (TimerFired.kind has the same values; 0 = ACK, so a
 * timer from before kinds is an ack timer). `level` is the escalation level
 * for ACK and a sequence number for the others, bumped at every arm, so that
 * a re-armed timer is a new timer and a stale one finds a newer level in the
 * state and changes nothing.
 */
typedef enum hd_timer_kind {
    HD_TIMER_ACK = 0,           /* ack timeout at escalation level `level` */
    HD_TIMER_CONFIRM = 1,       /* confirmation window end; level = reopen_count */
    HD_TIMER_CLIENT_UPDATE = 2, /* client update due; level = StoredIncident.client_update_seq */
    HD_TIMER_REVIEW = 3,        /* completion reminder; level = StoredIncident.review_seq */
    HD_TIMER_SILENCE_END = 4,   /* a silenced disturbance's silence ends; level = 0 (armed
                                   once, at StoredIncident.silence_ends_at_ms) */
} hd_timer_kind_t;

#define HD_TIMER_KINDS 5

/** "ack", "confirm", "client_update", "review", "silence_end"; "unknown" out
 *  of range. Static. */
const char *hd_timer_kind_name(hd_timer_kind_t kind);

/* One timer effect of a transition; the runtime applies them in order. */
typedef struct hd_timer_effect {
    hd_timer_op_t op;
    hd_timer_kind_t kind;
    uint32_t level; /* ARM: the timer's level (see hd_timer_kind_t); CANCEL: the level
                       armed last (the runtime may drop all levels up to it) */
    int64_t due_ms; /* ARM: when it fires (INT64_MAX = never) */
} hd_timer_effect_t;

typedef enum hd_index_op {
    HD_INDEX_NONE = 0,
    HD_INDEX_OPEN,  /* dedup_key -> id enters the open index */
    HD_INDEX_CLOSE, /* dedup_key leaves the open index, only if it still maps to this
                       id (confirmed: the confirmation window is over) */
} hd_index_op_t;

#define HD_MAX_RECORDS 8
#define HD_MAX_OUTPUTS 4
#define HD_MAX_TIMERS 4

/* What a planned delivery tells its recipient (hd_delivery_t.notice). */
typedef enum hd_notice {
    HD_NOTICE_ESCALATION = 0,      /* handling starts: owner and stakeholders */
    HD_NOTICE_REESCALATION,        /* one level up: owner and stakeholders */
    HD_NOTICE_CLIENT_UPDATE,       /* COMMAND_CLIENT_UPDATE: the clients */
    HD_NOTICE_CLIENT_UPDATE_DUE,   /* a client update missed: the owner */
    HD_NOTICE_FINAL_UPDATE,        /* followed_up: stakeholders and (NOTIFY) clients */
    HD_NOTICE_COMPLETION_REMINDER, /* review.due passed while blocked: the owner */
    HD_NOTICE_SILENCE_REMINDER,    /* a silence ended and its alert still fires: the silence's
                                      creator (the SILENCE_END timer); the reminder before the
                                      end is the notify stage's own (not planned) */
    HD_NOTICE_COUNT                /* not a notice: the number of them */
} hd_notice_t;

/** "escalation", "reescalation", "client_update", "client_update_due",
 *  "final_update", "completion_reminder", "silence_reminder"; "unknown" out
 *  of range. Static. */
const char *hd_notice_name(hd_notice_t notice);

/** The notice whose wire string is @p name, or -1 (NULL too). */
int hd_notice_parse(const char *name);

/*
 * One planned delivery: one notice to one recipient on one channel. The id
 * is "<incident id>:<seq of its notification_planned record>:<n>" (n from 1
 * within that record), so a replay of the same input plans the same ids.
 */
typedef struct hd_delivery {
    const char *id;
    const char *recipient; /* person or client name */
    int client;            /* non-zero: a client */
    unsigned channel;      /* one HD_CHANNEL_* bit */
    hd_notice_t notice;
} hd_delivery_t;

/* Recipients one notice plans for at most; the rest are audited "not planned:
 * over the limit" (an incident keeps at most limits.clients names anyway). */
#define HD_NOTICE_RECIPIENTS_MAX 1000

/* The actor of the records a delivery receipt writes. */
#define HD_NOTIFY_ACTOR "incidentd/notify"

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
    hd_timer_effect_t timers[HD_MAX_TIMERS]; /* timer effects, in order */
    size_t n_timers;
    /* Deprecated mirror of the ACK effect of timers[] (a transition has at
     * most one), for the runtime until it reads timers[]; remove then. */
    hd_timer_op_t timer_op;
    int64_t timer_due_ms;
    uint32_t timer_level;
    int closed; /* the incident is closed: start its retention */
    /* HD_APPLY: the deliveries planned by this transition's
     * notification_planned records, in order (array from ctx->arena); the
     * runtime puts them in the outbox atomically with the transition. */
    hd_delivery_t *deliveries;
    size_t n_deliveries;
} hd_transition_t;

/** The first effect of @p kind in @p out, or NULL (for tests and the runtime). */
const hd_timer_effect_t *hd_timer_find(const hd_transition_t *out, hd_timer_kind_t kind);

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

/**
 * A fired timer of any kind (timer->kind; the runtime calls this from the
 * stage that owns the timers). Each changes nothing when the state moved on
 * (level no longer the state's, incident acknowledged/resolved/closed...):
 * - ACK: still OPEN at that level: one level up, emitted on ESCALATED.
 * - CONFIRM: still RESOLVED, not confirmed, level == reopen_count:
 *   `confirmed`, `followed_up` (+ `notification_planned`), index close, then
 *   the completion gate: `closed` (out->closed) or `completion_blocked`
 *   listing what is missing + a REVIEW timer at now + review_due_ms.
 * - CLIENT_UPDATE: unresolved under NOTIFY, level == client_update_seq:
 *   `client_update_due` + the reminder planned for the owner
 *   (`notification_planned`), emitted on ESCALATED, re-armed; the second
 *   missed in a row also escalates one level.
 * - REVIEW: still blocked, level == review_seq: `completion_blocked` naming
 *   the owner + the completion reminder planned for the owner, one level up
 *   (`escalated`, on ESCALATED) unless at the top, re-armed at now +
 *   review_due_ms.
 * - SILENCE_END: a silenced disturbance still open (its alert still fires)
 *   whose reminder was not given yet: a `note` naming the silence and its
 *   creator + the silence reminder planned for the creator
 *   (`notification_planned`); the state forgets the creator, so it is
 *   given once. Resolved (or closed, gone) before: nothing.
 * Every escalation plans the re-escalation notice for the owner and the
 * stakeholders (`notification_planned`, out->deliveries).
 */
void hd_timer_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                    hd_transition_t *out);

/**
 * Resolved stage: an incident whose confirmation window is already over at
 * ctx->now_ms (a disturbance by default: window 0) is confirmed, followed
 * up and goes through the completion gate here, as the CONFIRM timer would
 * do; one still inside its window waits for the CONFIRM timer (NOOP).
 */
void hd_resolved_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_event_t *ev,
                       hd_transition_t *out);

/**
 * Checks a command against the contract's limits: command_id 1..128 bytes,
 * incident_id and actor 1..255, kind known and not UNSPECIFIED, text <= 8 KiB,
 * task_id <= 128, assignee <= 255, root_cause <= 1024, attendees <= 64 of
 * 1..255 bytes, every string UTF-8 without NUL. Returns 0 if valid, else -1
 * with a reason in @p err.
 */
int hd_command_validate(const hd_command_t *cmd, char *err, size_t err_size);

/**
 * A command of a person on the incident @p cur (NULL: unknown incident,
 * rejected). The command must have passed hd_command_validate(). Each
 * applied command is one audit record whose actor is cmd->actor, plus the
 * records of what it sets off (RESOLVE: outputs on RESOLVED; the command
 * that completes the gate of a blocked incident: `closed`). A command the
 * state does not allow is HD_REJECT with the reason (closed incident,
 * already acknowledged/resolved, unknown or finished task, sign-off on a
 * disturbance, reopen outside the confirmation window, bounds...).
 * Redelivery (same command_id) is the runtime's to drop.
 */
void hd_command_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                      hd_transition_t *out);

/**
 * Checks a delivery receipt: incident_id 1..255 bytes, delivery_id 1..512
 * and of that incident ("<incident_id>:..."), recipient 1..255, channel and
 * notice known names, attempt >= 1, status DELIVERED, RETRY or FAILED, error
 * <= 8 KiB, claim <= 255, every string UTF-8 without NUL. Returns 0 if
 * valid, else -1 with a reason in @p err.
 */
int hd_receipt_validate(const hd_receipt_t *rc, char *err, size_t err_size);

/**
 * A receipt of the notify stage on the incident @p cur (NULL: unknown
 * incident, HD_REJECT: the runtime dead-letters it). ctx->cause_id is
 * "<delivery_id>#<attempt>" (redelivery is the runtime's to drop).
 * - DELIVERED: a `notified` record by HD_NOTIFY_ACTOR (notice, delivery,
 *   recipient, channel, attempt).
 * - RETRY: HD_NOOP (no record; the runtime has rescheduled the delivery at
 *   next_attempt_at_ms).
 * - FAILED: a `delivery_failed` record (recipient, channel, attempts, last
 *   error) and, unless the incident is closed, a disturbance or at the top
 *   level, one escalation level up as a re-escalation (`escalated`,
 *   `notification_planned` with the re-escalation deliveries, output on
 *   ESCALATED).
 * DELIVERED and FAILED settle a pending final update; the one that settles
 * the last re-runs the completion gate (and may close the incident).
 */
void hd_receipt_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_receipt_t *rc,
                      hd_transition_t *out);

/**
 * What the completion gate still misses for @p st under @p r: one text per
 * missing piece ("final updates not delivered: 3", "review not submitted",
 * "no preventive task", "task T-1 not done or cancelled", "sign-off missing:
 * alice"), in @p arena; *items gets the array (NULL when none). Returns the
 * count. Pending final updates count for every incident and disturbance; the
 * review pieces only for one that needs a review (never a disturbance).
 */
size_t hd_completion_missing(const hd_rules_t *r, const hd_state_t *st, arena_t *arena,
                             const char ***items);

/** Non-zero when @p inc needs a post-incident review (review.required). */
int hd_review_required(const hd_rules_t *r, const hd_incident_t *inc);

/** Non-zero when @p st is RESOLVED, not confirmed, and @p now_ms is before
 *  the end of its confirmation window: a TRIGGER of its dedup key or
 *  COMMAND_REOPEN reopens it (the dedup key still maps to it). */
int hd_in_window(const hd_rules_t *r, const hd_state_t *st, int64_t now_ms);

/** The confirmation window of @p inc after RESOLVE (followup.window.*). */
int64_t hd_followup_window(const hd_rules_t *r, const hd_incident_t *inc);

/** The client update interval of @p inc (comms.update_interval.*). */
int64_t hd_client_update_interval(const hd_rules_t *r, const hd_incident_t *inc);

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
const char *hd_command_kind_name(Incident__V1__CommandKind k);

/** A deep copy of @p st in @p arena (arrays copied, strings shared). */
hd_state_t *hd_state_copy(arena_t *arena, const hd_state_t *st);

#endif
