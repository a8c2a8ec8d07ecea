/*
 * stage.h — the stage table: each stage of the incident process in one row
 * (its name and --stages bit, the topics it consumes and produces, the live
 * set of Redis it keeps, the handler that decides). The worker, main, the
 * metrics and the configuration read it instead of switches and literals;
 * a new stage is a new row.
 *
 * Pure data and adapters (no I/O). @locality any thread (read-only).
 */
#ifndef INCIDENTD_STAGE_H
#define INCIDENTD_STAGE_H

#include <stddef.h>

#include "handlers.h"

/* --stages bits, in the order of the table. */
#define STAGE_BIT_DETECTED (1u << 0)
#define STAGE_BIT_CLASSIFIED (1u << 1)
#define STAGE_BIT_SCOPED (1u << 2)
#define STAGE_BIT_ESCALATED (1u << 3)
#define STAGE_BIT_RESOLVED (1u << 4)
#define STAGE_BIT_INGEST (1u << 5)
#define STAGE_BIT_COMMANDS (1u << 6)
#define STAGE_BIT_NOTIFY (1u << 7)
#define STAGE_BIT_API (1u << 8)
#define STAGE_BITS_ALL 0x1ffu

#define STAGE_MAX_INPUTS 3

/* What a consumed message is. */
typedef enum stage_input_kind {
    STAGE_IN_ALERT,   /* incident.v1.Alert (incidents.detected) */
    STAGE_IN_EVENT,   /* incident.v1.IncidentEvent (the stage topics) */
    STAGE_IN_TIMER,   /* incidentd.v1.TimerFired (incidents.timers) */
    STAGE_IN_COMMAND, /* incident.v1.Command (incidents.commands) */
    STAGE_IN_RECEIPT, /* incidentd.v1.DeliveryReceipt (incidents.receipts) */
} stage_input_kind_t;

/* One decoded input, borrowed. */
typedef struct stage_input {
    stage_input_kind_t kind;
    const hd_alert_t *alert;
    const hd_event_t *event;
    const hd_timer_t *timer;
    const hd_command_t *command;
    const hd_receipt_t *receipt;
    const char *new_id; /* STAGE_IN_ALERT: the id an alert that opens an incident gives it */
} stage_input_t;

/* Decides one input against the incident's state (a handler of handlers/). */
typedef void (*stage_decide_fn)(const hd_ctx_t *ctx, const hd_state_t *cur, const stage_input_t *in,
                                hd_transition_t *out);

typedef struct stage {
    const char *name; /* "detected": --stages, logs, metrics label, consumer group */
    unsigned bit;     /* STAGE_BIT_* */
    /* Topics consumed (without the prefix), NULL-terminated; none for ingest. */
    const char *inputs[STAGE_MAX_INPUTS + 1];
    const char *output; /* the stage topic it feeds (its events' first hop) */
    const char
        *live; /* the Redis live set of incidents in this stage ("stage:DETECTED"), or NULL */
    stage_decide_fn decide; /* NULL for ingest (HTTP, no state) */
    int fires_timers;       /* claims due timers and fires them on incidents.timers */
    int delivers;           /* sends the outbox's due deliveries (the notify room's tick) */
    int reads_silences;     /* holds the global table of incidents.silences (silences.h) */
} stage_t;

/** The table, in --stages order (stage_count() rows). */
extern const stage_t stage_table[];
size_t stage_count(void);

/** The row of @p bit / @p name (case-insensitive, @p len bytes), or NULL. */
const stage_t *stage_by_bit(unsigned bit);
const stage_t *stage_by_name(const char *name, size_t len);

/** The input kind of a message on topic @p bare (without the prefix) for
 *  stage @p s. */
stage_input_kind_t stage_input_of(const stage_t *s, const char *bare);

/** Every topic incidentd creates (stage topics, ormis.audit, incidents.dlq,
 *  incidents.timers, incidents.silences: compacted), NULL-terminated. */
extern const char *const stage_topic_names[];

/** Non-zero when the topic @p bare (no prefix) is a global table, kept
 *  compacted: incidents.silences, incidents.overrides. */
int stage_topic_compacted(const char *bare);

/** The topic of a handler output (HD_TOPIC_*), without the prefix. */
const char *stage_output_topic(hd_topic_t t);

#endif
