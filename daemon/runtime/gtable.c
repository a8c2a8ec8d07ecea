/*
 * gtable.c — a global table of a compacted topic; see gtable.h.
 */
#include "gtable.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"

/* Where the follower starts in one partition. */
typedef struct gtable_pos {
    int32_t partition;
    int64_t next; /* offset after the last record read, or RD_KAFKA_OFFSET_BEGINNING */
} gtable_pos_t;

struct gtable {
    const char *brokers;
    const char *const *props;
    char topic[300];
    const gtable_kind_t *kind;
    ProtobufCMessage **v; /* unpacked with protobuf-c's allocator */
    size_t n, cap;
    gtable_pos_t *pos;
    size_t n_pos;
    rd_kafka_t *follower;
    int keep_ended;         /* gtable_keep_ended() */
    uint64_t gen;           /* gtable_generation(): bumped at every change */
    size_t max;             /* entries in force at most; 0: no cap */
    uint64_t refused;       /* gtable_refused() */
    int64_t refused_log_ms; /* when a refusal was last logged (monotonic) */
};

#define GTABLE_REFUSED_LOG_MS 10000 /* a flood of refusals logs one line this often */

gtable_t *gtable_new(const gtable_kind_t *kind, const char *brokers, const char *topic,
                     const char *const *props, size_t max)
{
    gtable_t *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "incidentd: out of memory\n");
        abort();
    }
    s->kind = kind;
    s->brokers = brokers;
    s->props = props;
    s->max = max;
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    return s;
}

void gtable_destroy(gtable_t *s)
{
    if (!s)
        return;
    kafka_reader_close(s->follower);
    for (size_t i = 0; i < s->n; i++)
        protobuf_c_message_free_unpacked(s->v[i], NULL);
    free(s->v);
    free(s->pos);
    free(s);
}

const ProtobufCMessage *const *gtable_all(const gtable_t *s, size_t *n)
{
    *n = s->n;
    return (const ProtobufCMessage *const *)s->v;
}

static size_t gtable_find(const gtable_t *s, const char *id, size_t len)
{
    size_t i = 0;
    while (i < s->n) {
        const char *vid = s->kind->id(s->v[i]);
        if (strlen(vid) == len && memcmp(vid, id, len) == 0)
            break;
        i++;
    }
    return i;
}

const ProtobufCMessage *gtable_get(const gtable_t *s, const char *id)
{
    size_t i = gtable_find(s, id, strlen(id));
    return i < s->n ? s->v[i] : NULL;
}

uint64_t gtable_generation(const gtable_t *s) { return s->gen; }

/* Removes entry @p i. */
static void gtable_drop(gtable_t *s, size_t i)
{
    protobuf_c_message_free_unpacked(s->v[i], NULL);
    s->v[i] = s->v[--s->n];
    s->gen++;
}

uint64_t gtable_refused(const gtable_t *s) { return s->refused; }

/* Whether @p m is in force at @p now: not ended (pending counts). */
static int gtable_in_force(const gtable_t *s, const ProtobufCMessage *m, int64_t now)
{
    int64_t end = s->kind->ends_at ? s->kind->ends_at(m) : 0;
    return end <= 0 || end > now;
}

/* Entries in force at @p now, but the one of key @p id (@p id_len bytes). */
static size_t gtable_count_in_force(const gtable_t *s, const char *id, size_t id_len, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        const char *vid = s->kind->id(s->v[i]);
        int same = strlen(vid) == id_len && memcmp(vid, id, id_len) == 0;
        n += !same && gtable_in_force(s, s->v[i], now);
    }
    return n;
}

/* 1 when the cap's number of entries other than @p id are in force. */
static int gtable_is_full(const gtable_t *s, const char *id, size_t id_len, int64_t now)
{
    if (s->max == 0 || s->n < s->max) /* fewer entries than the cap: room */
        return 0;
    return gtable_count_in_force(s, id, id_len, now) >= s->max;
}

int gtable_full(const gtable_t *s, const char *id, char *err, size_t err_size)
{
    if (!gtable_is_full(s, id, strlen(id), clock_now_ms()))
        return 0;
    snprintf(err, err_size,
             "%s: %zu %s in force already, the most the table holds; expire one first "
             "(or raise %s)",
             s->kind->max_setting, s->max, s->kind->what, s->kind->max_setting);
    return 1;
}

/* A record ignored because the table is full: counted, and logged at most
 * every GTABLE_REFUSED_LOG_MS (a flood of them must not flood the log). */
