/*
 * e2e.c — the fixture of the end-to-end tests; see e2e.h.
 */
#include "e2e.h"

#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "handlers.h"
#include "http_client.h"
#include "ormis.h"

pid_t e2e_spawn_on(const char *prefix, const char *log, const char *stages, int partitions,
                   const char *const *sets, const char *const *env_extra)
{
    const char *argv[72];
    int n = 0;
    argv[n++] = tu_bin("incidentd");
    argv[n++] = "--brokers";
    argv[n++] = tu_brokers();
    argv[n++] = "--redis";
    argv[n++] = tu_redis();
    argv[n++] = "--topic-prefix";
    argv[n++] = prefix;
    argv[n++] = "--stages";
    argv[n++] = stages;
    for (int i = 0; sets && sets[i] && n < 70; i++) {
        argv[n++] = "--set";
        argv[n++] = sets[i];
    }
    argv[n] = NULL;
    char parts[48];
    snprintf(parts, sizeof(parts), "INCIDENTD_TOPICS_PARTITIONS=%d", partitions);
    const char *env[40] = {parts};
    for (int i = 0; env_extra && env_extra[i] && i < 38; i++)
        env[i + 1] = env_extra[i];
    pid_t pid = tu_spawn(argv, env, log);
    cr_assert(pid > 0, "spawn incidentd");
    return pid;
}

/* Starts one incidentd with the given extra "--set" settings. */
pid_t e2e_spawn(e2e_t *p, const char *stages, const char *const *sets)
{
    const char *all[32] = {"timer.poll=200ms", "batch.ms=5"};
    size_t n = 2;
    for (size_t i = 0; sets && sets[i] && n < 31; i++)
        all[n++] = sets[i];
    pid_t pid = e2e_spawn_on(p->prefix, p->log, stages, 3, all, p->env);
    p->pids[p->n_pids++] = pid;
    return pid;
}

void e2e_start(e2e_t *p, const char *const *sets)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->prefix, sizeof(p->prefix), "%s.", tu_unique("e2e"));
    snprintf(p->log, sizeof(p->log), "/tmp/%sincidentd.log", p->prefix);
    e2e_spawn(p, "all", sets);
}

void e2e_stop(e2e_t *p)
{
    for (int i = 0; i < p->n_pids; i++) {
        int rc = tu_stop(p->pids[i], SIGTERM, 30000);
        cr_expect_eq(rc, 0, "incidentd exits 0 on SIGTERM (got %d); log %s", rc, p->log);
    }
    p->n_pids = 0;
}

const char *e2e_topic(const e2e_t *p, const char *name)
{
    static char buf[8][256];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, sizeof(buf[0]), "%s%s", p->prefix, name);
    return b;
}

/* An alert with the given fields; strings borrowed. */
Incident__V1__Alert e2e_alert(const char *id, const char *key, Incident__V1__Action action,
                              Incident__V1__Severity sev)
{
    Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
    a.alert_id = (char *)id;
    a.dedup_key = (char *)key;
    a.action = action;
    a.severity = sev;
    a.service = "checkout";
    a.source = "e2e";
    a.summary = "checkout errors";
    return a;
}

void e2e_publish(const e2e_t *p, const Incident__V1__Alert *a)
{
    cr_assert_eq(tu_produce_alert(e2e_topic(p, "incidents.detected"), a), 0, "e2e_publish alert %s",
                 a->alert_id);
}

void e2e_publish_service(const e2e_t *p, const char *key, const char *service,
                         Incident__V1__Action act)
{
    Incident__V1__Alert a = e2e_alert(tu_unique("a"), key, act,
                                      act == INCIDENT__V1__ACTION__ACTION_TRIGGER
                                          ? INCIDENT__V1__SEVERITY__SEVERITY_MAJOR
                                          : INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED);
    a.service = (char *)service;
    e2e_publish(p, &a);
}

void e2e_trail_free(e2e_trail_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        incident__v1__audit_record__free_unpacked(t->recs[i], NULL);
    t->n = 0;
}

/* Reads ormis.audit until a record of an incident with dedup key @p key has
 * action @p until (or the time runs out). Keeps the records of that key. */
