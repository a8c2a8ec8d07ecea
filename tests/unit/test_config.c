/*
 * test_config.c — the configuration: defaults, file, environment, flags,
 * errors, secrets, and the generated sample (deploy/incidentd.conf).
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "rotation.h"
#include "silence.h"
#include "testutil.h"

static char tmp_path[64];

static void setup(void)
{
    tu_clean_env();
    tmp_path[0] = '\0';
}

static void teardown(void)
{
    if (tmp_path[0])
        unlink(tmp_path);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Writes @p text to a temporary file; returns its path (removed at teardown). */
static const char *conf_file(const char *text)
{
    if (tmp_path[0])
        unlink(tmp_path);
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/test_config_XXXXXX");
    int fd = mkstemp(tmp_path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return tmp_path;
}

static int load_argv(config_t *cfg, char *err, const char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return config_load(cfg, argc, (char **)argv, err, 512);
}

#define LOAD(cfg, err, ...) load_argv(cfg, err, (const char *[]){"incidentd", __VA_ARGS__, NULL})
#define LOAD0(cfg, err) load_argv(cfg, err, (const char *[]){"incidentd", NULL})

/* Loads @p text as the config file (plus flags); asserts success. */
#define LOAD_OK(cfg, ...)                                       \
    do {                                                        \
        char err_[512];                                         \
        int rc_ = LOAD(cfg, err_, __VA_ARGS__);                 \
        cr_assert_eq(rc_, 0, "config_load: %d: %s", rc_, err_); \
    } while (0)

/* Loads a config file; expects an error containing each of the strings. */
static void expect_file_error(const char *text, const char *want1, const char *want2)
{
    config_t cfg;
    char err[512];
    const char *path = conf_file(text);
    int rc = LOAD(&cfg, err, "--config", path);
    cr_assert_eq(rc, -1, "expected an error for:\n%s", text);
    cr_assert(strstr(err, path), "no path in: %s", err);
    cr_assert(strstr(err, want1), "'%s' not in: %s", want1, err);
    if (want2)
        cr_assert(strstr(err, want2), "'%s' not in: %s", want2, err);
    config_destroy(&cfg);
}

static char *print_to_string(const config_t *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    config_print(cfg, f);
    fclose(f);
    return buf;
}

/* ---- defaults ---------------------------------------------------------------- */

Test(config, defaults_are_the_contracts)
{
    config_t cfg;
    char err[512];
    cr_assert_eq(LOAD0(&cfg, err), 0, "%s", err);

    cr_assert_str_eq(cfg.brokers, "127.0.0.1:9092");
    cr_assert_str_eq(cfg.redis, "redis://127.0.0.1:6379/0");
    cr_assert_str_eq(cfg.redis_host, "127.0.0.1");
    cr_assert_eq(cfg.redis_port, 6379);
    cr_assert_eq(cfg.redis_db, 0);
    cr_assert_str_eq(cfg.redis_user, "");
    cr_assert_str_eq(cfg.redis_password, "");
    cr_assert_str_eq(cfg.stages, "all");
    /* ingest runs only where it has an address */
    cr_assert_eq(cfg.stage_mask, CONFIG_STAGE_ALL & ~CONFIG_STAGE_INGEST & ~STAGE_BIT_API);
    cr_assert_str_eq(cfg.config_path, "");
    cr_assert_str_eq(cfg.topic_prefix, "");
    cr_assert_str_eq(cfg.http, "");
    cr_assert_str_eq(cfg.ingest_http, "");
    cr_assert_str_eq(cfg.group_prefix, "incidentd");
    cr_assert_str_eq(cfg.instance_id, "");
    cr_assert_eq(cfg.batch_max, 500);
    cr_assert_eq(cfg.batch_ms, 5);
    cr_assert_eq(cfg.retention_ms, 7LL * 24 * 3600 * 1000);
    cr_assert_eq(cfg.timer_poll_ms, 1000);
    cr_assert_str_eq(cfg.log_level, "info");
    cr_assert_str_eq(cfg.log_format, "json");
    cr_assert_eq(cfg.n_kafka, 0);
    cr_assert_eq(cfg.print_config, 0);
    cr_assert_eq(cfg.silences_max_active, 1000);
    cr_assert_eq(cfg.overrides_max_active, 1000);

    const hd_rules_t *r = &cfg.rules;
    cr_assert_eq(r->incident_min_severity, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    cr_assert_eq(r->client_min_severity, INCIDENT__V1__SEVERITY__SEVERITY_MINOR);
    cr_assert_eq(r->client_min_count, 1);
    cr_assert_eq(r->n_critical_services, 0);
    cr_assert_eq(r->reclassify_triggers, 3);
    cr_assert_eq(r->reclassify_window_ms, 10 * 60 * 1000);
    cr_assert_eq(r->global_min_sites, 2);
    cr_assert_eq(r->global_min_clients, 10);
    cr_assert_eq(r->n_roster, 0);
    cr_assert_eq(r->n_global_stakeholders, 0);
    cr_assert_str_eq(r->tm_stakeholder, "technical-manager");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(r->n_level_stakeholders[i], 0);
    cr_assert_eq(r->n_guidelines, 0);
    cr_assert_eq(r->ack_timeout_ms, 30 * 60 * 1000);
    cr_assert_eq(r->max_escalation_level, 3);
    config_destroy(&cfg);
}

/* The table's defaults and the handlers' defaults must not drift apart. */
Test(config, defaults_match_hd_rules_default)
{
    config_t cfg;
    char err[512];
    hd_rules_t d;
    hd_rules_default(&d);
    cr_assert_eq(LOAD0(&cfg, err), 0, "%s", err);
    const hd_rules_t *r = &cfg.rules;
    cr_assert_eq(r->incident_min_severity, d.incident_min_severity);
    cr_assert_eq(r->client_min_severity, d.client_min_severity);
    cr_assert_eq(r->client_min_count, d.client_min_count);
    cr_assert_eq(r->n_critical_services, d.n_critical_services);
    cr_assert_eq(r->reclassify_triggers, d.reclassify_triggers);
    cr_assert_eq(r->reclassify_window_ms, d.reclassify_window_ms);
    cr_assert_eq(r->global_min_sites, d.global_min_sites);
    cr_assert_eq(r->global_min_clients, d.global_min_clients);
    cr_assert_eq(r->n_roster, d.n_roster);
    cr_assert_eq(r->n_global_stakeholders, d.n_global_stakeholders);
    cr_assert_str_eq(r->tm_stakeholder, d.tm_stakeholder ? d.tm_stakeholder : "");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(r->n_level_stakeholders[i], d.n_level_stakeholders[i]);
    cr_assert_eq(r->n_guidelines, d.n_guidelines);
    cr_assert_eq(r->ack_timeout_ms, d.ack_timeout_ms);
    cr_assert_eq(r->max_escalation_level, d.max_escalation_level);
    config_destroy(&cfg);
}

Test(config, destroy_accepts_zeroed_and_null)
{
    config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    config_destroy(&cfg);
    config_destroy(NULL);
}

/* ---- the file -------------------------------------------------------------------- */

Test(config, file_parsing)
{
    const char *path = conf_file("\xEF\xBB\xBF# a comment\n"
                                 "\n"
                                 "   # an indented comment\n"
                                 "brokers = k1:9092,k2:9092\n"
                                 "  topic_prefix=prod.  \n"
                                 "instance_id = \"  pod-1  \"\n"
                                 "batch.max = 100\r\n"
                                 "batch.ms = 0\n"
                                 "timer.poll = 250ms\n"
                                 "retention = 2d\n"
                                 "log.level = DEBUG\n"
                                 "log.format = logfmt\n"
                                 "classify.incident_min_severity = SEVERITY_CRITICAL\n"
                                 "classify.client_min_severity = warning\n"
                                 "classify.client_min_count = 5\n"
                                 "classify.critical_services = payments ,  auth,,\n"
                                 "classify.reclassify_triggers = 4\n"
                                 "classify.reclassify_window = 1h30m\n"
                                 "scope.global_min_sites = 3\n"
                                 "scope.global_min_clients = 20\n"
                                 "handling.global_stakeholders = cto, noc\n"
                                 "handling.tm_stakeholder = tm@example.com\n"
                                 "handling.level1_stakeholders = l1\n"
                                 "handling.level2_stakeholders = l2a,l2b\n"
                                 "handling.level3_stakeholders = \"l3\"\n"
                                 "escalation.ack_timeout = 15m\n"
                                 "escalation.max_level = 5\n"
                                 "roster.technical_manager.default = alice\n"
                                 "roster.CUSTOMER_SERVICE_MANAGER.payments.eu = bob\n"
                                 "roster.role_customer_service_manager.Default = carol\n"
                                 "guideline.default = \"Say \\\"hi\\\"\\n\\tthen \\\\ go\"\n"
                                 "guideline.payments = Freeze deploys # not a comment\n"
                                 "kafka.linger.ms = 5\n"
                                 "redis.password = = starts with equals\n");
    config_t cfg;
    LOAD_OK(&cfg, "--config", path);

    cr_assert_str_eq(cfg.config_path, path);
    cr_assert_str_eq(cfg.brokers, "k1:9092,k2:9092");
    cr_assert_str_eq(cfg.topic_prefix, "prod.");
    cr_assert_str_eq(cfg.instance_id, "  pod-1  ");
    cr_assert_eq(cfg.batch_max, 100);
    cr_assert_eq(cfg.batch_ms, 0);
    cr_assert_eq(cfg.timer_poll_ms, 250);
    cr_assert_eq(cfg.retention_ms, 2LL * 86400 * 1000);
    cr_assert_str_eq(cfg.log_level, "debug");
    cr_assert_str_eq(cfg.log_format, "logfmt");
    cr_assert_str_eq(cfg.redis_password, "= starts with equals");

    const hd_rules_t *r = &cfg.rules;
    cr_assert_eq(r->incident_min_severity, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    cr_assert_eq(r->client_min_severity, INCIDENT__V1__SEVERITY__SEVERITY_WARNING);
    cr_assert_eq(r->client_min_count, 5);
    cr_assert_eq(r->n_critical_services, 2);
    cr_assert_str_eq(r->critical_services[0], "payments");
    cr_assert_str_eq(r->critical_services[1], "auth");
    cr_assert_eq(r->reclassify_triggers, 4);
    cr_assert_eq(r->reclassify_window_ms, 90 * 60 * 1000);
    cr_assert_eq(r->global_min_sites, 3);
    cr_assert_eq(r->global_min_clients, 20);
    cr_assert_eq(r->n_global_stakeholders, 2);
    cr_assert_str_eq(r->global_stakeholders[0], "cto");
    cr_assert_str_eq(r->global_stakeholders[1], "noc");
    cr_assert_str_eq(r->tm_stakeholder, "tm@example.com");
    cr_assert_eq(r->n_level_stakeholders[0], 0);
    cr_assert_eq(r->n_level_stakeholders[1], 1);
    cr_assert_str_eq(r->level_stakeholders[1][0], "l1");
    cr_assert_eq(r->n_level_stakeholders[2], 2);
    cr_assert_str_eq(r->level_stakeholders[2][1], "l2b");
    cr_assert_eq(r->n_level_stakeholders[3], 1);
    cr_assert_str_eq(r->level_stakeholders[3][0], "l3");
    cr_assert_eq(r->ack_timeout_ms, 15 * 60 * 1000);
    cr_assert_eq(r->max_escalation_level, 5);

    cr_assert_eq(r->n_roster, 3);
    cr_assert_eq(r->roster[0].role, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER);
    cr_assert_str_eq(r->roster[0].service, "*");
    cr_assert_str_eq(r->roster[0].owner, "alice");
    cr_assert_eq(r->roster[1].role, INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER);
    cr_assert_str_eq(r->roster[1].service, "payments.eu");
    cr_assert_str_eq(r->roster[1].owner, "bob");
    cr_assert_eq(r->roster[2].role, INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER);
    cr_assert_str_eq(r->roster[2].service, "*");
    cr_assert_str_eq(r->roster[2].owner, "carol");

    cr_assert_eq(r->n_guidelines, 2);
    cr_assert_str_eq(r->guidelines[0].service, "*");
    cr_assert_str_eq(r->guidelines[0].text, "Say \"hi\"\n\tthen \\ go");
    cr_assert_str_eq(r->guidelines[1].service, "payments");
    cr_assert_str_eq(r->guidelines[1].text, "Freeze deploys # not a comment");

    cr_assert_eq(cfg.n_kafka, 1);
    cr_assert_str_eq(cfg.kafka[0].key, "linger.ms");
    cr_assert_str_eq(cfg.kafka[0].value, "5");
    config_destroy(&cfg);
}

Test(config, later_lines_and_empty_values_replace_and_remove)
{
    const char *path = conf_file("roster.technical_manager.default = alice\n"
                                 "roster.technical_manager.default = bob\n"
                                 "roster.customer_service_manager.db = dana\n"
                                 "guideline.db = one\n"
                                 "guideline.db = two\n"
                                 "kafka.linger.ms = 1\n"
                                 "kafka.linger.ms = 2\n"
                                 "classify.critical_services = a,b\n"
                                 "classify.critical_services = c\n");
    config_t cfg;
    LOAD_OK(&cfg, "--config", path, "--set", "roster.customer_service_manager.db=");
    cr_assert_eq(cfg.rules.n_roster, 1);
    cr_assert_str_eq(cfg.rules.roster[0].owner, "bob");
    cr_assert_eq(cfg.rules.n_guidelines, 1);
    cr_assert_str_eq(cfg.rules.guidelines[0].text, "two");
    cr_assert_eq(cfg.n_kafka, 1);
    cr_assert_str_eq(cfg.kafka[0].value, "2");
    cr_assert_eq(cfg.rules.n_critical_services, 1);
    cr_assert_str_eq(cfg.rules.critical_services[0], "c");
    config_destroy(&cfg);
}

Test(config, file_errors_name_key_and_line)
{
    expect_file_error("# ok\n\n\n\n\n\n\n\n\n\n\nescalation.ack_timeout = 5x\n",
                      ":12: escalation.ack_timeout: '5x' is not a duration (e.g. 30m, 10s, 500ms)",
                      NULL);
    expect_file_error("brokers = b\nno.such.key = 1\n", ":2: unknown key 'no.such.key'", NULL);
    expect_file_error("batch.mx = 1\n", ":1: unknown key 'batch.mx'", "did you mean 'batch.max'");
    expect_file_error("batch.max = 0\n", ":1: batch.max: 0 is out of range (1..100000)", NULL);
    expect_file_error("batch.max = 12abc\n", ":1: batch.max: '12abc' is not an integer", NULL);
    expect_file_error("escalation.max_level = 11\n", ":1: escalation.max_level:", "1..10");
    expect_file_error("escalation.ack_timeout = 8d\n",
                      ":1: escalation.ack_timeout:", "out of range (1s..7d)");
    expect_file_error("classify.incident_min_severity = HUGE\n",
                      ":1: classify.incident_min_severity: 'HUGE' is not a severity", NULL);
    expect_file_error("classify.incident_min_severity = UNSPECIFIED\n", ":1:", "not a severity");
    expect_file_error("log.level = loud\n", ":1: log.level: 'loud' is not one of",
                      "debug, info, warn, error");
    expect_file_error("just some words\n", ":1: expected 'key = value'", NULL);
    expect_file_error(" = value\n", ":1: missing key", NULL);
    expect_file_error("bad key = 1\n", ":1:", "not a key");
    expect_file_error("guideline.x = \"open\n", ":1: guideline.x: unterminated quoted value", NULL);
    expect_file_error("guideline.x = \"a\\qb\"\n", ":1: guideline.x: unknown escape", NULL);
    expect_file_error("guideline.x = \"a\" b\n", ":1: guideline.x: text after the closing quote",
                      NULL);
    expect_file_error("roster.boss.default = x\n", ":1: roster.boss.default: unknown role 'boss'",
                      "technical_manager, customer_service_manager");
    expect_file_error("roster.technical_manager = x\n", ":1:", "roster.<role>.<service>");
    expect_file_error("guideline. = x\n", ":1:", "guideline.<service>");
    expect_file_error("kafka.no.such.prop = 1\n",
                      ":1: kafka.no.such.prop:", "unknown librdkafka property");
    expect_file_error("kafka.group.id = g\n", ":1: kafka.group.id:", "group_prefix");
    expect_file_error("kafka.bootstrap.servers = b:1\n", ":1:", "use brokers");
    expect_file_error("config = /etc/other.conf\n", ":1: config:", "--config");
    expect_file_error("brokers =\n", ":1: brokers: must not be empty", NULL);
    expect_file_error("topic_prefix = a/b\n", ":1: topic_prefix:", "not allowed");
    expect_file_error("http = nonsense\n", ":1: http: 'nonsense' is not host:port", NULL);
    expect_file_error(
        "stages = detected,bogus\n", ":1: stages: unknown stage 'bogus'",
        "detected, classified, scoped, escalated, resolved, commands, ingest, notify");
}

Test(config, missing_file_is_an_error)
{
    config_t cfg;
    char err[512];
    cr_assert_eq(LOAD(&cfg, err, "--config", "/nonexistent/incidentd.conf"), -1);
    cr_assert(strstr(err, "/nonexistent/incidentd.conf"), "%s", err);
    config_destroy(&cfg);
}

/* ---- precedence ------------------------------------------------------------------ */

Test(config, precedence_defaults_file_env_flags)
{
    const char *path = conf_file("brokers = file:1\n"
                                 "batch.max = 10\n"
                                 "log.level = warn\n"
                                 "stages = scoped\n");
    config_t cfg;

    LOAD_OK(&cfg, "--config", path);
    cr_assert_str_eq(cfg.brokers, "file:1");
    cr_assert_eq(cfg.batch_max, 10);
    cr_assert_eq(cfg.batch_ms, 5); /* default untouched */
    config_destroy(&cfg);

    setenv("INCIDENTD_BROKERS", "env:1", 1);
    setenv("INCIDENTD_BATCH_MAX", "20", 1);
    setenv("INCIDENTD_LOG_LEVEL", "error", 1);
    LOAD_OK(&cfg, "--config", path);
    cr_assert_str_eq(cfg.brokers, "env:1");
    cr_assert_eq(cfg.batch_max, 20);
    cr_assert_str_eq(cfg.log_level, "error");
    cr_assert_eq(cfg.stage_mask, CONFIG_STAGE_SCOPED); /* file, env silent */
    config_destroy(&cfg);

    LOAD_OK(&cfg, "--config", path, "--brokers", "flag:1", "--set", "batch.max=30",
            "--log-level=debug");
    cr_assert_str_eq(cfg.brokers, "flag:1");
    cr_assert_eq(cfg.batch_max, 30);
    cr_assert_str_eq(cfg.log_level, "debug");
    config_destroy(&cfg);

    /* the last of repeated flags wins */
    LOAD_OK(&cfg, "--brokers", "a:1", "--brokers=b:2");
    cr_assert_str_eq(cfg.brokers, "b:2");
    config_destroy(&cfg);
}

Test(config, config_path_from_env_and_flag)
{
    const char *path = conf_file("topic_prefix = fromfile.\n");
    config_t cfg;
    setenv("INCIDENTD_CONFIG", path, 1);
    LOAD_OK(&cfg, "--http", ":9100");
    cr_assert_str_eq(cfg.topic_prefix, "fromfile.");
    cr_assert_str_eq(cfg.config_path, path);
    cr_assert_str_eq(cfg.http, ":9100");
    config_destroy(&cfg);

    /* --config wins over INCIDENTD_CONFIG */
    setenv("INCIDENTD_CONFIG", "/nonexistent/x.conf", 1);
    LOAD_OK(&cfg, "--config", path);
    cr_assert_str_eq(cfg.topic_prefix, "fromfile.");
    config_destroy(&cfg);

    /* --config= (empty) reads no file */
    LOAD_OK(&cfg, "--config=");
    cr_assert_str_eq(cfg.topic_prefix, "");
    config_destroy(&cfg);
}

Test(config, every_flag_and_env_name)
{
    config_t cfg;
    LOAD_OK(&cfg, "--brokers", "b:1", "--redis", "redis://r:1/3", "--stages", "resolved",
            "--topic-prefix", "t.", "--http", "0.0.0.0:9100", "--ingest-http", "[::1]:8080",
            "--log-level", "warn", "--log-format", "logfmt", "--kafka", "linger.ms=9",
            "--print-config");
    cr_assert_str_eq(cfg.brokers, "b:1");
    cr_assert_str_eq(cfg.redis, "redis://r:1/3");
    cr_assert_eq(cfg.stage_mask, CONFIG_STAGE_RESOLVED);
    cr_assert_str_eq(cfg.topic_prefix, "t.");
    cr_assert_str_eq(cfg.http, "0.0.0.0:9100");
    cr_assert_str_eq(cfg.ingest_http, "[::1]:8080");
    cr_assert_str_eq(cfg.log_level, "warn");
    cr_assert_str_eq(cfg.log_format, "logfmt");
    cr_assert_eq(cfg.n_kafka, 1);
    cr_assert_str_eq(cfg.kafka[0].key, "linger.ms");
    cr_assert_str_eq(cfg.kafka[0].value, "9");
    cr_assert_eq(cfg.print_config, 1);
    config_destroy(&cfg);

    setenv("INCIDENTD_REDIS", "redis://envhost", 1);
    setenv("INCIDENTD_STAGES", "detected,classified", 1);
    setenv("INCIDENTD_TOPIC_PREFIX", "e.", 1);
    setenv("INCIDENTD_HTTP", "127.0.0.1:1", 1);
    setenv("INCIDENTD_INGEST_HTTP", "127.0.0.1:2", 1);
    setenv("INCIDENTD_GROUP_PREFIX", "grp", 1);
    setenv("INCIDENTD_INSTANCE_ID", "pod-7", 1);
    setenv("INCIDENTD_BATCH_MS", "7", 1);
    setenv("INCIDENTD_TIMER_POLL", "2s", 1);
    setenv("INCIDENTD_RETENTION", "1d", 1);
    setenv("INCIDENTD_REDIS_USER", "u", 1);
    setenv("INCIDENTD_REDIS_PASSWORD", "pw", 1);
    setenv("INCIDENTD_LOG_FORMAT", "logfmt", 1);
    setenv("INCIDENTD_CLASSIFY_CRITICAL_SERVICES", "core", 1);
    setenv("INCIDENTD_ESCALATION_ACK_TIMEOUT", "5m", 1);
    setenv("INCIDENTD_KAFKA_STATISTICS_INTERVAL_MS", "1000", 1);
    LOAD_OK(&cfg, "--set", "escalation.max_level=2");
    cr_assert_str_eq(cfg.redis, "redis://envhost:6379/0");
    cr_assert_eq(cfg.stage_mask, CONFIG_STAGE_DETECTED | CONFIG_STAGE_CLASSIFIED);
    cr_assert_str_eq(cfg.topic_prefix, "e.");
    cr_assert_str_eq(cfg.http, "127.0.0.1:1");
    cr_assert_str_eq(cfg.ingest_http, "127.0.0.1:2");
    cr_assert_str_eq(cfg.group_prefix, "grp");
    cr_assert_str_eq(cfg.instance_id, "pod-7");
    cr_assert_eq(cfg.batch_ms, 7);
    cr_assert_eq(cfg.timer_poll_ms, 2000);
    cr_assert_eq(cfg.retention_ms, 86400000);
    cr_assert_str_eq(cfg.redis_user, "u");
    cr_assert_str_eq(cfg.redis_password, "pw");
    cr_assert_str_eq(cfg.log_format, "logfmt");
    cr_assert_eq(cfg.rules.n_critical_services, 1);
    cr_assert_eq(cfg.rules.ack_timeout_ms, 300000);
    cr_assert_eq(cfg.rules.max_escalation_level, 2);
    cr_assert_eq(cfg.n_kafka, 1);
    cr_assert_str_eq(cfg.kafka[0].key, "statistics.interval.ms");
    config_destroy(&cfg);
}

Test(config, kafka_env_names_map_underscores)
{
    config_t cfg;
    setenv("INCIDENTD_KAFKA_ENABLE_SASL_OAUTHBEARER_UNSECURE_JWT", "true", 1);
    LOAD_OK(&cfg, "--kafka", "socket.timeout.ms=30000");
    cr_assert_eq(cfg.n_kafka, 2);
    int seen = 0;
    for (size_t i = 0; i < cfg.n_kafka; i++)
        if (strcmp(cfg.kafka[i].key, "enable.sasl.oauthbearer.unsecure.jwt") == 0)
            seen = 1;
    cr_assert(seen);
    config_destroy(&cfg);

    char err[512];
    unsetenv("INCIDENTD_KAFKA_ENABLE_SASL_OAUTHBEARER_UNSECURE_JWT");
    setenv("INCIDENTD_KAFKA_SOME__THING", "1", 1);
    cr_assert_eq(LOAD0(&cfg, err), -1);
    cr_assert(strstr(err, "env INCIDENTD_KAFKA_SOME__THING: kafka.some_thing:"), "%s", err);
    config_destroy(&cfg);
}

Test(config, unknown_incidentd_env_names_are_rejected)
{
    config_t cfg;
    char err[512];
    setenv("INCIDENTD_REDIS_PASWORD", "S3CRET", 1); /* misspelt */
    cr_assert_eq(LOAD0(&cfg, err), -1, "a misspelt INCIDENTD_ variable was ignored");
    cr_assert(strstr(err, "env INCIDENTD_REDIS_PASWORD: unknown variable"), "%s", err);
    cr_assert(strstr(err, "did you mean INCIDENTD_REDIS_PASSWORD?"), "%s", err);
    cr_assert_null(strstr(err, "S3CRET"), "value echoed: %s", err);
    config_destroy(&cfg);
    unsetenv("INCIDENTD_REDIS_PASWORD");

    setenv("INCIDENTD_NO_SUCH_THING_AT_ALL", "1", 1);
    cr_assert_eq(LOAD0(&cfg, err), -1);
    cr_assert(strstr(err, "env INCIDENTD_NO_SUCH_THING_AT_ALL: unknown variable"), "%s", err);
    config_destroy(&cfg);
    unsetenv("INCIDENTD_NO_SUCH_THING_AT_ALL");

    /* A pattern key (roster.<role>.<service>) has no environment name. */
    setenv("INCIDENTD_ROSTER_TECHNICAL_MANAGER", "alice", 1);
    cr_assert_eq(LOAD0(&cfg, err), -1);
    config_destroy(&cfg);
    unsetenv("INCIDENTD_ROSTER_TECHNICAL_MANAGER");
}

Test(config, env_names_of_the_scripts_and_tests_are_accepted)
{
    static const char *const names[] = {"INCIDENTD_TEST_BROKERS",      "INCIDENTD_TEST_REDIS",
                                        "INCIDENTD_TEST_ANYTHING_NEW", "INCIDENTD_BIN",
                                        "INCIDENTD_SOURCE_DIR",        "INCIDENTD_TESTBED_ENV",
                                        "INCIDENTD_SKIP_DEPS",         "INCIDENTD_FUZZ_SECONDS",
                                        "INCIDENTD_KEEP_TESTBED",      "INCIDENTD_CACHE",
                                        "INCIDENTD_REDIS_PERSIST",     "INCIDENTD_CRASH_SEED",
                                        "INCIDENTD_CRASH_INCIDENTS",   "INCIDENTD_HA_SECONDS"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        setenv(names[i], "1", 1);
    config_t cfg;
    LOAD_OK(&cfg, "--brokers", "b:1");
    config_destroy(&cfg);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
}

Test(config, env_and_flag_errors_name_their_source)
{
    config_t cfg;
    char err[512];
    setenv("INCIDENTD_BATCH_MAX", "0", 1);
    cr_assert_eq(LOAD0(&cfg, err), -1);
    cr_assert(strstr(err, "env INCIDENTD_BATCH_MAX: batch.max: 0 is out of range"), "%s", err);
    config_destroy(&cfg);
    unsetenv("INCIDENTD_BATCH_MAX");

    cr_assert_eq(LOAD(&cfg, err, "--set", "escalation.ack_timeout=5x"), -1);
    cr_assert(strstr(err, "flag --set: escalation.ack_timeout: '5x' is not a duration"), "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--log-format", "xml"), -1);
    cr_assert(strstr(err, "flag --log-format: log.format: 'xml' is not one of json, logfmt"), "%s",
              err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--bogus"), -1);
    cr_assert(strstr(err, "unknown option '--bogus'"), "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--brokers"), -1);
    cr_assert(strstr(err, "'--brokers' needs a value"), "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--http", "--stages", "all"), -1);
    cr_assert(strstr(err, "'--http' needs a value"), "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--print-config=yes"), -1);
    cr_assert(strstr(err, "takes no value"), "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "extra"), -1);
    cr_assert(strstr(err, "unexpected argument 'extra'"), "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--set", "novalue"), -1);
    cr_assert(strstr(err, "flag --set: expected KEY=VALUE"), "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--set", "nope=1"), -1);
    cr_assert(strstr(err, "flag --set: unknown key 'nope'"), "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--set", "config=/x"), -1);
    cr_assert(strstr(err, "config: can only be given by --config"), "%s", err);
    config_destroy(&cfg);

    /* librdkafka's reason is kept when it does not hold the secret value */
    cr_assert_eq(LOAD(&cfg, err, "--kafka", "sasl.jaas.config=S3CRET"), -1);
    cr_assert(strstr(err, "flag --kafka: kafka.sasl.jaas.config: "), "%s", err);
    cr_assert_null(strstr(err, "S3CRET"), "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--kafka", "no.such.property=1"), -1);
    cr_assert(strstr(err, "flag --kafka: kafka.no.such.property: unknown librdkafka property"),
              "%s", err);
    config_destroy(&cfg);
}

