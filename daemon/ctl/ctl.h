/*
 * ctl.h — what every incidentctl command shares: the settings of one run
 * (ctl_t, filled by the global options), the shape of a command
 * (struct ctl_cmd_entry, one per cmd_<name>.c) and of an option table row
 * (struct ctl_opt, read by ctl_opts.c), the exit codes, and the small
 * helpers every command uses to reach Kafka (reads, the one producer) and
 * Redis.
 *
 * Owned by the ctl room (daemon/ctl/). The command table itself is in
 * incidentctl.c; the option parser and --help in ctl_opts.c; output
 * helpers in ctl_out.c.
 *
 * @locality incidentctl's main thread (ctl_stop is set by a signal handler)
 */
#ifndef INCIDENTD_CTL_H
#define INCIDENTD_CTL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers.h"

#include "arena.h"
#include "kafka.h"
#include "store_admin.h"

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1  /* check failed, not found */
#define CTL_EXIT_USAGE 2 /* usage, configuration or connection error */
#define CTL_GO (-1)      /* not finished: go on (never an exit code) */

#define CTL_PROPS_MAX 64
#define CTL_SET_BROKERS 1u
#define CTL_SET_REDIS 2u
#define CTL_SET_PREFIX 4u

/* Settings shared by every command (the global options). */
typedef struct ctl {
    const char *brokers;
    const char *redis;                   /* URL; may hold credentials: never print as is */
    const char *redis_user;              /* from the config file, or NULL */
    const char *redis_password;          /* INCIDENTD_REDIS_PASSWORD / config, or NULL */
    const char *redis_sentinels;         /* the config file's redis.sentinels, or NULL */
    const char *redis_master_name;       /* the config file's redis.master_name, or NULL */
    const char *redis_sentinel_password; /* the config file's, or NULL */
    const char *redis_tls_ca;            /* the config file's redis.tls_*, or NULL */
    const char *redis_tls_cert;
    const char *redis_tls_key;
    const char *prefix;                   /* topic prefix, "" */
    const char *props[CTL_PROPS_MAX + 1]; /* -X key=value, NULL-terminated */
    size_t n_props;
    int timeout_ms; /* how long to wait for Kafka without progress */
    /* rebuild defaults: the config file's, else the contract's */
    int64_t ack_timeout_ms;
    hd_rules_t rules; /* defaults, with the config file's follow-up windows */
    uint32_t max_level;
    int64_t retention_ms;
    uint32_t silences_max_active; /* silence add refuses one more: the config's, else 1000 */
    const char *config_path;      /* --config / INCIDENTD_CONFIG, or NULL */
    unsigned flagged;             /* CTL_SET_* given as flags (they beat the file) */
    int json;
    int no_color;
    int color;       /* decided once the options are known */
    const char *cmd; /* the command being run, for messages; NULL before it */
} ctl_t;

typedef struct ctl_opt ctl_opt_t;

/* What a setter returns (ctl_opts_parse() passes it on). */
#define CTL_OPT_OK 0
#define CTL_OPT_BAD (-1) /* a bad value: reported */
#define CTL_OPT_HELP 1   /* --help asked for */
#define CTL_OPT_DONE 2   /* finished with exit 0 (--version printed) */

/**
 * Stores the value @p arg (NULL for an option without one) of option
 * @p opt: into @p base, the command's own state (ctl_t for the global
 * options). Returns one of CTL_OPT_*; reports a bad value itself.
 */
typedef int (*ctl_opt_set_fn)(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg);

#define CTL_OPT_BEFORE_CMD 1u /* a global option accepted before the command only */

/* One row of an option table; a table ends with a row of zeros. The same
 * row gives the getopt_long entry, the short-option letter and the --help
 * line (ctl_opts.c). */
struct ctl_opt {
    const char *name;   /* long name ("dedup-key"), or NULL */
    char letter;        /* short option ('X'), or 0 */
    const char *arg;    /* the value's name in --help ("KEY"); NULL: takes no value */
    const char *help;   /* --help text; '\n' goes on under the text column */
    ctl_opt_set_fn set; /* where and how the value is stored */
    size_t off;         /* for ctl_opt_string() / ctl_opt_flag(): offset in base */
    unsigned flags;     /* CTL_OPT_BEFORE_CMD */
    unsigned only;      /* 0: every command of the table; else only those whose
                         * opt_bits share a bit with it (parse and --help) */
};

#define CTL_ARGS_OWN (-1)

