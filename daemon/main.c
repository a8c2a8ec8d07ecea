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

#include "config.h"
#include "httpd.h"
#include "ingest.h"
#include "log.h"
#include "worker.h"

static volatile sig_atomic_t main_stop;

static void main_on_signal(int sig)
{
    (void)sig;
    main_stop = 1;
}

typedef struct main_thread {
    pthread_t tid;
    worker_t *worker;
    int rc;
    int started;
} main_thread_t;

static void *main_worker_thread(void *arg)
{
    main_thread_t *t = arg;
    t->rc = worker_run(t->worker);
    if (t->rc != 0)
        main_stop = 1; /* a fatal worker error stops the process (restart it) */
    return NULL;
}

int main(int argc, char **argv)
{
    config_t cfg;
    char err[1024];
    int rc = config_load(&cfg, argc, argv, err, sizeof(err));
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "incidentd: %s\n", err);
        config_destroy(&cfg);
        return rc < 0 ? 2 : 0;
    }
    if (cfg.print_config) {
        config_print(&cfg, stdout);
        config_destroy(&cfg);
        return 0;
    }
    log_set_level_name(cfg.log_level);
    log_set_format_name(cfg.log_format);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = main_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_info("incidentd %s starting: stages %s, brokers %s, redis %s:%d/%d", INCIDENTD_VERSION,
             cfg.stages, cfg.brokers, cfg.redis_host, cfg.redis_port, cfg.redis_db);

    static const unsigned stage_bits[] = {CONFIG_STAGE_DETECTED, CONFIG_STAGE_CLASSIFIED,
                                          CONFIG_STAGE_SCOPED, CONFIG_STAGE_ESCALATED,
                                          CONFIG_STAGE_RESOLVED};
    main_thread_t threads[5];
    memset(threads, 0, sizeof(threads));
    const worker_stats_t *stats[5];
    const char *names[5];
    size_t n_stats = 0;
    int exit_code = 0;

    for (size_t i = 0; i < 5; i++) {
        if (!(cfg.stage_mask & stage_bits[i]))
            continue;
        threads[i].worker = worker_new(&cfg, stage_bits[i], &main_stop, err, sizeof(err));
        if (!threads[i].worker) {
            log_error("stage %s: %s", config_stage_name(stage_bits[i]), err);
            exit_code = 1;
            main_stop = 1;
            break;
        }
        stats[n_stats] = worker_stats(threads[i].worker);
        names[n_stats++] = worker_stage_name(threads[i].worker);
    }

    httpd_t *http = NULL;
    if (!main_stop && cfg.http && *cfg.http) {
        http = httpd_start(&cfg, stats, names, n_stats, err, sizeof(err));
        if (!http) {
            log_error("http: %s", err);
            exit_code = 1;
            main_stop = 1;
        }
    }
    ingest_t *ingest = NULL;
    if (!main_stop && (cfg.stage_mask & CONFIG_STAGE_INGEST)) {
        ingest = ingest_start(&cfg, err, sizeof(err));
        if (!ingest) {
            log_error("ingest: %s", err);
            exit_code = 1;
            main_stop = 1;
        }
    }

    /* The topics must exist before the consumers subscribe (the HTTP
     * endpoint already answers /healthz meanwhile). */
    for (int attempt = 0; !main_stop && n_stats > 0; attempt++) {
        if (worker_create_topics(&cfg, cfg.topic_partitions, err, sizeof(err)) == 0)
            break;
        if (attempt >= 30) {
            log_error("%s", err);
            exit_code = 1;
            main_stop = 1;
            break;
        }
        log_warn("%s (retrying)", err);
        for (int i = 0; i < 20 && !main_stop; i++)
            usleep(100 * 1000);
    }

    for (size_t i = 0; i < 5 && !main_stop; i++) {
        if (!threads[i].worker)
            continue;
        if (pthread_create(&threads[i].tid, NULL, main_worker_thread, &threads[i]) != 0) {
            log_error("cannot start the %s thread", config_stage_name(stage_bits[i]));
            exit_code = 1;
            main_stop = 1;
            break;
        }
        threads[i].started = 1;
    }

    while (!main_stop)
        usleep(100 * 1000);
    log_info("shutting down");

    for (size_t i = 0; i < 5; i++) {
        if (threads[i].started) {
            pthread_join(threads[i].tid, NULL);
            if (threads[i].rc != 0)
                exit_code = 1;
        }
    }
    ingest_stop(ingest);
    httpd_stop(http);
    for (size_t i = 0; i < 5; i++)
        worker_destroy(threads[i].worker);
    config_destroy(&cfg);
    log_info("stopped");
    return exit_code;
}
