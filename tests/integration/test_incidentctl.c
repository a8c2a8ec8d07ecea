/*
 * test_incidentctl.c — the real incidentctl binary against the real Kafka
 * and Redis of the test bed, one unique topic prefix (and so Redis key
 * namespace) per test:
 *
 *   - publish with flags and with JSON: the Alert read back from Kafka;
 *   - publish --incident: the dedup key looked up in Redis;
 *   - hand-made, chained AuditRecords: verify, show --json; a tampered one
 *     makes verify exit 1 naming the incident;
 *   - rebuild writes the expected Redis state (checked with hiredis), never
 *     goes backwards, and list shows the rebuilt incident;
 *   - tail and dlq print what is on their topics;
 *   - the commands of people (ack, task add, meeting, ...): the Command read
 *     back from incidents.commands; bad ones exit 2 and send nothing; with
 *     incidentd running, they are applied (audit actor = the person) once;
 *   - --help of every command exits 0, bad usage exits 2.
 *
 * Every wait is bounded: the binary runs under a deadline and is killed
 * when it overstays.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "e2e.h"
#include "incident/v1/incident.pb-c.h"
#include "incidentd/v1/internal.pb-c.h"
#include "ormis.h"
#include "testutil.h"

extern char **environ;

#define RUN_TIMEOUT_MS 90000
#define KAFKA_TIMEOUT_MS 30000
#define MAX_ARGS 64

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- running the binary ----------------------------------------------------------- */

typedef struct run {
    int status; /* exit code, or -1 when killed / not exited */
    char *out;  /* stdout (malloc'ed) */
    char *err;  /* stderr (malloc'ed) */
} run_t;

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static const char *ctl_path(void)
{
    static char path[1024];
    const char *bin = getenv("INCIDENTD_BIN");
    cr_assert_not_null(bin, "INCIDENTD_BIN (the build/bin directory) is not set");
    snprintf(path, sizeof(path), "%s/incidentctl", bin);
    return path;
}

/* Runs incidentctl with @p argv (NULL-terminated, without the program
 * name), stdin from @p stdin_path (NULL = /dev/null), under a deadline. */
static void run_argv(run_t *r, const char *stdin_path, const char *const *argv)
{
    memset(r, 0, sizeof(*r));
    char outp[] = "/tmp/ctltest-out-XXXXXX", errp[] = "/tmp/ctltest-err-XXXXXX";
    int ofd = mkstemp(outp), efd = mkstemp(errp);
    cr_assert(ofd >= 0 && efd >= 0, "mkstemp: %s", strerror(errno));
    const char *args[MAX_ARGS + 2];
    size_t n = 0;
    args[n++] = ctl_path();
    for (size_t i = 0; argv[i]; i++) {
        cr_assert_lt(n, (size_t)MAX_ARGS);
        args[n++] = argv[i];
    }
    args[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, stdin_path ? stdin_path : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, ofd, 1);
    posix_spawn_file_actions_adddup2(&fa, efd, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, args[0], &fa, NULL, (char *const *)args, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "posix_spawn %s: %s", args[0], strerror(rc));
    int64_t deadline = mono_ms() + RUN_TIMEOUT_MS;
    int status = 0;
    r->status = -1;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            if (WIFEXITED(status))
                r->status = WEXITSTATUS(status);
            break;
        }
        if (mono_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    close(ofd);
    close(efd);
    r->out = slurp(outp);
    r->err = slurp(errp);
    unlink(outp);
    unlink(errp);
    cr_assert_neq(r->status, -1, "incidentctl did not exit within %d ms: %s", RUN_TIMEOUT_MS,
                  r->err);
}

/* Runs "incidentctl --brokers B --redis R --topic-prefix P <args...>". */
static void ctl(run_t *r, const char *prefix, const char *stdin_path, ...)
{
    const char *argv[MAX_ARGS + 1];
    size_t n = 0;
    argv[n++] = "--brokers";
    argv[n++] = tu_brokers();
    argv[n++] = "--redis";
    argv[n++] = tu_redis();
    argv[n++] = "--topic-prefix";
    argv[n++] = prefix;
    argv[n++] = "--no-color";
    va_list ap;
    va_start(ap, stdin_path);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        cr_assert_lt(n, (size_t)MAX_ARGS);
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    run_argv(r, stdin_path, argv);
}

static char *prefix_new(void)
{
    static char buf[160];
    snprintf(buf, sizeof(buf), "%s.", tu_unique("ctl"));
    return buf;
}

/* ---- Kafka --------------------------------------------------------------------- */

static rd_kafka_t *kafka_new(rd_kafka_type_t type, const char *const *props)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", tu_brokers(), err, sizeof(err)),
                 RD_KAFKA_CONF_OK, "%s", err);
    for (size_t i = 0; props && props[i]; i += 2)
        cr_assert_eq(rd_kafka_conf_set(conf, props[i], props[i + 1], err, sizeof(err)),
                     RD_KAFKA_CONF_OK, "%s: %s", props[i], err);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    cr_assert_not_null(rk, "rd_kafka_new: %s", err);
    return rk;
}

/* Creates <prefix><name> for every name (1 partition) and waits until the
 * metadata shows them all. */
static void topics_create(const char *prefix)
{
    static const char *const names[] = {
        "incidents.detected", "incidents.classified", "incidents.scoped", "incidents.escalated",
        "incidents.resolved", "ormis.audit",          "incidents.dlq",    "incidents.commands"};
    const size_t n = sizeof(names) / sizeof(names[0]);
    rd_kafka_t *rk = kafka_new(RD_KAFKA_PRODUCER, NULL);
    char full[8][256], err[512];
    rd_kafka_NewTopic_t *nt[8];
    for (size_t i = 0; i < n; i++) {
        snprintf(full[i], sizeof(full[i]), "%s%s", prefix, names[i]);
        nt[i] = rd_kafka_NewTopic_new(full[i], 1, 1, err, sizeof(err));
        cr_assert_not_null(nt[i], "%s", err);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, KAFKA_TIMEOUT_MS, err, sizeof(err));
    rd_kafka_CreateTopics(rk, nt, n, opt, q);
    rd_kafka_event_t *ev = NULL;
    int64_t deadline = mono_ms() + KAFKA_TIMEOUT_MS + 5000;
    while (!ev && mono_ms() < deadline) {
        ev = rd_kafka_queue_poll(q, 1000);
        if (ev && rd_kafka_event_type(ev) != RD_KAFKA_EVENT_CREATETOPICS_RESULT) {
            rd_kafka_event_destroy(ev);
            ev = NULL;
        }
    }
    cr_assert_not_null(ev, "no CreateTopics result");
    size_t cnt;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        cr_assert(e == 0 || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, "create %s: %s",
                  rd_kafka_topic_result_name(tr[i]), rd_kafka_err2str(e));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_NewTopic_destroy_array(nt, n);
    rd_kafka_queue_destroy(q);
    /* Until every topic has a leader. */
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, full[i], NULL);
        int ok = 0;
        while (!ok && mono_ms() < deadline) {
            const struct rd_kafka_metadata *md = NULL;
            if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == 0) {
                ok = md->topic_cnt == 1 && md->topics[0].err == 0 &&
                     md->topics[0].partition_cnt == 1 && md->topics[0].partitions[0].leader >= 0;
                rd_kafka_metadata_destroy(md);
            }
            if (!ok) {
                struct timespec ts = {0, 100 * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        cr_assert(ok, "topic %s has no leader", full[i]);
        rd_kafka_topic_destroy(rkt);
    }
    rd_kafka_destroy(rk);
}

