/*
 * kafka.h — Kafka helpers of the daemon and incidentctl: client settings
 * (bootstrap servers and the kafka.* pass-through, in layers), topic names
 * and creation, librdkafka's logs into ours; bounded reads of a whole topic
 * (audit trail, dead letters) and following topics.
 *
 * Reads never join a consumer group and never commit: partitions are
 * assigned by hand, so an operator's command or the rebuild never disturbs
 * the daemon's consumer groups.
 */
#ifndef INCIDENTD_KAFKA_H
#define INCIDENTD_KAFKA_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

/**
 * A new client configuration: bootstrap.servers = @p brokers, then the
 * librdkafka properties of @p props ("key=value" strings, NULL-terminated
 * list, may be NULL). Errors name the property, never its value. Returns
 * NULL with a message in errstr. Caller frees with rd_kafka_conf_destroy()
 * or hands it to rd_kafka_new().
 */
rd_kafka_conf_t *kafka_conf_new(const char *brokers, const char *const *props, char *errstr,
                                size_t errstr_size);

/** Return values of the read functions. */
#define KAFKA_OK 0
#define KAFKA_ERR (-1)     /* connection or client error (errstr) */
#define KAFKA_NOTOPIC (-2) /* the topic does not exist (errstr) */

/**
 * Partitions of @p topic (ids into a malloc'ed array, caller frees), using
 * @p rk's metadata. Returns KAFKA_OK, KAFKA_NOTOPIC or KAFKA_ERR.
 */
int kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, int32_t **parts,
                     int *n_parts, char *errstr, size_t errstr_size);

/** Called for every record read; return non-zero to stop reading. The
 *  message is borrowed for the call only. */
typedef int (*kafka_msg_cb)(const rd_kafka_message_t *msg, void *opaque);
/** Progress of a bounded read: records read so far of @p total. */
typedef void (*kafka_progress_cb)(uint64_t done, uint64_t total, void *opaque);

typedef struct kafka_read {
    const char *brokers;
    const char *const *props; /* extra librdkafka properties, or NULL */
    const char *topic;        /* full name (prefix included) */
    int idle_timeout_ms;      /* give up after this long without progress */
    kafka_msg_cb on_msg;
    kafka_progress_cb on_progress; /* may be NULL */
    void *opaque;
    volatile sig_atomic_t *stop; /* may be NULL; non-zero stops reading */
    /* out */
    uint64_t total; /* sum of (high - low) watermarks at the start */
    uint64_t read;  /* records delivered to on_msg */
    int partitions;
    int incomplete; /* stopped before the watermarks (stalled
                       behind an open transaction, or stopped) */
} kafka_read_t;

/**
 * Reads every committed record of r->topic from the beginning up to the
 * high watermarks taken at the start (isolation read_committed, all
 * partitions assigned): bounded, records appended later are not read.
 * Returns KAFKA_OK (see r->incomplete), KAFKA_NOTOPIC or
 * KAFKA_ERR with a message in errstr.
 */
int kafka_read_all(kafka_read_t *r, char *errstr, size_t errstr_size);

typedef struct kafka_follow {
    const char *brokers;
    const char *const *props;
    const char *const *topics; /* full names */
    size_t n_topics;
    int from_beginning;      /* else only records appended from now on */
    int64_t timeout_ms;      /* stop after this long; <= 0 = no limit */
    int metadata_timeout_ms; /* wait this long for the topics' metadata (0 = 10 s) */
    kafka_msg_cb on_msg;     /* non-zero return stops */
    void *opaque;
    volatile sig_atomic_t *stop; /* set non-zero (SIGINT) to stop */
} kafka_follow_t;

/**
 * Follows every partition of the topics (read_committed) until on_msg asks
 * to stop, *stop is set or the timeout passes. A topic that does not exist
 * is an error. Returns KAFKA_OK, KAFKA_NOTOPIC or KAFKA_ERR.
 */
int kafka_follow(const kafka_follow_t *f, char *errstr, size_t errstr_size);

/**
 * A read_committed consumer that reads by assignment only (never joins a
 * group, never commits), for a caller that assigns partitions at offsets of
 * its own and polls (the API's event stream). Returns NULL with a message
 * in errstr. Close with kafka_reader_close().
 */
rd_kafka_t *kafka_reader_open(const char *brokers, const char *const *props, char *errstr,
                              size_t errstr_size);
/** Unassigns, closes and frees a kafka_reader_open() consumer; accepts NULL. */
void kafka_reader_close(rd_kafka_t *rk);

/** The value of header @p name of @p msg as a NUL-terminated copy into
 *  @p buf ("" when absent). Returns @p buf. */
const char *kafka_header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t size);

/* ---- the daemon's clients ------------------------------------------------ */

/** Applies cfg's bootstrap servers and kafka.* pass-through properties to
 *  @p conf. Returns 0, or -1 with a message naming the property (never its
 *  value: it may be a secret). */
int kafka_conf_apply(const config_t *cfg, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size);

/** One property of a layer. */
typedef struct kafka_prop {
    const char *k, *v;
} kafka_prop_t;

/** Sets @p n properties on @p conf; errors say @p what ("producer") and the
 *  key. Returns 0 or -1. Properties are set in three layers: incidentd's
 *  tunable defaults, then the operator's kafka.* (kafka_conf_apply(), which
 *  may override them), then what exactly-once needs (nobody may). */
int kafka_props_set(rd_kafka_conf_t *conf, const kafka_prop_t *p, size_t n, const char *what,
                    char *errstr, size_t errstr_size);

/** Full topic name: prefix + @p name, into @p buf. Returns @p buf. */
const char *kafka_topic_name(const config_t *cfg, const char *name, char *buf, size_t size);

/** librdkafka's log callback: its lines go into ours. @locality librdkafka threads. */
void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/**
 * Creates the topics incidentd uses (stage_topics[]) when missing, with
 * @p partitions each and cfg->topic_replication replicas (topics.replication;
 * -1 = the broker's default), ormis.audit kept for ever. The one place
 * incidentd creates topics. Returns 0, or -1 with a message.
 */
int kafka_topics_create(const config_t *cfg, int partitions, char *errstr, size_t errstr_size);

#endif
