/*
 * config_table.c — the settings table: every setting of incidentd, one row.
 *
 * A row holds the key, its type, default, bounds, flag, section and help;
 * nothing else lives here. Loading (config.c) walks it for the defaults and
 * the environment and looks file keys and flags up in it; --help, the sample
 * config and --print-config (config_print.c) are printed from it. Adding a
 * setting is adding a row (and, for a rule, the config_t field it fills).
 * The order of the rows is the order of --help and deploy/incidentd.conf.
 */
#include "config_internal.h"

#include <stddef.h>

#define OFF(field) offsetof(config_t, field)

const cfg_entry_t config_table[] = {
    /* ---- runtime ---- */
    {.name = "brokers",
     .type = CFG_STR,
     .off = OFF(brokers),
     .def = "127.0.0.1:9092",
     .flag = "brokers",
     .meta = "HOST:PORT[,...]",
     .flags = CFG_F_NONEMPTY,
     .section = "Runtime",
     .help = "Kafka bootstrap servers, a comma list of host:port."},
    {.name = "stages",
     .type = CFG_STAGES,
     .off = OFF(stages),
     .def = "all",
     .flag = "stages",
     .meta = "LIST",
     .help = "Stages this process runs: \"all\", or a comma list of detected, classified,\n"
             "scoped, escalated, resolved, commands, ingest, notify, api. \"all\" is the\n"
             "Kafka stages (the five of the process; commands: people's commands from\n"
             "incidents.commands; notify: deliveries to people and clients), plus ingest\n"
             "when ingest_http is set and api when api is set. Processes running the same\n"
             "stage share its work through one consumer group."},
    {.name = "topic_prefix",
     .type = CFG_STR,
     .off = OFF(topic_prefix),
     .def = "",
     .flag = "topic-prefix",
     .meta = "PREFIX",
     .check = config_check_topic_prefix,
     .help = "Prepended to every topic name (\"prod.\" gives prod.incidents.detected)."},
    {.name = "group_prefix",
     .type = CFG_STR,
     .off = OFF(group_prefix),
     .def = "incidentd",
     .flags = CFG_F_NONEMPTY,
     .help = "Consumer group prefix: a stage's group is <group_prefix>.<topic_prefix><stage>."},
    {.name = "instance_id",
     .type = CFG_STR,
     .off = OFF(instance_id),
     .def = "",
     .help = "Static group membership: group.instance.id prefix of this process,\n"
             "unique per process (e.g. the pod name). \"\" = dynamic membership."},
    {.name = "batch.max",
     .type = CFG_INT,
     .off = OFF(batch_max),
     .def = "500",
     .min = 1,
     .max = 100000,
     .help = "Most messages handled in one batch (one Kafka transaction)."},
    {.name = "batch.ms",
     .type = CFG_INT,
     .off = OFF(batch_ms),
     .def = "5",
     .min = 0,
     .max = 10000,
     .help = "Most milliseconds spent gathering one batch."},
    {.name = "batch.overlap_commit",
     .type = CFG_ENUM,
     .off = OFF(overlap_commit),
     .def = "off",
     .choices = "on|off",
     .help = "on: a batch's Kafka commit runs on a thread of its own while the worker\n"
             "gathers the next batch and applies it in Redis; that batch's transaction\n"
             "begins only once the commit has ended, and a failed commit consumes both\n"
             "batches again (their applies replay). It hides the commit's latency (a\n"
             "remote broker), not its CPU: on a machine whose cores the broker and Redis\n"
             "share it gained no throughput and cost p99 latency (docs/performance.md).\n"
             "off: each batch is committed before the next one is gathered."},
    {.name = "topics.partitions",
     .type = CFG_INT,
     .off = OFF(topic_partitions),
     .def = "12",
     .min = 1,
     .max = 10000,
     .help = "Partitions of the topics incidentd creates when they are missing\n"
             "(the most processes one stage can use). Existing topics are not changed."},
    {.name = "topics.replication",
     .type = CFG_INT,
     .off = OFF(topic_replication),
     .def = "-1",
     .min = -1,
     .max = 32767,
     .check = config_check_replication,
     .help = "Replication factor of the topics incidentd creates when they are missing:\n"
             "-1 = the broker's default (default.replication.factor), else 1..32767 and at\n"
             "most the number of brokers (3 with min.insync.replicas = 2 lets one broker\n"
             "die without losing a committed record). Existing topics are not changed."},
    {.name = "timer.poll",
     .type = CFG_DURATION,
     .off = OFF(timer_poll_ms),
     .def = "1s",
     .min = 10,
     .max = CFG_MS_M,
     .help = "How often the escalated stage looks for due acknowledgement timers."},
    {.name = "retention",
     .type = CFG_DURATION,
     .off = OFF(retention_ms),
     .def = "7d",
     .min = CFG_MS_M,
     .max = 3650 * CFG_MS_D,
     .help = "How long a closed incident stays in Redis."},
    {.name = "http",
     .type = CFG_STR,
     .off = OFF(http),
     .def = "",
     .flag = "http",
     .meta = "HOST:PORT",
     .check = config_check_hostport,
     .help = "Address of /metrics, /healthz and /readyz (e.g. 0.0.0.0:9100). \"\" = off."},
    {.name = "ingest_http",
     .type = CFG_STR,
     .off = OFF(ingest_http),
     .def = "",
     .flag = "ingest-http",
     .meta = "HOST:PORT",
     .check = config_check_hostport,
     .help = "Address of the webhook ingest stage (\"ingest\" in stages). \"\" = off."},
    {.name = "api",
     .type = CFG_STR,
     .off = OFF(api),
     .def = "",
     .flag = "api",
     .meta = "HOST:PORT",
     .check = config_check_hostport,
     .help = "Address of the HTTP API and the web console (\"api\" in stages; docs/api.md).\n"
             "\"\" = off. Without any people.<name>.token it refuses a non-loopback address."},
    {.name = "config",
     .type = CFG_STR,
     .off = OFF(config_path),
     .def = "",
     .flag = "config",
     .meta = "PATH",
     .flags = CFG_F_NOFILE,
     .help = "The configuration file to read (flag and environment only)."},

    /* ---- HTTP servers ---- */
    {.name = "http.max_connections",
     .type = CFG_INT,
     .off = OFF(http_max_connections),
     .def = "512",
     .min = 8,
     .max = 16384,
     .section = "HTTP servers (--http and --ingest-http, each)",
     .help = "Connections one server holds at once; more are closed on accept."},
    {.name = "http.per_ip_connections",
     .type = CFG_INT,
     .off = OFF(http_per_ip_connections),
     .def = "32",
     .min = 1,
     .max = 16384,
     .help = "Connections one client address may hold at once; more are closed on accept."},
    {.name = "http.request_timeout",
     .type = CFG_DURATION,
     .off = OFF(http_request_timeout_ms),
     .def = "10s",
     .min = 500,
     .max = 10 * CFG_MS_M,
     .help = "Time a client has to send a whole request (headers and body), counted from\n"
             "the connection or the previous answer, whatever it sends meanwhile; then the\n"
             "connection is closed. Time spent answering does not count."},

    /* ---- api ---- */
    {.name = "api.rate",
     .type = CFG_INT,
     .off = OFF(api_rate),
     .def = "20",
     .min = 0,
     .max = 1000000,
     .section = "API and console (--api)",
     .help = "API requests per second one person (token) may send; more get 429 with\n"
             "Retry-After. Counted after authentication. 0 = unlimited."},
    {.name = "api.burst",
     .type = CFG_INT,
     .off = OFF(api_burst),
     .def = "60",
     .min = 1,
     .max = 1000000,
     .help = "API requests one person may send at once before api.rate applies."},
    {.name = "api.max_streams",
     .type = CFG_INT,
     .off = OFF(api_max_streams),
     .def = "64",
     .min = 1,
     .max = 4096,
     .help = "Event streams (GET /v1/stream) one process serves at once; more get 503.\n"
             "Each holds a Kafka reader of ormis.audit."},

    /* ---- ingest ---- */
    {.name = "ingest.token",
     .type = CFG_STR,
     .off = OFF(ingest_token),
     .def = "",
     .flags = CFG_F_SECRET,
     .section = "Ingest (webhooks)",
     .help = "Bearer token every ingest route requires (\"Authorization: Bearer <token>\");\n"
             "\"\" = no authentication. A secret: prefer the environment."},
    {.name = "ingest.token.alertmanager",
     .type = CFG_STR,
     .off = OFF(ingest_token_alertmanager),
     .def = "",
     .flags = CFG_F_SECRET,
     .help = "Bearer token of POST /v1/alertmanager only (\"\" = ingest.token)."},
    {.name = "ingest.token.events",
     .type = CFG_STR,
     .off = OFF(ingest_token_events),
     .def = "",
     .flags = CFG_F_SECRET,
     .help = "Bearer token of POST /v1/events only (\"\" = ingest.token)."},
    {.name = "ingest.token.alerts",
     .type = CFG_STR,
     .off = OFF(ingest_token_alerts),
     .def = "",
     .flags = CFG_F_SECRET,
     .help = "Bearer token of POST /v1/alerts only (\"\" = ingest.token)."},
    {.name = "ingest.max_body",
     .type = CFG_INT,
     .off = OFF(ingest_max_body),
     .def = "524288",
     .min = 1024,
     .max = 64 * 1024 * 1024,
     .help = "Largest request body in bytes (larger ones get 413); 512 KiB as PagerDuty."},
    {.name = "ingest.rate",
     .type = CFG_INT,
     .off = OFF(ingest_rate),
     .def = "50",
     .min = 0,
     .max = 1000000,
     .help = "Requests per second one source may send (client address, and routing_key\n"
             "on /v1/events); more get 429 with Retry-After. 0 = unlimited."},
    {.name = "ingest.burst",
     .type = CFG_INT,
     .off = OFF(ingest_burst),
     .def = "100",
     .min = 1,
     .max = 1000000,
     .help = "Requests one source may send at once before ingest.rate applies."},

    /* ---- redis ---- */
    {.name = "redis",
     .type = CFG_REDIS_URL,
     .off = OFF(redis),
     .def = "redis://127.0.0.1:6379/0",
     .flag = "redis",
     .meta = "URL",
     .section = "Redis",
     .help = "Redis holding the live state: redis[s]://[user[:password]@]host[:port][/db]\n"
             "(rediss: TLS, see redis.tls_ca). Credentials in the URL are taken as\n"
             "redis.user and redis.password."},
    {.name = "redis.user",
     .type = CFG_STR,
     .off = OFF(redis_user),
     .def = "",
     .help = "Redis ACL user (\"\" = the default user)."},
    {.name = "redis.password",
     .type = CFG_STR,
     .off = OFF(redis_password),
     .def = "",
     .flags = CFG_F_SECRET,
     .help = "Redis password (\"\" = no AUTH). A secret: prefer the environment."},
    {.name = "redis.tls_ca",
     .type = CFG_STR,
     .off = OFF(redis_tls_ca),
     .def = "",
     .meta = "FILE",
     .help = "With a rediss:// URL: the CA certificates (PEM file) that Redis's (and the\n"
             "Sentinels') certificate must chain to; its name or IP address must be the\n"
             "host connected to. \"\" = the system's trust store."},
    {.name = "redis.tls_cert",
     .type = CFG_STR,
     .off = OFF(redis_tls_cert),
     .def = "",
     .meta = "FILE",
     .help = "With rediss://: a client certificate (PEM), for a Redis that asks for one\n"
             "(tls-auth-clients). \"\" = none."},
    {.name = "redis.tls_key",
     .type = CFG_STR,
     .off = OFF(redis_tls_key),
     .def = "",
     .meta = "FILE",
     .help = "The private key (PEM) of redis.tls_cert. \"\" = in redis.tls_cert's file."},
    {.name = "redis.sentinels",
     .type = CFG_STR,
     .off = OFF(redis_sentinels),
     .def = "",
     .meta = "HOST:PORT,...",
     .check = config_check_sentinels,
     .help = "Redis Sentinels (comma list of host:port, IPv6 in brackets, port 26379 when\n"
             "none): every Redis connection asks them in turn for the primary of\n"
             "redis.master_name, checks with ROLE that it is a master and follows\n"
             "failovers (a lost connection or a READONLY reply asks again). The host and\n"
             "port of `redis` are then unused; its db and credentials still apply.\n"
             "\"\" = connect to `redis` directly."},
    {.name = "redis.master_name",
     .type = CFG_STR,
     .off = OFF(redis_master_name),
     .def = "",
     .help = "The primary's name at the Sentinels (required with redis.sentinels)."},
    {.name = "redis.sentinel_password",
     .type = CFG_STR,
     .off = OFF(redis_sentinel_password),
     .def = "",
     .flags = CFG_F_SECRET,
     .help = "Password of the Sentinels (requirepass of sentinel.conf; \"\" = no AUTH).\n"
             "A secret: prefer INCIDENTD_REDIS_SENTINEL_PASSWORD."},
    {.name = "redis.min_replicas",
     .type = CFG_INT,
     .off = OFF(redis_min_replicas),
     .def = "0",
     .min = 0,
     .max = 16,
     .help = "Replicas that must hold each batch's apply (Redis WAIT) before its Kafka\n"
             "transaction commits; fewer within redis.wait_timeout fail the batch, which\n"
             "is retried (incidentd_redis_wait_shortfalls_total). 0 = don't wait: a\n"
             "failover may then lose the last applies, which the applied-writes check\n"
             "detects and repairs by a rebuild from ormis.audit (README, \"Redis high\n"
             "availability\")."},
    {.name = "redis.wait_timeout",
     .type = CFG_DURATION,
     .off = OFF(redis_wait_timeout_ms),
     .def = "1s",
     .min = 1,
     .max = 60 * CFG_MS_S,
     .help = "How long one WAIT for redis.min_replicas replicas may take."},

    /* ---- kafka ---- */
    {.name = "kafka.<property>",
     .type = CFG_KAFKA,
     .section = "Kafka client",
     .help = "A librdkafka property passed through (see librdkafka CONFIGURATION.md),\n"
             "e.g. security.protocol, sasl.mechanisms, sasl.username. In the\n"
             "environment '.' is written '_' and '_' is written '__':\n"
             "INCIDENTD_KAFKA_SASL_PASSWORD sets kafka.sasl.password.\n"
             "bootstrap.servers, group.id, group.instance.id and transactional.id are\n"
             "set from brokers, group_prefix and instance_id. Values of properties\n"
             "naming a password, secret, token or key are masked on output.",
     .example = "kafka.linger.ms = 5\n"
                "kafka.security.protocol = sasl_ssl\n"
                "kafka.sasl.mechanisms = PLAIN"},

    /* ---- logging ---- */
    {.name = "log.level",
     .type = CFG_ENUM,
     .off = OFF(log_level),
     .def = "info",
     .choices = "debug|info|warn|error",
     .flag = "log-level",
     .meta = "LEVEL",
     .section = "Logging",
     .help = "Lowest level logged: debug, info, warn or error."},
    {.name = "log.format",
     .type = CFG_ENUM,
     .off = OFF(log_format),
     .def = "json",
     .choices = "json|logfmt",
     .flag = "log-format",
     .meta = "FORMAT",
     .help = "Log line format on stderr: json or logfmt."},

    /* ---- classification ---- */
    {.name = "classify.incident_min_severity",
     .type = CFG_SEVERITY,
     .off = OFF(rules.incident_min_severity),
     .def = "MAJOR",
     .section = "Classification",
     .help = "An alert of this severity or higher is an incident by itself.\n"
             "Severities: INFO, WARNING, MINOR, MAJOR, CRITICAL (SEVERITY_ prefix allowed)."},
    {.name = "classify.client_min_severity",
     .type = CFG_SEVERITY,
     .off = OFF(rules.client_min_severity),
     .def = "MINOR",
     .help = "An alert of this severity or higher is an incident when it affects\n"
             "at least client_min_count clients."},
    {.name = "classify.client_min_count",
     .type = CFG_U32,
     .off = OFF(rules.client_min_count),
     .def = "1",
     .min = 1,
     .max = HD_CLIENTS_MAX,
     .help = "Clients needed for the client rule above."},
    {.name = "classify.critical_services",
     .type = CFG_LIST,
     .off = OFF(critical_services),
     .def = "",
     .help = "Services whose alerts are always incidents (comma list)."},
    {.name = "classify.reclassify_triggers",
     .type = CFG_U32,
     .off = OFF(rules.reclassify_triggers),
     .def = "3",
     .min = 2,
     .max = 1000,
     .help = "A disturbance becomes an incident when its dedup key triggers this\n"
             "many times within reclassify_window."},
    {.name = "classify.reclassify_window",
     .type = CFG_DURATION,
     .off = OFF(rules.reclassify_window_ms),
     .def = "10m",
     .min = CFG_MS_S,
     .max = CFG_MS_D,
     .help = "The window of reclassify_triggers."},

    /* ---- scope ---- */
    {.name = "scope.global_min_sites",
     .type = CFG_U32,
     .off = OFF(rules.global_min_sites),
     .def = "2",
     .min = 1,
     .max = HD_SITES_MAX,
     .section = "Scope",
     .help = "An incident is GLOBAL when it affects at least this many distinct sites\n"
             "(also: a site \"*\", global_min_clients clients, or label scope=global)."},
    {.name = "scope.global_min_clients",
     .type = CFG_U32,
     .off = OFF(rules.global_min_clients),
     .def = "10",
     .min = 1,
     .max = HD_CLIENTS_MAX,
     .help = "An incident is GLOBAL when it affects at least this many distinct clients."},

    /* ---- ownership ---- */
    {.name = "roster.<role>.<service>",
     .type = CFG_ROSTER,
     .section = "Ownership",
     .help = "Owner of the incidents of a role for a service. role: technical_manager\n"
             "(GLOBAL incidents) or customer_service_manager (LOCAL ones), any case.\n"
             "service \"default\" matches every service; an exact service wins over it.\n"
             "An empty value removes the entry. No roster by default.",
     .example = "roster.technical_manager.default = tm-oncall\n"
                "roster.customer_service_manager.default = csm-oncall\n"
                "roster.customer_service_manager.payments = payments-csm"},

    /* ---- handling ---- */
    {.name = "handling.global_stakeholders",
     .type = CFG_LIST,
     .off = OFF(global_stakeholders),
     .def = "",
     .section = "Handling",
     .help = "Informed when an incident is GLOBAL (comma list)."},
    {.name = "handling.tm_stakeholder",
     .type = CFG_STR,
     .off = OFF(tm_stakeholder),
     .def = "technical-manager",
     .flags = CFG_F_NONEMPTY,
     .help = "Informed when a LOCAL CRITICAL incident goes to escalation level 1."},
    {.name = "handling.level1_stakeholders",
     .type = CFG_LIST,
     .off = OFF(level_stakeholders[1]),
     .def = "",
     .help = "Also informed when an incident reaches escalation level 1 (comma list)."},
    {.name = "handling.level2_stakeholders",
     .type = CFG_LIST,
     .off = OFF(level_stakeholders[2]),
     .def = "",
     .help = "Also informed when an incident reaches escalation level 2 (comma list)."},
    {.name = "handling.level3_stakeholders",
     .type = CFG_LIST,
     .off = OFF(level_stakeholders[3]),
     .def = "",
     .help = "Also informed when an incident reaches escalation level 3 (comma list)."},
    {.name = "guideline.<service>",
     .type = CFG_GUIDELINE,
     .help = "Handling guideline of the LOCAL incidents of a service;\n"
             "guideline.default is for services without their own.\n"
             "An empty value removes the entry.",
     .example = "guideline.default = \"Follow the local incident runbook.\"\n"
                "guideline.payments = \"Page payments on-call; freeze deploys.\""},

    /* ---- escalation ---- */
    {.name = "escalation.ack_timeout",
     .type = CFG_DURATION,
     .off = OFF(rules.ack_timeout_ms),
     .def = "30m",
     .min = CFG_MS_S,
     .max = 7 * CFG_MS_D,
     .section = "Escalation",
     .help = "An incident not acknowledged within this time escalates one level."},
    {.name = "escalation.max_level",
     .type = CFG_U32,
     .off = OFF(rules.max_escalation_level),
     .def = "3",
     .min = 1,
     .max = 10,
     .help = "Highest escalation level."},

    /* ---- follow-up and completion ---- */
    {.name = "followup.window.global",
     .type = CFG_DURATION,
     .off = OFF(rules.followup_window_global_ms),
     .def = "30m",
     .min = 0,
     .max = 7 * CFG_MS_D,
     .section = "Follow-up and completion",
     .help = "Confirmation window after a GLOBAL incident is resolved: a trigger of its\n"
             "dedup key (or a reopen command) inside it reopens the same incident; a\n"
             "quiet window ends in `confirmed`, then the final updates."},
    {.name = "followup.window.local",
     .type = CFG_DURATION,
     .off = OFF(rules.followup_window_local_ms),
     .def = "10m",
     .min = 0,
     .max = 7 * CFG_MS_D,
     .help = "Confirmation window of a LOCAL incident."},
    {.name = "followup.window.disturbance",
     .type = CFG_DURATION,
     .off = OFF(rules.followup_window_disturbance_ms),
     .def = "0s",
     .min = 0,
     .max = 7 * CFG_MS_D,
     .help = "Confirmation window of a disturbance (0s: confirmed at once)."},
    {.name = "review.required",
     .type = CFG_LIST,
     .off = OFF(review_required),
     .def = "global, critical",
     .help = "Which incidents need a post-incident review before they close: \"global\"\n"
             "and/or a severity (that one and higher), or \"none\"."},
    {.name = "review.due",
     .type = CFG_DURATION,
     .off = OFF(rules.review_due_ms),
     .def = "5d",
     .min = CFG_MS_S,
     .max = 90 * CFG_MS_D,
     .help = "A blocked incident's owner is reminded and escalated one level after this."},
    {.name = "completion.signoff",
     .type = CFG_LIST,
     .off = OFF(completion_signoff),
     .def = "",
     .help = "Who must sign off before an incident that needs a review closes (comma\n"
             "list). Empty: the global stakeholders for GLOBAL, the owner for LOCAL."},
    {.name = "comms.update_interval.global",
     .type = CFG_DURATION,
     .off = OFF(rules.client_update_global_ms),
     .def = "30m",
     .min = CFG_MS_S,
     .max = 7 * CFG_MS_D,
     .help = "Under NOTIFY, a client update is due this often while a GLOBAL incident\n"
             "is unresolved; a missed one is audited `client_update_due`, two in a row\n"
             "escalate one level."},
    {.name = "comms.update_interval.local",
     .type = CFG_DURATION,
     .off = OFF(rules.client_update_local_ms),
     .def = "60m",
     .min = CFG_MS_S,
     .max = 7 * CFG_MS_D,
     .help = "The client update interval of a LOCAL incident."},
    {.name = "comms.updates_missed_max",
     .type = CFG_U32,
     .off = OFF(rules.client_updates_missed_max),
     .def = "2",
     .min = 1,
     .max = 100,
     .help = "Client updates missed in a row that escalate the incident one level."},

    /* ---- silences, maintenance windows, rotations ---- */
    {.name = "silences.max_duration",
     .type = CFG_DURATION,
     .off = OFF(rules.silence_max_ms),
     .def = "7d",
     .min = 60000,
     .max = 366 * CFG_MS_D,
     .section = "Silences, maintenance windows, on-call rotations",
     .help = "The longest a silence may last (ends_at - starts_at): a longer one is refused."},
    {.name = "silences.max_active",
     .type = CFG_U32,
     .off = OFF(silences_max_active),
     .def = "1000",
     .min = 1,
     .max = 100000,
     .help = "The most silences in force at once (pending ones count, ended ones do not):\n"
             "creating one more is refused (API 409, incidentctl exit 1). One that still\n"
             "reaches incidents.silences past it waits, not in force, until one ends or\n"
             "is expired (logged; as many wait at most, more are dropped)."},
    {.name = "silences.remind_before",
     .type = CFG_DURATION,
     .off = OFF(silence_remind_before_ms),
     .def = "15m",
     .min = 0,
     .max = CFG_MS_D,
     .help = "How long before a silence ends its creator is reminded (once, on every\n"
             "channel of people.<created_by>.*), even if it silenced nothing; 0 = never.\n"
             "Sent by the notify stage: with no notify stage running, none is sent. Its\n"
             "creator is also reminded at the end while a silenced alert still fires."},
    {.name = "maintenance.<name>.<field>",
     .type = CFG_MAINTENANCE,
     .help = "A maintenance window: a recurring silence. Fields (all required): matchers\n"
             "(a JSON object as a silence's: service, site, dedup_key_prefix, labels),\n"
             "every (daily | weekly), at (\"HH:MM\"; weekly: \"<mon..sun> HH:MM\"), for\n"
             "(a duration, at most the period), tz (an explicit UTC offset: UTC, +01:00;\n"
             "zone names are refused: the window keeps that offset all year).",
     .example = "maintenance.db-nightly.matchers = {\"service\": \"db\", \"site\": \"par1\"}\n"
                "maintenance.db-nightly.every = weekly\n"
                "maintenance.db-nightly.at = sun 02:00\n"
                "maintenance.db-nightly.for = 2h\n"
                "maintenance.db-nightly.tz = +01:00"},
    {.name = "rotation.<name>.<field>",
     .type = CFG_ROTATION,
     .help = "An on-call rotation: members (comma list, in order), every (the hand-over\n"
             "period, a duration), start (when the first member starts, with its offset:\n"
             "2026-01-05T09:00+01:00). Hand-overs count absolute time: across a DST\n"
             "change they stay at the same UTC instant. A roster entry \"@<name>\" is the\n"
             "member on call when an incident is assigned or re-escalated.",
     .example = "rotation.tm.members = alice, bob, carol\n"
                "rotation.tm.every = 7d\n"
                "rotation.tm.start = 2026-01-05T09:00+01:00"},

    {.name = "overrides.max_active",
     .type = CFG_U32,
     .off = OFF(overrides_max_active),
     .def = "1000",
     .min = 1,
     .max = 100000,
     .help = "The most on-call overrides in force at once (ended ones do not count):\n"
             "creating one more is refused (API 409). One that still reaches\n"
             "incidents.overrides past it waits, not in force, until one ends or is\n"
             "removed (logged; as many wait at most, more are dropped)."},

    /* ---- the directory ---- */
    {.name = "people.<name>.<field>",
     .type = CFG_PEOPLE,
     .section = "People and clients (the directory)",
     .help = "How to reach a person, and what the person may do. Fields: email, webhook\n"
             "(a generic webhook: signed JSON), slack (a Slack-compatible incoming\n"
             "webhook URL; masked on output), token (the person's API bearer token, at\n"
             "least 16 characters, unique; a secret), role (viewer, stakeholder,\n"
             "customer_service_manager, technical_manager; viewer when not given).\n"
             "<name> is the name the roster and the stakeholder lists use\n"
             "(A-Z a-z 0-9 . _ - @ +). An empty value removes the field.",
     .example = "people.tm-oncall.email = tm-oncall@example.com\n"
                "people.tm-oncall.slack = https://hooks.slack.example/services/T0/B0/x\n"
                "people.tm-oncall.role = technical_manager\n"
                "people.csm-oncall.webhook = https://pager.example.com/hooks/incidentd\n"
                "people.csm-oncall.role = customer_service_manager"},
    {.name = "clients.<client>.<field>",
     .type = CFG_CLIENTS,
     .help = "How to reach a client (the names alerts give in `clients`) for client\n"
             "updates and final updates. Fields: email, webhook.",
     .example = "clients.acme.email = status@acme.example\n"
                "clients.acme.webhook = https://status.acme.example/incidentd"},

    /* ---- notify ---- */
    {.name = "notify.webhook_secret",
     .type = CFG_STR,
     .off = OFF(notify_webhook_secret),
     .def = "",
     .flags = CFG_F_SECRET,
     .section = "Notifications (the notify stage)",
     .help = "Key of the webhook signature: every generic webhook carries\n"
             "X-Incidentd-Signature: sha256=<hex HMAC-SHA256 of the body>. \"\" = not\n"
             "signed (the header is left out). A secret: prefer the environment."},
    {.name = "notify.smtp_url",
     .type = CFG_STR,
     .off = OFF(notify_smtp_url),
     .def = "smtp://127.0.0.1:25",
     .check = config_check_smtp_url,
     .help = "Mail server of the email channel: smtp://host[:port] (STARTTLS when the\n"
             "server offers it) or smtps://host[:port] (TLS). No credentials in the URL:\n"
             "use notify.smtp_user and notify.smtp_password. \"\" = no email channel."},
    {.name = "notify.smtp_user",
     .type = CFG_STR,
     .off = OFF(notify_smtp_user),
     .def = "",
     .help = "SMTP AUTH user (\"\" = no AUTH)."},
    {.name = "notify.smtp_password",
     .type = CFG_STR,
     .off = OFF(notify_smtp_password),
     .def = "",
     .flags = CFG_F_SECRET,
     .help = "SMTP AUTH password. A secret: prefer the environment."},
    {.name = "notify.smtp_from",
     .type = CFG_STR,
     .off = OFF(notify_smtp_from),
     .def = "incidentd@localhost",
     .flags = CFG_F_NONEMPTY,
     .check = config_check_email,
     .help = "Sender of the emails (envelope MAIL FROM and the From: header)."},
    {.name = "notify.console_url",
     .type = CFG_STR,
     .off = OFF(notify_console_url),
     .def = "",
     .check = config_check_http_url,
     .help = "Base URL of the web console; messages link <console_url>/#/incidents/<id>.\n"
             "\"\" = no link."},
    {.name = "notify.max_attempts",
     .type = CFG_INT,
     .off = OFF(notify_max_attempts),
     .def = "8",
     .min = 1,
     .max = 100,
     .help = "Attempts of one delivery; after the last failed one it is recorded\n"
             "`delivery_failed`, dead-lettered and escalated one level."},
    {.name = "notify.retry.initial",
     .type = CFG_DURATION,
     .off = OFF(notify_retry_initial_ms),
     .def = "2s",
     .min = 100,
     .max = CFG_MS_H,
     .help = "Delay before the first retry; it doubles with each attempt (with jitter)."},
    {.name = "notify.retry.max",
     .type = CFG_DURATION,
     .off = OFF(notify_retry_max_ms),
     .def = "5m",
     .min = CFG_MS_S,
     .max = CFG_MS_D,
     .help = "Longest delay between two attempts (at least notify.retry.initial)."},
    {.name = "notify.timeout",
     .type = CFG_DURATION,
     .off = OFF(notify_timeout_ms),
     .def = "10s",
     .min = 100,
     .max = 5 * CFG_MS_M,
     .help = "Time one delivery request may take, connecting included; then it is\n"
             "abandoned and retried."},
    {.name = "notify.concurrency",
     .type = CFG_INT,
     .off = OFF(notify_concurrency),
     .def = "16",
     .min = 1,
     .max = 1024,
     .help = "Delivery requests in flight at once per process (one endpoint gets at most\n"
             "half of them, so a slow one does not hold up the others)."},

    /* ---- limits ---- */
    {.name = "limits.clients",
     .type = CFG_U32,
     .off = OFF(rules.max_clients),
     .def = "1000",
     .min = 10,
     .max = 10000,
     .section = "Limits",
     .help = "Client names an incident keeps (clients_total counts on past it)."},
    {.name = "limits.sites",
     .type = CFG_U32,
     .off = OFF(rules.max_sites),
     .def = "100",
     .min = 2,
     .max = 1000,
     .help = "Sites an incident keeps."},
    {.name = "limits.message_bytes",
     .type = CFG_U32,
     .off = OFF(message_max_bytes),
     .def = "1000000",
     .min = 65536,
     .max = 100000000,
     .help = "Largest record incidentd produces (the producer's message.max.bytes;\n"
             "keep it at or below the broker's message.max.bytes). A transition whose\n"
             "audit record or event would be larger is dead-lettered, never applied."},
};

const size_t config_table_len = sizeof(config_table) / sizeof(config_table[0]);