/* One command (tmux's cmd_entry): one cmd_<name>.c defines one. */
struct ctl_cmd_entry {
    const char *name;
    const char *usage;     /* after the name in "Usage:" */
    const char *summary;   /* one line for the command list */
    const ctl_opt_t *opts; /* its options (the global ones come on top) */
    unsigned opt_bits;     /* which rows of opts with an `only` apply */
    const char *notes;     /* --help prose after the options, or NULL */
    int args_max;          /* arguments after the options, at most; CTL_ARGS_OWN: exec checks */
    /* Runs the command on its own arguments (argv[0] is its name). */
    int (*exec)(ctl_t *c, int argc, char **argv);
};

extern const struct ctl_cmd_entry ctl_cmd_publish_entry;
extern const struct ctl_cmd_entry ctl_cmd_list_entry;
extern const struct ctl_cmd_entry ctl_cmd_show_entry;
extern const struct ctl_cmd_entry ctl_cmd_verify_entry;
extern const struct ctl_cmd_entry ctl_cmd_rebuild_entry;
extern const struct ctl_cmd_entry ctl_cmd_tail_entry;
extern const struct ctl_cmd_entry ctl_cmd_dlq_entry;
extern const struct ctl_cmd_entry ctl_cmd_silence_entry;

/* The commands of people (cmd_command.c, one per CommandKind or group). */
extern const struct ctl_cmd_entry ctl_cmd_kind_entries[];
extern const size_t ctl_cmd_kind_n;

/**
 * The Command of a person's command line (cmd_command.c), without Kafka:
 * @p argv[0] is the command ("ack", "task", ...), then its options and
 * arguments. Fills the actor (--actor, $INCIDENTD_ACTOR, the login name), a
 * fresh command id unless --command-id, at_ms, and checks the result with
 * hd_command_validate(). Returns CTL_GO with *@p out set (in @p arena and
 * argv), or an exit code: CTL_EXIT_OK after --help, CTL_EXIT_USAGE after
 * reporting.
 */
int ctl_command_build(ctl_t *c, int argc, char **argv, arena_t *arena, hd_command_t **out);

/* Set by SIGINT / SIGTERM (ctl_signals_install()): stop reading Kafka. */
extern volatile sig_atomic_t ctl_stop;

/** Catches SIGINT and SIGTERM into ctl_stop and ignores SIGPIPE. */
void ctl_signals_install(void);

/** "<prefix><name>" into @p buf; returns @p buf. */
const char *ctl_topic(const ctl_t *c, const char *name, char *buf, size_t size);

/**
 * Connects to Redis with the run's settings. Returns the store (caller
 * frees with store_destroy()), or NULL after reporting "<what>: <error>"
 * (just the error when @p what is NULL).
 */
store_t *ctl_store_open(const ctl_t *c, const char *what);

/**
 * A bounded read of the whole of @p topic (full name, borrowed) with the
 * run's brokers, properties and timeout, stopped by ctl_stop; for
 * kafka_read_all().
 */
kafka_read_t ctl_read_init(const ctl_t *c, const char *topic, kafka_msg_cb on_msg,
                           kafka_progress_cb on_progress, void *opaque);

/**
 * Room for element @p n of an arena array @p v of @p size-byte elements
 * and capacity *@p cap, doubling from @p first. Returns @p v or its larger
 * copy (in @p arena, borrowed).
 */
void *ctl_arena_grow(arena_t *arena, void *v, size_t n, size_t *cap, size_t size, size_t first);

/** Wall-clock time in Unix milliseconds. */
int64_t ctl_now_ms(void);

/** "ctl-<ms hex>-<random hex>" in @p arena: an id unique without coordination. */
char *ctl_new_id(arena_t *arena);

/* The delivery report of one record queued with ctl_produce(). */
typedef struct ctl_delivery {
    rd_kafka_resp_err_t err;
    int done; /* the report came */
    int32_t partition;
    int64_t offset;
} ctl_delivery_t;

/**
 * An idempotent producer (acks=all) with the run's brokers and properties,
 * giving up on a record after @p timeout_ms; its delivery reports fill the
 * ctl_delivery_t of each record (during rd_kafka_poll()/flush()). NULL
 * after reporting. Caller frees with rd_kafka_destroy().
 */
rd_kafka_t *ctl_producer_new(const ctl_t *c, int64_t timeout_ms);

/**
 * Queues a copy of one record keyed @p key to @p topic (full name),
 * waiting while the queue is full; its report goes to @p dl. Returns 0 or
 * the error of the queueing.
 */
rd_kafka_resp_err_t ctl_produce(rd_kafka_t *rk, const char *topic, const char *key, const void *val,
                                size_t len, ctl_delivery_t *dl);

#endif
