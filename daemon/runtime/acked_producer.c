/*
 * acked_producer.c — produce and wait for the broker's acknowledgement; see
 * acked_producer.h.
 */
#include "acked_producer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"

struct acked_producer {
    rd_kafka_t *rk;
    int wait_ms;
    pthread_t poll_tid;
    int poll_started;
    atomic_int poll_stop;
};

/* The wait of one send. */
typedef struct acked_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;    /* the sender + each record not reported yet */
    int pending; /* records not reported yet */
    int failed;  /* records Kafka did not take */
    rd_kafka_resp_err_t first_err;
} acked_wait_t;

static acked_wait_t *acked_wait_new(void)
{
    acked_wait_t *w = calloc(1, sizeof(*w));
    if (!w) {
        fputs("incidentd: out of memory\n", stderr);
        abort();
    }
    pthread_mutex_init(&w->mu, NULL);
    clock_cond_init(&w->cv);
    w->refs = 1;
    return w;
}

/* Drops one reference; the last one frees. Called with w->mu held. */
static void acked_wait_release_locked(acked_wait_t *w)
{
    int last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
    }
}

/* @locality: the poll thread. */
static void acked_produce_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    acked_wait_t *w = m->_private;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->pending--;
    if (m->err) {
        if (!w->failed)
            w->first_err = m->err;
        w->failed++;
    }
    pthread_cond_broadcast(&w->cv);
    acked_wait_release_locked(w);
}

static void *acked_produce_poll_main(void *arg)
{
    acked_producer_t *p = arg;
    while (!atomic_load(&p->poll_stop))
        rd_kafka_poll(p->rk, 100);
    return NULL;
}

static rd_kafka_t *acked_produce_rk(const config_t *cfg, const char *client_id, int wait_ms,
                                    char *errstr, size_t errstr_size)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_apply(cfg, conf, errstr, errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* Delivery reports come back before a sender stops waiting for them. */
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", wait_ms > 2000 ? wait_ms - 1000 : wait_ms);
    const kafka_prop_t props[] = {
        {"client.id", client_id}, {"enable.idempotence", "true"},  {"acks", "all"},
        {"linger.ms", "5"},       {"message.timeout.ms", timeout},
    };
    if (kafka_props_set(conf, props, sizeof(props) / sizeof(props[0]), "producer", errstr,
                        errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, acked_produce_dr_cb);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, errstr_size, "kafka producer: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return rk;
}

acked_producer_t *acked_producer_new(const config_t *cfg, const char *client_id, int wait_ms,
                                     char *errstr, size_t errstr_size)
{
    acked_producer_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->wait_ms = wait_ms;
    p->rk = acked_produce_rk(cfg, client_id, wait_ms, errstr, errstr_size);
    if (!p->rk)
        goto fail;
    if (pthread_create(&p->poll_tid, NULL, acked_produce_poll_main, p) != 0) {
        snprintf(errstr, errstr_size, "cannot start the %s poll thread", client_id);
        goto fail;
    }
    p->poll_started = 1;
    return p;
fail:
    acked_producer_destroy(p);
    return NULL;
}

/* Produces one record, retrying a full queue until @p deadline_us. */
static rd_kafka_resp_err_t acked_produce_one(acked_producer_t *p, const char *topic,
                                             acked_record_t *rec, acked_wait_t *w,
                                             int64_t deadline_us)
{
    rd_kafka_resp_err_t err;
    pthread_mutex_lock(&w->mu);
    w->refs++;
    w->pending++;
    pthread_mutex_unlock(&w->mu);
    for (;;) {
        err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(rec->key, rec->key_len),
            RD_KAFKA_V_VALUE(rec->value, rec->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
            RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || clock_mono_us() >= deadline_us)
            break;
        usleep(10 * 1000); /* the poll thread drains the queue */
    }
    if (err) {
        free(rec->value); /* not taken by librdkafka */
        pthread_mutex_lock(&w->mu);
        w->refs--;
        w->pending--;
        pthread_mutex_unlock(&w->mu);
    }
    rec->value = NULL;
    return err;
}

int acked_producer_send(acked_producer_t *p, const char *topic, acked_record_t *recs, size_t n,
                        char *why, size_t why_size)
{
    if (n == 0)
        return 0;
    acked_wait_t *w = acked_wait_new();
    int64_t deadline_us = clock_mono_us() + (int64_t)p->wait_ms * 1000;
    rd_kafka_resp_err_t perr = RD_KAFKA_RESP_ERR_NO_ERROR;
    size_t i = 0;
    for (; i < n && !perr; i++)
        perr = acked_produce_one(p, topic, &recs[i], w, deadline_us);
    for (; i < n; i++) { /* not produced after a failure */
        free(recs[i].value);
        recs[i].value = NULL;
    }
    struct timespec ts = clock_timespec_of_us(deadline_us);
    pthread_mutex_lock(&w->mu);
    while (w->pending > 0)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
            break;
    int pending = w->pending, failed = w->failed;
    rd_kafka_resp_err_t derr = w->first_err;
    acked_wait_release_locked(w);

    if (perr)
        snprintf(why, why_size, "kafka did not take the records: %s", rd_kafka_err2str(perr));
    else if (failed)
        snprintf(why, why_size, "kafka refused %d of %zu records: %s", failed, n,
                 rd_kafka_err2str(derr));
    else if (pending)
        snprintf(why, why_size, "kafka did not confirm %d of %zu records within %d s", pending, n,
                 p->wait_ms / 1000);
    return perr || failed || pending ? -1 : 0;
}

void acked_producer_destroy(acked_producer_t *p)
{
    if (!p)
        return;
    if (p->rk)
        rd_kafka_flush(p->rk, p->wait_ms);
    if (p->poll_started) {
        atomic_store(&p->poll_stop, 1);
        pthread_join(p->poll_tid, NULL);
    }
    if (p->rk) {
        rd_kafka_poll(p->rk, 0); /* last delivery reports release their waits */
        rd_kafka_destroy(p->rk);
    }
    free(p);
}