typedef struct kmsg {
    char key[256];
    void *value;
    size_t len;
} kmsg_t;

/* Reads @p want records of <prefix><name> from the beginning (bounded). */
static size_t topic_read(const char *prefix, const char *name, kmsg_t *out, size_t want)
{
    static const char *const props[] = {"group.id", "ctltest-reader",  "enable.auto.commit",
                                        "false",    "isolation.level", "read_committed",
                                        NULL};
    rd_kafka_t *rk = kafka_new(RD_KAFKA_CONSUMER, props);
    rd_kafka_poll_set_consumer(rk);
    char full[256];
    snprintf(full, sizeof(full), "%s%s", prefix, name);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, full, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    size_t n = 0;
    int64_t deadline = mono_ms() + KAFKA_TIMEOUT_MS;
    while (n < want && mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (!m->err) {
            snprintf(out[n].key, sizeof(out[n].key), "%.*s", (int)m->key_len,
                     m->key ? (const char *)m->key : "");
            out[n].value = malloc(m->len ? m->len : 1);
            memcpy(out[n].value, m->payload, m->len);
            out[n].len = m->len;
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

typedef struct krec {
    const char *key;
    const void *value;
    size_t len;
    rd_kafka_headers_t *hdrs; /* ownership passes to the producer, or NULL */
} krec_t;

/* Produces the records to <prefix><name>, in order, and waits for them. */
static void topic_write(const char *prefix, const char *name, const krec_t *recs, size_t n)
{
    static const char *const props[] = {"enable.idempotence", "true", "acks", "all", NULL};
    rd_kafka_t *rk = kafka_new(RD_KAFKA_PRODUCER, props);
    char full[256];
    snprintf(full, sizeof(full), "%s%s", prefix, name);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e;
        if (recs[i].hdrs)
            e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(full),
                                  RD_KAFKA_V_KEY(recs[i].key, strlen(recs[i].key)),
                                  RD_KAFKA_V_VALUE((void *)recs[i].value, recs[i].len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_HEADERS(recs[i].hdrs), RD_KAFKA_V_END);
        else
            e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(full),
                                  RD_KAFKA_V_KEY(recs[i].key, strlen(recs[i].key)),
                                  RD_KAFKA_V_VALUE((void *)recs[i].value, recs[i].len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        cr_assert_eq(e, 0, "produce: %s", rd_kafka_err2str(e));
    }
    cr_assert_eq(rd_kafka_flush(rk, KAFKA_TIMEOUT_MS), 0, "flush timed out");
    rd_kafka_destroy(rk);
}

/* ---- audit records -------------------------------------------------------------- */

/* One incident's hand-made audit trail (storage for the records). */
typedef struct trail {
    char id[128];
    Incident__V1__AuditRecord rec[8];
    Incident__V1__Incident snap[8];
    Incident__V1__AuditRecord *ptr[8];
    char hashes[2 * 8 * ORMIS_HASH_HEX];
    uint8_t *packed[8];
    size_t packed_len[8];
    size_t n;
    int64_t t0;
} trail_t;

typedef struct step {
    const char *action;
    Incident__V1__Stage stage;
    Incident__V1__Status status;
    uint32_t level;
    const char *detail;
} step_t;

/* Builds a chained trail of @p n steps for incident @p id (dedup key
 * "key-<id>", a GLOBAL MAJOR incident), records one minute apart. */
static void trail_make(trail_t *t, const char *id, const step_t *steps, size_t n)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->id, sizeof(t->id), "%s", id);
    static char dedup[8][160];
    static int slot;
    char *dk = dedup[slot++ % 8];
    snprintf(dk, sizeof(dedup[0]), "key-%s", id);
    t->t0 = wall_ms() - 10 * 60 * 1000;
    t->n = n;
    for (size_t i = 0; i < n; i++) {
        Incident__V1__Incident *s = &t->snap[i];
        incident__v1__incident__init(s);
        s->id = t->id;
        s->dedup_key = dk;
        s->stage = steps[i].stage;
        s->status = steps[i].status;
        s->kind = INCIDENT__V1__KIND__KIND_INCIDENT;
        s->scope = INCIDENT__V1__SCOPE__SCOPE_GLOBAL;
        s->owner_role = INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER;
        s->severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
        s->service = (char *)"payments";
        s->summary = (char *)"card payments failing";
        s->escalation_level = steps[i].level;
        s->alert_count = 1;
        s->version = i + 1;
        s->detected_at_ms = t->t0;
        Incident__V1__AuditRecord *r = &t->rec[i];
        incident__v1__audit_record__init(r);
        r->incident_id = t->id;
        r->seq = i + 1;
        r->stage = steps[i].stage;
        r->action = (char *)steps[i].action;
        r->actor = (char *)"incidentd/test";
        r->at_ms = t->t0 + (int64_t)i * 60000;
        r->detail = (char *)steps[i].detail;
        r->snapshot = s;
        r->cause_id = (char *)"alert-1";
        t->ptr[i] = r;
    }
    ormis_chain(t->ptr, n, "", t->hashes);
}

/* Packs the trail's records (after any tampering). */
static void trail_pack(trail_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        t->packed_len[i] = incident__v1__audit_record__get_packed_size(t->ptr[i]);
        t->packed[i] = malloc(t->packed_len[i] + 1);
        incident__v1__audit_record__pack(t->ptr[i], t->packed[i]);
    }
}

static void trail_free(trail_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->packed[i]);
}

/* Writes the trails' records to the audit topic (in the order given). */
static void trails_write(const char *prefix, trail_t **trails, size_t n_trails)
{
    krec_t recs[64];
    size_t n = 0;
    for (size_t k = 0; k < n_trails; k++) {
        trail_pack(trails[k]);
        for (size_t i = 0; i < trails[k]->n; i++)
            recs[n++] =
                (krec_t){trails[k]->id, trails[k]->packed[i], trails[k]->packed_len[i], NULL};
    }
    topic_write(prefix, "ormis.audit", recs, n);
}

static const step_t steps_escalated[] = {
    {"detected", INCIDENT__V1__STAGE__STAGE_DETECTED, INCIDENT__V1__STATUS__STATUS_OPEN, 0,
     "opened by alert alert-1"},
    {"classified", INCIDENT__V1__STAGE__STAGE_CLASSIFIED, INCIDENT__V1__STATUS__STATUS_OPEN, 0,
     "INCIDENT: severity MAJOR >= MAJOR"},
    {"scoped", INCIDENT__V1__STAGE__STAGE_SCOPED, INCIDENT__V1__STATUS__STATUS_OPEN, 0,
     "GLOBAL: 2 sites"},
    {"escalated", INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__STATUS__STATUS_OPEN, 1,
     "global: Technical Manager action plan; level 1"},
};

static const step_t steps_closed[] = {
    {"detected", INCIDENT__V1__STAGE__STAGE_DETECTED, INCIDENT__V1__STATUS__STATUS_OPEN, 0,
     "opened"},
    {"resolved", INCIDENT__V1__STAGE__STAGE_RESOLVED, INCIDENT__V1__STATUS__STATUS_RESOLVED, 0,
     "resolved by ops"},
    {"closed", INCIDENT__V1__STAGE__STAGE_CLOSED, INCIDENT__V1__STATUS__STATUS_CLOSED, 0,
     "record complete"},
};

