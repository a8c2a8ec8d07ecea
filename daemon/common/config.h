/*
 * config.h — incidentd's configuration: one table of settings, four sources.
 *
 * Every setting is one row of the table in config_table.c (name, type,
 * default, bounds, help, flag). The row is the single source for parsing, for
 * --help, for the commented sample config (--print-sample-config, committed
 * as deploy/incidentd.conf) and for --print-config.
 *
 * Sources, later ones win: built-in defaults < the config file (--config /
 * INCIDENTD_CONFIG) < the environment (INCIDENTD_<KEY>, '.' -> '_', upper
 * case) < command-line flags. The file format is "key = value" lines, whole
 * line '#' comments, optional double quotes around a value (escapes \" \\
 * \n \t). Durations are "500ms", "10s", "30m", "1h", "7d" (combinable,
 * "1h30m"); a plain number is milliseconds.
 *
 * Memory: the config owns every string and array it holds, including the
 * storage that cfg->rules points into; config_destroy() frees it all.
 */
#ifndef INCIDENTD_CONFIG_H
#define INCIDENTD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "directory.h"
#include "handlers.h"
#include "schedule.h"
#include "stage.h"

#ifndef INCIDENTD_VERSION
#define INCIDENTD_VERSION "0.1.0"
#endif

/* Stages a process runs (--stages). "all" is the five Kafka stages, plus
 * CONFIG_STAGE_INGEST when ingest_http is set: stage_mask lists exactly the
 * stages to start. */
#define CONFIG_STAGE_DETECTED STAGE_BIT_DETECTED
#define CONFIG_STAGE_CLASSIFIED STAGE_BIT_CLASSIFIED
#define CONFIG_STAGE_SCOPED STAGE_BIT_SCOPED
#define CONFIG_STAGE_ESCALATED STAGE_BIT_ESCALATED
#define CONFIG_STAGE_RESOLVED STAGE_BIT_RESOLVED
#define CONFIG_STAGE_INGEST STAGE_BIT_INGEST
#define CONFIG_STAGE_ALL STAGE_BITS_ALL

/* One librdkafka property passed through ("kafka.<key> = value"). */
typedef struct config_kv {
    char *key; /* librdkafka property name, without "kafka." */
    char *value;
} config_kv_t;

/* An owned list of strings (a comma list in the file). */
typedef struct config_list {
    char **items;
    size_t n;
} config_list_t;

typedef struct config {
    /* ---- runtime ---- */
    char *brokers;                   /* Kafka bootstrap servers, "127.0.0.1:9092" */
    char *redis;                     /* canonical "redis://host:port/db": credentials given
                                        in the URL are moved to redis_user/redis_password */
    char *redis_host;                /* parsed from redis (IPv6 without brackets) */
    int redis_port;                  /* parsed from redis, 6379 when absent */
    int redis_db;                    /* parsed from redis, 0 when absent */
    char *redis_user;                /* "" = none (AUTH with the password only) */
    char *redis_password;            /* secret; "" = no AUTH */
    char *redis_sentinels;           /* "" = none; else comma list host:port of Sentinels */
    char *redis_master_name;         /* the primary's name at the Sentinels */
    char *redis_sentinel_password;   /* secret; "" = Sentinels without AUTH */
    int redis_min_replicas;          /* replicas that must hold each apply (WAIT), 0 */
    int64_t redis_wait_timeout_ms;   /* how long WAIT waits for them, 1s */
    char *redis_tls_ca;              /* rediss://: CA file; "" = the system's trust store */
    char *redis_tls_cert;            /* rediss://: client certificate (PEM); "" = none */
    char *redis_tls_key;             /* its private key (PEM); "" = in redis_tls_cert */
    char *stages;                    /* as given: "all" or a comma list */
    unsigned stage_mask;             /* CONFIG_STAGE_* bits to run (see above) */
    char *config_path;               /* "" = no file */
    char *topic_prefix;              /* prepended to every topic name, "" */
    char *http;                      /* host:port of /metrics, /healthz, /readyz; "" = off */
    char *ingest_http;               /* host:port of the webhook ingest stage; "" = off */
    char *api;                       /* host:port of the API and console (stage api); "" = off */
    int api_rate;                    /* API requests per second per person, 20; 0 = unlimited */
    int api_burst;                   /* API requests a person may send at once, 60 */
    int api_max_streams;             /* event streams (GET /v1/stream) open at once, 64 */
    int http_max_connections;        /* connections one HTTP server holds, 512 */
    int http_per_ip_connections;     /* connections of one client address, 32 */
    int64_t http_request_timeout_ms; /* whole request received within, 10s */
    char *ingest_token;              /* secret: bearer token of every ingest route; "" = none */
    char *ingest_token_alertmanager; /* secret: POST /v1/alertmanager; "" = ingest_token */
    char *ingest_token_events;       /* secret: POST /v1/events; "" = ingest_token */
    char *ingest_token_alerts;       /* secret: POST /v1/alerts; "" = ingest_token */
    int ingest_max_body;             /* bytes of one ingest request body, 512 KiB */
    int ingest_rate;                 /* ingest requests per second per source, 50; 0 = unlimited */
    int ingest_burst;                /* ingest requests a source may send at once, 100 */
    char *group_prefix;              /* consumer group of a stage: "<group_prefix>.<stage>" */
    char *instance_id;               /* static membership id prefix; "" = dynamic */
    int batch_max;                   /* messages per batch/transaction, 500 (1..100000) */
    int batch_ms;                    /* ms to gather a batch, 20 (0..10000) */
    char *overlap_commit;            /* on | off: commit a batch while the next is applied */
    int topic_partitions;            /* partitions of topics created when missing, 12 */
    int topic_replication;           /* their replication factor; -1 = the broker's default */
    int64_t retention_ms;            /* closed incidents kept in Redis, 7d */
    int64_t timer_poll_ms;           /* ack-timer poll period, 1s */
    uint32_t message_max_bytes;      /* largest record produced, 1000000 */
    char *log_level;                 /* debug | info | warn | error */
    char *log_format;                /* json | logfmt */
    config_kv_t *kafka;              /* librdkafka properties, in the order first set */
    size_t n_kafka;
    int print_config; /* --print-config given: print and exit 0 */

    /* ---- notify: delivering notifications (daemon/notify) ---- */
    char *notify_webhook_secret;     /* secret: key of X-Incidentd-Signature; "" = unsigned */
    char *notify_smtp_url;           /* smtp://host:port or smtps://, no credentials; "" = none */
    char *notify_smtp_user;          /* SMTP AUTH user; "" = no AUTH */
    char *notify_smtp_password;      /* secret */
    char *notify_smtp_from;          /* envelope sender and From: */
    char *notify_console_url;        /* base of the console links; "" = no link */
    int notify_max_attempts;         /* attempts per delivery before delivery_failed, 8 */
    int64_t notify_retry_initial_ms; /* first retry delay, 2s */
    int64_t notify_retry_max_ms;     /* longest retry delay, 5m */
    int64_t notify_timeout_ms;       /* one request, whole, 10s */
    int notify_concurrency;          /* requests in flight at once, 16 */
    /* silences.remind_before: a silence's creator is reminded this long
     * before its end (notify_silences.h), 15m; 0 = never */
    int64_t silence_remind_before_ms;
    /* silences.max_active, overrides.max_active: entries in force a global
     * table holds at most (gtable.h: the cap; creating one more is refused) */
    uint32_t silences_max_active;
    uint32_t overrides_max_active;

    /* ---- the directory (directory.h): people.<name>.*, clients.<client>.* ---- */
    directory_entry_t *people; /* in the order first named */
    size_t n_people;
    directory_entry_t *clients;
    hd_contact_t *contacts; /* people then clients, as the rules see them (rules.contacts) */
    size_t n_clients;

    /* ---- rules: filled by config_load(), pointing into the storage below ---- */
    hd_rules_t rules;

    /* ---- storage owned by the config, lent to rules ---- */
    config_list_t critical_services;
    config_list_t review_required;    /* review.required: "global", a severity, "none" */
    config_list_t completion_signoff; /* completion.signoff */
    config_list_t global_stakeholders;
    config_list_t level_stakeholders[4]; /* [1..3] used */
    char *tm_stakeholder;
    hd_roster_entry_t *roster; /* service "*" = any service */
    size_t n_roster;
    hd_guideline_t *guidelines; /* service "*" = the default guideline */
    size_t n_guidelines;
    schedule_t schedule; /* maintenance.<name>.*, rotation.<name>.* (rules.maintenance,
                            rules.rotations) */
} config_t;

