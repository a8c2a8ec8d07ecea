/*
 * bench_deliveries.c — the notify stage's deliveries to a local webhook
 * receiver (bench.h).
 *
 * A set of its own: the event stages plus a process of the notify stage,
 * with a roster, stakeholders and clients whose webhooks all point at the
 * notify tests' receiver (tests/receiver.c: tests/notify_receiver.py on
 * 127.0.0.1, answering 200 on /ok/..., one JSON line per request in its
 * log), signed with a webhook secret as in production. The bench's
 * triggers (a quarter GLOBAL, all with clients) open incidents; once all
 * are escalated (escalation notices: the owner and the stakeholders) they
 * are resolved (final updates: the stakeholders and the clients), and each
 * closes once its final updates are delivered. Planned: the counts of the
 * notification_planned records; received: what the receiver logged, by
 * Idempotency-Key (a key received again is a duplicate: the stage delivers
 * at least once).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "receiver.h"

#define DLV_SETS 10

/* The set's settings: everyone the bench's incidents inform reached by a
 * webhook of the receiver on @p port (NULL-ended, in @p buf). */
static const char **dlv_sets(int port, char (*buf)[200], const char **v)
{
    static const char *const fixed[] = {"roster.technical_manager.default=bench-tm",
                                        "roster.customer_service_manager.default=bench-csm",
                                        "handling.global_stakeholders=bench-sh",
                                        "handling.tm_stakeholder=bench-tm",
                                        "notify.webhook_secret=incidentd-bench"};
    static const char *const hooks[] = {"people.bench-tm", "people.bench-csm", "people.bench-sh",
                                        "clients.acme", "clients.globex"};
    int n = 0;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        v[n++] = fixed[i];
    for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
        snprintf(buf[i], 200, "%s.webhook=http://127.0.0.1:%d/ok/%s", hooks[i], port,
                 strchr(hooks[i], '.') + 1);
        v[n++] = buf[i];
    }
    v[n] = NULL;
    return v;
}

/* Waits until the @p n incidents are closed and every planned delivery is
 * recorded notified or failed; stops like a phase (r->ended). */