static const step_t steps_acked[] = {
    {"detected", INCIDENT__V1__STAGE__STAGE_DETECTED, INCIDENT__V1__STATUS__STATUS_OPEN, 0,
     "opened"},
    {"acknowledged", INCIDENT__V1__STAGE__STAGE_DETECTED, INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED,
     0, "acknowledged by alice"},
};

/* ---- tests: usage ----------------------------------------------------------------- */

Test(incidentctl, help_of_every_command_exits_0)
{
    static const char *const cmds[] = {"publish", "list", "show", "verify",
                                       "rebuild", "tail", "dlq"};
    run_t r;
    run_argv(&r, NULL, (const char *const[]){"--help", NULL});
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "Commands:") != NULL, "%s", r.out);
    run_free(&r);
    run_argv(&r, NULL, (const char *const[]){"--version", NULL});
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "incidentctl ") != NULL);
    run_free(&r);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        run_argv(&r, NULL, (const char *const[]){cmds[i], "--help", NULL});
        cr_expect_eq(r.status, 0, "%s --help: exit %d (%s)", cmds[i], r.status, r.err);
        cr_expect(strstr(r.out, "Usage: incidentctl") && strstr(r.out, cmds[i]),
                  "%s --help printed: %s", cmds[i], r.out);
        run_free(&r);
        run_argv(&r, NULL, (const char *const[]){"help", cmds[i], NULL});
        cr_expect_eq(r.status, 0, "help %s", cmds[i]);
        run_free(&r);
    }
}

Test(incidentctl, bad_usage_exits_2)
{
    const char *const *const cases[] = {
        (const char *const[]){NULL},
        (const char *const[]){"frobnicate", NULL},
        (const char *const[]){"--bogus", NULL},
        (const char *const[]){"publish", NULL},
        (const char *const[]){"publish", "explode", "--dedup-key", "k", NULL},
        (const char *const[]){"publish", "trigger", "--severity", "major", NULL},
        (const char *const[]){"publish", "trigger", "--dedup-key", "k", "--severity", "huge", NULL},
        (const char *const[]){"publish", "trigger", "--dedup-key", "k", "--label", "novalue", NULL},
        (const char *const[]){"publish", "trigger", "--dedup-key", "k", "--frob", NULL},
        (const char *const[]){"list", "--stage", "sideways", NULL},
        (const char *const[]){"list", "extra", NULL},
        (const char *const[]){"show", NULL},
        (const char *const[]){"verify", "a", "b", NULL},
        (const char *const[]){"rebuild", "--ack-timeout", "soon", NULL},
        (const char *const[]){"tail", "--max", "0", NULL},
        (const char *const[]){"dlq", "--max", "x", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_t r;
        run_argv(&r, NULL, cases[i]);
        cr_expect_eq(r.status, 2, "case %zu (%s ...): exit %d, stderr: %s", i,
                     cases[i][0] ? cases[i][0] : "", r.status, r.err);
        cr_expect(r.err[0] != '\0', "case %zu: no message on stderr", i);
        run_free(&r);
    }
}

Test(incidentctl, invalid_alert_exits_2_before_sending)
{
    const char *prefix = prefix_new();
    run_t r;
    /* A TRIGGER without severity breaks the contract. */
    ctl(&r, prefix, NULL, "publish", "trigger", "--dedup-key", "k1", NULL);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "severity") != NULL, "%s", r.err);
    run_free(&r);
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ctl(&r, prefix, NULL, "publish", "trigger", "--dedup-key", big, "--severity", "major", NULL);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "dedup_key") != NULL, "%s", r.err);
    run_free(&r);
}

Test(incidentctl, secrets_are_not_printed)
{
    const char *prefix = prefix_new();
    run_t r;
    const char *url = tu_redis();
    const char *p = strstr(url, "://");
    char bad[512];
    snprintf(bad, sizeof(bad), "redis://admin:S3cr3tPw@%s", p ? p + 3 : url);
    run_argv(&r, NULL,
             (const char *const[]){"--brokers", tu_brokers(), "--redis", bad, "--topic-prefix",
                                   prefix, "list", NULL});
    cr_expect_eq(r.status, 2, "AUTH with a wrong password must fail: %s", r.err);
    cr_expect(strstr(r.err, "S3cr3tPw") == NULL && strstr(r.out, "S3cr3tPw") == NULL,
              "the password was printed: %s", r.err);
    run_free(&r);
}

/* The daemon's config file gives the defaults: brokers, redis, prefix. */
Test(incidentctl, config_file_settings)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    trail_t t;
    trail_make(&t, "INC-CONF", steps_closed, 3);
    trail_t *one[] = {&t};
    trails_write(prefix, one, 1);
    char path[] = "/tmp/ctltest-conf-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# incidentd config\nbrokers = %s\nredis = %s\ntopic_prefix = %s\n", tu_brokers(),
            tu_redis(), prefix);
    fclose(f);
    run_t r;
    run_argv(&r, NULL, (const char *const[]){"--config", path, "verify", NULL});
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, "1 incident, 3 records, 0 broken") != NULL, "%s", r.out);
    run_free(&r);
    /* A flag beats the file: another prefix has no audit topic. */
    run_argv(&r, NULL,
             (const char *const[]){"--config", path, "--topic-prefix", "nowhere.", "verify", NULL});
    cr_expect_eq(r.status, 2, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.err, "nowhere.ormis.audit") != NULL, "%s", r.err);
    run_free(&r);
    unlink(path);
    run_argv(&r, NULL, (const char *const[]){"--config", path, "verify", NULL});
    cr_expect_eq(r.status, 2, "a missing config file: exit %d", r.status);
    run_free(&r);
    trail_free(&t);
}

/* ---- tests: publish ---------------------------------------------------------------- */

