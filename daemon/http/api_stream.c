/*
 * api_stream.c — GET /v1/stream: Server-Sent Events of transitions, one
 * event per ORMIS audit record, read by a read_committed Kafka reader of
 * ormis.audit of the stream's own (assigned partitions, no group, no
 * commits), so only committed transitions are sent, each once per stream.
 *
 * The position: an event's id is the reader's position after it, the next
 * offset of every partition of ormis.audit in partition order, joined by
 * '.' ("17.0.4.9..."). A client that reconnects with Last-Event-ID (or
 * ?last_event_id=) resumes right after the last event it received; without
 * one the stream starts at the end of the topic. The first event, `ready`,
 * carries the starting position, so a client that saw no transition yet can
 * resume too. Events:
 *
 *   id: <position>
 *   event: transition
 *   data: <the AuditRecord as JSON, its snapshot included>
 *
 * and a comment line every API_STREAM_KEEPALIVE_MS of silence. A stream
 * holds its connection's thread; api.max_streams bound them (503 beyond).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "api_internal.h"
#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "pbjson.h"

#define API_STREAM_KEEPALIVE_MS 15000
#define API_STREAM_POLL_MS 250
#define API_STREAM_MAX_PARTITIONS 1024
#define API_STREAM_START_MS 15000

typedef struct api_stream {
    api_t *api;
    rd_kafka_t *rk;
    int32_t n_parts;
    int64_t *next; /* next offset per partition (index = partition id) */
    char *only;    /* ?incident=, or NULL */
    char *buf;     /* pending bytes of the current event */
    size_t len, off, cap;
} api_stream_t;

static void api_stream_free(void *cls)
{
    api_stream_t *s = cls;
    if (!s)
        return;
    kafka_reader_close(s->rk);
    atomic_fetch_sub(&s->api->streams, 1);
    free(s->next);
    free(s->only);
    free(s->buf);
    free(s);
}

/* Appends to the pending bytes. */
static void api_stream_put(api_stream_t *s, const char *text, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 4096;
        while (nc < s->len + n + 1)
            nc *= 2;
        s->buf = realloc(s->buf, nc);
        if (!s->buf)
            abort();
        s->cap = nc;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
}

/* "id: <position>\n" */
static void api_stream_put_id(api_stream_t *s)
{
    api_stream_put(s, "id: ", 4);
    for (int32_t i = 0; i < s->n_parts; i++) {
        char num[32];
        int k = snprintf(num, sizeof(num), "%s%" PRId64, i ? "." : "", s->next[i]);
        api_stream_put(s, num, (size_t)k);
    }
    api_stream_put(s, "\n", 1);
}

static void api_stream_put_event(api_stream_t *s, const char *name, const char *json)
{
    api_stream_put_id(s);
    api_stream_put(s, "event: ", 7);
    api_stream_put(s, name, strlen(name));
    api_stream_put(s, "\ndata: ", 7);
    api_stream_put(s, json, strlen(json));
    api_stream_put(s, "\n\n", 2);
}

/* One record read: the next event, unless filtered out. */
static void api_stream_take(api_stream_t *s, const rd_kafka_message_t *m)
{
    if (m->partition >= 0 && m->partition < s->n_parts)
        s->next[m->partition] = m->offset + 1;
    if (s->only && (m->key_len != strlen(s->only) || memcmp(m->key, s->only, m->key_len) != 0))
        return;
    Incident__V1__AuditRecord *rec = incident__v1__audit_record__unpack(NULL, m->len, m->payload);
    if (!rec)
        return; /* not a record: nothing to tell */
    cJSON *o = pbjson_from_message(&rec->base);
    incident__v1__audit_record__free_unpacked(rec, NULL);
    char *text = cJSON_PrintUnformatted(o); /* one line: no newline inside */
    cJSON_Delete(o);
    if (!text)
        abort();
    api_stream_put_event(s, "transition", text);
    free(text);
}

/* @locality the connection's thread: blocks until an event, a keepalive
 * or the API stops. */