Test(config, exit_modes_return_one)
{
    config_t cfg;
    char err[512];
    cr_redirect_stdout();
    cr_assert_eq(LOAD(&cfg, err, "--help"), 1);
    config_destroy(&cfg);
    cr_assert_eq(LOAD(&cfg, err, "-h"), 1);
    config_destroy(&cfg);
    cr_assert_eq(LOAD(&cfg, err, "--version"), 1);
    config_destroy(&cfg);
    cr_assert_eq(LOAD(&cfg, err, "--print-sample-config"), 1);
    config_destroy(&cfg);
    /* a broken config file does not get in the way of --help */
    cr_assert_eq(LOAD(&cfg, err, "--config", "/nonexistent", "--help"), 1);
    config_destroy(&cfg);
}

Test(config, help_is_generated_from_the_table)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_print_help(f);
    fclose(f);
    static const char *const want[] = {"Usage: incidentd [options]",
                                       "--brokers",
                                       "--redis",
                                       "--stages",
                                       "--config",
                                       "--topic-prefix",
                                       "--http",
                                       "--ingest-http",
                                       "--log-level",
                                       "--log-format",
                                       "--kafka PROP=VALUE",
                                       "--set KEY=VALUE",
                                       "--print-config",
                                       "--print-sample-config",
                                       "-h, --help",
                                       "--version",
                                       "INCIDENTD_BROKERS",
                                       "INCIDENTD_REDIS_PASSWORD",
                                       "INCIDENTD_ESCALATION_ACK_TIMEOUT",
                                       "escalation.ack_timeout = 30m",
                                       "classify.incident_min_severity = MAJOR",
                                       "roster.<role>.<service>",
                                       "guideline.<service>",
                                       "kafka.<property>",
                                       "retention = 7d"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert(strstr(buf, want[i]), "'%s' missing from --help", want[i]);
    free(buf);
}

