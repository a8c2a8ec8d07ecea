/*
 * cmd_dlq.c — incidentctl dlq: the last dead letters of incidents.dlq with
 * their x-error / x-stage / x-source-* headers, as a table or JSON. The
 * read is bounded (the topic up to its end at the start). Owned by the ctl
 * room.
 *
 * @locality incidentctl's main thread (kafka_read_all() calls back on it)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "ctl_text.h"
#include "utf8.h"

/* One dead letter. */
typedef struct ctl_dead {
    int64_t ts;
    int32_t partition;
    int64_t offset;
    size_t size;
    char key[256], error[512], stage[64], src_topic[256], src_partition[16], src_offset[24];
} ctl_dead_t;

typedef struct ctl_dlq {
    long long max;    /* --max */
    ctl_dead_t *ring; /* the last max records */
    size_t n, next;
    uint64_t total;
    ctl_progress_t progress;
} ctl_dlq_t;

static int ctl_dlq_opt_max(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_dlq_t *q = base;
    return ctl_opt_uint(c, opt, arg, 1, 100000, "1..100000", &q->max);
}

static const ctl_opt_t ctl_dlq_opts[] = {
    {.name = "max", .arg = "N", .help = "show the last N (default 100)", .set = ctl_dlq_opt_max},
    {0},
};

/* ---- reading ----------------------------------------------------------------------- */

static void ctl_dlq_progress(uint64_t done, uint64_t total, void *opaque)
{
    ctl_dlq_t *q = opaque;
    ctl_progress_draw(done, total, &q->progress);
}

static int ctl_dlq_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    ctl_dlq_t *q = opaque;
    ctl_dead_t *d = &q->ring[q->next];
    q->next = (q->next + 1) % (size_t)q->max;
    if (q->n < (size_t)q->max)
        q->n++;
    q->total++;
    rd_kafka_timestamp_type_t tt;
    d->ts = rd_kafka_message_timestamp(m, &tt);
    d->partition = m->partition;
    d->offset = m->offset;
    d->size = m->len;
    size_t kl = m->key_len < sizeof(d->key) ? m->key_len : sizeof(d->key) - 1;
    if (m->key)
        memcpy(d->key, m->key, kl);
    d->key[m->key ? kl : 0] = '\0';
    kafka_header(m, "x-error", d->error, sizeof(d->error));
    kafka_header(m, "x-stage", d->stage, sizeof(d->stage));
    kafka_header(m, "x-source-topic", d->src_topic, sizeof(d->src_topic));
    kafka_header(m, "x-source-partition", d->src_partition, sizeof(d->src_partition));
    kafka_header(m, "x-source-offset", d->src_offset, sizeof(d->src_offset));
    return 0;
}

/* The k-th oldest dead letter kept. */
static const ctl_dead_t *ctl_dlq_at(const ctl_dlq_t *q, size_t k)
{
    size_t first = q->n < (size_t)q->max ? 0 : q->next;
    return &q->ring[(first + k) % (size_t)q->max];
}

/* ---- printing ---------------------------------------------------------------------- */

static cJSON *ctl_dead_json(const ctl_dead_t *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "timestamp_ms", (double)d->ts);
    cJSON_AddNumberToObject(o, "partition", d->partition);
    cJSON_AddNumberToObject(o, "offset", (double)d->offset);
    /* A dead letter's key is whatever the sender sent: JSON holds UTF-8
     * only, so bytes that are not are shown escaped. */
    cJSON_AddStringToObject(o, "key",
                            utf8_valid(d->key, strlen(d->key)) ? d->key : ctl_text_safe(d->key));
    cJSON_AddNumberToObject(o, "size", (double)d->size);
    cJSON_AddStringToObject(o, "x-error", d->error);
    cJSON_AddStringToObject(o, "x-stage", d->stage);
    cJSON_AddStringToObject(o, "x-source-topic", d->src_topic);
    cJSON_AddStringToObject(o, "x-source-partition", d->src_partition);
    cJSON_AddStringToObject(o, "x-source-offset", d->src_offset);
    return o;
}

