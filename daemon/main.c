/*
 * main.c — incidentd: runs the stage workers this process is given
 * (--stages), each on its own thread with its own consumer group member,
 * transactional producer and Redis connection, plus the HTTP endpoint for
 * metrics and health when --http is set. SIGTERM/SIGINT: every worker
 * finishes its batch, commits, leaves its group; exit 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "httpd.h"
#include "ingest.h"
#include "kafka.h"
#include "log.h"
#include "notify_stage.h"
#include "stage.h"
#include "worker.h"

static volatile sig_atomic_t main_stop;

static void main_on_signal(int sig)
{
    (void)sig;
    main_stop = 1;
}

#define MAIN_MAX_WORKERS 16

typedef struct main_thread {
    pthread_t tid;
    worker_t *worker;
    notify_stage_t *notify; /* the notify stage's sending side */
    int rc;
    int started;
} main_thread_t;

/* What this process runs. */
typedef struct main_proc {
    config_t cfg;
    main_thread_t threads[MAIN_MAX_WORKERS];
    size_t n_threads;
    const worker_stats_t *stats[MAIN_MAX_WORKERS];
    const char *names[MAIN_MAX_WORKERS];
    httpd_t *http;
    ingest_t *ingest;
    api_t *api;
    int exit_code;
} main_proc_t;

static void *main_worker_thread(void *arg)
{
    main_thread_t *t = arg;
    t->rc = worker_run(t->worker);
    if (t->rc != 0)
        main_stop = 1; /* a fatal worker error stops the process (restart it) */
    return NULL;
}

/* Stops the process with exit code 1 after @p what failed. */
static void main_fail(main_proc_t *p, const char *what, const char *err)
{
    log_error("%s: %s", what, err);
    p->exit_code = 1;
    main_stop = 1;
}

/* A worker for every stage of the table this process runs (--stages). */
static void main_workers_new(main_proc_t *p)
{
    char err[1024];
    for (size_t i = 0; i < stage_count() && !main_stop; i++) {
        const stage_t *s = &stage_table[i];
        if (!s->decide || !(p->cfg.stage_mask & s->bit) || p->n_threads == MAIN_MAX_WORKERS)
            continue;
        worker_t *w = worker_new(&p->cfg, s->bit, &main_stop, err, sizeof(err));
        if (!w) {
            main_fail(p, s->name, err);
            return;
        }
        p->threads[p->n_threads].worker = w;
        if (s->delivers) {
            p->threads[p->n_threads].notify = notify_stage_new(&p->cfg, w, err, sizeof(err));
            if (!p->threads[p->n_threads].notify) {
                worker_destroy(w);
                main_fail(p, s->name, err);
                return;
            }
        }
        p->stats[p->n_threads] = worker_stats(w);
        p->names[p->n_threads++] = s->name;
    }
}

/* The HTTP endpoints: metrics and health (--http), webhook ingest, the API. */
static void main_http_start(main_proc_t *p)
{
    char err[1024];
    if (!main_stop && p->cfg.http && *p->cfg.http) {
        p->http = httpd_start(&p->cfg, p->stats, p->names, p->n_threads, err, sizeof(err));
        if (!p->http)
            main_fail(p, "http", err);
    }
    if (!main_stop && (p->cfg.stage_mask & STAGE_BIT_INGEST)) {
        p->ingest = ingest_start(&p->cfg, err, sizeof(err));
        if (!p->ingest)
            main_fail(p, "ingest", err);
    }
    if (!main_stop && (p->cfg.stage_mask & STAGE_BIT_API)) {
        p->api = api_start(&p->cfg, err, sizeof(err));
        if (!p->api)
            main_fail(p, "api", err);
    }
}

/* The topics must exist before the consumers subscribe (the HTTP endpoint
 * already answers /healthz meanwhile). */
static void main_topics_create(main_proc_t *p)
{
    char err[1024];
    for (int attempt = 0; !main_stop && p->n_threads > 0; attempt++) {
        if (kafka_topics_create(&p->cfg, p->cfg.topic_partitions, err, sizeof(err)) == 0)
            return;
        if (attempt >= 30) {
            main_fail(p, "kafka", err);
            return;
        }
        log_warn("%s (retrying)", err);
        for (int i = 0; i < 20 && !main_stop; i++)
            usleep(100 * 1000);
    }
}

static void main_workers_start(main_proc_t *p)
{
    for (size_t i = 0; i < p->n_threads && !main_stop; i++) {
        if (pthread_create(&p->threads[i].tid, NULL, main_worker_thread, &p->threads[i]) != 0) {
            main_fail(p, p->names[i], "cannot start its thread");
            return;
        }
        p->threads[i].started = 1;
    }
}

/* Joins the workers (each finishes its batch and leaves its group), then
 * stops the HTTP endpoints. */
static void main_shutdown(main_proc_t *p)
{
    log_info("shutting down");
    for (size_t i = 0; i < p->n_threads; i++) {
        if (p->threads[i].started) {
            pthread_join(p->threads[i].tid, NULL);
            if (p->threads[i].rc != 0)
                p->exit_code = 1;
        }
    }
    api_stop(p->api);
    ingest_stop(p->ingest);
    httpd_stop(p->http);
    for (size_t i = 0; i < p->n_threads; i++) {
        notify_stage_destroy(p->threads[i].notify);
        worker_destroy(p->threads[i].worker);
    }
}

static void main_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = main_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    static main_proc_t p;
    char err[1024];
    int rc = config_load(&p.cfg, argc, argv, err, sizeof(err));
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "incidentd: %s\n", err);
        config_destroy(&p.cfg);
        return rc < 0 ? 2 : 0;
    }
    if (p.cfg.print_config) {
        config_print(&p.cfg, stdout);
        config_destroy(&p.cfg);
        return 0;
    }
    log_set_level_name(p.cfg.log_level);
    log_set_format_name(p.cfg.log_format);
    main_signals();
    log_info("incidentd %s starting: stages %s, brokers %s, redis %s:%d/%d", INCIDENTD_VERSION,
             p.cfg.stages, p.cfg.brokers, p.cfg.redis_host, p.cfg.redis_port, p.cfg.redis_db);
    main_workers_new(&p);
    main_http_start(&p);
    main_topics_create(&p);
    main_workers_start(&p);
    while (!main_stop)
        usleep(100 * 1000);
    main_shutdown(&p);
    config_destroy(&p.cfg);
    log_info("stopped");
    return p.exit_code;
}
