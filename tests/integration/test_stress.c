/*
 * test_stress.c — keep the promise under alert storms: the whole process on
 * the test bed's real Kafka broker and Redis, two incidentd processes running
 * all five stages (so the stages of one incident race each other), and, once
 * the pipeline is quiet, exact checks of ORMIS and the live state.
 *
 *   - merge_burst: N triggers (INCIDENTD_STRESS_ALERTS, 3000) with distinct
 *     alert ids on ONE dedup key, published at once (MINOR, one client: the
 *     incident is classified, scoped and handled while the detected stage is
 *     still merging). Exactly one incident, alert_count == N in Redis and
 *     along the chain, every chain verifies, no once-per-incident action
 *     twice, every alert id the cause of exactly one detected/merged record.
 *     Several rounds with fresh keys.
 *   - racing_mix: a few dedup keys with heavy merging, disturbances that get
 *     reclassified, acknowledges and resolves racing with merges, re-triggers
 *     after resolve, a 1 s ack timeout (timers fire). The detected stage takes
 *     one key's alerts in order, so the test models what each alert must do:
 *     which incident it opens or joins, which acknowledge and resolve apply.
 *     Every chain verifies, each incident has exactly the alerts the model
 *     gives it, every alert id is counted exactly once, no action repeated
 *     (scoped/assigned/client_notified once per scope, escalated once per
 *     level and scope), unacknowledged incidents end at the top level.
 *
 * Both end with `incidentctl verify` over the whole audit topic. Figures go
 * to stdout as "stress test: ..." lines. Failure messages name the key, the
 * incident, the seq and the alert id.
 *
 * Defaults keep both tests well under 2 minutes. For a longer run by hand:
 * INCIDENTD_STRESS_ROUNDS (rounds of each test; default 4 bursts, 2 mixes),
 * INCIDENTD_STRESS_SECONDS (keep starting rounds until this many seconds of
 * each test have passed), INCIDENTD_STRESS_ALERTS, INCIDENTD_STRESS_SEED.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "incident/v1/incident.pb-c.h"
#include "ormis.h"
#include "store_admin.h"
#include "testutil.h"

#define N_PROCS 2
#define QUIET_MS 5000  /* no audit record for this long: the pipeline is quiet */
#define STALL_MS 30000 /* no audit record for this long and still not done: give up */
#define WAIT_MS 180000 /* bound of any wait for the pipeline */
#define READY_MS 60000 /* bound of the wait for the partition assignments */
#define SHOWN_MAX 10   /* failure messages printed per kind */
#define MIX_KEYS 8
#define MAX_LEVEL 3 /* escalation.max_level (default) */

typedef Incident__V1__AuditRecord rec_t;

static int env_int(const char *name, int dflt, int min, int max)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    int n = atoi(v);
    return n < min ? min : n > max ? max : n;
}

/* ---- the incidentd processes ---------------------------------------------------- */

typedef struct bed {
    char prefix[128];
    char log[N_PROCS][256];
    pid_t pids[N_PROCS];
} bed_t;

/* The processes of the running test, stopped by bed_fini() however it ends. */
static bed_t *bed_current;

static void bed_spawn(bed_t *b, int i, const char *const *sets)
{
    const char *argv[64];
    int n = 0;
    char inst[64];
    snprintf(inst, sizeof(inst), "instance_id=s%d", i);
    const char *fixed[] = {tu_bin("incidentd"),
                           "--brokers",
                           tu_brokers(),
                           "--redis",
                           tu_redis(),
                           "--topic-prefix",
                           b->prefix,
                           "--stages",
                           "all",
                           "--log-level",
                           "info",
                           "--set",
                           inst,
                           "--set",
                           "timer.poll=200ms",
                           NULL};
    for (int k = 0; fixed[k]; k++)
        argv[n++] = fixed[k];
    for (int k = 0; sets && sets[k] && n < 60; k++) {
        argv[n++] = "--set";
        argv[n++] = sets[k];
    }
    argv[n] = NULL;
    static const char *const env[] = {"INCIDENTD_TOPICS_PARTITIONS=6", NULL};
    b->pids[i] = tu_spawn(argv, env, b->log[i]);
    cr_assert(b->pids[i] > 0, "spawn incidentd");
}

/* 1 when the last rebalance of each of the five stages in the log at
 * @p path assigned partitions to it. */
static int bed_assigned(const char *path)
{
    static const char *const stages[] = {"detected", "classified", "scoped", "escalated",
                                         "resolved"};
    int state[5] = {0};
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        const char *msg = strstr(line, "\"msg\":\"");
        if (!msg)
            continue;
        for (int s = 0; s < 5; s++) {
            char tag[64];
            snprintf(tag, sizeof(tag), "\"stage\":\"%s\"", stages[s]);
            if (!strstr(line, tag))
                continue;
            if (strncmp(msg + 7, "assigned ", 9) == 0)
                state[s] = atoi(msg + 16) > 0;
            else if (strncmp(msg + 7, "revoked ", 8) == 0)
                state[s] = 0;
        }
    }
    fclose(f);
    for (int s = 0; s < 5; s++)
        if (!state[s])
            return 0;
    return 1;
}

/* Starts N_PROCS processes with the extra settings @p sets and waits until
 * every stage of every process has partitions, so the stages really race. */
static void bed_start(bed_t *b, const char *name, const char *const *sets)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->prefix, sizeof(b->prefix), "%s.", tu_unique(name));
    for (int i = 0; i < N_PROCS; i++) {
        snprintf(b->log[i], sizeof(b->log[i]), "/tmp/%sincidentd-%d.log", b->prefix, i);
        bed_spawn(b, i, sets);
    }
    bed_current = b;
    int64_t deadline = tu_now_ms() + READY_MS;
    int ready = 0;
    while (!ready && tu_now_ms() < deadline) {
        ready = 1;
        for (int i = 0; i < N_PROCS; i++)
            ready = ready && bed_assigned(b->log[i]);
        if (!ready)
            usleep(200 * 1000);
    }
    if (!ready)
        cr_log_warn("not every stage of the %d processes had partitions within %d ms "
                    "(logs %s*); going on",
                    N_PROCS, READY_MS, b->log[0]);
}