/* ---- stages --------------------------------------------------------------------- */

Test(config, stages)
{
    config_t cfg;
    char err[512];
    LOAD_OK(&cfg, "--stages", " Detected , escalated,,");
    cr_assert_eq(cfg.stage_mask, CONFIG_STAGE_DETECTED | CONFIG_STAGE_ESCALATED);
    config_destroy(&cfg);

    LOAD_OK(&cfg, "--stages", "ALL");
    cr_assert_eq(cfg.stage_mask, CONFIG_STAGE_DETECTED | CONFIG_STAGE_CLASSIFIED |
                                     CONFIG_STAGE_SCOPED | CONFIG_STAGE_ESCALATED |
                                     CONFIG_STAGE_RESOLVED | STAGE_BIT_COMMANDS | STAGE_BIT_NOTIFY);
    config_destroy(&cfg);

    LOAD_OK(&cfg, "--stages", "all", "--ingest-http", ":8088");
    cr_assert_eq(cfg.stage_mask, CONFIG_STAGE_ALL & ~STAGE_BIT_API);
    config_destroy(&cfg);

    LOAD_OK(&cfg, "--stages", "all", "--ingest-http", ":8088", "--api", "127.0.0.1:8089");
    cr_assert_eq(cfg.stage_mask, CONFIG_STAGE_ALL);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--stages", "detected,api"), -1);
    cr_assert(strstr(err, "'api' needs api"), "%s", err);
    config_destroy(&cfg);

    LOAD_OK(&cfg, "--stages", "ingest", "--ingest-http", "127.0.0.1:8088");
    cr_assert_eq(cfg.stage_mask, CONFIG_STAGE_INGEST);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--stages", "ingest"), -1);
    cr_assert(strstr(err, "ingest_http"), "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--stages", "detected,closed"), -1);
    cr_assert(strstr(err, "unknown stage 'closed' (valid: all, detected, classified, scoped, "
                          "escalated, resolved, commands, ingest, notify, api)"),
              "%s", err);
    config_destroy(&cfg);

    cr_assert_eq(LOAD(&cfg, err, "--stages", " , "), -1);
    cr_assert(strstr(err, "no stage given"), "%s", err);
    config_destroy(&cfg);

    cr_assert_str_eq(config_stage_name(CONFIG_STAGE_DETECTED), "detected");
    cr_assert_str_eq(config_stage_name(CONFIG_STAGE_CLASSIFIED), "classified");
    cr_assert_str_eq(config_stage_name(CONFIG_STAGE_SCOPED), "scoped");
    cr_assert_str_eq(config_stage_name(CONFIG_STAGE_ESCALATED), "escalated");
    cr_assert_str_eq(config_stage_name(CONFIG_STAGE_RESOLVED), "resolved");
    cr_assert_str_eq(config_stage_name(CONFIG_STAGE_INGEST), "ingest");
    cr_assert_str_eq(config_stage_name(CONFIG_STAGE_ALL), "unknown");
}

