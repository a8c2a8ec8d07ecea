/*
 * test_input.c — hostile input end to end, on the test bed's real Kafka
 * and Redis: a NUL inside a protobuf string is dead-lettered naming the
 * field (not cut into another alert's id); a worker reaches Redis through
 * an IPv6 URL, redis://[::1]:PORT/0; an unknown INCIDENTD_ variable stops
 * incidentd with exit 2.
 */
#include <criterion/criterion.h>

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "incident/v1/incident.pb-c.h"
#include "testutil.h"

#define WAIT_MS 60000

/* Starts incidentd with all stages on @p redis_url under @p prefix. */
static pid_t spawn(const char *prefix, const char *redis_url, const char *log,
                   const char *const *env)
{
    const char *argv[] = {tu_bin("incidentd"), "--brokers", tu_brokers(), "--redis", redis_url,
                          "--topic-prefix",    prefix,      "--stages",   "all",     "--set",
                          "batch.ms=5",        NULL};
    static const char *const def_env[] = {"INCIDENTD_TOPICS_PARTITIONS=1", NULL};
    pid_t pid = tu_spawn(argv, env ? env : def_env, log);
    cr_assert(pid > 0, "spawn incidentd");
    return pid;
}

static const char *topic(const char *prefix, const char *name)
{
    static char buf[4][256];
    static int slot;
    char *b = buf[slot++ % 4];
    snprintf(b, sizeof(buf[0]), "%s%s", prefix, name);
    return b;
}

/* An encoded TRIGGER whose alert_id is "x\0-1": packed with a '#', then
 * the '#' turned into the NUL. */
static uint8_t *alert_with_nul(const char *key, size_t *len)
{
    Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
    a.alert_id = "x#-1";
    a.dedup_key = (char *)key;
    a.action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    a.severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    a.summary = "nul";
    *len = incident__v1__alert__get_packed_size(&a);
    uint8_t *buf = malloc(*len);
    cr_assert_not_null(buf);
    incident__v1__alert__pack(&a, buf);
    uint8_t *hash = memchr(buf, '#', *len);
    cr_assert_not_null(hash);
    *hash = 0;
    return buf;
}

Test(input, nul_in_a_protobuf_alert_id_is_dead_lettered_naming_it)
{
    char prefix[160], log[256];
    snprintf(prefix, sizeof(prefix), "%s.", tu_unique("nul"));
    snprintf(log, sizeof(log), "/tmp/%sincidentd.log", prefix);
    pid_t pid = spawn(prefix, tu_redis(), log, NULL);
    const char *dlq[] = {topic(prefix, "incidents.dlq"), NULL};
    tu_consumer_t *c = tu_consumer_new(dlq);
    const char *key = tu_unique("nulkey");
    size_t len;
    uint8_t *buf = alert_with_nul(key, &len);
    cr_assert_eq(tu_produce(topic(prefix, "incidents.detected"), key, buf, len), 0);
    free(buf);
    int found = 0;
    int64_t deadline = tu_now_ms() + WAIT_MS;
    while (!found && tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 500);
        if (!m)
            continue;
        found = 1;
        cr_expect_str_eq(m->x_stage, "detected");
        cr_expect(strstr(m->x_error, "alert_id: contains a NUL byte"), "x-error: %s", m->x_error);
        cr_expect_eq(m->len, len, "the original bytes are kept");
        tu_msg_free(m);
    }
    cr_expect(found, "no dead letter for the alert with a NUL (log %s)", log);
    tu_consumer_destroy(c);
    cr_expect_eq(tu_stop(pid, SIGTERM, 30000), 0, "log %s", log);
}

/* Whether something listens on [::1]:port. */
static int listens_on_v6_loopback(int port)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    sa.sin6_addr = in6addr_loopback;
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

Test(input, worker_reaches_redis_through_an_ipv6_url)
{
    const char *url = tu_redis(); /* redis://127.0.0.1:PORT/0 */
    const char *colon = strrchr(url, ':');
    cr_assert_not_null(colon);
    int port = atoi(colon + 1);
    if (!listens_on_v6_loopback(port))
        cr_skip_test("the test bed's redis does not listen on [::1]:%d (no IPv6 here)", port);
    char v6[128], prefix[160], log[256];
    snprintf(v6, sizeof(v6), "redis://[::1]:%d/0", port);
    snprintf(prefix, sizeof(prefix), "%s.", tu_unique("v6"));
    snprintf(log, sizeof(log), "/tmp/%sincidentd.log", prefix);
    pid_t pid = spawn(prefix, v6, log, NULL);

    const char *key = tu_unique("v6key");
    Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
    a.alert_id = (char *)tu_unique("v6a");
    a.dedup_key = (char *)key;
    a.action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    a.severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    cr_assert_eq(tu_produce_alert(topic(prefix, "incidents.detected"), &a), 0);

    /* The detected stage opened the incident in Redis: <prefix>open:<key>. */
    struct timeval tv = {2, 0};
    redisContext *rc = redisConnectWithTimeout("::1", port, tv);
    cr_assert(rc && !rc->err, "connect [::1]:%d", port);
    int opened = 0;
    int64_t deadline = tu_now_ms() + WAIT_MS;
    while (!opened && tu_now_ms() < deadline) {
        redisReply *r = redisCommand(rc, "EXISTS %sopen:%s", prefix, key);
        opened = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        if (r)
            freeReplyObject(r);
        if (!opened)
            usleep(200 * 1000);
    }
    redisFree(rc);
    cr_expect(opened, "no incident opened through %s (log %s)", v6, log);
    cr_expect_eq(tu_stop(pid, SIGTERM, 30000), 0, "log %s", log);
}

Test(input, unknown_incidentd_variable_exits_2)
{
    char log[256];
    snprintf(log, sizeof(log), "/tmp/%s-incidentd.log", tu_unique("env"));
    static const char *const env[] = {"INCIDENTD_REDIS_PASWORD=x", NULL};
    pid_t pid = spawn("env.", tu_redis(), log, env);
    int status = 0;
    pid_t r = 0;
    int64_t deadline = tu_now_ms() + 30000;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && tu_now_ms() < deadline)
        usleep(20 * 1000);
    if (r == 0)
        tu_stop(pid, SIGKILL, 5000);
    cr_assert_eq(r, pid, "incidentd did not exit on its own (log %s)", log);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    cr_expect_eq(rc, 2, "exit %d (log %s)", rc, log);
}
