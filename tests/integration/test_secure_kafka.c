/*
 * test_secure_kafka.c — Kafka over SASL_SSL: the real broker of the
 * "securetestbed" fixture (deploy/testbed.sh up DIR sasl_ssl) accepts clients
 * only on a TLS listener with SCRAM-SHA-256 authentication (its certificate
 * signed by a test CA made with openssl). incidentd is configured the way an
 * operator would: kafka.security.protocol, kafka.sasl.mechanisms,
 * kafka.sasl.username and kafka.ssl.ca.location in its configuration file,
 * the password in INCIDENTD_KAFKA_SASL_PASSWORD. An alert goes through every
 * stage to `closed` and incidentctl verifies the chain over the same
 * listener; with a wrong password /readyz stays 503 and the log says the
 * authentication failed (without the password), instead of a silent hang.
 *
 * Owned by the tests (label "security").
 *
 * @locality the test's one thread (Criterion runs each test in a process)
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "http_client.h"
#include "testutil.h"

#define SEC_READY_MS 60000

/* Writes incidentd's configuration file of the secured broker (no secret in
 * it) to @p path, and the environment that gives the password. */
static void sec_config(const e2e_t *p, char *path, size_t size, const char *password,
                       char env[2][600])
{
    const char *user = tu_testbed("INCIDENTD_TEST_KAFKA_SASL_USERNAME");
    const char *ca = tu_testbed("INCIDENTD_TEST_KAFKA_SSL_CA_LOCATION");
    cr_assert(user && ca && password,
              "not a SASL_SSL test bed: run through ctest -L security (fixture securetestbed)");
    snprintf(path, size, "/tmp/%sincidentd.conf", p->prefix);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "# the SASL_SSL test broker\n"
            "kafka.security.protocol = sasl_ssl\n"
            "kafka.sasl.mechanisms = SCRAM-SHA-256\n"
            "kafka.sasl.username = %s\n"
            "kafka.ssl.ca.location = %s\n",
            user, ca);
    fclose(f);
    snprintf(env[0], sizeof(env[0]), "INCIDENTD_CONFIG=%s", path);
    snprintf(env[1], sizeof(env[1]), "INCIDENTD_KAFKA_SASL_PASSWORD=%s", password);
}

/* Polls /readyz until it is 200 or @p ms passed; returns the last status
 * (0: no answer). Every answer must come (no hung probe) and be 200 or 503. */
static int sec_readyz(int port, int ms, int want)
{
    int64_t deadline = tu_now_ms() + ms;
    int status = 0;
    do {
        char *body = NULL;
        status = tu_http_get(port, "/readyz", &body);
        cr_assert(status == 200 || status == 503 || status == 0, "/readyz: %d %s", status,
                  body ? body : "");
        free(body);
        if (status == want)
            break;
        usleep(300 * 1000);
    } while (tu_now_ms() < deadline);
    return status;
}

static char *sec_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

Test(secure_kafka, an_alert_goes_through_every_stage_over_sasl_ssl, .timeout = 300)
{
    e2e_t p;
    e2e_prepare(&p);
    char conf[300], env[2][600];
    sec_config(&p, conf, sizeof(conf), tu_testbed("INCIDENTD_TEST_KAFKA_SASL_PASSWORD"), env);
    const char *const penv[] = {env[0], env[1], NULL};
    p.env = penv;
    int port = tu_free_port();
    char http[64];
    snprintf(http, sizeof(http), "http=127.0.0.1:%d", port);
    const char *const sets[] = {http, NULL};
    e2e_spawn(&p, "all", sets);
    cr_assert_eq(sec_readyz(port, SEC_READY_MS, 200), 200, "/readyz 200 over SASL_SSL (log %s)",
                 p.log);

    /* the tests' own clients use the bed's SASL_SSL settings too */
    char key[192], aid[192];
    snprintf(key, sizeof(key), "%ssecure", p.prefix);
    snprintf(aid, sizeof(aid), "%sa1", p.prefix);
    Incident__V1__Alert a = e2e_alert(aid, key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    e2e_publish(&p, &a);
    tu_consumer_t *c = e2e_audit_consumer(&p);
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(c, &t, key, "escalated", E2E_WAIT_MS), "escalated (log %s)", p.log);
    snprintf(aid, sizeof(aid), "%sa2", p.prefix);
    a = e2e_alert(aid, key, INCIDENT__V1__ACTION__ACTION_RESOLVE, 0);
    e2e_publish(&p, &a);
    cr_assert(e2e_trail_wait(c, &t, key, "closed", E2E_WAIT_MS), "closed (log %s)", p.log);
    static const char *const steps[] = {"detected",  "classified", "scoped",
                                        "escalated", "resolved",   "closed"};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        cr_expect(e2e_trail_has(&t, steps[i]), "audit action %s", steps[i]);
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    tu_consumer_destroy(c);
    e2e_stop(&p);

    /* incidentctl over the same listener: the file's kafka.*, the password
     * from the environment */
    setenv("INCIDENTD_KAFKA_SASL_PASSWORD", tu_testbed("INCIDENTD_TEST_KAFKA_SASL_PASSWORD"), 1);
    char out[4096];
    int rc = e2e_ctl(&p, (const char *const[]){"--config", conf, "verify", NULL}, out, sizeof(out),
                     120000);
    cr_expect_eq(rc, 0, "incidentctl verify over SASL_SSL: %s", out);
    unsetenv("INCIDENTD_KAFKA_SASL_PASSWORD");
    unlink(conf);
}

Test(secure_kafka, a_wrong_password_is_an_authentication_error_not_a_hang, .timeout = 300)
{
    e2e_t p;
    e2e_prepare(&p);
    static const char wrong[] = "not-the-password-9f3a";
    char conf[300], env[2][600];
    sec_config(&p, conf, sizeof(conf), wrong, env);
    const char *const penv[] = {env[0], env[1], NULL};
    p.env = penv;
    int port = tu_free_port();
    char http[64];
    snprintf(http, sizeof(http), "http=127.0.0.1:%d", port);
    const char *const sets[] = {http, NULL};
    pid_t pid = e2e_spawn(&p, "all", sets);

    /* /readyz answers, and never 200, while the log names the failure */
    int64_t deadline = tu_now_ms() + 30000;
    int said = 0, answers = 0;
    while (tu_now_ms() < deadline && !(said && answers >= 3)) {
        int status = sec_readyz(port, 1, 200);
        cr_assert_neq(status, 200, "/readyz 200 with a wrong password");
        answers += status == 503;
        char *log = sec_slurp(p.log);
        said = strstr(log, "Authentication failed") != NULL;
        cr_assert_null(strstr(log, wrong), "the password is in the log %s", p.log);
        free(log);
        usleep(500 * 1000);
    }
    cr_expect(answers >= 3, "/readyz answered 503 (log %s)", p.log);
    cr_expect(said, "the log says the authentication failed (log %s)", p.log);
    /* it stops on SIGTERM even while it cannot reach Kafka */
    int rc = e2e_kill(&p, pid, SIGTERM, 90000);
    cr_expect(rc == 0 || rc == 1, "incidentd ended on SIGTERM (status %d, log %s)", rc, p.log);
    unlink(conf);
}