static void bed_stop(bed_t *b)
{
    for (int i = 0; i < N_PROCS; i++) {
        if (b->pids[i] <= 0)
            continue;
        int rc = tu_stop(b->pids[i], SIGTERM, 60000);
        b->pids[i] = 0;
        cr_expect_eq(rc, 0, "incidentd %d exits 0 on SIGTERM (got %d); log %s", i, rc, b->log[i]);
    }
    bed_current = NULL;
}

/* .fini of the tests: no process outlives a test that stopped early. */
static void bed_fini(void)
{
    if (!bed_current)
        return;
    for (int i = 0; i < N_PROCS; i++)
        if (bed_current->pids[i] > 0)
            tu_stop(bed_current->pids[i], SIGKILL, 10000);
    bed_current = NULL;
}

static const char *bed_topic(const bed_t *b, const char *name)
{
    static char buf[4][256];
    static int slot;
    char *t = buf[slot++ % 4];
    snprintf(t, sizeof(buf[0]), "%s%s", b->prefix, name);
    return t;
}

/* Queues one alert on incidents.detected (delivery checked by tu_flush()). */
static void publish(const bed_t *b, const Incident__V1__Alert *a)
{
    unsigned char buf[2048];
    size_t len = incident__v1__alert__get_packed_size(a);
    cr_assert(len <= sizeof(buf));
    incident__v1__alert__pack(a, buf);
    cr_assert_eq(tu_produce_async(bed_topic(b, "incidents.detected"), a->dedup_key, buf, len), 0,
                 "queue alert %s", a->alert_id);
}

/* ---- the audit book: ormis.audit as read, by incident ------------------------------ */

typedef struct trail {
    char id[128];
    char key[256];
    char opened_by[160]; /* cause of the detected record */
    rec_t **recs;
    size_t n, cap;
    size_t alert_records; /* detected + merged */
    int acknowledged, closed, handled;
    uint32_t max_level;
} trail_t;

typedef struct book {
    tu_consumer_t *con;
    trail_t **v;
    size_t n, cap;
    size_t records, undecodable;
    int64_t last_ms; /* when the last record came (or a wait began) */
} book_t;

static void book_open(book_t *bk, const bed_t *b)
{
    memset(bk, 0, sizeof(*bk));
    const char *topics[] = {bed_topic(b, "ormis.audit"), NULL};
    bk->con = tu_consumer_new(topics);
    bk->last_ms = tu_now_ms();
}

static void book_free(book_t *bk)
{
    for (size_t i = 0; i < bk->n; i++) {
        for (size_t j = 0; j < bk->v[i]->n; j++)
            incident__v1__audit_record__free_unpacked(bk->v[i]->recs[j], NULL);
        free(bk->v[i]->recs);
        free(bk->v[i]);
    }
    free(bk->v);
    tu_consumer_destroy(bk->con);
}

static trail_t *book_trail(book_t *bk, const rec_t *r)
{
    for (size_t i = bk->n; i > 0; i--)
        if (strcmp(bk->v[i - 1]->id, r->incident_id) == 0)
            return bk->v[i - 1];
    if (bk->n == bk->cap) {
        bk->cap = bk->cap ? bk->cap * 2 : 64;
        bk->v = realloc(bk->v, bk->cap * sizeof(*bk->v));
    }
    trail_t *t = calloc(1, sizeof(*t));
    snprintf(t->id, sizeof(t->id), "%s", r->incident_id);
    snprintf(t->key, sizeof(t->key), "%s", r->snapshot ? r->snapshot->dedup_key : "?");
    bk->v[bk->n++] = t;
    return t;
}

static void trail_add(trail_t *t, rec_t *r)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->recs = realloc(t->recs, t->cap * sizeof(*t->recs));
    }
    t->recs[t->n++] = r;
    if (strcmp(r->action, "detected") == 0)
        snprintf(t->opened_by, sizeof(t->opened_by), "%s", r->cause_id);
    t->alert_records += strcmp(r->action, "detected") == 0 || strcmp(r->action, "merged") == 0;
    t->acknowledged += strcmp(r->action, "acknowledged") == 0;
    t->closed += strcmp(r->action, "closed") == 0;
    t->handled += strcmp(r->action, "handled") == 0;
    if (r->snapshot && r->snapshot->escalation_level > t->max_level)
        t->max_level = r->snapshot->escalation_level;
}

/* Reads what ormis.audit has for up to @p ms. Returns the records read. */
static size_t book_poll(book_t *bk, int ms)
{
    size_t got = 0;
    int64_t deadline = tu_now_ms() + ms;
    while (tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(bk->con, 100);
        if (!m)
            continue;
        rec_t *r = incident__v1__audit_record__unpack(NULL, m->len, m->val);
        tu_msg_free(m);
        bk->last_ms = tu_now_ms();
        got++;
        if (!r || !r->snapshot) {
            bk->undecodable++;
            if (r)
                incident__v1__audit_record__free_unpacked(r, NULL);
            continue;
        }
        bk->records++;
        trail_add(book_trail(bk, r), r);
    }
    return got;
}

typedef int (*book_done_fn)(const book_t *bk, const void *arg);

/* Reads until @p done holds. Returns 1 then, 0 when no record came for
 * STALL_MS (what the test waits for will not come: the checks will say
 * what is wrong) or WAIT_MS passed. */