static void dlv_wait(bench_audit_watch_t *w, long n, int stall_s, bench_dlv_result_t *r)
{
    int64_t last = bench_now_us(), next_say = bench_now_us() + 5000000;
    long last_sum = -1;
    for (;;) {
        long planned = atomic_load(&w->planned),
             settled = atomic_load(&w->notified) + atomic_load(&w->failed),
             closed = atomic_load(&w->closed);
        if (closed >= n && planned > 0 && settled >= planned)
            return;
        if (planned + settled + closed != last_sum) {
            last_sum = planned + settled + closed;
            last = bench_now_us();
        }
        if (bench_now_us() >= next_say) {
            next_say = bench_now_us() + 5000000;
            bench_say("deliveries: %ld planned, %ld notified or failed; %ld of %ld incidents "
                      "closed",
                      planned, settled, closed, n);
        }
        if (bench_phase_stop(last, stall_s, "no delivery planned or made", r->ended,
                             sizeof(r->ended)))
            return;
        bench_sleep_us(200000);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What the receiver logged: requests, distinct keys, the last one's time;
 * deliveries/s from the first planned (@p first_planned_ms). */
static void dlv_received(const srv_t *recv, int64_t first_planned_ms, bench_dlv_result_t *r)
{
    reqs_t q = receiver_requests(recv);
    const char **keys = malloc((q.n ? q.n : 1) * sizeof(*keys));
    if (!keys)
        bench_die("out of memory");
    double last_t = 0;
    for (size_t i = 0; i < q.n; i++) {
        keys[i] = q.v[i].key;
        if (q.v[i].t > last_t)
            last_t = q.v[i].t;
    }
    qsort(keys, q.n, sizeof(*keys), cmp_str);
    r->received = (long)q.n;
    for (size_t i = 0; i < q.n; i++)
        r->distinct += i == 0 || strcmp(keys[i], keys[i - 1]) != 0;
    r->secs = first_planned_ms > 0 && q.n ? last_t - (double)first_planned_ms / 1000.0 : 0;
    r->per_s = r->secs > 0 ? (double)r->distinct / r->secs : 0;
    free(keys);
    reqs_free(&q);
}

/* Opens, escalates and resolves the incidents, waits for their deliveries. */
static void dlv_drive(const char *sp, const bench_stages_opts_t *o, bench_audit_watch_t *w,
                      bench_dlv_result_t *r)
{
    long n = o->delivery_incidents;
    char **ids = calloc((size_t)n, sizeof(*ids));
    if (!ids)
        bench_die("out of memory");
    r->incidents = bench_open_incidents(sp, "D", n, 0, o->stall_s, ids, r->ended, sizeof(r->ended));
    if (!r->ended[0]) {
        long k = bench_resolve_incidents(sp, "D", n, ids);
        bench_say("deliveries: %ld incidents resolved; waiting for their final updates", k);
        dlv_wait(w, r->incidents, o->stall_s, r);
    }
    for (long i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

void bench_deliveries_phase(const char *prefix, const bench_stages_opts_t *o, bench_dlv_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->ran = 1;
    srv_t recv = {0};
    if (receiver_spawn(&recv, 0, o->workdir) < 0) {
        snprintf(r->ended, sizeof(r->ended), "the webhook receiver did not start (see %s)",
                 recv.out);
        srv_stop(&recv);
        return;
    }
    bench_child_track(recv.pid);
    snprintf(r->receiver_log, sizeof(r->receiver_log), "%s", recv.log);
    char sp[192], buf[DLV_SETS][200];
    const char *sets[2 * DLV_SETS];
    snprintf(sp, sizeof(sp), "%sdlv.", prefix);
    bench_say("deliveries phase: the notify stage, webhooks to the receiver on 127.0.0.1:%d "
              "(log %s)",
              recv.port, recv.log);
    pid_t pid = bench_spawn_set(sp, "notify", dlv_sets(recv.port, buf, sets));
    bench_audit_watch_t w;
    bench_audit_watch_start(&w, sp, NULL);
    double cpu0 = bench_proc_cpu_s(pid), rcpu0 = bench_proc_cpu_s(recv.pid);
    int64_t t0 = bench_now_us();
    dlv_drive(sp, o, &w, r);
    r->cpu_wall_s = (double)(bench_now_us() - t0) / 1e6;
    if (r->ended[0])
        bench_say("deliveries phase ended early: %s", r->ended);
    double cpu1 = bench_proc_cpu_s(pid), rcpu1 = bench_proc_cpu_s(recv.pid);
    r->cpu_s = cpu1 >= cpu0 && cpu1 > 0 ? cpu1 - cpu0 : -1;
    r->receiver_cpu_s = rcpu1 >= rcpu0 ? rcpu1 - rcpu0 : 0;
    r->retried = bench_metric_sum("incidentd_deliveries_total", "notify", "outcome=\"retry\"");
    bench_audit_watch_stop(&w);
    r->planned = atomic_load(&w.planned);
    r->notified = atomic_load(&w.notified);
    r->failed = atomic_load(&w.failed);
    dlv_received(&recv, atomic_load(&w.planned_first_ts), r);
    bench_set_stop();
    srv_stop(&recv);
    bench_child_untrack(recv.pid);
}

void bench_deliveries_print(const bench_dlv_result_t *r)
{
    if (!r->ran)
        return;
    printf("\n-- deliveries to a local webhook receiver (the notify stage; webhooks to "
           "tests/notify_receiver.py on 127.0.0.1) --\n");
    if (r->ended[0])
        printf("ENDED EARLY: %s (the figures below are what was measured until then)\n", r->ended);
    printf("%ld incidents (escalated, then resolved): %ld deliveries planned; %ld delivered "
           "(distinct Idempotency-Keys received, %.1f%% of planned), %ld duplicates received "
           "(at least once: a key received again)\n",
           r->incidents, r->planned, r->distinct,
           r->planned > 0 ? 100.0 * (double)r->distinct / (double)r->planned : 0,
           r->received - r->distinct);
    printf("deliveries/s: %.1f (first planned .. last received, %.2f s); audit records: "
           "notified %ld, delivery_failed %ld; attempts answered \"retry\" %.0f\n",
           r->per_s, r->secs, r->notified, r->failed, r->retried);
    if (r->cpu_s >= 0 && r->cpu_wall_s > 0)
        printf("CPU over the phase (%.1f s): the notify process %.1f s (%.0f%% of a core), the "
               "receiver (python) %.1f s (%.0f%%); its log: %s\n",
               r->cpu_wall_s, r->cpu_s, 100 * r->cpu_s / r->cpu_wall_s, r->receiver_cpu_s,
               100 * r->receiver_cpu_s / r->cpu_wall_s, r->receiver_log);
}
