/*
 * testutil.h — helpers shared by the tests: the test bed's addresses.
 */
#ifndef INCIDENTD_TESTUTIL_H
#define INCIDENTD_TESTUTIL_H

/**
 * Reads the test bed's settings: INCIDENTD_TEST_BROKERS / INCIDENTD_TEST_REDIS
 * from the environment, else from the env file named by INCIDENTD_TESTBED_ENV
 * (KEY=VALUE lines written by deploy/testbed.sh) or the one named by
 * INCIDENTD_TEST_REDIS_HA_ENV (deploy/redis.sh ha-start: the Redis HA set's
 * INCIDENTD_TEST_REDIS_HA_*). Returns the value of @p key (a static string)
 * or NULL.
 */
const char *tu_testbed(const char *key);

/** Brokers ("host:port") of the test bed; aborts the test if absent. */
const char *tu_brokers(void);
/** Redis URL ("redis://host:port/0") of the test bed; aborts if absent. */
const char *tu_redis(void);
/** The test bed's Kafka client security as incidentd's environment:
 *  "INCIDENTD_KAFKA_<PROP>=VALUE" for every INCIDENTD_TEST_KAFKA_<PROP> of
 *  its env file (a SASL_SSL bed: protocol, mechanism, user, password, CA),
 *  NULL-terminated, static. Empty on a plain bed. The tests' own Kafka
 *  clients (tu_produce(), tu_consumer_new(), ...) use the same settings. */
const char *const *tu_kafka_env(void);

/** A fresh unique name with @p prefix, for topics and keys of one test. */
const char *tu_unique(const char *prefix);

/* The environment's integer @p name, or @p def when unset or empty. */
int tu_env_int(const char *name, int def);

/* Seeds rand() from the environment's @p name (a run to repeat) or the pid;
 * returns the seed, for the test to print. */
unsigned tu_seed(const char *name);

/* ---- Kafka, processes (integration tests) -------------------------------- */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "incident/v1/incident.pb-c.h"

/** Monotonic milliseconds. */
int64_t tu_now_ms(void);

/** Wall-clock time (Unix ms, CLOCK_REALTIME): instants the daemon compares
 *  with its own clock (a silence's end, a rotation's start). */
int64_t tu_wall_ms(void);

/** Produces one record and waits for its delivery (acks=all). Returns 0. */
/** Waits until @p topic exists with its partitions: 0, or -1 after
 *  @p timeout_ms. */
int tu_topic_wait(const char *topic, int timeout_ms);
/** tu_produce() with one header @p hname (NULL: none) of @p hlen bytes. */
int tu_produce_header(const char *topic, const char *key, const void *val, size_t len,
                      const char *hname, const void *hval, size_t hlen);
int tu_produce(const char *topic, const char *key, const void *val, size_t len);
/** Packs and produces an Alert keyed by its dedup_key. Returns 0. */
int tu_produce_alert(const char *topic, const Incident__V1__Alert *alert);

typedef struct tu_msg {
    char topic[256];
    char key[512];
    unsigned char *val; /* malloc'ed */
    size_t len;
    int partition;
    int64_t offset;
    char x_error[512]; /* dead letters: the x-error header */
    char x_stage[64];
} tu_msg_t;

typedef struct tu_consumer tu_consumer_t;
/** A read_committed consumer of @p topics (NULL-terminated) from the
 *  beginning, in a fresh group. */
tu_consumer_t *tu_consumer_new(const char *const *topics);
/** Next message within @p timeout_ms, or NULL. Free with tu_msg_free(). */
tu_msg_t *tu_consumer_next(tu_consumer_t *c, int timeout_ms);
void tu_msg_free(tu_msg_t *m);
void tu_consumer_destroy(tu_consumer_t *c);

/** The environment under which tu_spawn() starts incidentd: resolved
 *  incidents close at once (no confirmation window, no review required), the
 *  life the first round's tests assert. A test of the follow-up sets the
 *  contract's windows itself (env or --set, which win). */
extern const char *const tu_close_at_once_env[];

/** Starts a program (argv[0] a path) with stdout+stderr to @p log_path and
 *  the extra environment @p env (NULL-terminated "K=V", may be NULL); an
 *  incidentd gets tu_close_at_once_env first. */
pid_t tu_spawn(const char *const *argv, const char *const *env, const char *log_path);
/** Sends @p sig and waits up to @p timeout_ms; returns the exit status
 *  (WEXITSTATUS, or 128+signal), or -1 if it did not end (then SIGKILLed). */
int tu_stop(pid_t pid, int sig, int timeout_ms);
/** Path of a built program: $INCIDENTD_BIN/<name>. */
const char *tu_bin(const char *name);
/** The smallest replica count of @p topic's partitions, from the whole
 *  cluster's metadata (never creates the topic), waiting up to @p timeout_ms
 *  for it to exist; -1 when it does not. */
int tu_topic_replicas(const char *topic, int timeout_ms);
/** Rewinds the consumer group @p group (which must have no member) on
 *  every partition of @p topic: its next consumer reads the last @p last
 *  messages of each partition again (-1: all of them). Returns 0 or -1. */
int tu_group_rewind(const char *group, const char *topic, int64_t last);
/** Waits up to @p timeout_ms until @p group has committed the end of every
 *  partition of @p topic. Returns 0, or -1 on timeout. */
int tu_group_caught_up(const char *group, const char *topic, int timeout_ms);
/** Queues one record (no wait); tu_flush() waits for all queued records and
 *  returns how many failed. */
int tu_produce_async(const char *topic, const char *key, const void *val, size_t len);
int tu_flush(int timeout_ms);
/** Runs a program (argv[0] a path) to its end, stdout to @p out_path and
 *  stderr to @p err_path (truncated first). Returns its exit status, or -1
 *  when it did not end within @p timeout_ms (then it is SIGKILLed). */
int tu_run(const char *const *argv, const char *out_path, const char *err_path, int timeout_ms);

/* ---- slow clients (HTTP servers' limits) ----------------------------------- */

/** Opens @p n connections to 127.0.0.1:@p port, connection i from source
 *  address 127.0.0.<first + i / per_addr>, each sending the start of a
 *  request ("POST @p path HTTP/1.1", Host, and an unfinished header) and
 *  nothing more. Returns a malloc'ed array of @p n descriptors (-1 where
 *  the connection failed); caller frees with tu_slow_close(). */
int *tu_slow_open(int port, const char *path, int n, int first, int per_addr);
/** Sends one more byte of the unfinished header on every connection the
 *  server has not closed (a closed one becomes -1). Returns how many are
 *  still open. */
int tu_slow_trickle(int *fds, int n);
/** Closes what is open and frees @p fds; accepts NULL. */
void tu_slow_close(int *fds, int n);

/* ---- environment (unit tests) ------------------------------------------- */

/** Drops every INCIDENTD_* variable from the environment, so that the
 *  environment of whoever runs the tests cannot leak into a test (each
 *  Criterion test runs in its own process). */
void tu_clean_env(void);

#endif
