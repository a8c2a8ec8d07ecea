/*
 * bench_stages.c — what the phases of the newer stages share (bench.h):
 * opening incidents and waiting until they are escalated, resolving them,
 * and counting a set's audit records as they come.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int bench_phase_stop(int64_t last_progress_us, int stall_s, const char *what, char *why,
                     size_t why_size)
{
    if (bench_set_dead(why, why_size))
        return 1;
    if (bench_past_deadline()) {
        snprintf(why, why_size, "the global deadline");
        return 1;
    }
    if (bench_now_us() - last_progress_us > (int64_t)stall_s * 1000000) {
        snprintf(why, why_size, "%s for %d s", what, stall_s);
        return 1;
    }
    return 0;
}

/* ---- the audit trail, as it comes ----------------------------------------------------------- */

/* n of "<n> deliver(y|ies) planned" in a notification_planned detail ("no
 * delivery planned": 0). */
static long planned_count(const uint8_t *d, size_t n)
{
    static const char pat[] = " deliver";
    size_t pl = sizeof(pat) - 1;
    for (size_t i = 1; i + pl <= n; i++) {
        if (!isdigit(d[i - 1]) || memcmp(d + i, pat, pl) != 0)
            continue;
        size_t j = i;
        while (j > 0 && isdigit(d[j - 1]))
            j--;
        long v = 0;
        for (; j < i; j++)
            v = v * 10 + (d[j] - '0');
        return v;
    }
    return 0;
}

/* Counts one audit record of Kafka timestamp @p ts into @p w. */
static void watch_record(bench_audit_watch_t *w, const uint8_t *p, size_t len, int64_t ts)
{
    const uint8_t *act, *actor, *detail;
    size_t al, tl, dl;
    size_t apl = strlen(w->actor_prefix);
    if (apl && bench_pb_bytes(p, len, 5, &actor, &tl) == 0 && tl >= apl &&
        memcmp(actor, w->actor_prefix, apl) == 0) {
        atomic_fetch_add(&w->by_actor, 1);
        if (ts > atomic_load(&w->by_actor_last_ts))
            atomic_store(&w->by_actor_last_ts, ts);
    }
    if (bench_pb_bytes(p, len, 4, &act, &al) < 0)
        return;
    if (bench_pb_eq(act, al, "notification_planned") &&
        bench_pb_bytes(p, len, 7, &detail, &dl) == 0) {
        long k = planned_count(detail, dl);
        if (k > 0 && !atomic_load(&w->planned_first_ts))
            atomic_store(&w->planned_first_ts, ts);
        atomic_fetch_add(&w->planned, k);
    } else if (bench_pb_eq(act, al, "notified")) {
        atomic_fetch_add(&w->notified, 1);
    } else if (bench_pb_eq(act, al, "delivery_failed")) {
        atomic_fetch_add(&w->failed, 1);
    } else if (bench_pb_eq(act, al, "closed")) {
        atomic_fetch_add(&w->closed, 1);
    }
}