/* ---- small parsers ------------------------------------------------------------------ */

Test(config, durations)
{
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"0", 0},        {"250", 250},      {"500ms", 500},     {"10s", 10000},   {"30m", 1800000},
        {"1h", 3600000}, {"7d", 604800000}, {"1h30m", 5400000}, {"1m30s", 90000}, {"2s500ms", 2500},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t v = -1;
        cr_assert_eq(config_parse_duration_ms(ok[i].s, &v), 0, "%s", ok[i].s);
        cr_assert_eq(v, ok[i].ms, "%s -> %lld", ok[i].s, (long long)v);
    }
    static const char *const bad[] = {"",
                                      "5x",
                                      "-1s",
                                      "1.5h",
                                      "h",
                                      "10 s",
                                      "1h30",
                                      "s10",
                                      "99999999999999999999",
                                      "106751991167301d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 42;
        cr_assert_eq(config_parse_duration_ms(bad[i], &v), -1, "'%s' accepted", bad[i]);
        cr_assert_eq(v, 42);
    }
    int64_t v;
    cr_assert_eq(config_parse_duration_ms(NULL, &v), -1);
}

Test(config, topics_replication)
{
    config_t cfg;
    char err[512];
    LOAD_OK(&cfg, "--brokers", "b:1");
    cr_expect_eq(cfg.topic_replication, -1, "default: the broker's default.replication.factor");
    config_destroy(&cfg);
    LOAD_OK(&cfg, "--config", conf_file("topics.replication = 3\n"));
    cr_expect_eq(cfg.topic_replication, 3);
    config_destroy(&cfg);
    setenv("INCIDENTD_TOPICS_REPLICATION", "2", 1);
    LOAD_OK(&cfg, "--brokers", "b:1");
    cr_expect_eq(cfg.topic_replication, 2, "from the environment");
    config_destroy(&cfg);
    LOAD_OK(&cfg, "--set", "topics.replication=-1");
    cr_expect_eq(cfg.topic_replication, -1, "a flag wins over the environment");
    config_destroy(&cfg);
    unsetenv("INCIDENTD_TOPICS_REPLICATION");
    expect_file_error("topics.replication = 0\n", "topics.replication", "not a replication factor");
    expect_file_error("topics.replication = -2\n", "topics.replication", "out of range");
    expect_file_error("topics.replication = 32768\n", "topics.replication", "out of range");
    expect_file_error("topics.replication = three\n", "topics.replication", "not an integer");
    cr_expect_eq(LOAD(&cfg, err, "--set", "topics.replication=0"), -1);
    cr_expect(strstr(err, "topics.replication"), "%s", err);
    config_destroy(&cfg);
    /* documented in --help with the broker's default */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    config_print_help(f);
    fclose(f);
    cr_expect(strstr(buf, "topics.replication"), "in --help");
    cr_expect(strstr(buf, "the broker's default"), "--help names the default");
    free(buf);
}