static void ctl_dlq_json(const ctl_dlq_t *q)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t k = 0; k < q->n; k++)
        cJSON_AddItemToArray(arr, ctl_dead_json(ctl_dlq_at(q, k)));
    ctl_json_print(arr);
}

static void ctl_dlq_table(const ctl_t *c, const ctl_dlq_t *q, const char *topic)
{
    int wk = 3, ws = 5;
    for (size_t k = 0; k < q->n; k++) {
        wk = ctl_width(wk, ctl_dlq_at(q, k)->key);
        ws = ctl_width(ws, ctl_dlq_at(q, k)->stage);
    }
    if (q->n)
        printf("%-24s  %-*s  %-*s  %-32s  %s\n", "TIME", wk, "KEY", ws, "STAGE", "SOURCE", "ERROR");
    for (size_t k = 0; k < q->n; k++) {
        const ctl_dead_t *d = ctl_dlq_at(q, k);
        char t[40], src[600];
        snprintf(src, sizeof(src), "%s[%s]@%s", d->src_topic[0] ? d->src_topic : "?",
                 d->src_partition[0] ? d->src_partition : "?",
                 d->src_offset[0] ? d->src_offset : "?");
        printf("%-24s  %-*s  %-*s  %-32s  ", ctl_time(d->ts, t, sizeof(t)), wk,
               ctl_text_safe(d->key), ws, ctl_text_safe(d->stage), ctl_text_safe(src));
        ctl_cell(c, stdout, d->error, CTL_C_RED, 0);
        fputc('\n', stdout);
    }
    if (q->total > q->n)
        printf("(%" PRIu64 " dead letters, the last %zu shown; --max N for more)\n", q->total,
               q->n);
    else if (q->n == 0)
        printf("no dead letters in %s\n", topic);
}

/* Reads the topic into @p q and prints it. Returns an exit code. */
static int ctl_dlq_run(ctl_t *c, ctl_dlq_t *q)
{
    char topic[512], err[512];
    ctl_topic(c, "incidents.dlq", topic, sizeof(topic));
    kafka_read_t r = ctl_read_init(c, topic, ctl_dlq_on_msg, ctl_dlq_progress, q);
    int krc = kafka_read_all(&r, err, sizeof(err));
    ctl_progress_end(&q->progress);
    if (krc == KAFKA_NOTOPIC && c->json)
        ctl_json_print(cJSON_CreateArray());
    else if (krc == KAFKA_NOTOPIC)
        printf("no dead letters (%s does not exist yet)\n", topic);
    if (krc == KAFKA_NOTOPIC)
        return CTL_EXIT_OK;
    if (krc != KAFKA_OK) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    if (c->json)
        ctl_dlq_json(q);
    else
        ctl_dlq_table(c, q, topic);
    return CTL_EXIT_OK;
}

static int ctl_dlq_exec(ctl_t *c, int argc, char **argv)
{
    ctl_dlq_t q = {.max = 100};
    int rc = ctl_cmd_options(c, &ctl_cmd_dlq_entry, &q, &argc, &argv);
    if (rc != CTL_GO)
        return rc;
    q.progress = ctl_progress_init(c, "reading incidents.dlq");
    q.ring = calloc((size_t)q.max, sizeof(*q.ring));
    if (!q.ring) {
        ctl_err(c, "out of memory");
        return CTL_EXIT_USAGE;
    }
    rc = ctl_dlq_run(c, &q);
    free(q.ring);
    return rc;
}

const struct ctl_cmd_entry ctl_cmd_dlq_entry = {
    .name = "dlq",
    .usage = "[--max N]",
    .summary = "list the dead letters with their x-error / x-stage / x-source headers",
    .opts = ctl_dlq_opts,
    .notes = NULL,
    .exec = ctl_dlq_exec,
};