Test(incidentctl, publish_with_flags)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    run_t r;
    ctl(&r, prefix, NULL, "publish", "trigger", "--dedup-key", "db-down", "--severity", "major",
        "--service", "db", "--summary", "primary down", "--source", "nagios", "--site", "par1",
        "--site", "ams2", "--client", "acme", "--label", "scope=global", "--label", "team=dba",
        "--alert-id", "alert-flags-1", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_str_eq(r.out, "alert-flags-1\n");
    run_free(&r);
    /* An acknowledge with a generated id and the default actor. */
    ctl(&r, prefix, NULL, "publish", "ack", "--dedup-key", "db-down", "--actor", "alice", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    char generated[256];
    snprintf(generated, sizeof(generated), "%s", r.out);
    generated[strcspn(generated, "\n")] = '\0';
    cr_expect(generated[0] != '\0');
    run_free(&r);

    kmsg_t m[2];
    cr_assert_eq(topic_read(prefix, "incidents.detected", m, 2), 2);
    cr_expect_str_eq(m[0].key, "db-down");
    Incident__V1__Alert *a = incident__v1__alert__unpack(NULL, m[0].len, m[0].value);
    cr_assert_not_null(a);
    cr_expect_str_eq(a->alert_id, "alert-flags-1");
    cr_expect_str_eq(a->dedup_key, "db-down");
    cr_expect_eq(a->action, INCIDENT__V1__ACTION__ACTION_TRIGGER);
    cr_expect_eq(a->severity, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    cr_expect_str_eq(a->service, "db");
    cr_expect_str_eq(a->summary, "primary down");
    cr_expect_str_eq(a->source, "nagios");
    cr_assert_eq(a->n_sites, 2);
    cr_expect_str_eq(a->sites[0], "par1");
    cr_expect_str_eq(a->sites[1], "ams2");
    cr_assert_eq(a->n_clients, 1);
    cr_expect_str_eq(a->clients[0], "acme");
    cr_assert_eq(a->n_labels, 2);
    cr_expect_str_eq(a->labels[0]->key, "scope");
    cr_expect_str_eq(a->labels[0]->value, "global");
    cr_expect_str_eq(a->labels[1]->key, "team");
    cr_expect(a->occurred_at_ms > wall_ms() - 600000, "occurred_at_ms defaults to now");
    incident__v1__alert__free_unpacked(a, NULL);

    cr_expect_str_eq(m[1].key, "db-down");
    a = incident__v1__alert__unpack(NULL, m[1].len, m[1].value);
    cr_assert_not_null(a);
    cr_expect_eq(a->action, INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE);
    cr_expect_str_eq(a->alert_id, generated);
    cr_expect_str_eq(a->actor, "alice");
    incident__v1__alert__free_unpacked(a, NULL);
    free(m[0].value);
    free(m[1].value);
}

Test(incidentctl, publish_json_file_and_stdin)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    char path[] = "/tmp/ctltest-alerts-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    static const char json[] =
        "[{\"alertId\": \"json-1\", \"dedupKey\": \"net\", \"action\": \"ACTION_TRIGGER\",\n"
        "  \"severity\": \"SEVERITY_CRITICAL\", \"sites\": [\"*\"], \"labels\": {\"k\": \"v\"},\n"
        "  \"occurredAtMs\": \"1700000000000\", \"clients\": [\"a\", \"b\"]},\n"
        " {\"alert_id\": \"json-2\", \"dedup_key\": \"net\", \"severity\": \"minor\",\n"
        "  \"occurred_at_ms\": 1700000000001, \"service\": \"wan\"}]\n";
    cr_assert_eq(write(fd, json, sizeof(json) - 1), (ssize_t)(sizeof(json) - 1));
    close(fd);
    run_t r;
    ctl(&r, prefix, NULL, "publish", "trigger", "--json-file", path, "--json", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cJSON *out = cJSON_Parse(r.out);
    cr_assert(cJSON_IsArray(out), "%s", r.out);
    cr_expect_eq(cJSON_GetArraySize(out), 2);
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(out, 1), "alert_id")->valuestring,
                     "json-2");
    cJSON_Delete(out);
    run_free(&r);

    /* The same from stdin, a single object, a resolve. */
    static const char one[] = "{\"dedupKey\": \"net\", \"action\": \"ACTION_RESOLVE\", "
                              "\"actor\": \"bob\", \"alertId\": \"json-3\"}";
    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, one, sizeof(one) - 1), (ssize_t)(sizeof(one) - 1));
    close(fd);
    ctl(&r, prefix, path, "publish", "--json-file", "-", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_str_eq(r.out, "json-3\n");
    run_free(&r);

    /* An unknown field and a contradicting action are refused. */
    static const char badj[] = "{\"dedupKey\": \"net\", \"nonsense\": 1}";
    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, badj, sizeof(badj) - 1), (ssize_t)(sizeof(badj) - 1));
    close(fd);
    ctl(&r, prefix, NULL, "publish", "trigger", "--json-file", path, NULL);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "nonsense") != NULL, "%s", r.err);
    run_free(&r);
    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, one, sizeof(one) - 1), (ssize_t)(sizeof(one) - 1));
    close(fd);
    ctl(&r, prefix, NULL, "publish", "trigger", "--json-file", path, NULL);
    cr_expect_eq(r.status, 2, "RESOLVE in the file, trigger on the command line");
    run_free(&r);
    unlink(path);

    kmsg_t m[3];
    cr_assert_eq(topic_read(prefix, "incidents.detected", m, 3), 3);
    Incident__V1__Alert *a = incident__v1__alert__unpack(NULL, m[0].len, m[0].value);
    cr_assert_not_null(a);
    cr_expect_str_eq(m[0].key, "net");
    cr_expect_str_eq(a->alert_id, "json-1");
    cr_expect_eq(a->action, INCIDENT__V1__ACTION__ACTION_TRIGGER);
    cr_expect_eq(a->severity, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    cr_expect_eq(a->occurred_at_ms, 1700000000000LL);
    cr_assert_eq(a->n_sites, 1);
    cr_expect_str_eq(a->sites[0], "*");
    cr_assert_eq(a->n_labels, 1);
    cr_expect_str_eq(a->labels[0]->value, "v");
    cr_expect_eq(a->n_clients, 2);
    incident__v1__alert__free_unpacked(a, NULL);
    a = incident__v1__alert__unpack(NULL, m[1].len, m[1].value);
    cr_assert_not_null(a);
    cr_expect_str_eq(a->alert_id, "json-2");
    cr_expect_eq(a->action, INCIDENT__V1__ACTION__ACTION_TRIGGER, "the command's action");
    cr_expect_eq(a->severity, INCIDENT__V1__SEVERITY__SEVERITY_MINOR);
    cr_expect_str_eq(a->service, "wan");
    incident__v1__alert__free_unpacked(a, NULL);
    a = incident__v1__alert__unpack(NULL, m[2].len, m[2].value);
    cr_assert_not_null(a);
    cr_expect_eq(a->action, INCIDENT__V1__ACTION__ACTION_RESOLVE);
    cr_expect_str_eq(a->actor, "bob");
    incident__v1__alert__free_unpacked(a, NULL);
    for (int i = 0; i < 3; i++)
        free(m[i].value);
}

Test(incidentctl, publish_by_incident_id)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    /* A live incident in Redis, under the prefix's key namespace. */
    Incident__V1__Incident inc = INCIDENT__V1__INCIDENT__INIT;
    inc.id = (char *)"INC-LOOKUP";
    inc.dedup_key = (char *)"disk-full";
    inc.stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;
    inc.status = INCIDENT__V1__STATUS__STATUS_OPEN;
    Incidentd__V1__StoredIncident st = INCIDENTD__V1__STORED_INCIDENT__INIT;
    st.incident = &inc;
    uint8_t buf[512];
    size_t len = incidentd__v1__stored_incident__pack(&st, buf);
    redisContext *rc = e2e_redis_connect();
    redisReply *rr =
        redisCommand(rc, "HSET %sinc:{INC-LOOKUP} state %b version 1", prefix, buf, len);
    cr_assert(rr && rr->type != REDIS_REPLY_ERROR);
    freeReplyObject(rr);
    redisFree(rc);

    run_t r;
    ctl(&r, prefix, NULL, "publish", "resolve", "--incident", "INC-LOOKUP", "--actor", "carol",
        NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    ctl(&r, prefix, NULL, "publish", "ack", "--incident", "INC-NOPE", NULL);
    cr_expect_eq(r.status, 1, "unknown incident: exit %d (%s)", r.status, r.err);
    cr_expect(strstr(r.err, "INC-NOPE") != NULL);
    run_free(&r);

    kmsg_t m[1];
    cr_assert_eq(topic_read(prefix, "incidents.detected", m, 1), 1);
    cr_expect_str_eq(m[0].key, "disk-full");
    Incident__V1__Alert *a = incident__v1__alert__unpack(NULL, m[0].len, m[0].value);
    cr_assert_not_null(a);
    cr_expect_str_eq(a->dedup_key, "disk-full");
    cr_expect_eq(a->action, INCIDENT__V1__ACTION__ACTION_RESOLVE);
    cr_expect_str_eq(a->actor, "carol");
    incident__v1__alert__free_unpacked(a, NULL);
    free(m[0].value);
}

/* ---- tests: audit ------------------------------------------------------------------ */

