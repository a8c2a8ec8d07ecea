/*
 * ctl.c — the helpers every incidentctl command shares to reach Kafka and
 * Redis with the run's settings (see ctl.h). Owned by the ctl room.
 *
 * @locality incidentctl's main thread
 */
#include "ctl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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
    store_t *st =
        store_admin_open(c->redis, c->redis_user, c->redis_password, c->prefix, err, sizeof(err));
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