int e2e_trail_wait(tu_consumer_t *c, e2e_trail_t *t, const char *key, const char *until, int ms)
{
    int64_t deadline = tu_now_ms() + ms;
    while (tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 500);
        if (!m)
            continue;
        Incident__V1__AuditRecord *r = incident__v1__audit_record__unpack(NULL, m->len, m->val);
        tu_msg_free(m);
        if (!r)
            continue;
        if (!r->snapshot || strcmp(r->snapshot->dedup_key, key) != 0 || t->n >= E2E_MAX_RECS) {
            incident__v1__audit_record__free_unpacked(r, NULL);
            continue;
        }
        t->recs[t->n++] = r;
        if (strcmp(r->action, until) == 0)
            return 1;
    }
    return 0;
}

/* Records of one incident id, in order. */
size_t e2e_trail_of(const e2e_trail_t *t, const char *id, const Incident__V1__AuditRecord **out)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->recs[i]->incident_id, id) == 0)
            out[n++] = t->recs[i];
    return n;
}

int e2e_trail_has(const e2e_trail_t *t, const char *action)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->recs[i]->action, action) == 0)
            return 1;
    return 0;
}

const Incident__V1__AuditRecord *e2e_trail_last(const e2e_trail_t *t, const char *action)
{
    for (size_t i = t->n; i > 0; i--)
        if (strcmp(t->recs[i - 1]->action, action) == 0)
            return t->recs[i - 1];
    return NULL;
}

void e2e_trail_verify(const e2e_trail_t *t)
{
    const Incident__V1__AuditRecord *one[E2E_MAX_RECS];
    for (size_t i = 0; i < t->n; i++) {
        size_t n = e2e_trail_of(t, t->recs[i]->incident_id, one);
        ormis_verify_result_t res;
        cr_assert_eq(ormis_verify(one, n, &res), 0, "chain of %s: %s", t->recs[i]->incident_id,
                     res.reason);
    }
}

/* Counts messages of @p name whose incident has dedup key @p key within ms. */
int e2e_count_events(const e2e_t *p, const char *name, const char *key, int ms)
{
    const char *topics[] = {e2e_topic(p, name), NULL};
    tu_consumer_t *c = tu_consumer_new(topics);
    int n = 0;
    int64_t deadline = tu_now_ms() + ms;
    while (tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 300);
        if (!m)
            continue;
        Incident__V1__IncidentEvent *ev =
            incident__v1__incident_event__unpack(NULL, m->len, m->val);
        if (ev && ev->incident && strcmp(ev->incident->dedup_key, key) == 0)
            n++;
        if (ev)
            incident__v1__incident_event__free_unpacked(ev, NULL);
        tu_msg_free(m);
    }
    tu_consumer_destroy(c);
    return n;
}

tu_consumer_t *e2e_audit_consumer(const e2e_t *p)
{
    const char *topics[] = {e2e_topic(p, "ormis.audit"), NULL};
    return tu_consumer_new(topics);
}

int e2e_trail_count(const e2e_trail_t *t, const char *action)
{
    int n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += strcmp(t->recs[i]->action, action) == 0;
    return n;
}
/* ---- commands of people, dead letters, stage events ------------------------------- */

Incident__V1__Command e2e_cmd(const char *command_id, const char *incident_id,
                              Incident__V1__CommandKind kind, const char *actor)
{
    Incident__V1__Command c = INCIDENT__V1__COMMAND__INIT;
    c.command_id = (char *)command_id;
    c.incident_id = (char *)incident_id;
    c.kind = kind;
    c.actor = (char *)actor;
    return c;
}

void e2e_command(const e2e_t *p, const Incident__V1__Command *c)
{
    size_t len = incident__v1__command__get_packed_size(c);
    unsigned char *buf = malloc(len ? len : 1);
    cr_assert_not_null(buf);
    incident__v1__command__pack(c, buf);
    int rc = tu_produce(e2e_topic(p, "incidents.commands"), c->incident_id, buf, len);
    free(buf);
    cr_assert_eq(rc, 0, "e2e_command %s (%s)", c->command_id, hd_command_kind_name(c->kind));
}

int e2e_dlq_read(const e2e_t *p, e2e_dead_t *out, int max, int ms)
{
    const char *topics[] = {e2e_topic(p, "incidents.dlq"), NULL};
    tu_consumer_t *c = tu_consumer_new(topics);
    int n = 0;
    int64_t deadline = tu_now_ms() + ms;
    while (n < max && tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 300);
        if (!m)
            continue;
        snprintf(out[n].key, sizeof(out[n].key), "%s", m->key);
        snprintf(out[n].error, sizeof(out[n].error), "%s", m->x_error);
        snprintf(out[n].stage, sizeof(out[n].stage), "%s", m->x_stage);
        n++;
        tu_msg_free(m);
    }
    tu_consumer_destroy(c);
    return n;
}

