/*
 * stage.c — the stage table and the adapters from a decoded input to the
 * stage's handler; see stage.h.
 */
#include "stage.h"

#include <string.h>
#include <strings.h>

static void stage_detected(const hd_ctx_t *ctx, const hd_state_t *cur, const stage_input_t *in,
                           hd_transition_t *out)
{
    hd_detected_apply(ctx, cur, in->alert, in->new_id, out);
}

static void stage_classified(const hd_ctx_t *ctx, const hd_state_t *cur, const stage_input_t *in,
                             hd_transition_t *out)
{
    hd_classified_apply(ctx, cur, in->event, out);
}

static void stage_scoped(const hd_ctx_t *ctx, const hd_state_t *cur, const stage_input_t *in,
                         hd_transition_t *out)
{
    hd_scoped_apply(ctx, cur, in->event, out);
}

/* The escalated stage takes its events and the fired ack timers. */
static void stage_escalated(const hd_ctx_t *ctx, const hd_state_t *cur, const stage_input_t *in,
                            hd_transition_t *out)
{
    if (in->kind == STAGE_IN_TIMER)
        hd_timer_apply(ctx, cur, in->timer, out);
    else
        hd_escalated_apply(ctx, cur, in->event, out);
}

static void stage_resolved(const hd_ctx_t *ctx, const hd_state_t *cur, const stage_input_t *in,
                           hd_transition_t *out)
{
    hd_resolved_apply(ctx, cur, in->event, out);
}

/* People's commands (acknowledge, resolve, reopen, tasks, review, …). */
static void stage_commands(const hd_ctx_t *ctx, const hd_state_t *cur, const stage_input_t *in,
                           hd_transition_t *out)
{
    hd_command_apply(ctx, cur, in->command, out);
}

/* Delivery receipts: notified, delivery_failed (and its escalation). */
static void stage_notify(const hd_ctx_t *ctx, const hd_state_t *cur, const stage_input_t *in,
                         hd_transition_t *out)
{
    hd_receipt_apply(ctx, cur, in->receipt, out);
}

const stage_t stage_table[] = {
    {.name = "detected",
     .bit = STAGE_BIT_DETECTED,
     .inputs = {"incidents.detected"},
     .output = "incidents.classified",
     .live = "stage:DETECTED",
     .decide = stage_detected,
     .reads_silences = 1},
    {.name = "classified",
     .bit = STAGE_BIT_CLASSIFIED,
     .inputs = {"incidents.classified"},
     .output = "incidents.scoped",
     .live = "stage:CLASSIFIED",
     .decide = stage_classified},
    {.name = "scoped",
     .bit = STAGE_BIT_SCOPED,
     .inputs = {"incidents.scoped"},
     .output = "incidents.escalated",
     .live = "stage:SCOPED",
     .decide = stage_scoped},
    {.name = "escalated",
     .bit = STAGE_BIT_ESCALATED,
     .inputs = {"incidents.escalated", "incidents.timers"},
     .output = "incidents.escalated",
     .live = "stage:ESCALATED",
     .decide = stage_escalated,
     .fires_timers = 1},
    {.name = "resolved",
     .bit = STAGE_BIT_RESOLVED,
     .inputs = {"incidents.resolved"},
     .output = NULL, /* audit only */
     .live = "stage:RESOLVED",
     .decide = stage_resolved},
    {.name = "commands",
     .bit = STAGE_BIT_COMMANDS,
     .inputs = {"incidents.commands"},
     .output = NULL, /* whichever stage topic the command leads to */
     .decide = stage_commands},
    {.name = "ingest", .bit = STAGE_BIT_INGEST, .output = "incidents.detected"},
    {.name = "notify",
     .bit = STAGE_BIT_NOTIFY,
     .inputs = {"incidents.receipts"},
     .output = NULL, /* audit, and incidents.escalated when a failure escalates */
     .decide = stage_notify,
     .delivers = 1,
     .reads_silences = 1}, /* reminders before a silence ends, tombstones after */
    /* HTTP, stateless: reads Redis and ormis.audit, writes incidents.commands */
    {.name = "api", .bit = STAGE_BIT_API, .output = "incidents.commands"},
};

const char *const stage_topic_names[] = {"incidents.detected",
                                         "incidents.classified",
                                         "incidents.scoped",
                                         "incidents.escalated",
                                         "incidents.resolved",
                                         "ormis.audit",
                                         "incidents.dlq",
                                         "incidents.timers",
                                         "incidents.commands",
                                         "incidents.receipts",
                                         "incidents.silences",
                                         "incidents.overrides",
                                         NULL};

int stage_topic_compacted(const char *bare)
{
    return strcmp(bare, "incidents.silences") == 0 || strcmp(bare, "incidents.overrides") == 0;
}

size_t stage_count(void) { return sizeof(stage_table) / sizeof(stage_table[0]); }

const stage_t *stage_by_bit(unsigned bit)
{
    for (size_t i = 0; i < stage_count(); i++)
        if (stage_table[i].bit == bit)
            return &stage_table[i];
    return NULL;
}

const stage_t *stage_by_name(const char *name, size_t len)
{
    for (size_t i = 0; i < stage_count(); i++)
        if (strlen(stage_table[i].name) == len && strncasecmp(stage_table[i].name, name, len) == 0)
            return &stage_table[i];
    return NULL;
}

stage_input_kind_t stage_input_of(const stage_t *s, const char *bare)
{
    if (strcmp(bare, "incidents.detected") == 0)
        return STAGE_IN_ALERT;
    if (strcmp(bare, "incidents.timers") == 0)
        return STAGE_IN_TIMER;
    if (strcmp(bare, "incidents.commands") == 0)
        return STAGE_IN_COMMAND;
    if (strcmp(bare, "incidents.receipts") == 0)
        return STAGE_IN_RECEIPT;
    (void)s;
    return STAGE_IN_EVENT;
}

const char *stage_output_topic(hd_topic_t t)
{
    static const char *const names[] = {
        [HD_TOPIC_CLASSIFIED] = "incidents.classified",
        [HD_TOPIC_SCOPED] = "incidents.scoped",
        [HD_TOPIC_ESCALATED] = "incidents.escalated",
        [HD_TOPIC_RESOLVED] = "incidents.resolved",
    };
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "incidents.dlq";
}
