/*
 * testutil.c — see testutil.h.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TU_MAX 32

static char tu_keys[TU_MAX][64];
static char tu_vals[TU_MAX][512];
static int tu_n = -1;

/* Adds the KEY=VALUE lines of @p path (may be NULL). */
static void tu_load_file(const char *path)
{
    if (!path)
        return;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[600];
    while (tu_n < TU_MAX && fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *v = eq + 1;
        v[strcspn(v, "\r\n")] = '\0';
        size_t kl = strlen(line), vl = strlen(v);
        if (kl >= sizeof(tu_keys[0]) || vl >= sizeof(tu_vals[0]))
            continue;
        memcpy(tu_keys[tu_n], line, kl + 1);
        memcpy(tu_vals[tu_n], v, vl + 1);
        tu_n++;
    }
    fclose(f);
}

static void tu_load(void)
{
    if (tu_n >= 0)
        return;
    tu_n = 0;
    tu_load_file(getenv("INCIDENTD_TESTBED_ENV"));
    /* The Redis HA set's (deploy/redis.sh ha-start), for the `ha` tests. */
    tu_load_file(getenv("INCIDENTD_TEST_REDIS_HA_ENV"));
}

const char *tu_testbed(const char *key)
{
    const char *v = getenv(key);
    if (v && *v)
        return v;
    tu_load();
    for (int i = 0; i < tu_n; i++)
        if (strcmp(tu_keys[i], key) == 0)
            return tu_vals[i];
    return NULL;
}

static const char *tu_require(const char *key)
{
    const char *v = tu_testbed(key);
    if (!v) {
        fprintf(stderr,
                "test bed setting %s missing: run through ctest "
                "(fixture testbed) or set it in the environment\n",
                key);
        abort();
    }
    return v;
}

const char *tu_brokers(void) { return tu_require("INCIDENTD_TEST_BROKERS"); }
const char *tu_redis(void) { return tu_require("INCIDENTD_TEST_REDIS"); }

const char *tu_unique(const char *prefix)
{
    static char buf[8][128];
    static int slot;
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char *b = buf[slot++ % 8];
    snprintf(b, sizeof(buf[0]), "%s-%d-%lld-%u", prefix, (int)getpid(), (long long)ts.tv_nsec,
             counter++);
    return b;
}

int tu_env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

unsigned tu_seed(const char *name)
{
    unsigned seed = (unsigned)tu_env_int(name, (int)getpid());
    srand(seed);
    return seed;
}

/* ---- Kafka, processes ------------------------------------------------------ */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <librdkafka/rdkafka.h>

int64_t tu_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The test bed's client security (INCIDENTD_TEST_KAFKA_<PROP> lines of its
 * env file, e.g. INCIDENTD_TEST_KAFKA_SASL_USERNAME -> sasl.username) on
 * @p conf, after bootstrap.servers = tu_brokers(). */
static void tu_kafka_conf(rd_kafka_conf_t *conf)
{
    static const char pfx[] = "INCIDENTD_TEST_KAFKA_";
    char err[512], prop[64];
    rd_kafka_conf_set(conf, "bootstrap.servers", tu_brokers(), err, sizeof(err));
    tu_load();
    for (int i = 0; i < tu_n; i++) {
        if (strncmp(tu_keys[i], pfx, sizeof(pfx) - 1) != 0)
            continue;
        const char *k = tu_keys[i] + sizeof(pfx) - 1;
        size_t n = 0;
        for (; k[n] && n < sizeof(prop) - 1; n++)
            prop[n] = k[n] == '_' ? '.' : (char)(k[n] >= 'A' && k[n] <= 'Z' ? k[n] + 32 : k[n]);
        prop[n] = '\0';
        if (rd_kafka_conf_set(conf, prop, tu_vals[i], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "test bed kafka property %s: %s\n", prop, err);
            abort();
        }
    }
}