Incident__V1__IncidentEvent *e2e_event_wait(const e2e_t *p, const char *name, const char *id,
                                            uint64_t version, int ms)
{
    const char *topics[] = {e2e_topic(p, name), NULL};
    tu_consumer_t *c = tu_consumer_new(topics);
    Incident__V1__IncidentEvent *found = NULL;
    int64_t deadline = tu_now_ms() + ms;
    while (!found && tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 300);
        if (!m)
            continue;
        Incident__V1__IncidentEvent *ev =
            incident__v1__incident_event__unpack(NULL, m->len, m->val);
        tu_msg_free(m);
        if (ev && ev->incident && strcmp(ev->incident->id, id) == 0 &&
            ev->incident->version == version)
            found = ev;
        else if (ev)
            incident__v1__incident_event__free_unpacked(ev, NULL);
    }
    tu_consumer_destroy(c);
    return found;
}

/* ---- processes of one prefix started and stopped one by one ------------------------ */

void e2e_prepare(e2e_t *p)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->prefix, sizeof(p->prefix), "%s.", tu_unique("e2e"));
    snprintf(p->log, sizeof(p->log), "/tmp/%sincidentd.log", p->prefix);
}

int e2e_kill(e2e_t *p, pid_t pid, int sig, int ms)
{
    int k = 0;
    for (int i = 0; i < p->n_pids; i++)
        if (p->pids[i] != pid)
            p->pids[k++] = p->pids[i];
    p->n_pids = k;
    return tu_stop(pid, sig, ms);
}

/* ---- the API ---------------------------------------------------------------------- */

#define E2E_API_HTTP_MS 30000

void e2e_wait_healthz(int port, const char *log)
{
    int64_t deadline = tu_now_ms() + E2E_WAIT_MS;
    while (tu_now_ms() < deadline) {
        tu_http_resp_t r;
        if (tu_http_request(port, "GET", "/healthz", NULL, NULL, 0, 0, 2000, &r) == 0) {
            int st = r.status;
            tu_http_resp_free(&r);
            if (st == 200)
                return;
        }
        usleep(200 * 1000);
    }
    cr_assert_fail("port %d never answered /healthz; log %s", port, log);
}

void e2e_api_start(e2e_api_t *p, const char *stages, const char *const *sets)
{
    memset(p, 0, sizeof(*p));
    p->port = tu_free_port();
    snprintf(p->set, sizeof(p->set), "api=127.0.0.1:%d", p->port);
    const char *all[48] = {p->set};
    int n = 1;
    for (int i = 0; sets && sets[i] && n < 47; i++)
        all[n++] = sets[i];
    all[n] = NULL;
    snprintf(p->e.prefix, sizeof(p->e.prefix), "%s.", tu_unique("api"));
    snprintf(p->e.log, sizeof(p->e.log), "/tmp/%sincidentd.log", p->e.prefix);
    e2e_spawn(&p->e, stages, all);
    e2e_wait_healthz(p->port, p->e.log);
    /* /healthz answers before a process with workers has made the topics */
    if (strcmp(stages, "api") != 0)
        cr_assert_eq(tu_topic_wait(e2e_topic(&p->e, "ormis.audit"), E2E_WAIT_MS), 0,
                     "the topics were never made; log %s", p->e.log);
}

int e2e_api_call(const e2e_api_t *p, const char *method, const char *path, const char *token,
                 const char *body, cJSON **json)
{
    char auth[128];
    const char *headers[2] = {NULL, NULL};
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        headers[0] = auth;
    }
    tu_http_resp_t r;
    int rc = tu_http_request(p->port, method, path, headers, body, body ? strlen(body) : 0, 0,
                             E2E_API_HTTP_MS, &r);
    cr_assert_eq(rc, 0, "%s %s: no answer", method, path);
    if (json) {
        *json = cJSON_Parse(r.body ? r.body : "");
        cr_assert(*json, "%s %s: not JSON: %s", method, path, r.body);
    }
    int st = r.status;
    tu_http_resp_free(&r);
    return st;
}