Test(config, hostport)
{
    char host[64];
    int port;
    cr_assert_eq(config_parse_hostport("127.0.0.1:9100", host, sizeof(host), &port), 0);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 9100);
    cr_assert_eq(config_parse_hostport(":80", host, sizeof(host), &port), 0);
    cr_assert_str_eq(host, "");
    cr_assert_eq(port, 80);
    cr_assert_eq(config_parse_hostport("[::1]:0", host, sizeof(host), &port), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 0);
    static const char *const bad[] = {"host",    "host:", "host:65536", "::1:80",
                                      "[::1]80", "h:8x",  "a b:1",      "host:123456"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(config_parse_hostport(bad[i], host, sizeof(host), &port), -1, "%s", bad[i]);
    cr_assert_eq(config_parse_hostport("averyveryverylonghostname:1", host, 8, &port), -1);
}

/* ---- redis --------------------------------------------------------------------------- */

Test(config, redis_url_credentials_move_out_of_the_url)
{
    config_t cfg;
    LOAD_OK(&cfg, "--redis", "redis://bob:p%40ss/w@cache.local:6380/2");
    cr_assert_str_eq(cfg.redis, "redis://cache.local:6380/2");
    cr_assert_str_eq(cfg.redis_host, "cache.local");
    cr_assert_eq(cfg.redis_port, 6380);
    cr_assert_eq(cfg.redis_db, 2);
    cr_assert_str_eq(cfg.redis_user, "bob");
    cr_assert_str_eq(cfg.redis_password, "p@ss/w");
    config_destroy(&cfg);

    LOAD_OK(&cfg, "--redis", "redis://:only@[::1]");
    cr_assert_str_eq(cfg.redis, "redis://[::1]:6379/0");
    cr_assert_str_eq(cfg.redis_host, "::1");
    cr_assert_str_eq(cfg.redis_user, "");
    cr_assert_str_eq(cfg.redis_password, "only");
    config_destroy(&cfg);

    /* an explicit password later in the same layer wins over the URL's */
    setenv("INCIDENTD_REDIS", "redis://:fromurl@h", 1);
    setenv("INCIDENTD_REDIS_PASSWORD", "explicit", 1);
    LOAD_OK(&cfg, "--log-level", "info");
    cr_assert_str_eq(cfg.redis_password, "explicit");
    config_destroy(&cfg);
    /* and a flag URL's password wins over the environment */
    LOAD_OK(&cfg, "--redis", "redis://:flagpw@h");
    cr_assert_str_eq(cfg.redis_password, "flagpw");
    config_destroy(&cfg);
}