static int book_until(book_t *bk, book_done_fn done, const void *arg)
{
    int64_t deadline = tu_now_ms() + WAIT_MS;
    bk->last_ms = tu_now_ms();
    while (tu_now_ms() < deadline) {
        if (done(bk, arg))
            return 1;
        if (tu_now_ms() - bk->last_ms >= STALL_MS)
            return 0;
        book_poll(bk, 200);
    }
    return done(bk, arg);
}

/* Reads until @p done holds (see book_until(); NULL: at once), then until
 * no record came for QUIET_MS: the pipeline is quiet. Returns 1 when both. */
static int book_wait(book_t *bk, book_done_fn done, const void *arg)
{
    if (done && !book_until(bk, done, arg))
        return 0;
    int64_t deadline = tu_now_ms() + WAIT_MS;
    while (tu_now_ms() - bk->last_ms < QUIET_MS) {
        if (tu_now_ms() > deadline)
            return 0;
        book_poll(bk, 200);
    }
    return 1;
}

static const trail_t *book_opened_by(const book_t *bk, const char *alert_id)
{
    for (size_t i = 0; i < bk->n; i++)
        if (strcmp(bk->v[i]->opened_by, alert_id) == 0)
            return bk->v[i];
    return NULL;
}

/* ---- the checks ------------------------------------------------------------------- */

typedef struct tally {
    size_t alerts, incidents, records;
    size_t broken;        /* chains that do not verify */
    size_t repeated;      /* once-per-incident (or per scope, per level) actions seen again */
    size_t miscounted;    /* records whose alert_count is not the alerts recorded before */
    size_t alerts_off;    /* alert ids that did not cause exactly the records expected */
    size_t state_off;     /* Redis state or final snapshot not as expected */
    size_t incidents_off; /* keys with the wrong incidents */
} tally_t;

/* Counts one failure of kind @p field and prints the first SHOWN_MAX. */
#define FAILURE(y, field, ...)         \
    do {                               \
        if ((y)->field++ < SHOWN_MAX)  \
            cr_log_error(__VA_ARGS__); \
    } while (0)

static const char *scope_name(Incident__V1__Scope s)
{
    return s == INCIDENT__V1__SCOPE__SCOPE_GLOBAL  ? "GLOBAL"
           : s == INCIDENT__V1__SCOPE__SCOPE_LOCAL ? "LOCAL"
                                                   : "UNSPECIFIED";
}

/* What may appear only once in one chain: the action, with the scope for
 * the steps that a widening to GLOBAL legitimately repeats, and with level
 * and scope for escalated. NULL for actions that may repeat (merged) and
 * actions this test does not know. */
static const char *once_key(const rec_t *r, char *buf, size_t size)
{
    static const char *const once[] = {"detected",     "classified", "reclassified", "handled",
                                       "acknowledged", "resolved",   "followed_up",  "closed"};
    static const char *const per_scope[] = {"scoped", "assigned", "client_notified"};
    for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++)
        if (strcmp(r->action, once[i]) == 0)
            return r->action;
    for (size_t i = 0; i < sizeof(per_scope) / sizeof(per_scope[0]); i++)
        if (strcmp(r->action, per_scope[i]) == 0) {
            snprintf(buf, size, "%s (scope %s)", r->action, scope_name(r->snapshot->scope));
            return buf;
        }
    if (strcmp(r->action, "escalated") == 0) {
        snprintf(buf, size, "escalated (level %u, scope %s)", r->snapshot->escalation_level,
                 scope_name(r->snapshot->scope));
        return buf;
    }
    return NULL;
}

/* Sorts the trail by seq, verifies its chain. */
static void check_chain(trail_t *t, tally_t *y)
{
    ormis_sort((const rec_t **)t->recs, t->n);
    ormis_verify_result_t res;
    if (ormis_verify((const rec_t *const *)t->recs, t->n, &res) < 0)
        FAILURE(y, broken, "key %s, incident %s: chain broken at record %" PRIu64 " of %zu: %s",
                t->key, t->id, res.first_bad, t->n, res.reason);
}

/* No once-per-incident action twice (the trail sorted by seq). */
static void check_repeats(const trail_t *t, tally_t *y)
{
    char(*keys)[96] = calloc(t->n, sizeof(*keys));
    const rec_t **recs = calloc(t->n, sizeof(*recs));
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const char *k = once_key(t->recs[i], keys[n], sizeof(keys[n]));
        if (!k)
            continue;
        if (k != keys[n])
            snprintf(keys[n], sizeof(keys[n]), "%s", k);
        for (size_t j = 0; j < n; j++)
            if (strcmp(keys[j], keys[n]) == 0) {
                FAILURE(y, repeated,
                        "key %s, incident %s: '%s' at seq %" PRIu64 " and again at seq %" PRIu64
                        " (cause %s)",
                        t->key, t->id, keys[n], recs[j]->seq, t->recs[i]->seq,
                        t->recs[i]->cause_id);
                break;
            }
        recs[n++] = t->recs[i];
    }
    free(keys);
    free(recs);
}

/* Along the chain, alert_count is the number of detected + merged records
 * so far: an alert counted without its record (or twice) shows at once. */
static void check_counts(const trail_t *t, tally_t *y)
{
    uint32_t alerts = 0;
    for (size_t i = 0; i < t->n; i++) {
        const rec_t *r = t->recs[i];
        if (strcmp(r->action, "detected") == 0)
            alerts = 1;
        else if (strcmp(r->action, "merged") == 0)
            alerts++;
        if (r->snapshot->alert_count != alerts) {
            FAILURE(y, miscounted,
                    "key %s, incident %s: seq %" PRIu64 " (%s, cause %s) has alert_count %u, "
                    "but %u alerts are recorded up to there",
                    t->key, t->id, r->seq, r->action, r->cause_id, r->snapshot->alert_count,
                    alerts);
            return; /* the first one says it; the rest follow from it */
        }
    }
}

