/*
 * e2e.h — the fixture of the end-to-end tests on the test bed: start and stop
 * incidentd processes on a topic prefix of their own (which namespaces their
 * Redis keys too), publish alerts, read the ORMIS audit trail of a dedup key
 * and verify its chains, count stage events; publish commands of people,
 * read dead letters, wait for one stage event.
 *
 * Tests only (Criterion assertions inside); one test thread.
 */
#ifndef INCIDENTD_E2E_H
#define INCIDENTD_E2E_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "incident/v1/incident.pb-c.h"
#include "testutil.h"

#include <cjson/cJSON.h>

#define E2E_WAIT_MS 60000
#define E2E_MAX_RECS 256

/* The incidentd processes of one test. */
typedef struct e2e {
    char prefix[128];
    pid_t pids[4];
    int n_pids;
    char log[256];
    /* Extra environment ("K=V", NULL-terminated) of the processes spawned
     * from now on, e.g. tu_kafka_env() on a secured bed; NULL = none. Set it
     * after e2e_prepare(). Borrowed. */
    const char *const *env;
} e2e_t;

/* The audit trail of incidents, as read from ormis.audit. */
typedef struct e2e_trail {
    Incident__V1__AuditRecord *recs[E2E_MAX_RECS];
    size_t n;
} e2e_trail_t;

/* Starts incidentd of @p stages on topic prefix @p prefix with the test
 * bed's broker and Redis, "--set" each of @p sets (NULL-ended, may be NULL),
 * the topics it creates of @p partitions partitions, @p env_extra ("K=V",
 * NULL-ended, may be NULL) in its environment and its output in @p log.
 * Asserts it started; returns its pid (not tracked: see e2e_spawn()). */
pid_t e2e_spawn_on(const char *prefix, const char *log, const char *stages, int partitions,
                   const char *const *sets, const char *const *env_extra);

/* Starts one more incidentd running @p stages with the given extra "--set"
 * settings on p's prefix (after timer.poll=200ms, batch.ms=5; 3 partitions,
 * p->env); its output goes to p->log. */
pid_t e2e_spawn(e2e_t *p, const char *stages, const char *const *sets);

/* A new prefix and log for @p p, and one incidentd running all stages. */
void e2e_start(e2e_t *p, const char *const *sets);

/* SIGTERM to every process of @p p; each must exit 0 within 30 s. */
void e2e_stop(e2e_t *p);

/* p's full name of topic @p name (one of 8 rotating static buffers). */
const char *e2e_topic(const e2e_t *p, const char *name);

/* An alert with the given fields; strings borrowed. */
Incident__V1__Alert e2e_alert(const char *id, const char *key, Incident__V1__Action action,
                              Incident__V1__Severity sev);

/* Publishes @p a to p's incidents.detected (asserts delivery). */
void e2e_publish(const e2e_t *p, const Incident__V1__Alert *a);

/* Publishes an alert of @p service on @p key: a MAJOR trigger, or @p act
 * (acknowledge, resolve) without a severity. */
void e2e_publish_service(const e2e_t *p, const char *key, const char *service,
                         Incident__V1__Action act);

/* Frees the records of @p t. */
void e2e_trail_free(e2e_trail_t *t);

/* Reads ormis.audit until a record of an incident with dedup key @p key has
 * action @p until (or the time runs out). Keeps the records of that key. */
int e2e_trail_wait(tu_consumer_t *c, e2e_trail_t *t, const char *key, const char *until, int ms);

/* Records of one incident id, in order. */
size_t e2e_trail_of(const e2e_trail_t *t, const char *id, const Incident__V1__AuditRecord **out);

/* Non-zero when a record of @p t has @p action. */
int e2e_trail_has(const e2e_trail_t *t, const char *action);

/* The last record of @p t with @p action, or NULL. */
const Incident__V1__AuditRecord *e2e_trail_last(const e2e_trail_t *t, const char *action);

/* Asserts that the chain of every incident in @p t verifies. */
void e2e_trail_verify(const e2e_trail_t *t);

/* Counts messages of @p name whose incident has dedup key @p key within ms. */
int e2e_count_events(const e2e_t *p, const char *name, const char *key, int ms);

/* A read_committed consumer of p's ormis.audit from the beginning. */
tu_consumer_t *e2e_audit_consumer(const e2e_t *p);

/* How many records of @p t have @p action. */
int e2e_trail_count(const e2e_trail_t *t, const char *action);
/* ---- commands of people, dead letters, stage events ------------------------------- */

/* A command with the given fields (the rest unset); strings borrowed. */
Incident__V1__Command e2e_cmd(const char *command_id, const char *incident_id,
                              Incident__V1__CommandKind kind, const char *actor);

/* Publishes @p c to p's incidents.commands keyed by its incident id (asserts
 * delivery). */
void e2e_command(const e2e_t *p, const Incident__V1__Command *c);

/* One dead letter: its key, reason (x-error) and stage (x-stage). */
typedef struct e2e_dead {
    char key[512];
    char error[512];
    char stage[64];
} e2e_dead_t;

/* Reads p's incidents.dlq from the beginning until @p max dead letters were
 * read or @p ms ran out; returns how many (each in out[]). */
int e2e_dlq_read(const e2e_t *p, e2e_dead_t *out, int max, int ms);

/* Waits up to @p ms for an event on p's topic @p name of incident @p id whose
 * snapshot has version @p version (the seq of the transition's last record).
 * Returns the event (free with incident__v1__incident_event__free_unpacked)
 * or NULL. */