Test(config, bad_redis_urls_do_not_echo_passwords)
{
    static const char *const bad[] = {
        "http://h:1/0", "redis://", "redis://h:0/0", "redis://h:port/0", "redis://h:1/x",
        "redis://::1/0", "redis://u:sekret@/0", "redis://u:sekret%zz@h/0",
        /* found by fuzz_config: a host without a port was taken as it was */
        "redis://[g.level = warn", "redis://a b", "redis://h]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        config_t cfg;
        char err[512];
        cr_assert_eq(LOAD(&cfg, err, "--redis", bad[i]), -1, "%s accepted", bad[i]);
        cr_assert(strstr(err, "flag --redis: redis:"), "%s", err);
        cr_assert_null(strstr(err, "sekret"), "password leaked: %s", err);
        config_destroy(&cfg);
    }
}

/* ---- secrets ---------------------------------------------------------------------------- */

Test(config, print_masks_secrets)
{
    config_t cfg;
    setenv("INCIDENTD_REDIS_PASSWORD", "S3CRET-redis", 1);
    setenv("INCIDENTD_KAFKA_SASL_PASSWORD", "S3CRET-sasl", 1);
    LOAD_OK(&cfg, "--kafka", "sasl.username=svc", "--kafka", "ssl.key.password=S3CRET-key",
            "--kafka", "sasl.oauthbearer.config=principal=S3CRET-oauth", "--kafka",
            "ssl.keystore.password=S3CRET-ks", "--kafka", "ssl.key.pem=S3CRET-pem", "--kafka",
            "linger.ms=5");
    char *out = print_to_string(&cfg);
    cr_assert_null(strstr(out, "S3CRET"), "secret printed:\n%s", out);
    cr_assert(strstr(out, "redis.password = ***\n"), "%s", out);
    cr_assert(strstr(out, "kafka.sasl.password = ***\n"), "%s", out);
    cr_assert(strstr(out, "kafka.ssl.key.password = ***\n"), "%s", out);
    cr_assert(strstr(out, "kafka.sasl.username = svc\n"), "%s", out);
    cr_assert(strstr(out, "kafka.linger.ms = 5\n"), "%s", out);
    free(out);
    config_destroy(&cfg);

    /* a password given inside the redis URL is not printed either */
    unsetenv("INCIDENTD_REDIS_PASSWORD");
    LOAD_OK(&cfg, "--redis", "redis://u:S3CRET-url@h:1/0");
    out = print_to_string(&cfg);
    cr_assert_null(strstr(out, "S3CRET"), "secret printed:\n%s", out);
    cr_assert(strstr(out, "redis = redis://h:1/0\n"), "%s", out);
    cr_assert(strstr(out, "redis.user = u\n"), "%s", out);
    free(out);
    config_destroy(&cfg);
}