/* The live state in Redis agrees with the chain's last record, and has
 * @p want_alerts alerts (when > 0). */
static void check_state(store_t *st, const trail_t *t, uint32_t want_alerts, tally_t *y)
{
    const rec_t *last = t->recs[t->n - 1];
    if (want_alerts && last->snapshot->alert_count != want_alerts)
        FAILURE(y, state_off,
                "key %s, incident %s: alert_count %u in its last record (seq %" PRIu64
                ", %s), expected %u",
                t->key, t->id, last->snapshot->alert_count, last->seq, last->action, want_alerts);
    arena_t arena;
    arena_init(&arena, 0);
    hd_state_t *state = NULL;
    uint64_t version = 0;
    char err[256] = "";
    int live = store_admin_state(st, t->id, &arena, &state, &version, err, sizeof(err));
    if (live != 1) {
        FAILURE(y, state_off, "key %s, incident %s: no state in Redis (%s)", t->key, t->id,
                live < 0 ? err : "absent");
    } else if (version != last->seq ||
               state->incident->alert_count != last->snapshot->alert_count ||
               (want_alerts && state->incident->alert_count != want_alerts)) {
        FAILURE(y, state_off,
                "key %s, incident %s: Redis has version %" PRIu64 ", alert_count %u; the chain "
                "ends at seq %" PRIu64 " with alert_count %u; expected alert_count %u",
                t->key, t->id, version, state->incident->alert_count, last->seq,
                last->snapshot->alert_count, want_alerts);
    }
    arena_destroy(&arena);
}

/* Chain, repeats, counts and live state of one incident. */
static void check_trail(store_t *st, trail_t *t, uint32_t want_alerts, tally_t *y)
{
    y->incidents++;
    y->records += t->n;
    check_chain(t, y);
    check_repeats(t, y);
    check_counts(t, y);
    check_state(st, t, want_alerts, y);
}

/* What one alert must cause: "trigger" = one detected or merged record;
 * "acknowledged" / "resolved" = @p count records of that action (0 when the
 * incident was not in a state to take it). */
typedef struct want {
    char id[160];
    const char *what;
    int count;
} want_t;

typedef struct cause_ref {
    const char *cause;
    const rec_t *rec;
    const trail_t *t;
} cause_ref_t;

static int cause_cmp(const void *a, const void *b)
{
    const cause_ref_t *x = a, *y = b;
    int c = strcmp(x->cause, y->cause);
    return c ? c : x->rec->seq < y->rec->seq ? -1 : x->rec->seq > y->rec->seq;
}

static int counts_for(const char *what, const char *action)
{
    if (strcmp(what, "trigger") == 0)
        return strcmp(action, "detected") == 0 || strcmp(action, "merged") == 0;
    return strcmp(what, action) == 0;
}

/* Every alert causes exactly the records it must, no alert id twice. */
static void check_alerts(const book_t *bk, const want_t *wants, size_t n_wants, tally_t *y)
{
    size_t n = 0;
    for (size_t i = 0; i < bk->n; i++)
        n += bk->v[i]->n;
    cause_ref_t *refs = calloc(n ? n : 1, sizeof(*refs));
    n = 0;
    for (size_t i = 0; i < bk->n; i++)
        for (size_t j = 0; j < bk->v[i]->n; j++)
            refs[n++] = (cause_ref_t){bk->v[i]->recs[j]->cause_id, bk->v[i]->recs[j], bk->v[i]};
    qsort(refs, n, sizeof(*refs), cause_cmp);
    for (size_t w = 0; w < n_wants; w++) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (strcmp(refs[mid].cause, wants[w].id) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        int got = 0;
        char where[512] = "";
        size_t wl = 0;
        for (size_t i = lo; i < n && strcmp(refs[i].cause, wants[w].id) == 0; i++) {
            if (!counts_for(wants[w].what, refs[i].rec->action))
                continue;
            got++;
            if (wl < sizeof(where) - 1)
                wl += (size_t)snprintf(where + wl, sizeof(where) - wl, "%s %s seq %" PRIu64 "; ",
                                       refs[i].t->id, refs[i].rec->action, refs[i].rec->seq);
        }
        if (got != wants[w].count)
            FAILURE(y, alerts_off, "alert %s (%s): %d records caused, expected %d: %s", wants[w].id,
                    wants[w].what, got, wants[w].count, got ? where : "none");
    }
    free(refs);
}

/* `incidentctl verify --json` over the whole audit topic: every chain
 * verifies, and it saw what the book saw. */
static void check_incidentctl_verify(const bed_t *b, const book_t *bk)
{
    char out[300], err[300];
    snprintf(out, sizeof(out), "/tmp/%sverify.out", b->prefix);
    snprintf(err, sizeof(err), "/tmp/%sverify.err", b->prefix);
    const char *argv[] = {tu_bin("incidentctl"),
                          "--brokers",
                          tu_brokers(),
                          "--redis",
                          tu_redis(),
                          "--topic-prefix",
                          b->prefix,
                          "--no-color",
                          "verify",
                          "--json",
                          NULL};
    int rc = tu_run(argv, out, err, 120000);
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f, "incidentctl verify output %s", out);
    static char text[16 << 20];
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    text[len] = '\0';
    fclose(f);
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j, "incidentctl verify --json exit %d, not JSON (stderr in %s)", rc, err);
    double broken = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "broken_count"));
    double incidents = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "incident_count"));
    double records = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "record_count"));
    cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(j, "incidents"))
    {
        if (cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")))
            continue;
        cr_log_error("incidentctl verify: incident %s BROKEN at record %.0f: %s",
                     cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")),
                     cJSON_GetNumberValue(cJSON_GetObjectItem(o, "first_bad")),
                     cJSON_GetStringValue(cJSON_GetObjectItem(o, "reason")));
    }
    printf("stress test: incidentctl verify: exit %d, %.0f incidents, %.0f records, %.0f broken\n",
           rc, incidents, records, broken);
    cr_expect_eq(rc, broken > 0 ? 1 : 0, "incidentctl verify exit %d (stderr in %s)", rc, err);
    cr_expect_eq(broken, 0, "incidentctl verify: %.0f broken chains", broken);
    cr_expect_eq((size_t)incidents, bk->n, "incidentctl verify saw %.0f incidents, the test %zu",
                 incidents, bk->n);
    cr_expect_eq((size_t)records, bk->records, "incidentctl verify saw %.0f records, the test %zu",
                 records, bk->records);
    cJSON_Delete(j);
    unlink(out);
    unlink(err);
}