const char *const *tu_kafka_env(void)
{
    static char buf[TU_MAX][600];
    static const char *env[TU_MAX + 1];
    static const char pfx[] = "INCIDENTD_TEST_";
    int n = 0;
    tu_load();
    for (int i = 0; i < tu_n; i++)
        if (strncmp(tu_keys[i], "INCIDENTD_TEST_KAFKA_", 21) == 0) {
            snprintf(buf[n], sizeof(buf[n]), "INCIDENTD_%.60s=%.511s", tu_keys[i] + sizeof(pfx) - 1,
                     tu_vals[i]);
            env[n] = buf[n];
            n++;
        }
    env[n] = NULL;
    return env;
}

static rd_kafka_t *tu_producer;

static void tu_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    int *status = m->_private;
    if (status)
        *status = m->err ? -1 : 1;
}

static rd_kafka_t *tu_get_producer(void)
{
    if (tu_producer)
        return tu_producer;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    tu_kafka_conf(conf);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err));
    rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof(err));
    rd_kafka_conf_set_dr_msg_cb(conf, tu_dr_cb);
    tu_producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!tu_producer) {
        fprintf(stderr, "producer: %s\n", err);
        abort();
    }
    return tu_producer;
}

int tu_topic_wait(const char *topic, int timeout_ms)
{
    rd_kafka_t *rk = tu_get_producer();
    int64_t deadline = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < deadline) {
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        int found = 0;
        if (t && rd_kafka_metadata(rk, 0, t, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            found = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    md->topics[0].partition_cnt > 0;
            rd_kafka_metadata_destroy(md);
        }
        if (t)
            rd_kafka_topic_destroy(t);
        if (found)
            return 0;
        usleep(200 * 1000);
    }
    return -1;
}

int tu_produce_header(const char *topic, const char *key, const void *val, size_t len,
                      const char *hname, const void *hval, size_t hlen)
{
    rd_kafka_t *rk = tu_get_producer();
    int status = 0;
    rd_kafka_headers_t *h = NULL;
    if (hname) {
        h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, hname, -1, hval, (ssize_t)hlen);
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(&status), RD_KAFKA_V_END);
    if (e) {
        if (h)
            rd_kafka_headers_destroy(h);
        return -1;
    }
    int64_t deadline = tu_now_ms() + 30000;
    while (status == 0 && tu_now_ms() < deadline)
        rd_kafka_poll(rk, 50);
    return status == 1 ? 0 : -1;
}

int tu_produce(const char *topic, const char *key, const void *val, size_t len)
{
    return tu_produce_header(topic, key, val, len, NULL, NULL, 0);
}

int tu_produce_alert(const char *topic, const Incident__V1__Alert *alert)
{
    size_t len = incident__v1__alert__get_packed_size(alert);
    unsigned char *buf = malloc(len ? len : 1);
    incident__v1__alert__pack(alert, buf);
    int rc = tu_produce(topic, alert->dedup_key, buf, len);
    free(buf);
    return rc;
}

int tu_topic_replicas(const char *topic, int timeout_ms)
{
    rd_kafka_t *rk = tu_get_producer();
    int64_t deadline = tu_now_ms() + timeout_ms;
    do {
        const struct rd_kafka_metadata *md = NULL;
        int min = -1;
        if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            for (int t = 0; t < md->topic_cnt; t++) {
                if (strcmp(md->topics[t].topic, topic) != 0 || md->topics[t].err ||
                    md->topics[t].partition_cnt == 0)
                    continue;
                for (int i = 0; i < md->topics[t].partition_cnt; i++)
                    if (min < 0 || md->topics[t].partitions[i].replica_cnt < min)
                        min = md->topics[t].partitions[i].replica_cnt;
            }
            rd_kafka_metadata_destroy(md);
        }
        if (min >= 0)
            return min;
        usleep(200 * 1000);
    } while (tu_now_ms() < deadline);
    return -1;
}

/* A consumer of @p group that joins nothing (offsets only). */
static rd_kafka_t *tu_group_handle(const char *group)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    tu_kafka_conf(conf);
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk)
        fprintf(stderr, "group handle: %s\n", err);
    return rk;
}

/* Every partition of @p topic at @p offset (none when the topic is unknown). */
static rd_kafka_topic_partition_list_t *tu_partitions(rd_kafka_t *rk, const char *topic,
                                                      int64_t offset)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = 0;
    if (rkt && rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n ? n : 1);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = offset;
    return l;
}