Incident__V1__IncidentEvent *e2e_event_wait(const e2e_t *p, const char *name, const char *id,
                                            uint64_t version, int ms);

/* e2e_ctl() (60 s), with only the first line of its output in @p out (may
 * be NULL). */
int e2e_ctl_line(const e2e_t *p, char *out, size_t out_size, const char *const *args);

/* ---- processes of one prefix started and stopped one by one ------------------------ */

/* A new prefix and log for @p p, and no process yet (start them with
 * e2e_spawn(), e.g. the stages in one process and notify in another). */
void e2e_prepare(e2e_t *p);

/* Stops process @p pid of @p p with @p sig (SIGKILL after @p ms) and drops it
 * from p->pids. Returns its exit status as tu_stop() does. */
int e2e_kill(e2e_t *p, pid_t pid, int sig, int ms);

/* ---- the API (--api on a free loopback port) ---- */

typedef struct e2e_api {
    e2e_t e;
    char set[64];
    int port;
} e2e_api_t;

/** Spawns incidentd with @p stages, the API on a free loopback port and the
 *  settings @p sets (NULL-terminated, may be NULL) under a fresh prefix;
 *  returns once /healthz answers (asserts otherwise). Stop with
 *  e2e_stop(&p->e). */
void e2e_api_start(e2e_api_t *p, const char *stages, const char *const *sets);

/** Waits until GET /healthz on loopback @p port answers 200 (asserts it does
 *  within E2E_WAIT_MS; @p log is named if not). */
void e2e_wait_healthz(int port, const char *log);

/** One request as @p token (NULL: none) with @p body (may be NULL); the
 *  status; the body parsed into *@p json when asked (caller frees; asserts
 *  it is JSON). */
int e2e_api_call(const e2e_api_t *p, const char *method, const char *path, const char *token,
                 const char *body, cJSON **json);

/** The string member @p name of @p o, or "". */
const char *e2e_jstr(const cJSON *o, const char *name);

/* ---- the storm flow (e2e_flow.c): test_crash, test_ha_redis ------------------------- */

/* Alerts per incident of the flow: trigger, trigger (a merge), acknowledge, resolve. */
#define E2E_FLOW_ALERTS 4

/* Queues (tu_produce_async()) alert @p round (0..E2E_FLOW_ALERTS-1) of
 * incident @p i on @p prefix's incidents.detected: dedup key "<prefix>k<i>",
 * alert id "<prefix>a<i>-<round>"; each incident ends closed. */
void e2e_flow_alert(const char *prefix, int i, int round);

/* What came out of the flow of @p n_inc incidents. */
typedef struct e2e_flow_result {
    size_t records, foreign; /* audit records read; of keys not in the flow */
    int lost;                /* incidents without records or never closed */
    int dup_records;         /* chains with a repeated record */
    int broken;              /* chains that do not verify (seq order) */
    int wrong_state;         /* not closed once after one merge, 2 alerts, acknowledged */
    int extra_incidents;     /* keys with more than one incident */
    int reordered;           /* chains replayed out of topic order (allowed) */
    size_t events;           /* events on the four stage topics */
    size_t dup_events;       /* of them, repeated event ids */
    int dlq;                 /* dead letters */
} e2e_flow_result_t;

/* Reads @p prefix's ormis.audit until the @p n_inc incidents are closed
 * (at most @p max_ms) and it is idle, verifies each chain in seq order and
 * each final state, counts repeated events on the stage topics and the
 * dead letters, into @p res. */
void e2e_flow_check(const char *prefix, int n_inc, int max_ms, e2e_flow_result_t *res);

/* Expects nothing lost, repeated, broken, wrong, extra or foreign in @p res. */
void e2e_flow_expect(const e2e_flow_result_t *res);

/* ---- whole topics, event ids, incidentctl ----------------------------------------- */

/* Reads the whole topic @p topic (full name) from the beginning, handing each
 * message to @p fn (borrowed for the call), until it has been idle for
 * @p idle_ms or @p max_ms passed. Returns how many messages were read. */
size_t e2e_drain(const char *topic, int idle_ms, int max_ms, void (*fn)(void *, tu_msg_t *),
                 void *arg);

/* Event ids of IncidentEvents, to find one transition emitted twice. */
typedef struct e2e_ids {
    char **v;
    size_t n, cap;
} e2e_ids_t;

/* An e2e_drain() callback: adds the event id of an IncidentEvent message to
 * the e2e_ids_t @p arg (undecodable messages are skipped). */
void e2e_collect_event_id(void *arg, tu_msg_t *m);

/* How many ids of @p ids repeat an earlier one; frees them. */
size_t e2e_ids_duplicates(e2e_ids_t *ids);

/* Runs "incidentctl --brokers B --redis R --topic-prefix P --no-color ARGS"
 * (@p args NULL-terminated) within @p timeout_ms; its stdout and stderr go
 * into @p out (truncated to @p out_size). Returns its exit status, -1 when it
 * did not end in time. */
int e2e_ctl(const e2e_t *p, const char *const *args, char *out, size_t out_size, int timeout_ms);

/* A hiredis connection to the test bed's Redis (INCIDENTD_TEST_REDIS), its
 * database selected; asserts. Free with redisFree(). */
struct redisContext;
struct redisContext *e2e_redis_connect(void);

#endif
