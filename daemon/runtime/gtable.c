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
    ProtobufCMessage **w; /* records past the cap, waiting, in arrival order */
    size_t n_w, cap_w;
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
    for (size_t i = 0; i < s->n_w; i++)
        protobuf_c_message_free_unpacked(s->w[i], NULL);
    free(s->v);
    free(s->w);
    free(s->pos);
    free(s);
}

const ProtobufCMessage *const *gtable_all(const gtable_t *s, size_t *n)
{
    *n = s->n;
    return (const ProtobufCMessage *const *)s->v;
}

/* The index of the record of id @p id (@p len bytes) in @p v, or @p n. */
static size_t gtable_index(const gtable_t *s, ProtobufCMessage *const *v, size_t n, const char *id,
                           size_t len)
{
    size_t i = 0;
    while (i < n) {
        const char *vid = s->kind->id(v[i]);
        if (strlen(vid) == len && memcmp(vid, id, len) == 0)
            break;
        i++;
    }
    return i;
}

static size_t gtable_find(const gtable_t *s, const char *id, size_t len)
{
    return gtable_index(s, s->v, s->n, id, len);
}

/* Appends @p m to the array *@p v of *@p n records (capacity *@p cap). */
static void gtable_push(ProtobufCMessage ***v, size_t *n, size_t *cap, ProtobufCMessage *m)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *v = realloc(*v, *cap * sizeof(**v));
        if (!*v) {
            fprintf(stderr, "incidentd: out of memory\n");
            abort();
        }
    }
    (*v)[(*n)++] = m;
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

/* Removes waiting record @p j, the others kept in their order. */
static void gtable_unwait(gtable_t *s, size_t j)
{
    protobuf_c_message_free_unpacked(s->w[j], NULL);
    memmove(&s->w[j], &s->w[j + 1], (s->n_w - j - 1) * sizeof(*s->w));
    s->n_w--;
}