const char *e2e_jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* ---- whole topics, event ids, incidentctl ----------------------------------------- */

size_t e2e_drain(const char *topic, int idle_ms, int max_ms, void (*fn)(void *, tu_msg_t *),
                 void *arg)
{
    const char *topics[] = {topic, NULL};
    tu_consumer_t *con = tu_consumer_new(topics);
    size_t n = 0;
    int64_t deadline = tu_now_ms() + max_ms, last = tu_now_ms();
    while (tu_now_ms() < deadline && tu_now_ms() - last < idle_ms) {
        tu_msg_t *m = tu_consumer_next(con, 200);
        if (!m)
            continue;
        last = tu_now_ms();
        n++;
        fn(arg, m);
        tu_msg_free(m);
    }
    tu_consumer_destroy(con);
    return n;
}

void e2e_collect_event_id(void *arg, tu_msg_t *m)
{
    e2e_ids_t *ids = arg;
    Incident__V1__IncidentEvent *ev = incident__v1__incident_event__unpack(NULL, m->len, m->val);
    if (!ev)
        return;
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? ids->cap * 2 : 1024;
        ids->v = realloc(ids->v, ids->cap * sizeof(*ids->v));
        cr_assert_not_null(ids->v);
    }
    ids->v[ids->n++] = strdup(ev->event_id);
    incident__v1__incident_event__free_unpacked(ev, NULL);
}

static int e2e_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t e2e_ids_duplicates(e2e_ids_t *ids)
{
    if (ids->n > 1)
        qsort(ids->v, ids->n, sizeof(*ids->v), e2e_cmp_str);
    size_t d = 0;
    for (size_t i = 1; i < ids->n; i++)
        if (strcmp(ids->v[i], ids->v[i - 1]) == 0)
            d++;
    for (size_t i = 0; i < ids->n; i++)
        free(ids->v[i]);
    free(ids->v);
    memset(ids, 0, sizeof(*ids));
    return d;
}

/* Appends the file @p path to out[*len..size). */
static void e2e_slurp(const char *path, char *out, size_t size, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    *len += fread(out + *len, 1, size - 1 - *len, f);
    out[*len] = '\0';
    fclose(f);
}

int e2e_ctl(const e2e_t *p, const char *const *args, char *out, size_t out_size, int timeout_ms)
{
    const char *argv[48] = {tu_bin("incidentctl"), "--brokers", tu_brokers(), "--redis", tu_redis(),
                            "--topic-prefix",      p->prefix,   "--no-color"};
    int n = 8;
    for (int i = 0; args[i] && n < 47; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char op[300], ep[300];
    snprintf(op, sizeof(op), "/tmp/%sctl.out", p->prefix);
    snprintf(ep, sizeof(ep), "/tmp/%sctl.err", p->prefix);
    int rc = tu_run(argv, op, ep, timeout_ms);
    size_t len = 0;
    out[0] = '\0';
    e2e_slurp(op, out, out_size, &len);
    e2e_slurp(ep, out, out_size, &len);
    unlink(op);
    unlink(ep);
    return rc;
}

int e2e_ctl_line(const e2e_t *p, char *out, size_t out_size, const char *const *args)
{
    char all[8192];
    int rc = e2e_ctl(p, args, all, sizeof(all), 60000);
    if (out)
        snprintf(out, out_size, "%.*s", (int)strcspn(all, "\n"), all);
    return rc;
}

/* ---- Redis ---------------------------------------------------------------------- */

redisContext *e2e_redis_connect(void)
{
    const char *url = tu_redis();
    char host[256];
    int port = 6379, db = 0;
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *colon = strchr(p, ':');
    cr_assert_not_null(colon, "redis URL %s", url);
    snprintf(host, sizeof(host), "%.*s", (int)(colon - p), p);
    port = atoi(colon + 1);
    const char *slash = strchr(colon, '/');
    if (slash)
        db = atoi(slash + 1);
    struct timeval tv = {5, 0};
    redisContext *rc = redisConnectWithTimeout(host, port, tv);
    cr_assert(rc && !rc->err, "redis connect %s:%d", host, port);
    redisReply *r = redisCommand(rc, "SELECT %d", db);
    cr_assert(r && r->type != REDIS_REPLY_ERROR);
    freeReplyObject(r);
    return rc;
}