Test(config, print_output_loads_back_the_same)
{
    const char *path = conf_file("brokers = k:1\n"
                                 "stages = detected, resolved\n"
                                 "instance_id = \" spaced \"\n"
                                 "classify.critical_services = a, b\n"
                                 "classify.reclassify_window = 90s\n"
                                 "handling.level2_stakeholders = x\n"
                                 "roster.technical_manager.default = alice\n"
                                 "roster.customer_service_manager.db = \"dana \\\"d\\\"\"\n"
                                 "guideline.default = \"line1\\nline2\"\n"
                                 "kafka.linger.ms = 3\n"
                                 "maintenance.n.matchers = {\"service\": \"db\"}\n"
                                 "maintenance.n.every = daily\n"
                                 "maintenance.n.at = 02:00\n"
                                 "maintenance.n.for = 1h\n"
                                 "maintenance.n.tz = +01:00\n"
                                 "rotation.r.members = a, b\n"
                                 "rotation.r.every = 1d\n"
                                 "rotation.r.start = 2026-01-05T09:00Z\n");
    config_t a, b;
    LOAD_OK(&a, "--config", path);
    char *out1 = print_to_string(&a);
    const char *path2 = conf_file(out1);
    LOAD_OK(&b, "--config", path2);
    char *out2 = print_to_string(&b);
    /* only the "# config:" comment differs */
    const char *c1 = strstr(out1, "# config:"), *c2 = strstr(out2, "# config:");
    cr_assert(c1 && c2);
    cr_assert_eq(c1 - out1, c2 - out2);
    cr_assert_str_eq(strchr(c1, '\n'), strchr(c2, '\n'));
    cr_assert_eq(memcmp(out1, out2, (size_t)(c1 - out1)), 0);
    free(out1);
    free(out2);
    config_destroy(&a);
    config_destroy(&b);
}

/* ---- the sample ----------------------------------------------------------------------- */

static char *sample_text(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_print_sample(f);
    fclose(f);
    return buf;
}

Test(config, sample_loads_as_is_and_uncommented)
{
    char *sample = sample_text();
    config_t cfg;
    LOAD_OK(&cfg, "--config", conf_file(sample));
    config_destroy(&cfg);

    /* uncomment every "#key = value" line: the defaults and examples load */
    size_t n = strlen(sample);
    char *un = malloc(n + 1);
    size_t j = 0, settings = 0;
    for (size_t i = 0; i < n; i++) {
        int bol = i == 0 || sample[i - 1] == '\n';
        if (bol && sample[i] == '#' && i + 1 < n && sample[i + 1] >= 'a' && sample[i + 1] <= 'z') {
            settings++;
            continue;
        }
        un[j++] = sample[i];
    }
    un[j] = '\0';
    cr_assert_gt(settings, 30);
    LOAD_OK(&cfg, "--config", conf_file(un));

    config_t def;
    char err[512];
    cr_assert_eq(LOAD0(&def, err), 0, "%s", err);
    /* every plain setting equals its default: compare the printed forms
     * without the roster, guideline and kafka examples */
    char *p1 = print_to_string(&cfg), *p2 = print_to_string(&def);
    char *lines1 = p1, *save1 = NULL;
    for (char *l = strtok_r(lines1, "\n", &save1); l; l = strtok_r(NULL, "\n", &save1)) {
        if (l[0] == '#' || strncmp(l, "roster.", 7) == 0 || strncmp(l, "guideline.", 10) == 0 ||
            strncmp(l, "kafka.", 6) == 0 || strncmp(l, "people.", 7) == 0 ||
            strncmp(l, "clients.", 8) == 0 || strncmp(l, "maintenance.", 12) == 0 ||
            strncmp(l, "rotation.", 9) == 0)
            continue;
        cr_assert(strstr(p2, l), "'%s' differs from the default", l);
    }
    cr_assert_eq(cfg.rules.n_roster, 3);
    cr_assert_eq(cfg.rules.n_guidelines, 2);
    cr_assert_eq(cfg.n_kafka, 3);
    cr_assert_eq(cfg.rules.n_maintenance, 1);
    cr_assert_eq(cfg.rules.n_rotations, 1);
    free(p1);
    free(p2);
    config_destroy(&def);
    config_destroy(&cfg);
    free(un);
    free(sample);
}