Test(incidentctl, verify_and_show_good_chains)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    trail_t a, b;
    trail_make(&a, "INC-GOOD-A", steps_escalated, 4);
    trail_make(&b, "INC-GOOD-B", steps_closed, 3);
    trail_t *both[] = {&a, &b};
    trails_write(prefix, both, 2);

    run_t r;
    ctl(&r, prefix, NULL, "verify", NULL);
    cr_expect_eq(r.status, 0, "exit %d: %s%s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, "2 incidents, 7 records, 0 broken") != NULL, "%s", r.out);
    run_free(&r);
    ctl(&r, prefix, NULL, "verify", "INC-GOOD-B", NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "1 incident, 3 records, 0 broken") != NULL, "%s", r.out);
    run_free(&r);
    ctl(&r, prefix, NULL, "verify", "INC-ABSENT", NULL);
    cr_expect_eq(r.status, 1);
    run_free(&r);

    ctl(&r, prefix, NULL, "show", "INC-GOOD-A", "--json", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "not JSON: %s", r.out);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "id")->valuestring, "INC-GOOD-A");
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(j, "live")), "nothing in Redis yet");
    cJSON *tl = cJSON_GetObjectItem(j, "timeline");
    cr_assert(cJSON_IsArray(tl));
    cr_assert_eq(cJSON_GetArraySize(tl), 4);
    for (int i = 0; i < 4; i++) {
        cJSON *rec = cJSON_GetArrayItem(tl, i);
        cr_expect_eq(cJSON_GetObjectItem(rec, "seq")->valuedouble, i + 1);
        cr_expect_str_eq(cJSON_GetObjectItem(rec, "action")->valuestring,
                         steps_escalated[i].action);
        cr_expect_str_eq(cJSON_GetObjectItem(rec, "hash")->valuestring, a.rec[i].hash);
        cr_expect_str_eq(cJSON_GetObjectItem(rec, "detail")->valuestring,
                         steps_escalated[i].detail);
    }
    cJSON *chain = cJSON_GetObjectItem(j, "chain");
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(chain, "ok")));
    cJSON *inc = cJSON_GetObjectItem(j, "incident");
    cr_expect_str_eq(cJSON_GetObjectItem(inc, "stage")->valuestring, "STAGE_ESCALATED");
    cJSON_Delete(j);
    run_free(&r);

    /* The human form: one line per record and the chain line. */
    ctl(&r, prefix, NULL, "show", "INC-GOOD-A", NULL);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "Chain: verified") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "global: Technical Manager action plan; level 1") != NULL, "%s", r.out);
    run_free(&r);
    ctl(&r, prefix, NULL, "show", "INC-NOWHERE", NULL);
    cr_expect_eq(r.status, 1);
    run_free(&r);
    trail_free(&a);
    trail_free(&b);
}

Test(incidentctl, verify_detects_tampering)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    trail_t good, bad;
    trail_make(&good, "INC-FINE", steps_closed, 3);
    trail_make(&bad, "INC-TAMPERED", steps_escalated, 4);
    /* Changed after hashing: the record no longer matches its hash. */
    bad.rec[1].detail = (char *)"DISTURBANCE: nothing to see here";
    trail_t *both[] = {&good, &bad};
    trails_write(prefix, both, 2);

    run_t r;
    ctl(&r, prefix, NULL, "verify", NULL);
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.out);
    cr_expect(strstr(r.out, "INC-TAMPERED") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "BROKEN") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "2 incidents, 7 records, 1 broken") != NULL, "%s", r.out);
    run_free(&r);
    ctl(&r, prefix, NULL, "verify", "--json", NULL);
    cr_expect_eq(r.status, 1);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    cr_expect_eq(cJSON_GetObjectItem(j, "broken_count")->valuedouble, 1);
    cJSON *incs = cJSON_GetObjectItem(j, "incidents");
    int found = 0;
    for (int i = 0; i < cJSON_GetArraySize(incs); i++) {
        cJSON *o = cJSON_GetArrayItem(incs, i);
        if (strcmp(cJSON_GetObjectItem(o, "id")->valuestring, "INC-TAMPERED") == 0) {
            found = 1;
            cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(o, "ok")));
            cr_expect_eq(cJSON_GetObjectItem(o, "first_bad")->valuedouble, 2);
        }
    }
    cr_expect(found);
    cJSON_Delete(j);
    run_free(&r);
    /* The good one alone still verifies. */
    ctl(&r, prefix, NULL, "verify", "INC-FINE", NULL);
    cr_expect_eq(r.status, 0, "%s", r.out);
    run_free(&r);
    ctl(&r, prefix, NULL, "show", "INC-TAMPERED", NULL);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "Chain: BROKEN") != NULL, "%s", r.out);
    run_free(&r);
    trail_free(&good);
    trail_free(&bad);
}

/* The daemon writes the audit topic in transactions: the commit markers sit
 * at the end of the log (the high watermark is past the last record) and
 * aborted records must not count. */
/* One transaction of the trail's records, committed or aborted; an
 * abortable error (a fresh broker's coordinator) aborts and tries again. */
static void txn_round(rd_kafka_t *rk, const char *topic, const trail_t *t, int commit)
{
    rd_kafka_error_t *e = NULL;
    for (int tries = 0; tries < 5; tries++) {
        cr_assert_null(rd_kafka_begin_transaction(rk));
        for (size_t i = 0; i < t->n; i++) {
            rd_kafka_resp_err_t pe =
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(t->id, strlen(t->id)),
                                  RD_KAFKA_V_VALUE(t->packed[i], t->packed_len[i]),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            cr_assert_eq(pe, 0, "%s", rd_kafka_err2str(pe));
        }
        e = commit ? rd_kafka_commit_transaction(rk, KAFKA_TIMEOUT_MS)
                   : rd_kafka_abort_transaction(rk, KAFKA_TIMEOUT_MS);
        if (!e || !rd_kafka_error_txn_requires_abort(e))
            break;
        rd_kafka_error_destroy(e);
        e = rd_kafka_abort_transaction(rk, KAFKA_TIMEOUT_MS);
        cr_assert_null(e, "abort after a failed commit: %s", e ? rd_kafka_error_string(e) : "");
    }
    cr_assert_null(e, "end transaction: %s", e ? rd_kafka_error_string(e) : "");
}

Test(incidentctl, verify_reads_committed_transactions_only)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    trail_t t;
    trail_make(&t, "INC-TXN", steps_escalated, 3);
    trail_pack(&t);
    char topic[256], txid[200];
    snprintf(topic, sizeof(topic), "%sormis.audit", prefix);
    snprintf(txid, sizeof(txid), "%stxn", prefix);
    const char *const props[] = {"transactional.id", txid, NULL};
    rd_kafka_t *rk = kafka_new(RD_KAFKA_PRODUCER, props);
    /* A fresh broker may still be loading its transaction coordinator:
     * retriable errors are tried again (bounded). */
    rd_kafka_error_t *e = NULL;
    for (int tries = 0; tries < 10; tries++) {
        e = rd_kafka_init_transactions(rk, KAFKA_TIMEOUT_MS);
        if (!e || !rd_kafka_error_is_retriable(e))
            break;
        rd_kafka_error_destroy(e);
        e = NULL;
        usleep(500 * 1000);
    }
    cr_assert_null(e, "init_transactions: %s", e ? rd_kafka_error_string(e) : "");
    for (int round = 0; round < 2; round++)
        txn_round(rk, topic, &t, round == 0);
    rd_kafka_destroy(rk);
    /* The commit's markers reach the partition after commit returns: wait
     * until a read_committed reader sees the committed round. */
    const char *const topics[] = {topic, NULL};
    tu_consumer_t *c = tu_consumer_new(topics);
    size_t seen = 0;
    int64_t deadline = tu_now_ms() + 30000;
    while (seen < t.n && tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 500);
        seen += m != NULL;
        tu_msg_free(m);
    }
    tu_consumer_destroy(c);
    cr_assert_eq(seen, t.n, "committed records visible to read_committed: %zu", seen);

    run_t r;
    ctl(&r, prefix, NULL, "verify", NULL);
    cr_expect_eq(r.status, 0, "exit %d: %s %s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, "1 incident, 3 records, 0 broken") != NULL, "%s", r.out);
    cr_expect(strstr(r.err, "warning") == NULL, "%s", r.err);
    run_free(&r);
    trail_free(&t);
}