static void tally_print(const char *test, const tally_t *y, size_t undecodable)
{
    printf("stress test: %s: alerts %zu, incidents %zu, audit records %zu, broken chains %zu, "
           "repeated actions %zu, miscounted records %zu, alerts not counted exactly once %zu, "
           "wrong states %zu, keys with wrong incidents %zu, undecodable records %zu\n",
           test, y->alerts, y->incidents, y->records, y->broken, y->repeated, y->miscounted,
           y->alerts_off, y->state_off, y->incidents_off, undecodable);
    fflush(stdout);
}

static void tally_expect_clean(const tally_t *y, size_t undecodable)
{
    cr_expect_eq(y->broken, 0, "%zu chains broken (see the errors above)", y->broken);
    cr_expect_eq(y->repeated, 0, "%zu once-per-incident actions repeated", y->repeated);
    cr_expect_eq(y->miscounted, 0, "%zu incidents with alert_count off along the chain",
                 y->miscounted);
    cr_expect_eq(y->alerts_off, 0, "%zu alerts not counted exactly once", y->alerts_off);
    cr_expect_eq(y->state_off, 0, "%zu incidents in a wrong state", y->state_off);
    cr_expect_eq(y->incidents_off, 0, "%zu keys with wrong incidents", y->incidents_off);
    cr_expect_eq(undecodable, 0, "%zu undecodable audit records", undecodable);
}

static store_t *redis_open(const bed_t *b)
{
    char err[256];
    redis_conn_opts_t ro = {.url = tu_redis()};
    store_t *st = store_admin_open(&ro, b->prefix, err, sizeof(err));
    cr_assert_not_null(st, "redis: %s", err);
    return st;
}

/* 1 while rounds remain: at least @p rounds, then until @p seconds passed. */
static int more_rounds(int round, int rounds, int seconds, int64_t t0)
{
    return round < rounds || (seconds > 0 && tu_now_ms() - t0 < (int64_t)seconds * 1000);
}

/* ---- (a) the merge burst ------------------------------------------------------------- */

typedef struct burst_round {
    char key[192];
    int alerts;
} burst_round_t;

static int burst_done(const book_t *bk, const void *arg)
{
    const burst_round_t *r = arg;
    size_t alerts = 0;
    int handled = 0;
    for (size_t i = 0; i < bk->n; i++)
        if (strcmp(bk->v[i]->key, r->key) == 0) {
            alerts += bk->v[i]->alert_records;
            handled += bk->v[i]->handled;
        }
    return alerts >= (size_t)r->alerts && handled;
}

static void burst_publish(const bed_t *b, burst_round_t *r, int round, want_t *wants)
{
    char *sites[] = {"paris"}, *clients[] = {"acme"};
    for (int i = 0; i < r->alerts; i++) {
        want_t *w = &wants[(size_t)round * (size_t)r->alerts + (size_t)i];
        snprintf(w->id, sizeof(w->id), "%sb%d-%d", b->prefix, round, i);
        w->what = "trigger";
        w->count = 1;
        Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
        a.alert_id = w->id;
        a.dedup_key = r->key;
        a.action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
        a.severity = INCIDENT__V1__SEVERITY__SEVERITY_MINOR;
        a.service = "stress";
        a.source = "stress";
        a.summary = "alert storm";
        a.n_sites = 1;
        a.sites = sites;
        a.n_clients = 1;
        a.clients = clients;
        publish(b, &a);
    }
    cr_assert_eq(tu_flush(60000), 0, "round %d: all %d triggers delivered to Kafka", round,
                 r->alerts);
}

/* One incident per round key, with every alert of the round. */
static void burst_check(const book_t *bk, const burst_round_t *rounds, int n_rounds, store_t *st,
                        tally_t *y)
{
    for (int k = 0; k < n_rounds; k++) {
        int incidents = 0;
        for (size_t i = 0; i < bk->n; i++) {
            if (strcmp(bk->v[i]->key, rounds[k].key) != 0)
                continue;
            incidents++;
            check_trail(st, bk->v[i], (uint32_t)rounds[k].alerts, y);
            if (!bk->v[i]->handled)
                FAILURE(y, state_off, "key %s, incident %s: never handled (%zu records)",
                        rounds[k].key, bk->v[i]->id, bk->v[i]->n);
        }
        if (incidents != 1)
            FAILURE(y, incidents_off, "key %s (round %d): %d incidents, expected exactly 1",
                    rounds[k].key, k, incidents);
    }
}

