/*
 * bench_commands.c — people's commands through the API (bench.h).
 *
 * A set of its own: the event stages plus one process of the commands
 * stage and the API (api.rate=0: no per-person limit), with one person per
 * connection (technical_manager: may give every command on a GLOBAL
 * incident). Incidents are opened through the pipeline (GLOBAL triggers,
 * seen on incidents.escalated); then each connection (libcurl, kept alive)
 * posts POST /v1/incidents/{id}/commands as fast as the API answers. The
 * commands go round the incidents: an incident's first is an acknowledge,
 * its second a handover (assign), the others notes. Accepted = answered
 * 202 (Kafka has it); applied = its audit record (actor: the person) read
 * on ormis.audit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench.h"

#define CMD_MAX_CONN 32
#define CMD_ACTOR "bench-cmd-" /* the bench's people: bench-cmd-0, bench-cmd-1, ... */
#define CMD_TIMEOUT_MS 10000   /* one request, connecting included */

typedef struct cmd_run {
    int port;         /* the API's */
    char *const *ids; /* the incidents commanded */
    long n_ids;
    long n;             /* commands */
    int warm;           /* every command a note (the warm-up) */
    atomic_long next;   /* the next command to post */
    atomic_int stop;    /* set: post no more */
    atomic_int running; /* connections still posting */
    int64_t *lat_us;    /* per command: request latency, -1 = no answer */
    int *status;        /* per command: HTTP status, 0 = no answer, -1 = not posted */
    atomic_long accepted;
    atomic_long connects;              /* TCP connections opened */
    _Atomic int64_t first_us, last_us; /* first request, last answer */
    char tokens[CMD_MAX_CONN][80];     /* one person per connection */
    CURL *h[CMD_MAX_CONN];             /* the connections, kept from the warm-up on */
    struct curl_slist *hdr[CMD_MAX_CONN];
} cmd_run_t;

typedef struct cmd_conn {
    cmd_run_t *run;
    int k;
} cmd_conn_t;

/* The body of command @p c (incident c % n_ids): the incident's first
 * command an acknowledge, its second a handover, the others notes (the
 * warm-up's: notes). */
static void cmd_body(const cmd_run_t *run, long c, char *body, size_t size)
{
    long round = c / run->n_ids;
    if (run->warm)
        snprintf(body, size, "{\"kind\":\"COMMAND_NOTE\",\"text\":\"incidentd-bench warm-up\"}");
    else if (round == 0)
        snprintf(body, size, "{\"kind\":\"COMMAND_ACKNOWLEDGE\"}");
    else if (round == 1)
        snprintf(body, size,
                 "{\"kind\":\"COMMAND_HANDOVER\",\"assignee\":\"bench-owner\","
                 "\"text\":\"incidentd-bench handover\"}");
    else
        snprintf(body, size, "{\"kind\":\"COMMAND_NOTE\",\"text\":\"incidentd-bench note %ld\"}",
                 round);
}

static size_t cmd_discard(char *p, size_t size, size_t n, void *opaque)
{
    (void)p;
    (void)opaque;
    return size * n;
}

static void atomic_max(_Atomic int64_t *v, int64_t x)
{
    int64_t cur = atomic_load(v);
    while (x > cur && !atomic_compare_exchange_weak(v, &cur, x)) {
    }
}