Test(config, committed_sample_is_up_to_date)
{
    /* __FILE__ is .../tests/unit/test_config.c */
    static const char self[] = __FILE__;
    char path[1024];
    const char *suffix = "tests/unit/test_config.c";
    size_t fl = strlen(self), sl = strlen(suffix);
    if (fl < sl || strcmp(&self[fl - sl], suffix) != 0)
        cr_skip_test("source path unknown");
    snprintf(path, sizeof(path), "%.*sdeploy/incidentd.conf", (int)(fl - sl), self);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s missing", path);
    char *text = NULL;
    size_t cap = 0;
    ssize_t len = getdelim(&text, &cap, '\0', f);
    fclose(f);
    cr_assert_geq(len, 0);
    char *sample = sample_text();
    cr_assert_str_eq(text, sample,
                     "deploy/incidentd.conf is stale: regenerate it with "
                     "`incidentd --print-sample-config > deploy/incidentd.conf`");
    free(sample);
    free(text);
}

/* ---- silences, maintenance windows, rotations ------------------------------------------ */

Test(config, silences_windows_and_rotations)
{
    config_t cfg;
    const char *path = conf_file("silences.max_duration = 2d\n"
                                 "silences.max_active = 5\n"
                                 "overrides.max_active = 7\n"
                                 "maintenance.db-weekly.matchers = {\"service\": \"db\", "
                                 "\"labels\": {\"env\": \"prod\"}}\n"
                                 "maintenance.db-weekly.every = weekly\n"
                                 "maintenance.db-weekly.at = Sun 02:30\n"
                                 "maintenance.db-weekly.for = 2h\n"
                                 "maintenance.db-weekly.tz = -05:00\n"
                                 "rotation.tm.members = alice, bob ,carol\n"
                                 "rotation.tm.every = 7d\n"
                                 "rotation.tm.start = 2026-01-05T09:00+01:00\n"
                                 "roster.technical_manager.default = @tm\n");
    LOAD_OK(&cfg, "--config", path);
    cr_assert_eq(cfg.rules.silence_max_ms, 2 * 86400000LL);
    cr_assert_eq(cfg.silences_max_active, 5);
    cr_assert_eq(cfg.overrides_max_active, 7);
    cr_assert_eq(cfg.rules.n_maintenance, 1);
    const hd_maintenance_t *w = &cfg.rules.maintenance[0];
    cr_assert_str_eq(w->name, "db-weekly");
    cr_assert_str_eq(w->matchers->service, "db");
    cr_assert_eq(w->matchers->n_labels, 1);
    cr_assert_eq(w->weekly, 1);
    cr_assert_eq(w->weekday, 6);
    cr_assert_eq(w->at_min, 150);
    cr_assert_eq(w->for_ms, 7200000);
    cr_assert_eq(w->tz_min, -300);
    cr_assert_eq(cfg.rules.n_rotations, 1);
    const hd_rotation_t *r = &cfg.rules.rotations[0];
    cr_assert_eq(r->n_members, 3);
    cr_assert_str_eq(r->members[1], "bob");
    cr_assert_eq(r->every_ms, 7 * 86400000LL);
    cr_assert_eq(r->start_ms, 1767600000000LL); /* 2026-01-05T08:00Z */
    config_destroy(&cfg);
}

/* Loads @p text; expects an error containing both strings (the checks of
 * a whole window or rotation run after every source: no line to name). */
static void expect_error(const char *text, const char *want1, const char *want2)
{
    config_t cfg;
    char err[512];
    cr_assert_eq(LOAD(&cfg, err, "--config", conf_file(text)), -1, "expected an error for:\n%s",
                 text);
    cr_assert(strstr(err, want1), "'%s' not in: %s", want1, err);
    if (want2)
        cr_assert(strstr(err, want2), "'%s' not in: %s", want2, err);
    config_destroy(&cfg);
}

Test(config, silence_settings_errors_name_the_key)
{
    const char *w = "maintenance.w.matchers = {\"service\": \"db\"}\n"
                    "maintenance.w.every = daily\nmaintenance.w.at = 02:00\n"
                    "maintenance.w.for = 1h\n";
    char text[1024];
    expect_error(w, "maintenance.w.tz: required", "UTC offset");
    snprintf(text, sizeof(text), "%smaintenance.w.tz = Europe/Paris\n", w);
    expect_error(text, "maintenance.w.tz", "zone names");
    snprintf(text, sizeof(text), "%smaintenance.w.tz = UTC\nmaintenance.w.for = 25h\n", w);
    expect_error(text, "maintenance.w.for", "1d");
    expect_error("maintenance.w.matchers = {}\nmaintenance.w.every = daily\n"
                 "maintenance.w.at = 02:00\nmaintenance.w.for = 1h\nmaintenance.w.tz = UTC\n",
                 "maintenance.w.matchers", "at least one");
    expect_error("maintenance.w.color = red\n", "unknown field 'color'", NULL);
    expect_error("rotation.r.members = a\nrotation.r.every = 1d\n", "rotation.r.start", "required");
    expect_error("rotation.r.members = a\nrotation.r.every = 1d\n"
                 "rotation.r.start = 2026-01-05T09:00\n",
                 "rotation.r.start", "offset");
    expect_error("roster.technical_manager.default = @nobody\n", "@nobody", "names no rotation");
    expect_error("silences.max_duration = 10s\n", "silences.max_duration", "out of range");
    expect_error("silences.max_active = 0\n", "silences.max_active", "out of range");
    expect_error("overrides.max_active = 100001\n", "overrides.max_active", "out of range");
}

Test(config, redis_high_availability)
{
    config_t cfg;
    char err[512];
    cr_assert_eq(LOAD0(&cfg, err), 0, "%s", err);
    cr_assert_str_eq(cfg.redis_sentinels, "");
    cr_assert_eq(cfg.redis_min_replicas, 0);
    cr_assert_eq(cfg.redis_wait_timeout_ms, 1000);
    config_destroy(&cfg);
    LOAD_OK(&cfg, "--set", "redis.sentinels=127.0.0.1:26379,[::1]:26380", "--set",
            "redis.master_name=incidentd", "--set", "redis.min_replicas=1", "--set",
            "redis.wait_timeout=250ms", "--set", "redis.sentinel_password=sentinel-secret");
    cr_assert_str_eq(cfg.redis_master_name, "incidentd");
    cr_assert_eq(cfg.redis_min_replicas, 1);
    cr_assert_eq(cfg.redis_wait_timeout_ms, 250);
    config_destroy(&cfg);
    cr_assert_eq(LOAD(&cfg, err, "--set", "redis.sentinels=127.0.0.1:26379"), -1);
    cr_assert(strstr(err, "redis.sentinels needs redis.master_name"), "%s", err);
    config_destroy(&cfg);
    cr_assert_eq(
        LOAD(&cfg, err, "--set", "redis.sentinels=::1:26379", "--set", "redis.master_name=m"), -1);
    cr_assert(strstr(err, "redis.sentinels"), "%s", err);
    config_destroy(&cfg);
    cr_assert_eq(LOAD(&cfg, err, "--set", "redis.min_replicas=-1"), -1);
    config_destroy(&cfg);
}