Test(stress, merge_burst_on_one_key, .timeout = 3600, .fini = bed_fini)
{
    int alerts = env_int("INCIDENTD_STRESS_ALERTS", 3000, 1, 1000000);
    int rounds = env_int("INCIDENTD_STRESS_ROUNDS", 4, 1, 100000);
    int seconds = env_int("INCIDENTD_STRESS_SECONDS", 0, 0, 7 * 86400);
    bed_t b;
    bed_start(&b, "burst", NULL);
    book_t bk;
    book_open(&bk, &b);

    int64_t t0 = tu_now_ms();
    size_t cap = 0, n_rounds = 0;
    burst_round_t *rs = NULL;
    want_t *wants = NULL;
    while (more_rounds((int)n_rounds, rounds, seconds, t0)) {
        if (n_rounds == cap) {
            cap = cap ? cap * 2 : 8;
            rs = realloc(rs, cap * sizeof(*rs));
            wants = realloc(wants, cap * (size_t)alerts * sizeof(*wants));
        }
        burst_round_t *r = &rs[n_rounds];
        snprintf(r->key, sizeof(r->key), "%sburst-%zu", b.prefix, n_rounds);
        r->alerts = alerts;
        burst_publish(&b, r, (int)n_rounds, wants);
        /* The next burst starts once this one is merged and handled. */
        if (!book_until(&bk, burst_done, r))
            cr_log_error("key %s: not all %d alerts merged and handled (no audit record for "
                         "%d ms, or %d ms passed)",
                         r->key, alerts, STALL_MS, WAIT_MS);
        n_rounds++;
    }
    int quiet = book_wait(&bk, NULL, NULL);
    cr_expect(quiet, "the pipeline went quiet within %d ms", WAIT_MS);

    tally_t y = {.alerts = n_rounds * (size_t)alerts};
    store_t *st = redis_open(&b);
    burst_check(&bk, rs, (int)n_rounds, st, &y);
    store_destroy(st);
    check_alerts(&bk, wants, n_rounds * (size_t)alerts, &y);
    printf("stress test: merge burst: %zu rounds of %d triggers on one key, %.1f s\n", n_rounds,
           alerts, (double)(tu_now_ms() - t0) / 1000.0);
    tally_print("merge burst", &y, bk.undecodable);
    check_incidentctl_verify(&b, &bk);
    tally_expect_clean(&y, bk.undecodable);
    free(rs);
    free(wants);
    book_free(&bk);
    bed_stop(&b);
}

/* ---- (b) the racing mix -------------------------------------------------------------- */

/* One incident the model expects: the detected stage takes a key's alerts
 * in order, so which alert opens, joins, acknowledges or resolves what is
 * known in advance. */
typedef struct mix_inc {
    char key[192];
    char opened_by[160];
    uint32_t alerts, triggers;
    Incident__V1__Severity max_severity;
    int has_clients, incident, reclassified, acknowledged, resolved;
} mix_inc_t;

typedef struct mix_msg {
    int key;
    Incident__V1__Action action;
    Incident__V1__Severity severity;
    int site;   /* 0 paris, 1 lyon */
    int client; /* 0 none, 1 acme */
    char id[160];
} mix_msg_t;

typedef struct mix {
    const bed_t *bed;
    int round;
    char keys[MIX_KEYS][192];
    int open[MIX_KEYS]; /* index of the key's open incident, -1 none */
    int serial;
    mix_msg_t *msgs; /* this round's, in each key's order */
    size_t n_msgs, cap_msgs;
    mix_inc_t *incs; /* every round's */
    size_t n_incs, cap_incs;
    want_t *wants;
    size_t n_wants, cap_wants;
} mix_t;

static int mix_rand(int n) { return rand() % n; }

static int severity_makes_incident(Incident__V1__Severity s, int has_clients)
{
    return s >= INCIDENT__V1__SEVERITY__SEVERITY_MAJOR ||
           (s >= INCIDENT__V1__SEVERITY__SEVERITY_MINOR && has_clients);
}

static mix_msg_t *mix_add(mix_t *m, int k, Incident__V1__Action action, const char *what, int count)
{
    if (m->n_msgs == m->cap_msgs) {
        m->cap_msgs = m->cap_msgs ? m->cap_msgs * 2 : 1024;
        m->msgs = realloc(m->msgs, m->cap_msgs * sizeof(*m->msgs));
    }
    if (m->n_wants == m->cap_wants) {
        m->cap_wants = m->cap_wants ? m->cap_wants * 2 : 1024;
        m->wants = realloc(m->wants, m->cap_wants * sizeof(*m->wants));
    }
    mix_msg_t *msg = &m->msgs[m->n_msgs++];
    memset(msg, 0, sizeof(*msg));
    msg->key = k;
    msg->action = action;
    snprintf(msg->id, sizeof(msg->id), "%sm%d-k%d-%d", m->bed->prefix, m->round, k, m->serial++);
    want_t *w = &m->wants[m->n_wants++];
    snprintf(w->id, sizeof(w->id), "%s", msg->id);
    w->what = what;
    w->count = count;
    return msg;
}

/* A trigger: opens an incident or merges into the key's open one. */
static void mix_trigger(mix_t *m, int k, Incident__V1__Severity sev, int site, int client)
{
    mix_msg_t *msg = mix_add(m, k, INCIDENT__V1__ACTION__ACTION_TRIGGER, "trigger", 1);
    msg->severity = sev;
    msg->site = site;
    msg->client = client;
    if (m->open[k] < 0) {
        if (m->n_incs == m->cap_incs) {
            m->cap_incs = m->cap_incs ? m->cap_incs * 2 : 64;
            m->incs = realloc(m->incs, m->cap_incs * sizeof(*m->incs));
        }
        mix_inc_t *inc = &m->incs[m->n_incs];
        memset(inc, 0, sizeof(*inc));
        snprintf(inc->key, sizeof(inc->key), "%s", m->keys[k]);
        snprintf(inc->opened_by, sizeof(inc->opened_by), "%s", msg->id);
        inc->alerts = inc->triggers = 1;
        inc->max_severity = sev;
        inc->has_clients = client;
        inc->incident = severity_makes_incident(sev, client);
        m->open[k] = (int)m->n_incs++;
        return;
    }
    mix_inc_t *inc = &m->incs[m->open[k]];
    inc->alerts++;
    inc->triggers++;
    if (sev > inc->max_severity)
        inc->max_severity = sev;
    inc->has_clients |= client;
    /* classify.reclassify_triggers (3) within the window (10 min) */
    if (!inc->incident &&
        (severity_makes_incident(inc->max_severity, inc->has_clients) || inc->triggers >= 3))
        inc->incident = inc->reclassified = 1;
}