static void gtable_refuse(gtable_t *s, const char *key, size_t key_len)
{
    s->refused++;
    int64_t mono = clock_mono_ms();
    if (s->refused_log_ms && mono - s->refused_log_ms < GTABLE_REFUSED_LOG_MS)
        return;
    s->refused_log_ms = mono;
    log_msg(LOG_WARN, s->kind->what, NULL, NULL,
            "%s: record of key '%.*s' ignored: %zu %s in force already, the most %s allows "
            "(%" PRIu64 " ignored so far; expire the surplus)",
            s->topic, (int)(key_len > 128 ? 128 : key_len), key, s->max, s->kind->what,
            s->kind->max_setting, s->refused);
}

int gtable_apply(gtable_t *s, const char *key, size_t key_len, const void *value, size_t len)
{
    size_t i = gtable_find(s, key ? key : "", key ? key_len : 0);
    if (!value || len == 0) {
        if (i == s->n)
            return 0; /* a tombstone of an entry we never had */
        gtable_drop(s, i);
        return 1;
    }
    ProtobufCMessage *rec = protobuf_c_message_unpack(s->kind->desc, NULL, len, value);
    char err[256];
    const char *why = NULL;
    if (!rec)
        why = "does not decode";
    else if (s->kind->check(rec, err, sizeof(err)) < 0)
        why = err;
    else if (strlen(s->kind->id(rec)) != key_len || memcmp(s->kind->id(rec), key, key_len) != 0)
        why = "its id is not its key";
    if (why) {
        log_msg(LOG_WARN, s->kind->what, NULL, NULL, "%s: record of key '%.*s' ignored: %s",
                s->topic, (int)(key_len > 128 ? 128 : key_len), key ? key : "", why);
        if (rec)
            protobuf_c_message_free_unpacked(rec, NULL);
        return 0;
    }
    int64_t now = clock_now_ms();
    if (gtable_in_force(s, rec, now) && (i == s->n || !gtable_in_force(s, s->v[i], now)) &&
        gtable_is_full(s, key, key_len, now)) {
        gtable_refuse(s, key, key_len);
        protobuf_c_message_free_unpacked(rec, NULL);
        return 0;
    }
    s->gen++;
    if (i < s->n) {
        protobuf_c_message_free_unpacked(s->v[i], NULL);
        s->v[i] = rec;
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
    s->v[s->n++] = rec;
    return 1;
}

/* Applies one record and remembers where its partition continues. */
static void gtable_take(gtable_t *s, const rd_kafka_message_t *m)
{
    gtable_apply(s, m->key, m->key_len, m->payload, m->len);
    for (size_t i = 0; i < s->n_pos; i++)
        if (s->pos[i].partition == m->partition) {
            s->pos[i].next = m->offset + 1;
            return;
        }
}

static int gtable_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    gtable_take(opaque, m);
    return 0;
}

/* The follower: every partition, right after what the load read. */
static int gtable_follower_start(gtable_t *s, char *errstr, size_t errstr_size)
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
static int gtable_plan(gtable_t *s, char *errstr, size_t errstr_size)
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

int gtable_load(gtable_t *s, volatile sig_atomic_t *stop, char *errstr, size_t errstr_size)
{
    while (s->n > 0) /* a load again starts from an empty table */
        gtable_drop(s, 0);
    s->gen++; /* even when it was empty: what follows is another table */
    kafka_reader_close(s->follower);
    s->follower = NULL;
    if (gtable_plan(s, errstr, errstr_size) < 0)
        return -1;
    kafka_read_t r = {
        .brokers = s->brokers,
        .props = s->props,
        .topic = s->topic,
        .idle_timeout_ms = 10000,
        .on_msg = gtable_on_msg,
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
    if (gtable_follower_start(s, errstr, errstr_size) < 0)
        return -1;
    log_msg(LOG_INFO, s->kind->what, NULL, NULL, "%s: %zu %s loaded (%" PRIu64 " records)",
            s->topic, s->n, s->kind->what, r.read);
    return 0;
}

void gtable_keep_ended(gtable_t *s) { s->keep_ended = 1; }

void gtable_follow(gtable_t *s)
{
    if (!s->follower)
        return;
    /* An ended entry matters no more: drop it from memory (the topic keeps
     * it until its tombstone). */
    int64_t now = clock_now_ms();
    for (size_t i = s->keep_ended ? 0 : s->n; i-- > 0;) {
        int64_t end = s->kind->ends_at ? s->kind->ends_at(s->v[i]) : 0;
        if (end > 0 && end <= now)
            gtable_drop(s, i);
    }
    /* Bounded: a burst of records never holds up the stage for long. */
    for (int i = 0; i < 1000; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->follower, 0);
        if (!m)
            return;
        if (!m->err)
            gtable_take(s, m);
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_msg(LOG_WARN, s->kind->what, NULL, NULL, "%s: %s", s->topic,
                    rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
}
