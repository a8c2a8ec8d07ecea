/*
 * cmd_tail.c — incidentctl tail: follows the stage topics (and the audit
 * topic with --audit), one line (or one JSON object) per record, until
 * Ctrl-C, --max lines or --timeout-ms. Owned by the ctl room.
 *
 * @locality incidentctl's main thread (kafka_follow() calls back on it)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "ctl_text.h"
#include "pbjson.h"

#define CTL_TAIL_TOPICS_MAX 10 /* --topic */

/* tail's options and its count of lines. */
typedef struct ctl_tail {
    ctl_t *c;
    const char *names[CTL_TAIL_TOPICS_MAX + 5];
    size_t n_names;
    int from_beginning, audit;
    long long max; /* 0 = no limit */
    long long timeout_ms;
    long long printed;
} ctl_tail_t;

/* ---- options ----------------------------------------------------------------------- */

static int ctl_tail_opt_topic(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)opt;
    ctl_tail_t *tl = base;
    if (tl->n_names == CTL_TAIL_TOPICS_MAX) {
        ctl_usage_error(c, "--topic: at most 10");
        return CTL_OPT_BAD;
    }
    tl->names[tl->n_names++] = arg;
    return CTL_OPT_OK;
}

static int ctl_tail_opt_max(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_tail_t *tl = base;
    return ctl_opt_uint(c, opt, arg, 1, INT32_MAX, "a positive number", &tl->max);
}

static int ctl_tail_opt_timeout(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_tail_t *tl = base;
    return ctl_opt_uint(c, opt, arg, 1, INT32_MAX, "a positive number", &tl->timeout_ms);
}

static const ctl_opt_t ctl_tail_opts[] = {
    {.name = "from-beginning",
     .help = "start at the beginning (default: new records only)",
     .set = ctl_opt_flag,
     .off = offsetof(ctl_tail_t, from_beginning)},
    {.name = "topic",
     .arg = "T",
     .help = "a topic instead of the four stage topics\n"
             "(repeatable; 'escalated' = incidents.escalated)",
     .set = ctl_tail_opt_topic},
    {.name = "audit",
     .help = "follow ormis.audit too",
     .set = ctl_opt_flag,
     .off = offsetof(ctl_tail_t, audit)},
    {.name = "max", .arg = "N", .help = "stop after N lines", .set = ctl_tail_opt_max},
    {.name = "timeout-ms", .arg = "N", .help = "stop after N ms", .set = ctl_tail_opt_timeout},
    {0},
};

/* ---- one record -------------------------------------------------------------------- */

static void ctl_tail_json(const rd_kafka_message_t *m, const char *name, int audit,
                          ProtobufCMessage *msg, arena_t *arena)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "topic", name);
    cJSON_AddNumberToObject(o, "partition", m->partition);
    cJSON_AddNumberToObject(o, "offset", (double)m->offset);
    cJSON_AddStringToObject(o, "key", "");
    if (m->key)
        cJSON_ReplaceItemInObject(o, "key",
                                  cJSON_CreateString(arena_strndup(arena, m->key, m->key_len)));
    cJSON_AddItemToObject(o, audit ? "record" : "event",
                          msg ? pbjson_from_message(msg) : cJSON_CreateNull());
    ctl_json_print_line(o);
}

static void ctl_tail_text(const ctl_t *c, const rd_kafka_message_t *m, const char *name, int audit,
                          ProtobufCMessage *msg, arena_t *arena)
{
    char t[40];
    const char *id = "?", *summary = "";
    const hd_incident_t *inc = NULL;
    int64_t at = 0;
    if (msg && audit) {
        const Incident__V1__AuditRecord *r = (const Incident__V1__AuditRecord *)msg;
        id = r->incident_id;
        inc = r->snapshot;
        at = r->at_ms;
        summary = arena_printf(arena, "%s: %s", r->action, r->detail);
    } else if (msg) {
        const hd_event_t *ev = (const hd_event_t *)msg;
        inc = ev->incident;
        id = inc && inc->id ? inc->id : "?";
        at = ev->at_ms;
        summary = inc && inc->summary ? inc->summary : "";
    } else {
        summary = arena_printf(arena, "(undecodable record, %zu bytes)", m->len);
    }
    if (!at) {
        rd_kafka_timestamp_type_t tt;
        at = rd_kafka_message_timestamp(m, &tt);
    }
    printf("%s  ", ctl_time(at, t, sizeof(t)));
    ctl_cell(c, stdout, name, CTL_C_DIM, 20);
    printf("  %s  ", ctl_text_safe(id));
    ctl_cell(c, stdout, inc ? hd_stage_name(inc->stage) : "-", NULL, 10);
    fputs("  ", stdout);
    ctl_cell(c, stdout, inc ? hd_status_name(inc->status) : "-",
             inc ? ctl_color_status(inc->status) : NULL, 12);
    printf("  %s\n", ctl_text_safe(summary));
}

