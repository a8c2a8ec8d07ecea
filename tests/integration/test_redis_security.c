/*
 * test_redis_security.c — Redis with an ACL user, and over TLS: a
 * redis-server whose default user is off and whose one user is "incidentd"
 * (deploy/redis.sh start with REDIS_ACL_USER / REDIS_ACL_PASSWORD; with
 * REDIS_TLS=1 it listens for TLS only, its certificate from a CA the script
 * makes with openssl), on the test bed's broker.
 *
 *  - incidentd runs the pipeline as that user (redis.user,
 *    redis.password): an alert goes through to its escalation, its chain
 *    verifies;
 *  - a wrong password stops nothing but is said clearly: incidentd and
 *    incidentctl name the user and Redis's WRONGPASS, never the password;
 *  - over rediss:// with redis.tls_ca, as the ACL user, an alert goes
 *    through; without the CA, the server's certificate is refused and the
 *    log says why.
 *
 * Owned by the tests; @locality: the test's thread.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

#define ACL_USER "incidentd"
#define ACL_PASSWORD "acl-Pa55word-of-incidentd"

static char acl_dir[300];

/* Starts the ACL-protected Redis (with TLS when @p tls) with
 * deploy/redis.sh; its URL becomes the test bed's (tu_redis()) for this
 * test's process. */
static void sec_redis_start(int tls)
{
    const char *src = getenv("INCIDENTD_SOURCE_DIR");
    cr_assert_not_null(src, "INCIDENTD_SOURCE_DIR");
    snprintf(acl_dir, sizeof(acl_dir), "/tmp/%s", tu_unique("acl-redis"));
    char cmd[1200], url[200] = "";
    snprintf(cmd, sizeof(cmd),
             "REDIS_TLS=%d REDIS_ACL_USER=%s REDIS_ACL_PASSWORD=%s %s/deploy/redis.sh start %s "
             "2>%s.log",
             tls, ACL_USER, ACL_PASSWORD, src, acl_dir, acl_dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    while (fgets(url, sizeof(url), p))
        ;
    cr_assert_eq(pclose(p), 0, "redis-server with an ACL user started (%s.log)", acl_dir);
    url[strcspn(url, "\r\n")] = '\0';
    setenv("INCIDENTD_TEST_REDIS", url, 1);
}

static void acl_redis_start(void) { sec_redis_start(0); }
static void tls_redis_start(void) { sec_redis_start(1); }

static void acl_redis_stop(void)
{
    char cmd[1000];
    snprintf(cmd, sizeof(cmd), "%s/deploy/redis.sh stop %s 2>>%s.log; rm -rf %s/data",
             getenv("INCIDENTD_SOURCE_DIR"), acl_dir, acl_dir, acl_dir);
    cr_expect_eq(system(cmd), 0);
}

static int file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int found = 0;
    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

TestSuite(redis_security, .init = acl_redis_start, .fini = acl_redis_stop);

/* Publishes one critical alert on @p p and expects it escalated with a
 * chain that verifies (and, when @p stages, detected and classified). */
static void one_alert_escalates(const e2e_t *p, const char *tag, int stages)
{
    char key[200], id[64];
    snprintf(key, sizeof(key), "%s%s", p->prefix, tag);
    snprintf(id, sizeof(id), "%s-alert", tag);
    Incident__V1__Alert a = e2e_alert(tu_unique(id), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    e2e_publish(p, &a);
    tu_consumer_t *c = e2e_audit_consumer(p);
    e2e_trail_t t = {0};
    cr_expect(e2e_trail_wait(c, &t, key, "escalated", E2E_WAIT_MS), "the alert escalated");
    tu_consumer_destroy(c);
    if (stages)
        cr_expect(e2e_trail_has(&t, "detected") && e2e_trail_has(&t, "classified"));
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
}

Test(redis_security, pipeline_runs_as_an_acl_user, .timeout = 300)
{
    e2e_t p;
    static const char *const sets[] = {"redis.user=" ACL_USER, "redis.password=" ACL_PASSWORD,
                                       NULL};
    e2e_start(&p, sets);
    one_alert_escalates(&p, "acl", 1);
    e2e_stop(&p);
    cr_expect(!file_has(p.log, ACL_PASSWORD), "the password never appears in the log (%s)", p.log);
}

Test(redis_security, a_wrong_password_is_said_clearly, .timeout = 120)
{
    e2e_t p;
    static const char *const sets[] = {"redis.user=" ACL_USER, "redis.password=not-" ACL_PASSWORD,
                                       NULL};
    e2e_start(&p, sets);
    int64_t deadline = tu_now_ms() + 20000;
    while (tu_now_ms() < deadline && !file_has(p.log, "WRONGPASS"))
        usleep(200 * 1000);
    e2e_stop(&p);
    cr_expect(file_has(p.log, "redis AUTH failed for user " ACL_USER ": WRONGPASS"),
              "incidentd names the user and Redis's reason (%s)", p.log);
    cr_expect(!file_has(p.log, ACL_PASSWORD), "the password never appears in the log");

    /* incidentctl: exit 2 and the same words. */
    char url[300], out[300], err[300];
    snprintf(url, sizeof(url), "redis://%s:not-%s@%s", ACL_USER, ACL_PASSWORD,
             strstr(tu_redis(), "://") + 3);
    snprintf(out, sizeof(out), "/tmp/%sctl.out", p.prefix);
    snprintf(err, sizeof(err), "/tmp/%sctl.err", p.prefix);
    const char *argv[] = {
        tu_bin("incidentctl"), "--redis", url, "--topic-prefix", p.prefix, "list", NULL};
    cr_expect_eq(tu_run(argv, out, err, 60000), 2, "incidentctl list exits 2");
    cr_expect(file_has(err, "AUTH failed for user " ACL_USER ": WRONGPASS"), "(%s)", err);
    cr_expect(!file_has(err, ACL_PASSWORD), "the password never appears (%s)", err);
}

TestSuite(redis_tls, .init = tls_redis_start, .fini = acl_redis_stop);

Test(redis_tls, pipeline_runs_over_tls_as_an_acl_user, .timeout = 300)
{
    cr_assert(strncmp(tu_redis(), "rediss://", 9) == 0, "%s", tu_redis());
    char ca[400];
    snprintf(ca, sizeof(ca), "redis.tls_ca=%s/tls/ca.crt", acl_dir);
    const char *const sets[] = {"redis.user=" ACL_USER, "redis.password=" ACL_PASSWORD, ca, NULL};
    e2e_t p;
    e2e_start(&p, sets);
    one_alert_escalates(&p, "tls", 0);
    e2e_stop(&p);
}

Test(redis_tls, an_untrusted_certificate_is_refused, .timeout = 120)
{
    static const char *const sets[] = {"redis.user=" ACL_USER, "redis.password=" ACL_PASSWORD,
                                       NULL};
    e2e_t p;
    e2e_start(&p, sets);
    int64_t deadline = tu_now_ms() + 20000;
    while (tu_now_ms() < deadline && !file_has(p.log, "TLS handshake"))
        usleep(200 * 1000);
    e2e_stop(&p);
    cr_expect(file_has(p.log, "TLS handshake with redis 127.0.0.1 failed"),
              "the refusal is said (%s)", p.log);
    cr_expect(!file_has(p.log, "stage worker running"), "no worker ran on it (%s)", p.log);
}
