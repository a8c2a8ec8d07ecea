/*
 * silences.c — the global table of silences of a detected-stage worker;
 * see silences.h.
 */
#include "silences.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "silence.h"

/* Where the follower starts in one partition. */
typedef struct silences_pos {
    int32_t partition;
    int64_t next; /* offset after the last record read, or RD_KAFKA_OFFSET_BEGINNING */
} silences_pos_t;

struct silences {
    const char *brokers;
    const char *const *props;
    char topic[300];
    hd_silence_t **v; /* unpacked with protobuf-c's allocator */
    size_t n, cap;
    silences_pos_t *pos;
    size_t n_pos;
    rd_kafka_t *follower;
};

silences_t *silences_new(const char *brokers, const char *topic, const char *const *props)
{
    silences_t *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "incidentd: out of memory\n");
        abort();
    }
    s->brokers = brokers;
    s->props = props;
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    return s;
}

void silences_destroy(silences_t *s)
{
    if (!s)
        return;
    kafka_reader_close(s->follower);
    for (size_t i = 0; i < s->n; i++)
        incident__v1__silence__free_unpacked(s->v[i], NULL);
    free(s->v);
    free(s->pos);
    free(s);
}

const hd_silence_t *const *silences_all(const silences_t *s, size_t *n)
{
    *n = s->n;
    return (const hd_silence_t *const *)s->v;
}

static size_t silences_find(const silences_t *s, const char *id, size_t len)
{
    size_t i = 0;
    while (i < s->n && (strlen(s->v[i]->id) != len || memcmp(s->v[i]->id, id, len) != 0))
        i++;
    return i;
}

int silences_apply(silences_t *s, const char *key, size_t key_len, const void *value, size_t len)
{
    size_t i = silences_find(s, key ? key : "", key ? key_len : 0);
    if (!value || len == 0) {
        if (i == s->n)
            return 0; /* a tombstone of a silence we never had */
        incident__v1__silence__free_unpacked(s->v[i], NULL);
        s->v[i] = s->v[--s->n];
        return 1;
    }
    hd_silence_t *sil = incident__v1__silence__unpack(NULL, len, value);
    char err[256];
    const char *why = NULL;
    if (!sil)
        why = "does not decode as incident.v1.Silence";
    else if (hd_silence_validate(sil, 0, NULL, err, sizeof(err)) < 0)
        why = err;
    else if (strlen(sil->id) != key_len || memcmp(sil->id, key, key_len) != 0)
        why = "its id is not its key";
    if (why) {
        log_msg(LOG_WARN, "detected", NULL, NULL, "%s: record of key '%.*s' ignored: %s", s->topic,
                (int)(key_len > 128 ? 128 : key_len), key ? key : "", why);
        if (sil)
            incident__v1__silence__free_unpacked(sil, NULL);
        return 0;
    }
    if (i < s->n) {
        incident__v1__silence__free_unpacked(s->v[i], NULL);
        s->v[i] = sil;
        return 1;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (!s->v) {
            fprintf(stderr, "incidentd: out of memory\n");
            abort();
        }
    }
    s->v[s->n++] = sil;
    return 1;
}

/* Applies one record and remembers where its partition continues. */
static void silences_take(silences_t *s, const rd_kafka_message_t *m)
{
    silences_apply(s, m->key, m->key_len, m->payload, m->len);
    for (size_t i = 0; i < s->n_pos; i++)
        if (s->pos[i].partition == m->partition) {
            s->pos[i].next = m->offset + 1;
            return;
        }
}

static int silences_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    silences_take(opaque, m);
    return 0;
}

/* The follower: every partition, right after what the load read. */
static int silences_follower_start(silences_t *s, char *errstr, size_t errstr_size)
{
    s->follower = kafka_reader_open(s->brokers, s->props, errstr, errstr_size);
    if (!s->follower)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->n_pos);
    for (size_t i = 0; i < s->n_pos; i++)
        rd_kafka_topic_partition_list_add(l, s->topic, s->pos[i].partition)->offset =
            s->pos[i].next;
    rd_kafka_resp_err_t err = rd_kafka_assign(s->follower, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        snprintf(errstr, errstr_size, "kafka: assign %s: %s", s->topic, rd_kafka_err2str(err));
        kafka_reader_close(s->follower);
        s->follower = NULL;
        return -1;
    }
    return 0;
}

/* The partitions of the topic, each to be read from its beginning. */
static int silences_plan(silences_t *s, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = kafka_reader_open(s->brokers, s->props, errstr, errstr_size);
    if (!rk)
        return -1;
    int32_t *parts = NULL;
    int n = 0;
    int rc = kafka_partitions(rk, s->topic, 10000, &parts, &n, errstr, errstr_size);
    kafka_reader_close(rk);
    if (rc != KAFKA_OK)
        return -1;
    free(s->pos);
    s->pos = calloc((size_t)n + 1, sizeof(*s->pos));
    s->n_pos = s->pos ? (size_t)n : 0;
    for (size_t i = 0; i < s->n_pos; i++) {
        s->pos[i].partition = parts[i];
        s->pos[i].next = RD_KAFKA_OFFSET_BEGINNING;
    }
    free(parts);
    return 0;
}

int silences_load(silences_t *s, volatile sig_atomic_t *stop, char *errstr, size_t errstr_size)
{
    while (s->n > 0) /* a load again starts from an empty table */
        silences_apply(s, s->v[0]->id, strlen(s->v[0]->id), NULL, 0);
    kafka_reader_close(s->follower);
    s->follower = NULL;
    if (silences_plan(s, errstr, errstr_size) < 0)
        return -1;
    kafka_read_t r = {
        .brokers = s->brokers,
        .props = s->props,
        .topic = s->topic,
        .idle_timeout_ms = 10000,
        .on_msg = silences_on_msg,
        .opaque = s,
        .stop = stop,
    };
    if (kafka_read_all(&r, errstr, errstr_size) != KAFKA_OK)
        return -1;
    if (r.incomplete) {
        snprintf(errstr, errstr_size, "%s: read stopped before its end (an open transaction?)",
                 s->topic);
        return -1;
    }
    if (silences_follower_start(s, errstr, errstr_size) < 0)
        return -1;
    log_msg(LOG_INFO, "detected", NULL, NULL, "%s: %zu silences loaded (%" PRIu64 " records)",
            s->topic, s->n, r.read);
    return 0;
}

void silences_follow(silences_t *s)
{
    if (!s->follower)
        return;
    /* An ended silence matches nothing any more: drop it from memory (the
     * topic keeps it until it is expired, a tombstone). */
    int64_t now = clock_now_ms();
    for (size_t i = s->n; i-- > 0;)
        if (s->v[i]->ends_at_ms <= now)
            silences_apply(s, s->v[i]->id, strlen(s->v[i]->id), NULL, 0);
    /* Bounded: a burst of records never holds up the stage for long. */
    for (int i = 0; i < 1000; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->follower, 0);
        if (!m)
            return;
        if (!m->err)
            silences_take(s, m);
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_msg(LOG_WARN, "detected", NULL, NULL, "%s: %s", s->topic,
                    rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
}