int tu_group_rewind(const char *group, const char *topic, int64_t last)
{
    rd_kafka_t *rk = tu_group_handle(group);
    if (!rk)
        return -1;
    rd_kafka_topic_partition_list_t *l = tu_partitions(rk, topic, 0);
    rd_kafka_resp_err_t e = l->cnt ? RD_KAFKA_RESP_ERR_NO_ERROR : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    for (int i = 0; !e && last >= 0 && i < l->cnt; i++) {
        int64_t lo = 0, hi = 0;
        e = rd_kafka_query_watermark_offsets(rk, topic, l->elems[i].partition, &lo, &hi, 5000);
        l->elems[i].offset = hi - last > lo ? hi - last : lo;
    }
    if (!e)
        e = rd_kafka_commit(rk, l, 0);
    if (e)
        fprintf(stderr, "rewind %s: %s\n", group, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return e ? -1 : 0;
}

/* Non-zero when every partition's committed offset is its high watermark. */
static int tu_group_at_end(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_partition_list_t *l = tu_partitions(rk, topic, RD_KAFKA_OFFSET_INVALID);
    int done = l->cnt > 0 && rd_kafka_committed(rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; done && i < l->cnt; i++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, l->elems[i].partition, &lo, &hi, 5000) ||
            l->elems[i].err || (hi > 0 && l->elems[i].offset < hi))
            done = 0;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return done;
}

int tu_group_caught_up(const char *group, const char *topic, int timeout_ms)
{
    rd_kafka_t *rk = tu_group_handle(group);
    if (!rk)
        return -1;
    int64_t deadline = tu_now_ms() + timeout_ms;
    int done = 0;
    while (!(done = tu_group_at_end(rk, topic)) && tu_now_ms() < deadline)
        usleep(250 * 1000);
    rd_kafka_destroy(rk);
    return done ? 0 : -1;
}

struct tu_consumer {
    rd_kafka_t *rk;
};

tu_consumer_t *tu_consumer_new(const char *const *topics)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    tu_kafka_conf(conf);
    rd_kafka_conf_set(conf, "group.id", tu_unique("tu-group"), err, sizeof(err));
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err));
    rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "500", err, sizeof(err));
    rd_kafka_conf_set(conf, "allow.auto.create.topics", "true", err, sizeof(err));
    tu_consumer_t *c = calloc(1, sizeof(*c));
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!c->rk) {
        fprintf(stderr, "consumer: %s\n", err);
        abort();
    }
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; topics[i]; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return c;
}

static void tu_header(rd_kafka_message_t *m, const char *name, char *out, size_t size)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    out[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (len >= size)
            len = size - 1;
        memcpy(out, v, len);
        out[len] = '\0';
    }
}

tu_msg_t *tu_consumer_next(tu_consumer_t *c, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        tu_msg_t *t = calloc(1, sizeof(*t));
        snprintf(t->topic, sizeof(t->topic), "%s", rd_kafka_topic_name(m->rkt));
        size_t kl = m->key_len < sizeof(t->key) - 1 ? m->key_len : sizeof(t->key) - 1;
        if (kl)
            memcpy(t->key, m->key, kl);
        t->val = malloc(m->len ? m->len : 1);
        if (m->len)
            memcpy(t->val, m->payload, m->len);
        t->len = m->len;
        t->partition = (int)m->partition;
        t->offset = m->offset;
        tu_header(m, "x-error", t->x_error, sizeof(t->x_error));
        tu_header(m, "x-stage", t->x_stage, sizeof(t->x_stage));
        rd_kafka_message_destroy(m);
        return t;
    }
    return NULL;
}

void tu_msg_free(tu_msg_t *m)
{
    if (!m)
        return;
    free(m->val);
    free(m);
}

void tu_consumer_destroy(tu_consumer_t *c)
{
    if (!c)
        return;
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c);
}

const char *const tu_close_at_once_env[] = {"INCIDENTD_FOLLOWUP_WINDOW_GLOBAL=0s",
                                            "INCIDENTD_FOLLOWUP_WINDOW_LOCAL=0s",
                                            "INCIDENTD_REVIEW_REQUIRED=none", NULL};