static int ctl_tail_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    ctl_tail_t *tl = opaque;
    const ctl_t *c = tl->c;
    const char *full = rd_kafka_topic_name(m->rkt);
    size_t plen = strlen(c->prefix);
    const char *name = strncmp(full, c->prefix, plen) == 0 ? full + plen : full;
    int audit = strcmp(name, "ormis.audit") == 0;
    arena_t arena;
    arena_init(&arena, 4096);
    ProtobufCMessage *msg = NULL;
    if (m->payload && audit)
        msg = (ProtobufCMessage *)incident__v1__audit_record__unpack(arena_pb(&arena), m->len,
                                                                     m->payload);
    else if (m->payload)
        msg = (ProtobufCMessage *)incident__v1__incident_event__unpack(arena_pb(&arena), m->len,
                                                                       m->payload);
    if (c->json)
        ctl_tail_json(m, name, audit, msg, &arena);
    else
        ctl_tail_text(c, m, name, audit, msg, &arena);
    fflush(stdout);
    arena_destroy(&arena);
    tl->printed++;
    return tl->max > 0 && tl->printed >= tl->max;
}

/* ---- following --------------------------------------------------------------------- */

/* The full topic names to follow into @p bufs / @p topics; returns how many. */
static size_t ctl_tail_topics(ctl_tail_t *tl, char (*bufs)[512], const char **topics)
{
    static const char *const stage_topics[] = {"incidents.classified", "incidents.scoped",
                                               "incidents.escalated", "incidents.resolved"};
    if (tl->n_names == 0)
        for (size_t i = 0; i < 4; i++)
            tl->names[tl->n_names++] = stage_topics[i];
    if (tl->audit)
        tl->names[tl->n_names++] = "ormis.audit";
    for (size_t i = 0; i < tl->n_names; i++) {
        /* "escalated" is short for incidents.escalated */
        const char *nm = tl->names[i];
        if (!strchr(nm, '.'))
            snprintf(bufs[i], sizeof(bufs[i]), "%sincidents.%s", tl->c->prefix, nm);
        else
            ctl_topic(tl->c, nm, bufs[i], sizeof(bufs[i]));
        topics[i] = bufs[i];
    }
    return tl->n_names;
}

static int ctl_tail_exec(ctl_t *c, int argc, char **argv)
{
    ctl_tail_t tl = {.c = c};
    int rc = ctl_cmd_options(c, &ctl_cmd_tail_entry, &tl, &argc, &argv);
    if (rc != CTL_GO)
        return rc;
    char bufs[16][512];
    const char *topics[16];
    kafka_follow_t f = {
        .brokers = c->brokers,
        .props = c->props,
        .topics = topics,
        .n_topics = ctl_tail_topics(&tl, bufs, topics),
        .from_beginning = tl.from_beginning,
        .timeout_ms = tl.timeout_ms,
        .metadata_timeout_ms = c->timeout_ms,
        .on_msg = ctl_tail_on_msg,
        .opaque = &tl,
        .stop = &ctl_stop,
    };
    char err[512];
    if (kafka_follow(&f, err, sizeof(err)) != KAFKA_OK) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

const struct ctl_cmd_entry ctl_cmd_tail_entry = {
    .name = "tail",
    .usage = "[--from-beginning] [--topic T]... [--audit] [--max N] [--timeout-ms N]",
    .summary = "follow the stage topics, one line per transition",
    .opts = ctl_tail_opts,
    .notes = "Stops on Ctrl-C. With --json: one JSON object per line.\n",
    .exec = ctl_tail_exec,
};
