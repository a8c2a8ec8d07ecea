/*
 * ctl.c — the helpers every incidentctl command shares to reach Kafka (the
 * bounded reads, the one producer) and Redis with the run's settings, and
 * unique ids (see ctl.h). Owned by the ctl room.
 *
 * @locality incidentctl's main thread
 */
#include "ctl.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_out.h"

volatile sig_atomic_t ctl_stop;

static void ctl_on_signal(int sig)
{
    (void)sig;
    ctl_stop = 1;
}

void ctl_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ctl_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

const char *ctl_topic(const ctl_t *c, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", c->prefix, name);
    return buf;
}

store_t *ctl_store_open(const ctl_t *c, const char *what)
{
    char err[512];
    redis_conn_opts_t ro = {
        .url = c->redis,
        .user = c->redis_user,
        .password = c->redis_password,
        .sentinels = c->redis_sentinels,
        .master_name = c->redis_master_name,
        .sentinel_password = c->redis_sentinel_password,
        .tls_ca = c->redis_tls_ca,
        .tls_cert = c->redis_tls_cert,
        .tls_key = c->redis_tls_key,
    };
    store_t *st = store_admin_open(&ro, c->prefix, err, sizeof(err));
    if (!st && what)
        ctl_err(c, "%s: %s", what, err);
    else if (!st)
        ctl_err(c, "%s", err);
    return st;
}

kafka_read_t ctl_read_init(const ctl_t *c, const char *topic, kafka_msg_cb on_msg,
                           kafka_progress_cb on_progress, void *opaque)
{
    kafka_read_t r = {
        .brokers = c->brokers,
        .props = c->props,
        .topic = topic,
        .idle_timeout_ms = c->timeout_ms,
        .on_msg = on_msg,
        .on_progress = on_progress,
        .opaque = opaque,
        .stop = &ctl_stop,
    };
    return r;
}

void *ctl_arena_grow(arena_t *arena, void *v, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap)
        return v;
    *cap = *cap ? *cap * 2 : first;
    void *nv = arena_alloc(arena, *cap * size);
    if (n)
        memcpy(nv, v, n * size);
    return nv;
}

int64_t ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *ctl_new_id(arena_t *arena)
{
    unsigned char rnd[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, rnd, sizeof(rnd)) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof(rnd)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)rand();
        memcpy(rnd, &x, sizeof(rnd));
    }
    return arena_printf(arena, "ctl-%" PRIx64 "-%02x%02x%02x%02x%02x%02x%02x%02x",
                        (uint64_t)ctl_now_ms(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
                        rnd[6], rnd[7]);
}

/* ---- producing --------------------------------------------------------------------- */

/* @locality: called from rd_kafka_poll()/flush() on this thread. */
static void ctl_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    ctl_delivery_t *d = m->_private;
    if (!d)
        return;
    d->err = m->err;
    d->partition = m->partition;
    d->offset = m->offset;
    d->done = 1;
}

rd_kafka_t *ctl_producer_new(const ctl_t *c, int64_t timeout_ms)
{
    char err[512], tmo[32];
    rd_kafka_conf_t *conf = kafka_conf_new(c->brokers, c->props, err, sizeof(err));
    if (!conf) {
        ctl_err(c, "%s", err);
        return NULL;
    }
    snprintf(tmo, sizeof(tmo), "%" PRId64, timeout_ms);
    const struct {
        const char *k, *v;
    } pprops[] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"message.timeout.ms", tmo},
    };
    for (size_t i = 0; i < sizeof(pprops) / sizeof(pprops[0]); i++)
        if (rd_kafka_conf_set(conf, pprops[i].k, pprops[i].v, err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
            ctl_err(c, "kafka %s: %s", pprops[i].k, err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, ctl_dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        ctl_err(c, "kafka: %s", err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

rd_kafka_resp_err_t ctl_produce(rd_kafka_t *rk, const char *topic, const char *key, const void *val,
                                size_t len, ctl_delivery_t *dl)
{
    rd_kafka_resp_err_t e;
    for (;;) {
        e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE((void *)val, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(dl),
                              RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return e;
        rd_kafka_poll(rk, 100);
    }
}