pid_t tu_spawn(const char *const *argv, const char *const *env, const char *log_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    /* The first round's tests play the process without its follow-up: a
     * resolved incident closes at once (no confirmation window, no review).
     * The test's env and --set flags come after and win. */
    size_t n = strlen(argv[0]);
    if (n >= 10 && strcmp(argv[0] + n - 10, "/incidentd") == 0)
        for (int i = 0; tu_close_at_once_env[i]; i++)
            putenv((char *)tu_close_at_once_env[i]);
    for (int i = 0; env && env[i]; i++)
        putenv((char *)env[i]);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

/* Waits for @p pid up to @p timeout_ms, then SIGKILLs it: its exit status
 * (WEXITSTATUS, or 128+signal), or -1 if it did not end in time. */
static int tu_reap(pid_t pid, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0)
            return -1;
        if (tu_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(20 * 1000);
    }
}

int tu_stop(pid_t pid, int sig, int timeout_ms)
{
    kill(pid, sig);
    return tu_reap(pid, timeout_ms);
}

int tu_run(const char *const *argv, const char *out_path, const char *err_path, int timeout_ms)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0)
            _exit(127);
        dup2(out, 1);
        dup2(err, 2);
        close(out);
        close(err);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return tu_reap(pid, timeout_ms);
}

const char *tu_bin(const char *name)
{
    static char buf[4][1024];
    static int slot;
    const char *dir = getenv("INCIDENTD_BIN");
    char *b = buf[slot++ % 4];
    snprintf(b, sizeof(buf[0]), "%s/%s", dir ? dir : "build/bin", name);
    return b;
}

/* The asynchronous producer of the tests' alert streams, like an upstream
 * monitor's: idempotent, and when librdkafka 2.0.2 raises a fatal
 * idempotence error (seen as brokers die under test_ha_kafka), the
 * messages it failed are sent again on a fresh producer (a repeated alert
 * is one incidentd counts once: its id is its cause). */
typedef struct tu_resend {
    char *topic, *key;
    void *val;
    size_t key_len, len;
} tu_resend_t;

static tu_resend_t *tu_resends;
static size_t tu_n_resends, tu_cap_resends;
static int tu_async_failed;
static rd_kafka_t *tu_async_producer;

static void tu_async_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)opaque;
    if (!m->err)
        return;
    if (tu_n_resends == tu_cap_resends) {
        tu_cap_resends = tu_cap_resends ? 2 * tu_cap_resends : 256;
        tu_resends = realloc(tu_resends, tu_cap_resends * sizeof(*tu_resends));
        if (!tu_resends)
            abort();
    }
    tu_resend_t *r = &tu_resends[tu_n_resends++];
    r->topic = strdup(rd_kafka_topic_name(m->rkt));
    r->key_len = m->key_len;
    r->key = malloc(m->key_len + 1);
    memcpy(r->key, m->key ? m->key : "", m->key_len);
    r->len = m->len;
    r->val = malloc(m->len ? m->len : 1);
    memcpy(r->val, m->payload, m->len);
    (void)rk;
}

static void tu_async_new(void)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    tu_kafka_conf(conf);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err));
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
    rd_kafka_conf_set_dr_msg_cb(conf, tu_async_dr);
    tu_async_producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!tu_async_producer)
        abort();
}

