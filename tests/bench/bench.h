/*
 * bench.h — what the parts of incidentd-bench share: the helpers of
 * bench_pipeline.c (time and the global deadline, progress lines, the
 * bench's Kafka clients, alerts, percentiles, processes) used by the phases
 * in the other files of tests/bench.
 *
 * Unless said otherwise a helper runs on the thread that drives the phase;
 * those marked "any thread" may also run on a phase's own threads.
 */
#ifndef INCIDENTD_BENCH_H
#define INCIDENTD_BENCH_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>

#include "incident/v1/incident.pb-c.h"

/* ---- time, progress, the end ------------------------------------------------ */

/** Monotonic microseconds (any thread). */
int64_t bench_now_us(void);

/** Unix milliseconds (any thread). */
int64_t bench_wall_ms(void);

/** Sleeps @p us microseconds, through signals (any thread). */
void bench_sleep_us(int64_t us);

/** Non-zero once the global --deadline has passed (any thread). */
int bench_past_deadline(void);

/** bench_die() naming @p where once the global --deadline has passed. */
void bench_check_deadline(const char *where);

/** A progress line on stderr, with the seconds since the start (any thread). */
void bench_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Prints the error, SIGKILLs every incidentd process, exits 2. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- Kafka ------------------------------------------------------------------- */

/** A producer of the bench (idempotent; transactional with @p txid), with
 *  the --kafka producer properties; dies on failure. */
rd_kafka_t *bench_producer_new(const char *txid, const char *linger_ms);

/** A consumer of group @p group without offset commits, with the --kafka
 *  consumer properties; dies on failure. */
rd_kafka_t *bench_consumer_new(const char *group, int read_committed);

/** Assigns every partition of @p topics to @p c, at the current end
 *  (@p from_end) or at the beginning. */
void bench_assign_all(rd_kafka_t *c, const char *const *topics, int n, int from_end);

/** Fetches @p topic's metadata into producer @p p's cache. */
void bench_warm_producer(rd_kafka_t *p, const char *topic);

/** Produces a copy of @p val, waiting while the queue is full; dies on an
 *  error or past the deadline. */
void bench_produce(rd_kafka_t *p, const char *topic, const char *key, const void *val, size_t len);

/** Waits until @p p has delivered everything; dies past the deadline or when
 *  a record was not delivered (@p what names the step). */
void bench_flush(rd_kafka_t *p, const char *what);

/** The first length-delimited field @p num of a protobuf message (no copy):
 *  0, or -1 when absent or malformed (any thread). */
int bench_pb_bytes(const uint8_t *p, size_t len, unsigned num, const uint8_t **out, size_t *olen);

/** Non-zero when the @p n bytes at @p s are the string @p lit (any thread). */
int bench_pb_eq(const uint8_t *s, size_t n, const char *lit);

/** Packs an alert of the bench into @p buf: a TRIGGER is an INCIDENT
 *  (MAJOR or CRITICAL by @p i's parity, with clients), GLOBAL when @p i is
 *  a multiple of 4 (two sites); other actions carry the bench as actor.
 *  Returns its length; dies when @p cap is too small (any thread). */
size_t bench_pack_alert(unsigned char *buf, size_t cap, const char *aid, const char *key,
                        Incident__V1__Action act, long i, int64_t at_ms);

/* ---- figures ------------------------------------------------------------------- */

typedef struct bench_pct {
    long n;
    double p50, p99, p999, max; /* ms */
} bench_pct_t;

/** Percentiles of the values of @p v that are >= 0 (microseconds), in ms. */
bench_pct_t bench_percentiles(const int64_t *v, long n);

/* ---- processes ------------------------------------------------------------------ */

/** A free TCP port of 127.0.0.1 (dies when there is none). */
int bench_free_port(void);

/** CPU seconds (user + system) of process @p pid so far; 0 when unknown. */
double bench_proc_cpu_s(pid_t pid);

/** Another child (not incidentd) that the bench SIGKILLs however it ends,
 *  until bench_child_untrack(). */
void bench_child_track(pid_t pid);
void bench_child_untrack(pid_t pid);

/* ---- incidentd processes, in sets -------------------------------------------------------- */

/**
 * Starts a set of incidentd processes under topic prefix @p prefix (its
 * stage topics created first): the five event stages laid out as
 * --stages-per-process and --processes-per-stage say, plus one process of
 * @p extra_stages (a comma list; NULL: none), every one with the bench's
 * settings and then @p sets ("KEY=VALUE", NULL-ended; may be NULL). Waits
 * until each answers /readyz (dies when one does not). The set replaces the
 * previous one as the running set (stop that first: bench_set_stop()).
 * Returns the pid of the @p extra_stages process, or 0.
 */
pid_t bench_spawn_set(const char *prefix, const char *extra_stages, const char *const *sets);

/** When a process of the running set has exited: @p why says which and
 *  how (its log named), returned; else NULL. Never dies. */
const char *bench_set_dead(char *why, size_t why_size);

/** Stops the running set: SIGTERM, then SIGKILL after 30 s. */
void bench_set_stop(void);

/** The sum over the running set's processes of the samples of metric
 *  @p family of stage @p stage (and whose labels hold @p label, e.g.
 *  "outcome=\"delivered\"", unless NULL); 0 when none answers. */