static void mix_ack(mix_t *m, int k)
{
    int i = m->open[k];
    int applies = i >= 0 && !m->incs[i].acknowledged;
    mix_add(m, k, INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE, "acknowledged", applies);
    if (applies)
        m->incs[i].acknowledged = 1;
}

static void mix_resolve(mix_t *m, int k)
{
    int i = m->open[k];
    mix_add(m, k, INCIDENT__V1__ACTION__ACTION_RESOLVE, "resolved", i >= 0);
    if (i >= 0)
        m->incs[i].resolved = 1;
    m->open[k] = -1;
}

/* A merging storm on an incident: mostly MINOR..MAJOR in paris, now and
 * then CRITICAL or lyon (which widens LOCAL to GLOBAL), an acknowledge in
 * the middle half the time. */
static void mix_storm(mix_t *m, int k, int merges)
{
    static const Incident__V1__Severity sevs[] = {
        INCIDENT__V1__SEVERITY__SEVERITY_WARNING, INCIDENT__V1__SEVERITY__SEVERITY_MINOR,
        INCIDENT__V1__SEVERITY__SEVERITY_MINOR, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR};
    int ack_at = mix_rand(2) ? mix_rand(merges + 1) : -1;
    for (int i = 0; i < merges; i++) {
        if (i == ack_at)
            mix_ack(m, k);
        Incident__V1__Severity sev =
            mix_rand(50) == 0 ? INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL : sevs[mix_rand(4)];
        mix_trigger(m, k, sev, mix_rand(40) == 0, mix_rand(3) == 0);
    }
}

/* One cycle of a key: an incident or a disturbance, and usually its resolve,
 * after which the key's next trigger opens a new incident. */
static void mix_cycle(mix_t *m, int k, int last)
{
    int merges = 20 + mix_rand(300);
    switch (mix_rand(5)) {
    case 0: /* a disturbance reclassified by its third trigger */
        mix_trigger(m, k, INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 0, 0);
        mix_trigger(m, k, INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 0, 0);
        mix_storm(m, k, merges);
        break;
    case 1: /* a disturbance reclassified by a merged MAJOR */
        mix_trigger(m, k, INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 0, 0);
        mix_trigger(m, k, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 0, 0);
        mix_storm(m, k, merges);
        break;
    case 2: /* a disturbance that stays one */
        mix_trigger(m, k, INCIDENT__V1__SEVERITY__SEVERITY_INFO, 0, 0);
        if (mix_rand(2))
            mix_trigger(m, k, INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 0, 0);
        mix_resolve(m, k);
        return;
    default: /* an incident at once (MINOR with a client, or MAJOR) */
        mix_trigger(m, k,
                    mix_rand(2) ? INCIDENT__V1__SEVERITY__SEVERITY_MINOR
                                : INCIDENT__V1__SEVERITY__SEVERITY_MAJOR,
                    0, 1);
        mix_storm(m, k, merges);
        break;
    }
    if (!last || mix_rand(3) == 0)
        mix_resolve(m, k);
    if (mix_rand(5) == 0)
        mix_ack(m, k); /* after the resolve: nothing to acknowledge, or the next incident */
}

/* Publishes this round's messages, the keys interleaved at random, each
 * key's own order kept. */
