/*
 * test_testbed.c — the test bed is made of real parts: a real Kafka broker
 * (KRaft, transactions, admin API) and a real redis-server.
 *
 * (a) an incident.v1.Alert goes through a fresh topic with a transactional
 *     producer and comes back, every field intact;
 * (b) a Redis round trip with hiredis.
 *
 * Every wait is bounded.
 */
#include <criterion/criterion.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "incident/v1/incident.pb-c.h"
#include "testutil.h"

#define ADMIN_TIMEOUT_MS 30000
#define TXN_TIMEOUT_MS 60000
#define CONSUME_TIMEOUT_MS 60000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conf_set(rd_kafka_conf_t *conf, const char *key, const char *val)
{
    char err[512];
    if (rd_kafka_conf_set(conf, key, val, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        cr_assert_fail("rd_kafka_conf_set(%s=%s): %s", key, val, err);
}

static rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char err[512];
    conf_set(conf, "bootstrap.servers", tu_brokers());
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk)
        cr_assert_fail("rd_kafka_new: %s", err);
    return rk;
}

/* Waits (bounded) for one admin result event on @p q. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type)
{
    int64_t deadline = now_ms() + ADMIN_TIMEOUT_MS + 5000;
    while (now_ms() < deadline) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 1000);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == type)
            return ev;
        rd_kafka_event_destroy(ev);
    }
    cr_assert_fail("no admin result within %d ms", ADMIN_TIMEOUT_MS + 5000);
    return NULL;
}

/* The broker is a real KRaft broker: node id 1, and it reports its own
 * process.roles through DescribeConfigs (the mock cluster has neither). */
static void assert_real_broker(rd_kafka_t *rk)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, 10000);
    cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "metadata: %s", rd_kafka_err2str(err));
    cr_assert_eq(md->broker_cnt, 1, "a single-node test bed, got %d brokers", md->broker_cnt);
    cr_assert_eq(md->brokers[0].id, 1, "broker id %d, want 1", md->brokers[0].id);
    rd_kafka_metadata_destroy(md);

    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, "1");
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(opts, ADMIN_TIMEOUT_MS, errstr, sizeof(errstr));
    rd_kafka_DescribeConfigs(rk, &res, 1, opts, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT);
    cr_assert_eq(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR, "DescribeConfigs: %s",
                 rd_kafka_event_error_string(ev));
    const rd_kafka_DescribeConfigs_result_t *r = rd_kafka_event_DescribeConfigs_result(ev);
    size_t nres = 0;
    const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(r, &nres);
    cr_assert_eq(nres, 1);
    cr_assert_eq(rd_kafka_ConfigResource_error(rs[0]), RD_KAFKA_RESP_ERR_NO_ERROR,
                 "DescribeConfigs broker 1: %s", rd_kafka_ConfigResource_error_string(rs[0]));
    size_t ncfg = 0;
    const rd_kafka_ConfigEntry_t **cfg = rd_kafka_ConfigResource_configs(rs[0], &ncfg);
    const char *roles = NULL;
    for (size_t i = 0; i < ncfg; i++)
        if (strcmp(rd_kafka_ConfigEntry_name(cfg[i]), "process.roles") == 0)
            roles = rd_kafka_ConfigEntry_value(cfg[i]);
    cr_assert_not_null(roles, "broker 1 reports no process.roles among %zu configs", ncfg);
    cr_assert(strstr(roles, "broker") && strstr(roles, "controller"),
              "process.roles=%s, want a combined KRaft node", roles);
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_queue_destroy(q);
}