/* Produces one message, waiting out a full queue (10 s at most). */
static rd_kafka_resp_err_t tu_async_one(const char *topic, const void *key, size_t key_len,
                                        const void *val, size_t len)
{
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__QUEUE_FULL;
    for (int tries = 0; tries < 1000 && e == RD_KAFKA_RESP_ERR__QUEUE_FULL; tries++) {
        e = rd_kafka_producev(tu_async_producer, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY((void *)key, key_len),
                              RD_KAFKA_V_VALUE((void *)val, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(tu_async_producer, 10);
    }
    return e;
}

/* After a fatal error: the old producer's undelivered messages (reported
 * failed as it goes) are sent again on a new one. Returns 0, or -1 when a
 * resend cannot even be queued. */
static int tu_async_recover(void)
{
    char why[512];
    if (tu_async_producer && rd_kafka_fatal_error(tu_async_producer, why, sizeof(why))) {
        fprintf(stderr, "test producer: fatal error (%s): sending its failed messages again\n",
                why);
        rd_kafka_purge(tu_async_producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int i = 0; i < 50 && rd_kafka_outq_len(tu_async_producer) > 0; i++)
            rd_kafka_poll(tu_async_producer, 100); /* their failure reports */
        rd_kafka_destroy(tu_async_producer);
        tu_async_producer = NULL;
    }
    if (!tu_async_producer)
        tu_async_new();
    size_t n = tu_n_resends;
    tu_resend_t *v = tu_resends;
    tu_resends = NULL;
    tu_n_resends = tu_cap_resends = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (tu_async_one(v[i].topic, v[i].key, v[i].key_len, v[i].val, v[i].len))
            rc = -1;
        free(v[i].topic);
        free(v[i].key);
        free(v[i].val);
    }
    free(v);
    return rc;
}

int tu_produce_async(const char *topic, const char *key, const void *val, size_t len)
{
    if (!tu_async_producer || tu_n_resends > 0 || rd_kafka_fatal_error(tu_async_producer, NULL, 0))
        if (tu_async_recover() < 0)
            return -1;
    rd_kafka_resp_err_t e = tu_async_one(topic, key, key ? strlen(key) : 0, val, len);
    if (e == RD_KAFKA_RESP_ERR__FATAL) {
        if (tu_async_recover() < 0)
            return -1;
        e = tu_async_one(topic, key, key ? strlen(key) : 0, val, len);
    }
    return e == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

int tu_flush(int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    for (int round = 0; tu_async_producer && round < 5; round++) {
        int64_t left = deadline - tu_now_ms();
        rd_kafka_flush(tu_async_producer, (int)(left > 0 ? left : 0));
        if (tu_n_resends == 0 && !rd_kafka_fatal_error(tu_async_producer, NULL, 0))
            break;
        if (tu_async_recover() < 0)
            tu_async_failed++;
    }
    if (tu_async_producer && rd_kafka_outq_len(tu_async_producer) > 0)
        return -1;
    int f = tu_async_failed + (int)tu_n_resends;
    tu_async_failed = 0;
    return f;
}

/* ---- slow clients ------------------------------------------------------------- */

int *tu_slow_open(int port, const char *path, int n, int first, int per_addr)
{
    int *fds = malloc(sizeof(*fds) * (size_t)(n > 0 ? n : 1));
    if (!fds)
        abort();
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0)
            continue;
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)(first + i / per_addr));
        struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        char req[256];
        int len = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: slow\r\nX-Slow: ", path);
        if (bind(fds[i], (struct sockaddr *)&src, sizeof(src)) != 0 ||
            connect(fds[i], (struct sockaddr *)&dst, sizeof(dst)) != 0 ||
            send(fds[i], req, (size_t)len, MSG_NOSIGNAL) != len) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    return fds;
}

int tu_slow_trickle(int *fds, int n)
{
    int open = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        /* The server closed it: the end of the stream (or a reset) reads. */
        struct pollfd pfd = {.fd = fds[i], .events = POLLIN};
        char c;
        if ((poll(&pfd, 1, 0) > 0 && recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0) ||
            send(fds[i], "a", 1, MSG_NOSIGNAL) != 1) {
            close(fds[i]);
            fds[i] = -1;
            continue;
        }
        open++;
    }
    return open;
}

void tu_slow_close(int *fds, int n)
{
    if (!fds)
        return;
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
}

void tu_clean_env(void)
{
    extern char **environ;
    char names[64][128];
    int n = 0;
    for (char **ep = environ; ep && *ep && n < 64; ep++) {
        const char *eq = strchr(*ep, '=');
        if (eq && strncmp(*ep, "INCIDENTD_", 10) == 0 && eq - *ep < 128) {
            memcpy(names[n], *ep, (size_t)(eq - *ep));
            names[n][eq - *ep] = '\0';
            n++;
        }
    }
    for (int i = 0; i < n; i++)
        unsetenv(names[i]);
}