/* One request of command @p c on @p h. */
static void cmd_post(cmd_run_t *run, CURL *h, long c)
{
    char url[512], body[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/incidents/%s/commands", run->port,
             run->ids[c % run->n_ids]);
    cmd_body(run, c, body, sizeof(body));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    int64_t t0 = bench_now_us();
    int64_t first = 0;
    atomic_compare_exchange_strong(&run->first_us, &first, t0);
    CURLcode e = curl_easy_perform(h);
    int64_t t1 = bench_now_us();
    long code = 0, connects = 0;
    if (e == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    atomic_fetch_add(&run->connects, connects);
    run->status[c] = (int)code;
    run->lat_us[c] = e == CURLE_OK ? t1 - t0 : -1;
    if (code == 202)
        atomic_fetch_add(&run->accepted, 1);
    if (e == CURLE_OK)
        atomic_max(&run->last_us, t1);
}

/* A connection: posts the next command until there is none or the run stops. */
static void *cmd_conn_run(void *arg)
{
    cmd_conn_t *cn = arg;
    cmd_run_t *run = cn->run;
    for (;;) {
        long c = atomic_fetch_add(&run->next, 1);
        if (c >= run->n || atomic_load(&run->stop))
            break;
        cmd_post(run, run->h[cn->k], c);
    }
    atomic_fetch_sub(&run->running, 1);
    return NULL;
}

/* Posts @p run's commands on @p conns connections until all are answered
 * or it stops: a process of the set died, the deadline, or no 202 for
 * @p stall_s seconds (@p why, kept when already set). */
static void cmd_drive(cmd_run_t *run, int conns, int stall_s, char *why, size_t why_size)
{
    pthread_t th[CMD_MAX_CONN];
    cmd_conn_t cn[CMD_MAX_CONN];
    for (long c = 0; c < run->n; c++) {
        run->status[c] = -1;
        run->lat_us[c] = -1;
    }
    atomic_store(&run->running, conns);
    for (int k = 0; k < conns; k++) {
        cn[k] = (cmd_conn_t){run, k};
        if (pthread_create(&th[k], NULL, cmd_conn_run, &cn[k]) != 0)
            bench_die("pthread_create");
    }
    int64_t last = bench_now_us();
    long last_acc = 0;
    while (atomic_load(&run->running) > 0) {
        bench_sleep_us(100000);
        long acc = atomic_load(&run->accepted);
        if (acc != last_acc) {
            last_acc = acc;
            last = bench_now_us();
        }
        if (!atomic_load(&run->stop) &&
            bench_phase_stop(last, stall_s, "no command accepted", why, why_size))
            atomic_store(&run->stop, 1);
    }
    for (int k = 0; k < conns; k++)
        pthread_join(th[k], NULL);
}

/* ---- the run ------------------------------------------------------------------------------- */

/* A run of up to @p n commands on @p conns connections to the API on
 * @p port, its people's tokens made (free with cmd_run_free()). */
static cmd_run_t *cmd_run_new(long n, int conns, int port)
{
    cmd_run_t *run = calloc(1, sizeof(*run));
    if (!run || !(run->lat_us = calloc((size_t)n, sizeof(*run->lat_us))) ||
        !(run->status = calloc((size_t)n, sizeof(*run->status))))
        bench_die("out of memory");
    run->port = port;
    for (int k = 0; k < conns; k++) {
        snprintf(run->tokens[k], sizeof(run->tokens[k]), "bench-token-%d-%lld-%d", (int)getpid(),
                 (long long)bench_wall_ms(), k);
        char auth[128];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", run->tokens[k]);
        run->hdr[k] = curl_slist_append(NULL, auth);
        run->hdr[k] = curl_slist_append(run->hdr[k], "Content-Type: application/json");
        run->h[k] = curl_easy_init();
        if (!run->h[k] || !run->hdr[k])
            bench_die("libcurl: no handle");
        curl_easy_setopt(run->h[k], CURLOPT_HTTPHEADER, run->hdr[k]);
        curl_easy_setopt(run->h[k], CURLOPT_WRITEFUNCTION, cmd_discard);
        curl_easy_setopt(run->h[k], CURLOPT_TIMEOUT_MS, (long)CMD_TIMEOUT_MS);
        curl_easy_setopt(run->h[k], CURLOPT_NOSIGNAL, 1L);
    }
    return run;
}

static void cmd_run_free(cmd_run_t *run)
{
    for (int k = 0; k < CMD_MAX_CONN; k++) {
        if (run->h[k])
            curl_easy_cleanup(run->h[k]);
        curl_slist_free_all(run->hdr[k]);
    }
    free(run->lat_us);
    free(run->status);
    free(run);
}

/* Makes @p run ready for @p n more commands (notes only when @p warm). */
static void cmd_run_reset(cmd_run_t *run, long n, int warm)
{
    run->n = n;
    run->warm = warm;
    atomic_store(&run->next, 0);
    atomic_store(&run->stop, 0);
    atomic_store(&run->accepted, 0);
    atomic_store(&run->connects, 0);
    atomic_store(&run->first_us, 0);
    atomic_store(&run->last_us, 0);
}

/* The set's settings: the API on @p port without a per-person rate limit,
 * the people of @p run's connections (NULL-ended, in @p buf). */
static const char **cmd_sets(const cmd_run_t *run, int conns, char (*buf)[160], const char **v)
{
    int n = 0;
    snprintf(buf[n++], 160, "api=127.0.0.1:%d", run->port);
    snprintf(buf[n++], 160, "api.rate=0");
    for (int k = 0; k < conns; k++) {
        snprintf(buf[n++], 160, "people." CMD_ACTOR "%d.token=%s", k, run->tokens[k]);
        snprintf(buf[n++], 160, "people." CMD_ACTOR "%d.role=technical_manager", k);
    }
    for (int i = 0; i < n; i++)
        v[i] = buf[i];
    v[n] = NULL;
    return v;
}

/* Waits until the @p accepted commands are applied (audit records of the
 * people beyond @p base) or dead-lettered (beyond @p dlq0); stops like a
 * phase (@p why). */
static void cmd_wait_applied(bench_audit_watch_t *w, long base, long accepted, double dlq0,
                             int stall_s, bench_cmd_result_t *r)
{
    int64_t last = bench_now_us();
    long last_n = -1;
    for (;;) {
        r->applied = atomic_load(&w->by_actor) - base;
        r->dead_lettered =
            (long)(bench_metric_sum("incidentd_dead_lettered_total", "commands", NULL) - dlq0);
        long n = r->applied + r->dead_lettered;
        if (n >= accepted)
            return;
        if (n != last_n) {
            last_n = n;
            last = bench_now_us();
        }
        if (bench_phase_stop(last, stall_s, "no command applied", r->ended, sizeof(r->ended)))
            return;
        bench_sleep_us(200000);
    }
}

/* One note per connection, until applied: the API's producer, the
 * connections and the commands stage are warm. Returns 0, or -1 with
 * r->ended. */
static int cmd_warm_up(cmd_run_t *run, int conns, bench_audit_watch_t *w, int stall_s,
                       bench_cmd_result_t *r)
{
    cmd_run_reset(run, conns, 1);
    cmd_drive(run, conns, stall_s, r->ended, sizeof(r->ended));
    long acc = atomic_load(&run->accepted);
    if (!r->ended[0] && acc < conns)
        snprintf(r->ended, sizeof(r->ended),
                 "the API accepted %ld of %d warm-up commands (first answer: HTTP %d)", acc, conns,
                 run->status[0]);
    if (r->ended[0])
        return -1;
    bench_cmd_result_t tmp = {0};
    cmd_wait_applied(w, 0, acc, 0, stall_s, &tmp);
    if (tmp.ended[0])
        snprintf(r->ended, sizeof(r->ended), "warm-up: %.*s", (int)sizeof(r->ended) - 16,
                 tmp.ended);
    return r->ended[0] ? -1 : 0;
}

/* The figures of the requests of @p run into @p r. */
static void cmd_tally(const cmd_run_t *run, bench_cmd_result_t *r)
{
    for (long c = 0; c < run->n; c++) {
        int st = run->status[c];
        if (st < 0)
            continue;
        r->sent++;
        r->accepted += st == 202;
        r->conflicts += st == 409;
        r->transport += st == 0;
        r->other += st != 202 && st != 409 && st != 0;
    }
    r->lat = bench_percentiles(run->lat_us, run->n);
    r->connects = atomic_load(&run->connects);
    int64_t first = atomic_load(&run->first_us), last = atomic_load(&run->last_us);
    r->accept_s = last > first ? (double)(last - first) / 1e6 : 0;
    r->accepted_per_s = r->accept_s > 0 ? (double)r->accepted / r->accept_s : 0;
}

/* Warm-up, then the timed run on the opened incidents. */
static void cmd_measure(cmd_run_t *run, bench_audit_watch_t *w, pid_t pid,
                        const bench_stages_opts_t *o, bench_cmd_result_t *r)
{
    if (cmd_warm_up(run, o->connections, w, o->stall_s, r) < 0)
        return;
    long base = atomic_load(&w->by_actor);
    double dlq0 = bench_metric_sum("incidentd_dead_lettered_total", "commands", NULL);
    double cpu0 = bench_proc_cpu_s(pid);
    int64_t t0 = bench_now_us();
    bench_say("commands: %ld commands on %ld incidents over %d connections, as fast as the API "
              "answers",
              o->commands, r->incidents, o->connections);
    cmd_run_reset(run, o->commands, 0);
    int64_t wall0 = bench_wall_ms();
    cmd_drive(run, o->connections, o->stall_s, r->ended, sizeof(r->ended));
    cmd_tally(run, r);
    bench_say("commands: %ld accepted in %.2f s (%.0f/s), waiting until they are applied",
              r->accepted, r->accept_s, r->accepted_per_s);
    if (!r->ended[0])
        cmd_wait_applied(w, base, r->accepted, dlq0, o->stall_s, r);
    else /* a process died or the run stalled: what was applied so far */
        r->applied = atomic_load(&w->by_actor) - base;
    int64_t last = atomic_load(&w->by_actor_last_ts);
    r->apply_s = r->applied > 0 && last > wall0 ? (double)(last - wall0) / 1000.0 : 0;
    r->applied_per_s = r->apply_s > 0 ? (double)r->applied / r->apply_s : 0;
    double cpu1 = bench_proc_cpu_s(pid);
    r->cpu_s = cpu1 >= cpu0 && cpu1 > 0 ? cpu1 - cpu0 : -1;
    r->cpu_wall_s = (double)(bench_now_us() - t0) / 1e6;
}

void bench_commands_phase(const char *prefix, const bench_stages_opts_t *o, bench_cmd_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->ran = 1;
    r->connections = o->connections;
    r->planned = o->commands;
    char sp[192], buf[2 + 2 * CMD_MAX_CONN][160];
    const char *sets[3 + 2 * CMD_MAX_CONN];
    snprintf(sp, sizeof(sp), "%scmd.", prefix);
    long n_run = o->commands > o->connections ? o->commands : o->connections;
    cmd_run_t *run = cmd_run_new(n_run, o->connections, bench_free_port());
    bench_say("commands phase: the API (port %d, api.rate=0) and the commands stage, %d people",
              run->port, o->connections);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pid_t pid = bench_spawn_set(sp, "commands,api", cmd_sets(run, o->connections, buf, sets));
    bench_audit_watch_t w;
    bench_audit_watch_start(&w, sp, CMD_ACTOR);
    char **ids = calloc((size_t)o->command_incidents, sizeof(*ids));
    if (!ids)
        bench_die("out of memory");
    long seen = bench_open_incidents(sp, "C", o->command_incidents, 1, o->stall_s, ids, r->ended,
                                     sizeof(r->ended));
    r->incidents = seen;
    if (!r->ended[0]) {
        run->ids = ids;
        run->n_ids = seen;
        cmd_measure(run, &w, pid, o, r);
    }
    if (r->ended[0])
        bench_say("commands phase ended early: %s", r->ended);
    bench_audit_watch_stop(&w);
    bench_set_stop();
    for (long i = 0; i < o->command_incidents; i++)
        free(ids[i]);
    free(ids);
    cmd_run_free(run);
}

void bench_commands_print(const bench_cmd_result_t *r)
{
    if (!r->ran)
        return;
    printf("\n-- people's commands through the API (POST /v1/incidents/{id}/commands, %d "
           "connections kept alive, api.rate=0) --\n",
           r->connections);
    if (r->ended[0])
        printf("ENDED EARLY: %s (the figures below are what was measured until then)\n", r->ended);
    printf("%ld of %ld commands posted on %ld incidents (acknowledge, handover, then notes): "
           "%ld accepted (202), %ld refused by the state (409), %ld other answers, %ld without "
           "an answer\n",
           r->sent, r->planned, r->incidents, r->accepted, r->conflicts, r->other, r->transport);
    printf("accepted: %.0f commands/s (first request .. last answer, %.2f s); request latency "
           "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%ld answered; %ld new connections)\n",
           r->accepted_per_s, r->accept_s, r->lat.p50, r->lat.p99, r->lat.max, r->lat.n,
           r->connects);
    printf("applied:  %.0f commands/s (first request .. last audit record of a command, %.2f s); "
           "%ld of %ld accepted applied, %ld dead-lettered\n",
           r->applied_per_s, r->apply_s, r->applied, r->accepted, r->dead_lettered);
    if (r->cpu_s >= 0 && r->cpu_wall_s > 0)
        printf("the commands,api process: %.1f CPU s over the run's %.1f s (%.0f%% of a core)\n",
               r->cpu_s, r->cpu_wall_s, 100 * r->cpu_s / r->cpu_wall_s);
}