static void mix_publish(mix_t *m)
{
    size_t *order = malloc(m->n_msgs * sizeof(*order));
    for (size_t i = 0; i < m->n_msgs; i++)
        order[i] = (size_t)m->msgs[i].key;
    for (size_t i = m->n_msgs; i > 1; i--) {
        size_t j = (size_t)mix_rand((int)i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    size_t next[MIX_KEYS] = {0};
    char *sites[][1] = {{"paris"}, {"lyon"}}, *clients[] = {"acme"};
    for (size_t i = 0; i < m->n_msgs; i++) {
        int k = (int)order[i];
        while (m->msgs[next[k]].key != k)
            next[k]++;
        const mix_msg_t *msg = &m->msgs[next[k]++];
        Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
        a.alert_id = (char *)msg->id;
        a.dedup_key = m->keys[k];
        a.action = msg->action;
        a.severity = msg->severity;
        a.service = "stress";
        a.source = "stress";
        a.summary = "racing mix";
        a.actor = "stress";
        if (msg->action == INCIDENT__V1__ACTION__ACTION_TRIGGER) {
            a.n_sites = 1;
            a.sites = sites[msg->site];
            a.n_clients = (size_t)msg->client;
            a.clients = clients;
        }
        publish(m->bed, &a);
    }
    free(order);
    cr_assert_eq(tu_flush(60000), 0, "round %d: all %zu alerts delivered to Kafka", m->round,
                 m->n_msgs);
}

static void mix_round(mix_t *m, int round)
{
    m->round = round;
    m->n_msgs = 0;
    for (int k = 0; k < MIX_KEYS; k++) {
        int cycles = 1 + mix_rand(3);
        for (int c = 0; c < cycles; c++)
            mix_cycle(m, k, c == cycles - 1);
    }
    mix_publish(m);
}

/* An open, unacknowledged incident climbs to the top level on its timers. */
static int mix_tops_out(const mix_inc_t *inc)
{
    return inc->incident && !inc->acknowledged && !inc->resolved;
}

static int mix_done(const book_t *bk, const void *arg)
{
    const mix_t *m = arg;
    for (size_t i = 0; i < m->n_incs; i++) {
        const mix_inc_t *inc = &m->incs[i];
        const trail_t *t = book_opened_by(bk, inc->opened_by);
        if (!t || t->alert_records < inc->alerts || (inc->resolved && !t->closed) ||
            (inc->acknowledged && !t->acknowledged) ||
            (mix_tops_out(inc) && t->max_level < MAX_LEVEL))
            return 0;
    }
    return 1;
}

/* The model's incident against its chain's last record. */
static void mix_check_final(const mix_inc_t *inc, const trail_t *t, tally_t *y)
{
    const rec_t *last = t->recs[t->n - 1];
    Incident__V1__Kind kind =
        inc->incident ? INCIDENT__V1__KIND__KIND_INCIDENT : INCIDENT__V1__KIND__KIND_DISTURBANCE;
    int reclassified = 0;
    for (size_t i = 0; i < t->n; i++)
        reclassified += strcmp(t->recs[i]->action, "reclassified") == 0;
    if (last->snapshot->kind != kind || reclassified != inc->reclassified)
        FAILURE(y, state_off,
                "key %s, incident %s: kind %d after %d reclassified records, expected kind %d "
                "after %d",
                t->key, t->id, last->snapshot->kind, reclassified, kind, inc->reclassified);
    if (t->acknowledged != inc->acknowledged || t->closed != inc->resolved)
        FAILURE(y, state_off,
                "key %s, incident %s: %d acknowledged and %d closed records, expected %d and %d",
                t->key, t->id, t->acknowledged, t->closed, inc->acknowledged, inc->resolved);
    if (mix_tops_out(inc) && last->snapshot->escalation_level != MAX_LEVEL)
        FAILURE(y, state_off,
                "key %s, incident %s: never acknowledged, ends at level %u (seq %" PRIu64
                "), expected %d",
                t->key, t->id, last->snapshot->escalation_level, last->seq, MAX_LEVEL);
}

/* Every incident of the book is one the model expects, and the reverse. */
static void mix_check(const mix_t *m, const book_t *bk, store_t *st, tally_t *y)
{
    for (size_t i = 0; i < m->n_incs; i++) {
        const mix_inc_t *inc = &m->incs[i];
        trail_t *t = (trail_t *)book_opened_by(bk, inc->opened_by);
        if (!t) {
            FAILURE(y, incidents_off, "key %s: no incident opened by alert %s", inc->key,
                    inc->opened_by);
            continue;
        }
        check_trail(st, t, inc->alerts, y);
        mix_check_final(inc, t, y);
    }
    for (size_t i = 0; i < bk->n; i++) {
        const trail_t *t = bk->v[i];
        int known = 0;
        for (size_t j = 0; j < m->n_incs && !known; j++)
            known = strcmp(m->incs[j].opened_by, t->opened_by) == 0;
        if (!known)
            FAILURE(y, incidents_off,
                    "key %s: incident %s (%zu records, opened by '%s') is none the test expects",
                    t->key, t->id, t->n, t->opened_by);
    }
}

Test(stress, racing_mix_of_keys, .timeout = 3600, .fini = bed_fini)
{
    int rounds = env_int("INCIDENTD_STRESS_ROUNDS", 2, 1, 100000);
    int seconds = env_int("INCIDENTD_STRESS_SECONDS", 0, 0, 7 * 86400);
    unsigned seed = (unsigned)env_int("INCIDENTD_STRESS_SEED", (int)getpid(), 0, 0x7fffffff);
    srand(seed);
    static const char *const sets[] = {"escalation.ack_timeout=1s", NULL};
    bed_t b;
    bed_start(&b, "mix", sets);
    book_t bk;
    book_open(&bk, &b);

    mix_t m = {.bed = &b};
    for (int k = 0; k < MIX_KEYS; k++) {
        snprintf(m.keys[k], sizeof(m.keys[k]), "%smix-%d", b.prefix, k);
        m.open[k] = -1;
    }
    int64_t t0 = tu_now_ms();
    int round = 0;
    while (more_rounds(round, rounds, seconds, t0)) {
        mix_round(&m, round++);
        int done = book_wait(&bk, mix_done, &m);
        if (!done)
            cr_log_error("round %d: the model's end state not reached (no audit record for %d "
                         "ms, or %d ms passed)",
                         round - 1, STALL_MS, WAIT_MS);
    }
    size_t triggers = 0, alerts_total = 0;
    for (size_t i = 0; i < m.n_wants; i++)
        triggers += strcmp(m.wants[i].what, "trigger") == 0;
    for (size_t i = 0; i < m.n_incs; i++)
        alerts_total += m.incs[i].alerts;

    tally_t y = {.alerts = m.n_wants};
    store_t *st = redis_open(&b);
    mix_check(&m, &bk, st, &y);
    /* The sum of alert_count over the incidents is the triggers sent. */
    size_t counted = 0;
    for (size_t i = 0; i < bk.n; i++)
        if (bk.v[i]->n)
            counted += bk.v[i]->recs[bk.v[i]->n - 1]->snapshot->alert_count;
    store_destroy(st);
    check_alerts(&bk, m.wants, m.n_wants, &y);
    printf("stress test: racing mix (seed %u): %d rounds, %d keys, %zu alerts (%zu triggers), "
           "%zu incidents expected, alert_count summed %zu, %.1f s\n",
           seed, round, MIX_KEYS, m.n_wants, triggers, m.n_incs, counted,
           (double)(tu_now_ms() - t0) / 1000.0);
    tally_print("racing mix", &y, bk.undecodable);
    check_incidentctl_verify(&b, &bk);
    cr_expect_eq(alerts_total, triggers, "the model gives every trigger to one incident");
    cr_expect_eq(counted, triggers, "alert_count summed over the incidents %zu, triggers sent %zu",
                 counted, triggers);
    tally_expect_clean(&y, bk.undecodable);
    free(m.msgs);
    free(m.incs);
    free(m.wants);
    book_free(&bk);
    bed_stop(&b);
}