/* ---- tests: rebuild ---------------------------------------------------------------- */

static char *hget(redisContext *rc, const char *prefix, const char *id, const char *field,
                  size_t *len)
{
    redisReply *r = redisCommand(rc, "HGET %sinc:{%s} %s", prefix, id, field);
    cr_assert_not_null(r);
    char *v = NULL;
    if (r->type == REDIS_REPLY_STRING) {
        v = malloc(r->len + 1);
        memcpy(v, r->str, r->len);
        v[r->len] = '\0';
        if (len)
            *len = r->len;
    }
    freeReplyObject(r);
    return v;
}

Test(incidentctl, rebuild_writes_the_live_state)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    trail_t esc, closed, acked;
    trail_make(&esc, "INC-RB-ESC", steps_escalated, 4);
    trail_make(&closed, "INC-RB-CLOSED", steps_closed, 3);
    trail_make(&acked, "INC-RB-ACK", steps_acked, 2);
    trail_t *all[] = {&esc, &closed, &acked};
    trails_write(prefix, all, 3);

    /* Redis still holds the closed one at an older version, as live. */
    redisContext *rc = e2e_redis_connect();
    Incidentd__V1__StoredIncident old = INCIDENTD__V1__STORED_INCIDENT__INIT;
    old.incident = &closed.snap[0];
    uint8_t oldbuf[1024];
    size_t oldlen = incidentd__v1__stored_incident__pack(&old, oldbuf);
    redisReply *rr =
        redisCommand(rc, "HSET %sinc:{INC-RB-CLOSED} state %b version 1", prefix, oldbuf, oldlen);
    cr_assert(rr && rr->type != REDIS_REPLY_ERROR);
    freeReplyObject(rr);
    rr = redisCommand(rc, "SADD %sstage:DETECTED INC-RB-CLOSED", prefix);
    freeReplyObject(rr);
    rr = redisCommand(rc, "SET %sopen:key-INC-RB-CLOSED INC-RB-CLOSED", prefix);
    freeReplyObject(rr);

    run_t r;
    /* Without --yes and without a terminal it refuses. */
    ctl(&r, prefix, NULL, "rebuild", NULL);
    cr_expect_eq(r.status, 2, "%s", r.err);
    run_free(&r);
    ctl(&r, prefix, NULL, "rebuild", "--yes", "--json", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    cr_expect_eq(cJSON_GetObjectItem(j, "records")->valuedouble, 9);
    cr_expect_eq(cJSON_GetObjectItem(j, "incidents")->valuedouble, 3);
    cr_expect_eq(cJSON_GetObjectItem(j, "written")->valuedouble, 2);
    cr_expect_eq(cJSON_GetObjectItem(j, "closed")->valuedouble, 0);
    cr_expect_eq(cJSON_GetObjectItem(j, "expired")->valuedouble, 1);
    cr_expect_eq(cJSON_GetObjectItem(j, "timers")->valuedouble, 1);
    cr_expect_eq(cJSON_GetObjectItem(j, "broken")->valuedouble, 0);
    cJSON_Delete(j);
    run_free(&r);

    size_t len = 0;
    char *version = hget(rc, prefix, "INC-RB-ESC", "version", NULL);
    cr_assert_not_null(version, "inc:{INC-RB-ESC} was not written");
    cr_expect_str_eq(version, "4");
    free(version);
    char *state = hget(rc, prefix, "INC-RB-ESC", "state", &len);
    cr_assert_not_null(state);
    Incidentd__V1__StoredIncident *st =
        incidentd__v1__stored_incident__unpack(NULL, len, (const uint8_t *)state);
    cr_assert_not_null(st);
    cr_assert_not_null(st->incident);
    cr_expect_str_eq(st->incident->id, "INC-RB-ESC");
    cr_expect_eq(st->incident->version, 4);
    cr_expect_eq(st->incident->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_expect_eq(st->incident->escalation_level, 1);
    cr_expect_str_eq(st->last_hash, esc.rec[3].hash);
    cr_assert_eq(st->n_recorded_actions, 4);
    cr_expect_str_eq(st->recorded_actions[0], "detected");
    cr_expect_str_eq(st->recorded_actions[3], "escalated");
    cr_expect_eq(st->n_trigger_times_ms, 1);
    incidentd__v1__stored_incident__free_unpacked(st, NULL);
    free(state);

    rr = redisCommand(rc, "SISMEMBER %sstage:ESCALATED INC-RB-ESC", prefix);
    cr_expect_eq(rr->integer, 1, "stage:ESCALATED holds it");
    freeReplyObject(rr);
    rr = redisCommand(rc, "GET %sopen:key-INC-RB-ESC", prefix);
    cr_expect(rr->type == REDIS_REPLY_STRING && strcmp(rr->str, "INC-RB-ESC") == 0,
              "open:<dedup_key> -> id");
    freeReplyObject(rr);
    rr = redisCommand(rc, "ZSCORE %stimers 1|INC-RB-ESC", prefix);
    cr_assert(rr->type == REDIS_REPLY_STRING, "the ack timer is armed");
    cr_expect_eq(strtoll(rr->str, NULL, 10), esc.rec[3].at_ms + 30 * 60 * 1000);
    freeReplyObject(rr);
    /* Acknowledged: open index, stage set, no timer. */
    rr = redisCommand(rc, "SISMEMBER %sstage:DETECTED INC-RB-ACK", prefix);
    cr_expect_eq(rr->integer, 1);
    freeReplyObject(rr);
    rr = redisCommand(rc, "GET %sopen:key-INC-RB-ACK", prefix);
    cr_expect(rr->type == REDIS_REPLY_STRING);
    freeReplyObject(rr);
    rr = redisCommand(rc, "ZCARD %stimers", prefix);
    cr_expect_eq(rr->integer, 1);
    freeReplyObject(rr);
    /* Closed: brought up to its closed state, out of the indexes, expiring. */
    version = hget(rc, prefix, "INC-RB-CLOSED", "version", NULL);
    cr_expect_str_eq(version, "3");
    free(version);
    rr = redisCommand(rc, "PTTL %sinc:{INC-RB-CLOSED}", prefix);
    cr_expect_gt(rr->integer, 0, "a closed incident expires");
    freeReplyObject(rr);
    rr = redisCommand(rc, "SISMEMBER %sstage:DETECTED INC-RB-CLOSED", prefix);
    cr_expect_eq(rr->integer, 0);
    freeReplyObject(rr);
    rr = redisCommand(rc, "GET %sopen:key-INC-RB-CLOSED", prefix);
    cr_expect_eq(rr->type, REDIS_REPLY_NIL);
    freeReplyObject(rr);
    /* A closed incident Redis does not hold is not brought back. */
    rr = redisCommand(rc, "DEL %sinc:{INC-RB-CLOSED}", prefix);
    freeReplyObject(rr);

    /* Never backwards: a newer version in Redis stays; a second run writes nothing. */
    rr = redisCommand(rc, "HSET %sinc:{INC-RB-ACK} version 9", prefix);
    freeReplyObject(rr);
    ctl(&r, prefix, NULL, "rebuild", "--yes", "--json", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    j = cJSON_Parse(r.out);
    cr_assert_not_null(j);
    cr_expect_eq(cJSON_GetObjectItem(j, "written")->valuedouble, 0, "%s", r.out);
    cr_expect_eq(cJSON_GetObjectItem(j, "up_to_date")->valuedouble, 1, "%s", r.out);
    cr_expect_eq(cJSON_GetObjectItem(j, "newer_in_redis")->valuedouble, 1, "%s", r.out);
    cr_expect_eq(cJSON_GetObjectItem(j, "closed")->valuedouble, 1, "%s", r.out);
    cr_expect_eq(cJSON_GetObjectItem(j, "timers")->valuedouble, 0, "%s", r.out);
    cJSON_Delete(j);
    run_free(&r);
    version = hget(rc, prefix, "INC-RB-ACK", "version", NULL);
    cr_expect_str_eq(version, "9");
    free(version);

    /* list shows the rebuilt incidents. */
    ctl(&r, prefix, NULL, "list", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "ID") && strstr(r.out, "SUMMARY"), "header: %s", r.out);
    cr_expect(strstr(r.out, "INC-RB-ESC") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "card payments failing") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "INC-RB-CLOSED") == NULL, "%s", r.out);
    run_free(&r);
    ctl(&r, prefix, NULL, "list", "--json", "--stage", "escalated", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    j = cJSON_Parse(r.out);
    cr_assert(cJSON_IsArray(j), "%s", r.out);
    cr_assert_eq(cJSON_GetArraySize(j), 1, "%s", r.out);
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "id")->valuestring,
                     "INC-RB-ESC");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "status")->valuestring,
                     "STATUS_OPEN");
    cJSON_Delete(j);
    run_free(&r);
    ctl(&r, prefix, NULL, "list", "--json", "--severity", "critical", NULL);
    cr_assert_eq(r.status, 0);
    cr_expect_str_eq(r.out, "[]\n");
    run_free(&r);

    /* show now finds the live state, and the timeline the rebuild wrote
     * into Redis: the same records as ormis.audit holds (--audit). */
    ctl(&r, prefix, NULL, "show", "INC-RB-ESC", "--json", NULL);
    cr_assert_eq(r.status, 0);
    j = cJSON_Parse(r.out);
    cr_assert_not_null(j);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(j, "live")));
    cr_expect_str_eq(cJSON_GetObjectItem(j, "timeline_source")->valuestring, "redis");
    run_free(&r);
    ctl(&r, prefix, NULL, "show", "INC-RB-ESC", "--audit", "--json", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *ja = cJSON_Parse(r.out);
    cr_assert_not_null(ja);
    cr_expect_str_eq(cJSON_GetObjectItem(ja, "timeline_source")->valuestring, "audit");
    cJSON *tr = cJSON_GetObjectItem(j, "timeline"), *ta = cJSON_GetObjectItem(ja, "timeline");
    cr_assert_gt(cJSON_GetArraySize(tr), 0);
    cr_assert_eq(cJSON_GetArraySize(tr), cJSON_GetArraySize(ta));
    for (int i = 0; i < cJSON_GetArraySize(tr); i++)
        cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(tr, i), "hash")->valuestring,
                         cJSON_GetObjectItem(cJSON_GetArrayItem(ta, i), "hash")->valuestring);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "chain"), "ok")));
    cJSON_Delete(ja);
    cJSON_Delete(j);
    run_free(&r);
    ctl(&r, prefix, NULL, "show", "INC-RB-ESC", NULL);
    cr_expect(strstr(r.out, "Timeline (Redis, ") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "Chain: verified") != NULL, "%s", r.out);
    run_free(&r);
    redisFree(rc);
    trail_free(&esc);
    trail_free(&closed);
    trail_free(&acked);
}