/* Creates @p topic (1 partition, replication 1) and waits until it has a leader. */
static void create_topic(rd_kafka_t *rk, const char *topic)
{
    char errstr[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, 1, 1, errstr, sizeof(errstr));
    cr_assert_not_null(nt, "NewTopic: %s", errstr);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, ADMIN_TIMEOUT_MS, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_request_timeout(opts, ADMIN_TIMEOUT_MS, errstr, sizeof(errstr));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
    cr_assert_eq(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR, "CreateTopics: %s",
                 rd_kafka_event_error_string(ev));
    size_t n = 0;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(rd_kafka_topic_result_error(tr[0]), RD_KAFKA_RESP_ERR_NO_ERROR,
                 "CreateTopics %s: %s", topic, rd_kafka_topic_result_error_string(tr[0]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);

    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int64_t deadline = now_ms() + ADMIN_TIMEOUT_MS;
    int ready = 0;
    while (!ready && now_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ready = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    md->topics[0].partition_cnt == 1 && md->topics[0].partitions[0].leader == 1;
            rd_kafka_metadata_destroy(md);
        }
        if (!ready)
            rd_kafka_poll(rk, 200);
    }
    rd_kafka_topic_destroy(rkt);
    cr_assert(ready, "topic %s has no leader after %d ms", topic, ADMIN_TIMEOUT_MS);
}

static rd_kafka_resp_err_t dr_err = RD_KAFKA_RESP_ERR__IN_PROGRESS;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    dr_err = m->err;
}

/* Runs a transaction step, retrying retriable errors until the deadline. */
#define TXN_STEP(what, call)                                                          \
    do {                                                                              \
        int64_t txn_deadline_ = now_ms() + TXN_TIMEOUT_MS;                            \
        for (;;) {                                                                    \
            rd_kafka_error_t *e_ = (call);                                            \
            if (!e_)                                                                  \
                break;                                                                \
            int retry_ = rd_kafka_error_is_retriable(e_) && now_ms() < txn_deadline_; \
            if (!retry_)                                                              \
                cr_assert_fail("%s: %s", what, rd_kafka_error_string(e_));            \
            rd_kafka_error_destroy(e_);                                               \
            rd_kafka_poll(rk, 500);                                                   \
        }                                                                             \
    } while (0)

static void produce_transactional(const char *topic, const char *key, const void *val, size_t len)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "transactional.id", tu_unique("test-testbed-txn"));
    conf_set(conf, "transaction.timeout.ms", "60000");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = kafka_new(RD_KAFKA_PRODUCER, conf);

    TXN_STEP("init_transactions", rd_kafka_init_transactions(rk, TXN_TIMEOUT_MS));
    TXN_STEP("begin_transaction", rd_kafka_begin_transaction(rk));
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("x-test", "testbed", -1), RD_KAFKA_V_END);
    cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "producev: %s", rd_kafka_err2str(err));
    TXN_STEP("commit_transaction", rd_kafka_commit_transaction(rk, TXN_TIMEOUT_MS));
    rd_kafka_poll(rk, 0);
    cr_assert_eq(dr_err, RD_KAFKA_RESP_ERR_NO_ERROR, "delivery: %s", rd_kafka_err2str(dr_err));
    rd_kafka_destroy(rk);
}