int gtable_waits(const gtable_t *s, const char *id)
{
    return gtable_index(s, s->w, s->n_w, id, strlen(id)) < s->n_w;
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

/* Record @p rec of key @p key arrived past the cap: it waits, unless as
 * many wait already (then it is dropped). Counted, and logged at most
 * every GTABLE_REFUSED_LOG_MS (a flood of them must not flood the log). */
static void gtable_wait(gtable_t *s, ProtobufCMessage *rec, const char *key, size_t key_len)
{
    int waits = s->n_w < s->max;
    if (waits)
        gtable_push(&s->w, &s->n_w, &s->cap_w, rec);
    else
        protobuf_c_message_free_unpacked(rec, NULL);
    s->refused++;
    int64_t mono = clock_mono_ms();
    if (s->refused_log_ms && mono - s->refused_log_ms < GTABLE_REFUSED_LOG_MS)
        return;
    s->refused_log_ms = mono;
    log_msg(LOG_WARN, s->kind->what, NULL, NULL,
            "%s: record of key '%.*s' %s: %zu %s in force already, the most %s allows "
            "(%zu waiting; %" PRIu64 " past the cap so far; expire the surplus)",
            s->topic, (int)(key_len > 128 ? 128 : key_len), key,
            waits ? "waits" : "dropped (as many wait already)", s->max, s->kind->what,
            s->kind->max_setting, s->n_w, s->refused);
}

/* Brings waiting records in, in the order they arrived: each one that has
 * ended (it counts for nothing), and those in force while fewer than the
 * cap are. */
static void gtable_promote(gtable_t *s, int64_t now)
{
    if (s->n_w == 0)
        return;
    size_t in_force = gtable_count_in_force(s, "", 0, now), k = 0;
    for (size_t j = 0; j < s->n_w; j++) {
        ProtobufCMessage *m = s->w[j];
        int live = gtable_in_force(s, m, now);
        if (live && in_force >= s->max) {
            s->w[k++] = m;
            continue;
        }
        in_force += (size_t)live;
        gtable_push(&s->v, &s->n, &s->cap, m);
        s->gen++;
    }
    s->n_w = k;
}

/* Takes the checked record @p rec of key @p key: it replaces its entry,
 * becomes one, or waits past the cap. Returns 1 when the entries changed. */
static int gtable_take_record(gtable_t *s, ProtobufCMessage *rec, const char *key, size_t key_len)
{
    int64_t now = clock_now_ms();
    size_t j = gtable_index(s, s->w, s->n_w, key, key_len);
    if (j < s->n_w) /* a new value of a waiting record: a new arrival */
        gtable_unwait(s, j);
    size_t i = gtable_find(s, key, key_len);
    int live = gtable_in_force(s, rec, now);
    if (i < s->n &&
        (!live || gtable_in_force(s, s->v[i], now) || !gtable_is_full(s, key, key_len, now))) {
        protobuf_c_message_free_unpacked(s->v[i], NULL);
        s->v[i] = rec;
        s->gen++;
        gtable_promote(s, now); /* it may have ended: room */
        return 1;
    }
    int changed = 0;
    if (i < s->n) { /* ended, and back in force past the cap: a new one */
        gtable_drop(s, i);
        changed = 1;
    }
    if (!live || !gtable_is_full(s, key, key_len, now)) {
        gtable_push(&s->v, &s->n, &s->cap, rec);
        s->gen++;
        return 1;
    }
    gtable_wait(s, rec, key, key_len);
    return changed;
}

int gtable_apply(gtable_t *s, const char *key, size_t key_len, const void *value, size_t len)
{
    if (!key)
        key_len = 0;
    if (!value || len == 0) {
        size_t j = gtable_index(s, s->w, s->n_w, key ? key : "", key_len);
        if (j < s->n_w) /* a waiting one expired: never in force */
            gtable_unwait(s, j);
        size_t i = gtable_find(s, key ? key : "", key_len);
        if (i == s->n)
            return 0; /* a tombstone of an entry we do not have */
        gtable_drop(s, i);
        gtable_promote(s, clock_now_ms());
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
    return gtable_take_record(s, rec, key, key_len);
}

/* Remembers that the partition of @p m continues after it. */
static void gtable_advance(gtable_t *s, const rd_kafka_message_t *m)
{
    for (size_t i = 0; i < s->n_pos; i++)
        if (s->pos[i].partition == m->partition) {
            s->pos[i].next = m->offset + 1;
            return;
        }
}

/* What a load gathers before it applies (gtable_apply_topic()). */
typedef struct gtable_gather {
    gtable_t *s;
    gtable_record_t *v; /* key and value copied (malloc) */
    size_t n, cap;
} gtable_gather_t;

static void *gtable_copy(const void *p, size_t len)
{
    void *c = len ? malloc(len) : NULL;
    if (len && !c) {
        fprintf(stderr, "incidentd: out of memory\n");
        abort();
    }
    if (len)
        memcpy(c, p, len);
    return c;
}

static int gtable_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    gtable_gather_t *g = opaque;
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        g->v = realloc(g->v, g->cap * sizeof(*g->v));
        if (!g->v) {
            fprintf(stderr, "incidentd: out of memory\n");
            abort();
        }
    }
    gtable_record_t *r = &g->v[g->n++];
    r->key = gtable_copy(m->key, m->key ? m->key_len : 0);
    r->key_len = m->key ? m->key_len : 0;
    r->value = gtable_copy(m->payload, m->payload ? m->len : 0);
    r->len = m->payload ? m->len : 0;
    r->ts = rd_kafka_message_timestamp(m, NULL);
    r->partition = m->partition;
    r->offset = m->offset;
    gtable_advance(g->s, m);
    return 0;
}

static void gtable_gather_free(gtable_gather_t *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free((void *)g->v[i].key);
        free((void *)g->v[i].value);
    }
    free(g->v);
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
    while (s->n_w > 0)
        gtable_unwait(s, s->n_w - 1);
    s->gen++; /* even when it was empty: what follows is another table */
    kafka_reader_close(s->follower);
    s->follower = NULL;
    if (gtable_plan(s, errstr, errstr_size) < 0)
        return -1;
    gtable_gather_t g = {.s = s};
    kafka_read_t r = {
        .brokers = s->brokers,
        .props = s->props,
        .topic = s->topic,
        .idle_timeout_ms = 10000,
        .on_msg = gtable_on_msg,
        .opaque = &g,
        .stop = stop,
    };
    int rc = kafka_read_all(&r, errstr, errstr_size) == KAFKA_OK ? 0 : -1;
    if (rc == 0 && r.incomplete) {
        snprintf(errstr, errstr_size, "%s: read stopped before its end (an open transaction?)",
                 s->topic);
        rc = -1;
    }
    if (rc == 0)
        gtable_apply_topic(s, g.v, g.n);
    gtable_gather_free(&g);
    if (rc < 0 || gtable_follower_start(s, errstr, errstr_size) < 0)
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
    gtable_promote(s, now); /* room, maybe */
    /* Bounded: a burst of records never holds up the stage for long. */
    for (int i = 0; i < 1000; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->follower, 0);
        if (!m)
            return;
        if (!m->err) {
            gtable_apply(s, m->key, m->key_len, m->payload, m->len);
            gtable_advance(s, m);
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_msg(LOG_WARN, s->kind->what, NULL, NULL, "%s: %s", s->topic,
                    rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
}
