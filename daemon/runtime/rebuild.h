/*
 * rebuild.h — rebuilds the live incident state in Redis from the ORMIS
 * audit topic (incidentctl rebuild; callable by the daemon too).
 *
 * The audit topic is the system of record: every transition appended one
 * AuditRecord carrying the incident's snapshot after it. For every incident
 * the record with the highest seq gives:
 *
 *   inc:{id}            state = StoredIncident{incident = snapshot (version =
 *                       seq), last_hash = that record's hash, recorded_actions =
 *                       the distinct actions in order, trigger_times_ms = the
 *                       times of its detected/merged records, guideline from
 *                       the handling record}, version = seq
 *   stage:<STAGE>       membership (only while not CLOSED)
 *   open:<dedup_key>    while the status is OPEN or ACKNOWLEDGED (unless the
 *                       key already belongs to another live incident)
 *   timers              "<level>|<id>" (ZADD NX) for an OPEN incident in stage
 *                       ESCALATED below the maximum level, due at the last
 *                       record's time + the ack timeout
 *   tl:{id}             its timeline (store.h): every record, in seq order, in
 *                       one RPUSH with the state, when the topic holds the whole
 *                       chain (seq 1..version) within the timeline's bounds;
 *                       else none (tlbytes -1: the API reads ormis.audit)
 *
 * Never backwards: an incident is written only when Redis has no state for
 * it or an older version, in one Lua script per incident (atomic). Closed
 * incidents are not brought back; one Redis still holds at an older version
 * is updated to its closed state and expires after the retention.
 * Not recoverable from the audit trail: the alerts' labels (only used to
 * widen the scope of later merges). The read holds the records of every
 * incident not closed yet (at most the timeline's bounds each) until it
 * writes them.
 */
#ifndef INCIDENTD_REBUILD_H
#define INCIDENTD_REBUILD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers.h"

typedef struct rebuild_opts {
    const char *redis_user; /* override the URL's; NULL or "" = none */
    const char *redis_password;
    const char *redis_sentinels; /* redis_conn_opts_t's: Sentinels, NULL or "" = none */
    const char *redis_master_name;
    const char *redis_sentinel_password;
    const char *redis_tls_ca; /* rediss://: redis_conn_opts_t's TLS files, NULL or "" = none */
    const char *redis_tls_cert;
    const char *redis_tls_key;
    const char *const
        *kafka_props;        /* "key=value" librdkafka properties, NULL-terminated, or NULL */
    const hd_rules_t *rules; /* the follow-up windows and review due (borrowed); NULL =
                                confirmation and review timers are not restored */
    int64_t ack_timeout_ms;  /* 0 = 30 min */
    uint32_t max_level;      /* 0 = 3 */
    int64_t retention_ms;    /* closed incidents kept; 0 = 7 days */
    int idle_timeout_ms;     /* reading gives up after this long without progress; 0 = 30 s */
    int dry_run;             /* read and compare, write nothing */
    int skip_broken;         /* leave incidents whose chain does not verify alone */
    /* progress of the read (records read of total); may be NULL */
    void (*progress)(uint64_t done, uint64_t total, void *opaque);
    void *opaque;
    volatile sig_atomic_t *stop; /* may be NULL; non-zero stops before writing */
} rebuild_opts_t;

typedef struct rebuild_stats {
    uint64_t records;     /* audit records read */
    uint64_t undecodable; /* records that do not decode (skipped) */
    uint64_t incidents;   /* distinct incidents seen */
    uint64_t written;     /* live incidents written (absent or older in Redis) */
    uint64_t up_to_date;  /* Redis already had this version */
    uint64_t newer;       /* Redis had a newer version: left alone */
    uint64_t closed;      /* closed incidents not brought back */
    uint64_t expired;     /* closed incidents updated in Redis and set to expire */
    uint64_t timers;      /* ack timers armed (ZADD NX) */
    uint64_t broken;      /* incidents whose chain does not verify */
    uint64_t skipped;     /* broken incidents left alone (skip_broken) */
    int incomplete;       /* the read stopped before the end (open transaction) */
} rebuild_stats_t;

/**
 * Rebuilds Redis at @p redis_url from <@p prefix>ormis.audit on @p brokers.
 * @p opts may be NULL (defaults). Fills @p stats (may be NULL). Returns 0,
 * or -1 with a message in errstr (no connection, no topic, Redis failure);
 * secrets never appear in the message.
 */
int rebuild(const char *brokers, const char *redis_url, const char *prefix,
            const rebuild_opts_t *opts, rebuild_stats_t *stats, char *errstr, size_t errstr_size);

#endif