/* Consumes the first message of @p topic (bounded); returns a copy of its value. */
static void *consume_one(const char *topic, char *key_out, size_t key_cap, size_t *len)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "group.id", tu_unique("test-testbed-group"));
    conf_set(conf, "auto.offset.reset", "earliest");
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "isolation.level", "read_committed");
    rd_kafka_t *rk = kafka_new(RD_KAFKA_CONSUMER, conf);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, subs);
    cr_assert_eq(err, RD_KAFKA_RESP_ERR_NO_ERROR, "subscribe: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(subs);

    void *out = NULL;
    int64_t deadline = now_ms() + CONSUME_TIMEOUT_MS;
    while (!out && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m)
            continue;
        if (m->err) {
            /* transient while the group forms; anything fatal ends in the deadline */
            fprintf(stderr, "consumer: %s\n", rd_kafka_message_errstr(m));
        } else {
            cr_assert_str_eq(rd_kafka_topic_name(m->rkt), topic);
            cr_assert_lt(m->key_len, key_cap);
            memcpy(key_out, m->key, m->key_len);
            key_out[m->key_len] = '\0';
            rd_kafka_headers_t *hdrs = NULL;
            const void *hv = NULL;
            size_t hl = 0;
            cr_assert_eq(rd_kafka_message_headers(m, &hdrs), RD_KAFKA_RESP_ERR_NO_ERROR);
            cr_assert_eq(rd_kafka_header_get_last(hdrs, "x-test", &hv, &hl),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
            cr_assert(hl == 7 && memcmp(hv, "testbed", 7) == 0);
            *len = m->len;
            out = malloc(m->len ? m->len : 1);
            cr_assert_not_null(out);
            memcpy(out, m->payload, m->len);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    cr_assert_not_null(out, "nothing consumed from %s within %d ms", topic, CONSUME_TIMEOUT_MS);
    return out;
}

Test(testbed, kafka_alert_roundtrip, .timeout = 300)
{
    char prefix[160], topic[200];
    snprintf(prefix, sizeof(prefix), "%s.", tu_unique("tb"));
    snprintf(topic, sizeof(topic), "%sincidents.detected", prefix);

    /* The admin side: a real broker, and the topic created explicitly. */
    rd_kafka_t *admin = kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new());
    assert_real_broker(admin);
    create_topic(admin, topic);
    rd_kafka_destroy(admin);

    /* An alert with every field set. */
    char *sites[] = {"site-a", "site-b", "*"};
    char *clients[] = {"client-1", "client-2"};
    Incident__V1__Alert__LabelsEntry l0 = INCIDENT__V1__ALERT__LABELS_ENTRY__INIT;
    Incident__V1__Alert__LabelsEntry l1 = INCIDENT__V1__ALERT__LABELS_ENTRY__INIT;
    l0.key = "scope";
    l0.value = "global";
    l1.key = "team";
    l1.value = "core-network";
    Incident__V1__Alert__LabelsEntry *labels[] = {&l0, &l1};
    Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
    char alert_id[128], dedup_key[128];
    snprintf(alert_id, sizeof(alert_id), "%s", tu_unique("alert"));
    snprintf(dedup_key, sizeof(dedup_key), "%s", tu_unique("dedup"));
    a.alert_id = alert_id;
    a.dedup_key = dedup_key;
    a.action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    a.severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    a.source = "prometheus@mon-1";
    a.service = "payments";
    a.summary = "payment gateway unreachable — 5xx > 50%";
    a.n_sites = 3;
    a.sites = sites;
    a.n_clients = 2;
    a.clients = clients;
    a.n_labels = 2;
    a.labels = labels;
    a.occurred_at_ms = 1764166000123LL;
    a.actor = "oncall@example.org";

    size_t len = incident__v1__alert__get_packed_size(&a);
    uint8_t *buf = malloc(len);
    cr_assert_not_null(buf);
    cr_assert_eq(incident__v1__alert__pack(&a, buf), len);

    produce_transactional(topic, a.dedup_key, buf, len);
    free(buf);

    char key[256];
    size_t got_len = 0;
    uint8_t *got = consume_one(topic, key, sizeof(key), &got_len);
    cr_assert_str_eq(key, a.dedup_key, "the key of incidents.detected is the dedup_key");
    cr_assert_eq(got_len, len);

    Incident__V1__Alert *b = incident__v1__alert__unpack(NULL, got_len, got);
    cr_assert_not_null(b, "the consumed value does not unpack as incident.v1.Alert");
    cr_assert_str_eq(b->alert_id, a.alert_id);
    cr_assert_str_eq(b->dedup_key, a.dedup_key);
    cr_assert_eq(b->action, a.action);
    cr_assert_eq(b->severity, a.severity);
    cr_assert_str_eq(b->source, a.source);
    cr_assert_str_eq(b->service, a.service);
    cr_assert_str_eq(b->summary, a.summary);
    cr_assert_eq(b->n_sites, a.n_sites);
    for (size_t i = 0; i < a.n_sites; i++)
        cr_assert_str_eq(b->sites[i], a.sites[i]);
    cr_assert_eq(b->n_clients, a.n_clients);
    for (size_t i = 0; i < a.n_clients; i++)
        cr_assert_str_eq(b->clients[i], a.clients[i]);
    cr_assert_eq(b->n_labels, a.n_labels);
    for (size_t i = 0; i < a.n_labels; i++) {
        cr_assert_str_eq(b->labels[i]->key, a.labels[i]->key);
        cr_assert_str_eq(b->labels[i]->value, a.labels[i]->value);
    }
    cr_assert_eq(b->occurred_at_ms, a.occurred_at_ms);
    cr_assert_str_eq(b->actor, a.actor);
    incident__v1__alert__free_unpacked(b, NULL);
    free(got);
}

/* Parses redis://host:port/db (port and db optional). */
static void parse_redis_url(const char *url, char *host, size_t cap, int *port, int *db)
{
    const char *p = url;
    cr_assert(strncmp(p, "redis://", 8) == 0, "not a redis:// URL: %s", url);
    p += 8;
    const char *at = strchr(p, '@'); /* no credentials expected, but skip them */
    if (at)
        p = at + 1;
    size_t hl = strcspn(p, ":/");
    cr_assert(hl > 0 && hl < cap, "bad host in %s", url);
    memcpy(host, p, hl);
    host[hl] = '\0';
    p += hl;
    *port = 6379;
    *db = 0;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        cr_assert(end != p + 1 && v > 0 && v < 65536, "bad port in %s", url);
        *port = (int)v;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long v = strtol(p + 1, &end, 10);
        cr_assert(end != p + 1 && v >= 0 && v < 16, "bad db in %s", url);
        *db = (int)v;
    }
}