/* ---- tests: tail and dlq ----------------------------------------------------------- */

Test(incidentctl, tail_prints_transitions)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    Incident__V1__Incident inc = INCIDENT__V1__INCIDENT__INIT;
    inc.id = (char *)"INC-TAIL";
    inc.stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;
    inc.status = INCIDENT__V1__STATUS__STATUS_OPEN;
    inc.summary = (char *)"tail me";
    Incident__V1__IncidentEvent ev = INCIDENT__V1__INCIDENT_EVENT__INIT;
    ev.event_id = (char *)"INC-TAIL:4";
    ev.incident = &inc;
    ev.at_ms = wall_ms();
    uint8_t buf[256];
    size_t len = incident__v1__incident_event__pack(&ev, buf);
    krec_t rec = {"INC-TAIL", buf, len, NULL};
    topic_write(prefix, "incidents.escalated", &rec, 1);

    run_t r;
    ctl(&r, prefix, NULL, "tail", "--from-beginning", "--max", "1", "--timeout-ms", "30000", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "INC-TAIL") && strstr(r.out, "incidents.escalated") &&
                  strstr(r.out, "ESCALATED") && strstr(r.out, "OPEN") && strstr(r.out, "tail me"),
              "%s", r.out);
    run_free(&r);
    /* Bounded by time when nothing more comes. */
    int64_t t0 = mono_ms();
    ctl(&r, prefix, NULL, "tail", "--timeout-ms", "1500", NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "");
    cr_expect_lt(mono_ms() - t0, 20000);
    run_free(&r);
}

Test(incidentctl, dlq_lists_dead_letters)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    rd_kafka_header_add(h, "x-error", -1, "severity: required for TRIGGER", -1);
    rd_kafka_header_add(h, "x-stage", -1, "detected", -1);
    rd_kafka_header_add(h, "x-source-topic", -1, "incidents.detected", -1);
    rd_kafka_header_add(h, "x-source-partition", -1, "0", -1);
    rd_kafka_header_add(h, "x-source-offset", -1, "42", -1);
    krec_t rec = {"bad-key", "\x0a\x01x", 3, h};
    topic_write(prefix, "incidents.dlq", &rec, 1);

    run_t r;
    ctl(&r, prefix, NULL, "dlq", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "bad-key") && strstr(r.out, "severity: required for TRIGGER") &&
                  strstr(r.out, "incidents.detected[0]@42") && strstr(r.out, "detected"),
              "%s", r.out);
    run_free(&r);
    ctl(&r, prefix, NULL, "dlq", "--json", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert(cJSON_IsArray(j), "%s", r.out);
    cr_assert_eq(cJSON_GetArraySize(j), 1);
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "x-stage")->valuestring,
                     "detected");
    cJSON_Delete(j);
    run_free(&r);
}

/* ---- tests: the commands of people ---------------------------------------------------- */

static Incident__V1__Command *command_of(const kmsg_t *m)
{
    Incident__V1__Command *c = incident__v1__command__unpack(NULL, m->len, m->value);
    cr_assert_not_null(c, "not a Command on incidents.commands");
    return c;
}