static ssize_t api_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    api_stream_t *s = cls;
    int64_t quiet_until = clock_mono_ms() + API_STREAM_KEEPALIVE_MS;
    while (s->off == s->len) {
        s->off = s->len = 0;
        if (atomic_load(&s->api->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, API_STREAM_POLL_MS);
        if (m && !m->err)
            api_stream_take(s, m);
        if (m)
            rd_kafka_message_destroy(m);
        if (s->len == 0 && clock_mono_ms() >= quiet_until)
            api_stream_put(s, ": keepalive\n\n", 13);
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy(out, s->buf + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

/* Parses a position into s->next (partitions beyond it start at 0).
 * Returns 0, or -1 when it is not one of ours. */
static int api_stream_resume(api_stream_t *s, const char *pos)
{
    const char *p = pos;
    for (int32_t i = 0; *p; i++) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || i >= s->n_parts || (*end && *end != '.'))
            return -1;
        s->next[i] = v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* The end of partition @p i into s->next[i]; a topic created a moment ago
 * may have no leader yet: retried for API_STREAM_START_MS. */
static int api_stream_end(api_stream_t *s, int32_t i, char *why, size_t why_size)
{
    int64_t deadline = clock_mono_ms() + API_STREAM_START_MS;
    for (;;) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(s->rk, s->api->audit_topic, i, &lo, &hi, 2000);
        if (!err) {
            s->next[i] = hi;
            return 0;
        }
        if (clock_mono_ms() >= deadline || atomic_load(&s->api->stopping)) {
            snprintf(why, why_size, "kafka: the end of %s [%d] is not known: %s",
                     s->api->audit_topic, (int)i, rd_kafka_err2str(err));
            return -1;
        }
        usleep(250 * 1000);
    }
}

/* The reader, assigned at the stream's start. Returns 0, -1 (400: bad
 * position) or -2 (503: Kafka, with @p why). */
static int api_stream_open(api_stream_t *s, const char *resume, char *why, size_t why_size)
{
    api_t *api = s->api;
    s->rk = kafka_reader_open(api->cfg->brokers, (const char *const *)api->props, why, why_size);
    if (!s->rk)
        return -2;
    int32_t *parts = NULL;
    int n = 0;
    if (kafka_partitions(s->rk, api->audit_topic, 5000, &parts, &n, why, why_size) != KAFKA_OK)
        return -2;
    int32_t max = -1;
    for (int i = 0; i < n; i++)
        max = parts[i] > max ? parts[i] : max;
    free(parts);
    s->n_parts = max + 1 > API_STREAM_MAX_PARTITIONS ? API_STREAM_MAX_PARTITIONS : max + 1;
    s->next = calloc((size_t)(s->n_parts ? s->n_parts : 1), sizeof(*s->next));
    if (!s->next)
        abort();
    if (resume && *resume) {
        if (api_stream_resume(s, resume) < 0) {
            snprintf(why, why_size, "Last-Event-ID: not a position of this stream");
            return -1;
        }
    } else {
        for (int32_t i = 0; i < s->n_parts; i++)
            if (api_stream_end(s, i, why, why_size) < 0)
                return -2;
    }
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(s->n_parts);
    for (int32_t i = 0; i < s->n_parts; i++)
        rd_kafka_topic_partition_list_add(assign, api->audit_topic, i)->offset = s->next[i];
    rd_kafka_resp_err_t err = rd_kafka_assign(s->rk, assign);
    rd_kafka_topic_partition_list_destroy(assign);
    if (err) {
        snprintf(why, why_size, "kafka: assign: %s", rd_kafka_err2str(err));
        return -2;
    }
    return 0;
}

enum MHD_Result api_stream(api_req_t *r)
{
    api_t *api = r->api;
    if (atomic_fetch_add(&api->streams, 1) >= api->cfg->api_max_streams) {
        atomic_fetch_sub(&api->streams, 1);
        r->retry_after = 5;
        return api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
                         "too many event streams open (api.max_streams)");
    }
    api_stream_t *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->api = api;
    const char *only = api_arg(r, "incident");
    s->only = only && *only ? strdup(only) : NULL;
    const char *resume = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    if (!resume || !*resume)
        resume = api_arg(r, "last_event_id");
    char why[512];
    int rc = api_stream_open(s, resume, why, sizeof(why));
    if (rc < 0) {
        api_stream_free(s);
        return rc == -1 ? api_error(r, MHD_HTTP_BAD_REQUEST, "bad request", "Last-Event-ID", why)
                        : api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL, why);
    }
    api_stream_put_event(s, "ready", "{}");
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096, api_stream_read, s, api_stream_free);
    if (!resp) {
        api_stream_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    log_msg(LOG_DEBUG, "api", s->only, NULL, "stream for %s from %s", r->person->name, r->client);
    enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    return ret;
}