static redisReply *cmd_ok(redisContext *c, redisReply *r, const char *what)
{
    cr_assert_not_null(r, "%s: %s", what, c->errstr);
    cr_assert_neq(r->type, REDIS_REPLY_ERROR, "%s: %s", what, r->str);
    return r;
}

Test(testbed, redis_roundtrip, .timeout = 60)
{
    char host[256];
    int port, db;
    parse_redis_url(tu_redis(), host, sizeof(host), &port, &db);

    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    cr_assert(c && !c->err, "connect %s:%d: %s", host, port, c ? c->errstr : "out of memory");
    cr_assert_eq(redisSetTimeout(c, tv), REDIS_OK);

    redisReply *r = cmd_ok(c, redisCommand(c, "SELECT %d", db), "SELECT");
    freeReplyObject(r);

    const char *key = tu_unique("test-testbed");
    /* binary-safe: spaces, UTF-8 and an embedded NUL */
    static const char val[] = "value with spaces, \xc3\xa9 and a \0 inside";
    const size_t vlen = sizeof(val) - 1;
    r = cmd_ok(c, redisCommand(c, "SET %s %b EX 60", key, val, vlen), "SET");
    cr_assert_eq(r->type, REDIS_REPLY_STATUS);
    cr_assert_str_eq(r->str, "OK");
    freeReplyObject(r);

    r = cmd_ok(c, redisCommand(c, "GET %s", key), "GET");
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    cr_assert_eq(r->len, vlen);
    cr_assert(memcmp(r->str, val, vlen) == 0, "GET returned other bytes");
    freeReplyObject(r);

    r = cmd_ok(c, redisCommand(c, "INFO server"), "INFO");
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    cr_assert_not_null(strstr(r->str, "redis_version:"), "INFO server: %s", r->str);
    freeReplyObject(r);

    r = cmd_ok(c, redisCommand(c, "DEL %s", key), "DEL");
    cr_assert_eq(r->integer, 1);
    freeReplyObject(r);
    redisFree(c);
}