double bench_metric_sum(const char *family, const char *stage, const char *label);

/* ---- the newer stages' phases --------------------------------------------------------------
 * bench_stages.c (what both share), bench_commands.c (people's commands
 * through the API), bench_deliveries.c (the notify stage's deliveries to a
 * local webhook receiver). Each phase runs on a set of its own (a topic
 * prefix under the bench's) and ends by itself: past --stall seconds
 * without progress, the deadline, or a process of its set dying, it says
 * why, keeps what it measured so far and stops its set. */

typedef struct bench_stages_opts {
    long commands;           /* --commands: commands posted in the timed run */
    long command_incidents;  /* --command-incidents: the incidents they go to */
    int connections;         /* --connections: concurrent connections to the API */
    long delivery_incidents; /* --delivery-incidents: incidents that plan deliveries */
    int stall_s;             /* --stall */
    const char *workdir;     /* the bench's logs */
} bench_stages_opts_t;

/** Non-zero, with @p why, when a phase should stop: a process of the
 *  running set died, the deadline passed, or nothing progressed since
 *  @p last_progress_us for @p stall_s seconds (@p what: what did not). */
int bench_phase_stop(int64_t last_progress_us, int stall_s, const char *what, char *why,
                     size_t why_size);

/* Counts of the audit records of one set, read as they come (a thread of
 * its own, read_committed, from the topic's end at the start). */
typedef struct bench_audit_watch {
    rd_kafka_t *con;
    pthread_t th;
    atomic_int stop;
    char actor_prefix[64];            /* by_actor: records whose actor starts with it */
    atomic_long by_actor;             /* ("" counts none) */
    _Atomic int64_t by_actor_last_ts; /* Kafka timestamp (Unix ms) of the last one */
    atomic_long planned;              /* deliveries the notification_planned records plan */
    _Atomic int64_t planned_first_ts; /* Kafka timestamp of the first such record, 0: none */
    atomic_long notified, failed;     /* notified, delivery_failed records */
    atomic_long closed;               /* closed records */
} bench_audit_watch_t;

/** Starts watching the ormis.audit of topic prefix @p prefix into @p w
 *  (bench_audit_watch_stop() it). */
void bench_audit_watch_start(bench_audit_watch_t *w, const char *prefix, const char *actor_prefix);

/** Stops the thread of @p w and closes its consumer; the counts stay. */
void bench_audit_watch_stop(bench_audit_watch_t *w);

/**
 * Publishes @p n triggers of keys "<prefix><tag>-<i>" (bench_pack_alert():
 * index i, or 4 i when @p global so that every one is GLOBAL) and waits
 * until each incident is seen on incidents.escalated: at most until nothing
 * new came for @p stall_s seconds, the deadline, or a process of the
 * running set died (@p why says which; "" when all were seen). ids[i] gets
 * the id of incident i (malloc'ed; NULL when not seen). Returns how many
 * were seen.
 */
long bench_open_incidents(const char *prefix, const char *tag, long n, int global, int stall_s,
                          char **ids, char *why, size_t why_size);

/** Publishes the RESOLVE of every incident i of bench_open_incidents()
 *  whose ids[i] is set. Returns how many. */
long bench_resolve_incidents(const char *prefix, const char *tag, long n, char *const *ids);

/* POST /v1/incidents/{id}/commands on several connections at once. */
typedef struct bench_cmd_result {
    int ran;                    /* the phase ran */
    char ended[PATH_MAX + 160]; /* why it ended early; "" when it went through */
    long incidents;             /* incidents the commands went to */
    int connections;
    long planned, sent;              /* commands planned; requests answered or failed */
    long accepted, conflicts, other; /* HTTP 202; 409; any other status */
    long transport;                  /* requests without an answer (connection, time-out) */
    long connects;                   /* TCP connections opened in the run (kept alive: 0) */
    long applied, dead_lettered;     /* audit records of the commands' actors; the DLQ's */
    double accept_s, accepted_per_s; /* first request .. last answer */
    double apply_s, applied_per_s;   /* first request .. last applied record */
    bench_pct_t lat;                 /* request latency, every answered request */
    double cpu_s, cpu_wall_s;        /* CPU seconds of the commands,api process; over */
} bench_cmd_result_t;

void bench_commands_phase(const char *prefix, const bench_stages_opts_t *o, bench_cmd_result_t *r);
void bench_commands_print(const bench_cmd_result_t *r);

/* The notify stage's webhook deliveries to a receiver of the bench. */
typedef struct bench_dlv_result {
    int ran;
    char ended[PATH_MAX + 160];
    long incidents;               /* incidents triggered (then resolved) */
    long planned;                 /* deliveries planned */
    long notified, failed;        /* notified, delivery_failed records */
    long received, distinct;      /* requests received; distinct Idempotency-Keys */
    double secs, per_s;           /* first planned .. last received; distinct per second */
    double retried;               /* attempts answered "retry" (the stage's metrics) */
    double cpu_s, receiver_cpu_s; /* CPU seconds of the notify process, of the receiver; */
    double cpu_wall_s;            /* over (the whole phase) */
    char receiver_log[256];
} bench_dlv_result_t;

void bench_deliveries_phase(const char *prefix, const bench_stages_opts_t *o,
                            bench_dlv_result_t *r);
void bench_deliveries_print(const bench_dlv_result_t *r);

#endif