/**
 * Loads the configuration: defaults, then the config file (if --config or
 * INCIDENTD_CONFIG names one), then the environment, then the flags of
 * @p argv (argv[0] is the program name and is skipped; argc may be 0).
 *
 * Returns 0 when the program should run, 1 when it should exit 0 because
 * --help, --version or --print-sample-config was given and printed to
 * stdout, and -1 on error with a message in @p errstr naming the bad key and
 * where it came from ("path:line", "env INCIDENTD_X" or "flag --x"). Secret
 * values never appear in messages. @p cfg need not be initialised; it is
 * always safe to pass to config_destroy() afterwards (the caller must).
 */
int config_load(config_t *cfg, int argc, char **argv, char *errstr, size_t errstr_size);

/** Frees everything @p cfg owns and zeroes it. Accepts NULL, a zeroed or a
 *  partially loaded config. */
void config_destroy(config_t *cfg);

/**
 * Prints the effective configuration as a config file ("key = value" lines,
 * parseable by config_load) with secrets masked as "***": the secret rows
 * (redis.password, ingest.token*, notify.webhook_secret,
 * notify.smtp_password), people.<name>.token and .slack (an incoming
 * webhook's URL is its credential), and kafka properties whose name says
 * password, secret, jaas, token, credentials, sasl.oauthbearer.config or a
 * private key.
 */
void config_print(const config_t *cfg, FILE *out);

/** Prints the commented sample config file (deploy/incidentd.conf). */
void config_print_sample(FILE *out);

/** Prints the --help text. */
void config_print_help(FILE *out);

/** The name of one CONFIG_STAGE_* bit ("detected" ... "ingest"), or
 *  "unknown" for anything else. Never NULL. */
const char *config_stage_name(unsigned stage_bit);

/**
 * Parses a duration: "500ms", "10s", "30m", "1h", "7d", combinations such as
 * "1h30m", or a plain number of milliseconds. Returns 0 and sets @p out, or
 * -1 (nothing written) for anything else, negative values and overflow.
 */
int config_parse_duration_ms(const char *s, int64_t *out);

/**
 * Writes the shortest exact spelling of the duration @p ms that
 * config_parse_duration_ms() reads back: "7d", "30m", "1500ms", "0".
 * Always NUL-terminates @p buf (size > 0); 24 bytes hold any value.
 */
void config_format_duration_ms(int64_t ms, char *buf, size_t size);

/**
 * Splits "host:port", "[v6addr]:port" or ":port" (host "" = any address).
 * Copies the host (brackets removed) into @p host and sets @p port (0..65535).
 * Returns 0, or -1 if @p s is not of that form or the host does not fit.
 */
int config_parse_hostport(const char *s, char *host, size_t host_size, int *port);

#endif