static void *watch_run(void *arg)
{
    bench_audit_watch_t *w = arg;
    while (!atomic_load(&w->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->con, 100);
        if (!m)
            continue;
        if (!m->err) {
            rd_kafka_timestamp_type_t tt;
            watch_record(w, m->payload, m->len, rd_kafka_message_timestamp(m, &tt));
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

void bench_audit_watch_start(bench_audit_watch_t *w, const char *prefix, const char *actor_prefix)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->actor_prefix, sizeof(w->actor_prefix), "%s", actor_prefix ? actor_prefix : "");
    char topic[256], group[300];
    snprintf(topic, sizeof(topic), "%sormis.audit", prefix);
    snprintf(group, sizeof(group), "%sbench.audit", prefix);
    w->con = bench_consumer_new(group, 1);
    const char *topics[] = {topic};
    bench_assign_all(w->con, topics, 1, 1);
    if (pthread_create(&w->th, NULL, watch_run, w) != 0)
        bench_die("pthread_create");
}

void bench_audit_watch_stop(bench_audit_watch_t *w)
{
    if (!w->con)
        return;
    atomic_store(&w->stop, 1);
    pthread_join(w->th, NULL);
    rd_kafka_consumer_close(w->con);
    rd_kafka_destroy(w->con);
    w->con = NULL;
}

/* ---- incidents to work on -------------------------------------------------------------------- */

/* Publishes @p n triggers (or, @p resolve, the resolves of those @p ids
 * has) of keys "<prefix><tag>-<i>"; returns how many. */
static long publish(const char *prefix, const char *tag, long n, int global, int resolve,
                    char *const *ids)
{
    char det[256], key[256], aid[300];
    unsigned char buf[1024];
    snprintf(det, sizeof(det), "%sincidents.detected", prefix);
    rd_kafka_t *p = bench_producer_new(NULL, "5");
    bench_warm_producer(p, det);
    long sent = 0;
    for (long i = 0; i < n; i++) {
        if (resolve && !ids[i])
            continue;
        snprintf(key, sizeof(key), "%s%s-%ld", prefix, tag, i);
        snprintf(aid, sizeof(aid), "%s%c", key, resolve ? 'r' : 't');
        size_t len = bench_pack_alert(buf, sizeof(buf), aid, key,
                                      resolve ? INCIDENT__V1__ACTION__ACTION_RESOLVE
                                              : INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      global ? 4 * i : i, bench_wall_ms());
        bench_produce(p, det, key, buf, len);
        sent++;
    }
    bench_flush(p, resolve ? "resolving the incidents" : "opening the incidents");
    rd_kafka_destroy(p);
    return sent;
}

/* The index of key "<keypfx><i>", or -1. */
static long key_index(const uint8_t *k, size_t kl, const char *keypfx, long n)
{
    size_t pl = strlen(keypfx);
    if (kl <= pl || memcmp(k, keypfx, pl) != 0)
        return -1;
    long i = 0;
    for (size_t j = pl; j < kl; j++) {
        if (!isdigit(k[j]) || i > n)
            return -1;
        i = i * 10 + (k[j] - '0');
    }
    return i < n ? i : -1;
}

/* Reads incidents.escalated events from @p con into ids[] until all @p n
 * were seen or it stops (see bench_open_incidents()). */
static long wait_escalated(rd_kafka_t *con, const char *keypfx, long n, int stall_s, char **ids,
                           char *why, size_t why_size)
{
    long seen = 0;
    int64_t last = bench_now_us(), next_check = 0;
    why[0] = '\0';
    while (seen < n) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(con, 200);
        const uint8_t *inc, *id, *dk;
        size_t il, idl, dl;
        if (m && !m->err && bench_pb_bytes(m->payload, m->len, 2, &inc, &il) == 0 &&
            bench_pb_bytes(inc, il, 1, &id, &idl) == 0 &&
            bench_pb_bytes(inc, il, 2, &dk, &dl) == 0) {
            long i = key_index(dk, dl, keypfx, n);
            if (i >= 0 && !ids[i] && (ids[i] = strndup((const char *)id, idl)) != NULL) {
                seen++;
                last = bench_now_us();
            }
        }
        if (m)
            rd_kafka_message_destroy(m);
        if (bench_now_us() < next_check)
            continue;
        next_check = bench_now_us() + 200000;
        if (bench_phase_stop(last, stall_s, "no incident escalated", why, why_size))
            break;
    }
    return seen;
}

long bench_open_incidents(const char *prefix, const char *tag, long n, int global, int stall_s,
                          char **ids, char *why, size_t why_size)
{
    char esc[256], group[300], keypfx[300];
    snprintf(esc, sizeof(esc), "%sincidents.escalated", prefix);
    snprintf(group, sizeof(group), "%sbench.%s", prefix, tag);
    snprintf(keypfx, sizeof(keypfx), "%s%s-", prefix, tag);
    rd_kafka_t *con = bench_consumer_new(group, 1);
    const char *topics[] = {esc};
    bench_assign_all(con, topics, 1, 1);
    for (long i = 0; i < n; i++)
        ids[i] = NULL;
    publish(prefix, tag, n, global, 0, NULL);
    long seen = wait_escalated(con, keypfx, n, stall_s, ids, why, why_size);
    rd_kafka_consumer_close(con);
    rd_kafka_destroy(con);
    bench_say("%s: %ld of %ld incidents escalated%s%s", tag, seen, n, *why ? "; stopped: " : "",
              why);
    return seen;
}

long bench_resolve_incidents(const char *prefix, const char *tag, long n, char *const *ids)
{
    return publish(prefix, tag, n, 0, 1, ids);
}