Test(incidentctl, commands_are_produced_to_incidents_commands)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    run_t r;
    ctl(&r, prefix, NULL, "task", "add", "INC-9", "restore DNS", "--assignee", "tina", "--due",
        "2030-01-02T03:04:05Z", "--preventive", "--id", "T1", "--actor", "alice", "--command-id",
        "cmd-task-1", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_str_eq(r.out, "cmd-task-1\n");
    run_free(&r);
    ctl(&r, prefix, NULL, "--json", "ack", "INC-9", "--actor", "bob", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "not JSON: %s", r.out);
    const char *gen = cJSON_GetStringValue(cJSON_GetObjectItem(j, "command_id"));
    cr_assert(gen && gen[0], "%s", r.out);
    char generated[256];
    snprintf(generated, sizeof(generated), "%s", gen);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kind")), "COMMAND_ACKNOWLEDGE");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "incident_id")), "INC-9");
    cJSON_Delete(j);
    run_free(&r);
    setenv("INCIDENTD_ACTOR", "carol", 1); /* the default actor */
    ctl(&r, prefix, NULL, "meeting", "INC-9", "--attendees", "alice,bob", "--text", "roll back",
        NULL);
    unsetenv("INCIDENTD_ACTOR");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);

    kmsg_t m[3];
    cr_assert_eq(topic_read(prefix, "incidents.commands", m, 3), 3);
    Incident__V1__Command *c = command_of(&m[0]);
    cr_expect_str_eq(m[0].key, "INC-9");
    cr_expect_eq(c->kind, INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_ADD);
    cr_expect_str_eq(c->command_id, "cmd-task-1");
    cr_expect_str_eq(c->incident_id, "INC-9");
    cr_expect_str_eq(c->actor, "alice");
    cr_expect_str_eq(c->text, "restore DNS");
    cr_expect_str_eq(c->assignee, "tina");
    cr_expect_str_eq(c->task_id, "T1");
    cr_expect_eq(c->due_at_ms, 1893553445000LL);
    cr_expect_eq(c->preventive, 1);
    cr_expect(c->at_ms > wall_ms() - 600000, "at_ms is the time it was given");
    incident__v1__command__free_unpacked(c, NULL);
    c = command_of(&m[1]);
    cr_expect_eq(c->kind, INCIDENT__V1__COMMAND_KIND__COMMAND_ACKNOWLEDGE);
    cr_expect_str_eq(c->command_id, generated);
    cr_expect_str_eq(c->actor, "bob");
    incident__v1__command__free_unpacked(c, NULL);
    c = command_of(&m[2]);
    cr_expect_eq(c->kind, INCIDENT__V1__COMMAND_KIND__COMMAND_MEETING);
    cr_expect_str_eq(c->actor, "carol");
    cr_assert_eq(c->n_attendees, 2);
    cr_expect_str_eq(c->attendees[0], "alice");
    cr_expect_str_eq(c->attendees[1], "bob");
    cr_expect_str_eq(c->text, "roll back");
    incident__v1__command__free_unpacked(c, NULL);
    for (size_t i = 0; i < 3; i++)
        free(m[i].value);
}

/* Bad commands exit 2 with a clear message and send nothing: the first
 * record on the topic is the good command sent after them. */
Test(incidentctl, bad_commands_exit_2_and_send_nothing)
{
    const char *prefix = prefix_new();
    topics_create(prefix);
    static char big[8 * 1024 + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    const struct {
        const char *argv[8];
        const char *says;
    } cases[] = {
        {{"frobnicate", "INC-1", "--actor", "a"}, "unknown command 'frobnicate'"},
        {{"task", "frob", "INC-1", "--actor", "a"}, "unknown task command 'frob'"},
        {{"ack", "INC-1", "--actor", ""}, "--actor"},
        {{"note", "INC-1", big, "--actor", "a"}, "text: 8193 bytes, limit 8192"},
        {{"reopen", "INC-1", "--actor", "a"}, "--text is required"},
        {{"ack", "INC-1", "--due", "2d", "--actor", "a"},
         "unknown option or missing value: '--due'"},
        {{"task", "done", "INC-1", "T1", "--due", "1h", "--actor", "a"},
         "--due does not apply to 'task done'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const *a = cases[i].argv;
        run_t r;
        ctl(&r, prefix, NULL, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL);
        cr_expect_eq(r.status, 2, "case %zu (%s): exit %d, stderr %s", i, a[0], r.status, r.err);
        cr_expect(strstr(r.err, cases[i].says) != NULL, "case %zu: stderr %s", i, r.err);
        cr_expect_str_eq(r.out, "", "case %zu", i);
        run_free(&r);
    }
    /* No broker: a clear error, exit 2, within the Kafka timeout. */
    run_t r;
    run_argv(&r, NULL,
             (const char *const[]){"--brokers", "127.0.0.1:1", "--kafka-timeout-ms", "1000", "ack",
                                   "INC-1", "--actor", "a", NULL});
    cr_expect_eq(r.status, 2, "exit %d", r.status);
    cr_expect(strstr(r.err, "not delivered to incidents.commands") != NULL, "%s", r.err);
    run_free(&r);
    ctl(&r, prefix, NULL, "signoff", "INC-1", "--actor", "good", "--command-id", "good-1", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    kmsg_t m;
    cr_assert_eq(topic_read(prefix, "incidents.commands", &m, 1), 1);
    Incident__V1__Command *c = command_of(&m);
    cr_expect_str_eq(c->command_id, "good-1", "a bad command was sent before it");
    incident__v1__command__free_unpacked(c, NULL);
    free(m.value);
}

/* Counts the records of @p t with @p action. */
static size_t trail_count(const e2e_trail_t *t, const char *action)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += strcmp(t->recs[i]->action, action) == 0;
    return n;
}

/* With incidentd running: the commands are applied, each once, as the
 * person's own audit records. */
Test(incidentctl, commands_are_applied_by_incidentd, .timeout = 300)
{
    e2e_t p;
    e2e_start(&p, NULL);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    char key[128];
    snprintf(key, sizeof(key), "%s", tu_unique("ctlcmd"));
    run_t r;
    ctl(&r, p.prefix, NULL, "publish", "trigger", "--dedup-key", key, "--severity", "major",
        "--service", "dns", "--site", "*", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "escalated", E2E_WAIT_MS), "not escalated (log %s)",
              p.log);
    char id[128];
    snprintf(id, sizeof(id), "%s", t.recs[0]->incident_id);

    ctl(&r, p.prefix, NULL, "ack", id, "--actor", "tina", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    /* The same note twice (one command id): applied once. */
    for (int i = 0; i < 2; i++) {
        ctl(&r, p.prefix, NULL, "note", id, "called the registrar", "--actor", "tina",
            "--command-id", "note-once", NULL);
        cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
        run_free(&r);
    }
    ctl(&r, p.prefix, NULL, "task", "add", id, "restore DNS", "--id", "T1", "--actor", "tina",
        NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    cr_assert(e2e_trail_wait(audit, &t, key, "task_added", E2E_WAIT_MS),
              "the task was not added (log %s)", p.log);
    const Incident__V1__AuditRecord *ack = e2e_trail_last(&t, "acknowledged");
    cr_assert_not_null(ack, "no acknowledged record");
    cr_expect_str_eq(ack->actor, "tina");
    cr_expect_eq(ack->snapshot->status, INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED);
    const Incident__V1__AuditRecord *task = e2e_trail_last(&t, "task_added");
    cr_expect_str_eq(task->actor, "tina");
    cr_assert_eq(task->snapshot->n_tasks, 1);
    cr_expect_str_eq(task->snapshot->tasks[0]->id, "T1");
    cr_expect_str_eq(task->snapshot->tasks[0]->title, "restore DNS");
    cr_expect_eq(trail_count(&t, "note"), 1, "the redelivered note was applied again");
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}
