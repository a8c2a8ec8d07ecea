/*
 * test_redis_conn.c — the one place that opens Redis connections
 * (redis_conn.c): what it refuses before connecting, which replies mean
 * "no longer the primary", and the backoff while Sentinels do not answer.
 *
 * Owned by the tests; @locality: the test's thread.
 */
#include <criterion/criterion.h>

#include <string.h>

#include <hiredis/hiredis.h>

#include "redis_conn.h"

static void conn_bad(const redis_conn_opts_t *o, const char *why)
{
    char err[400] = "";
    redis_conn_t *c = redis_conn_new(o, err, sizeof(err));
    cr_assert_null(c, "accepted");
    cr_assert(strstr(err, why), "'%s' does not say '%s'", err, why);
    cr_assert_null(strstr(err, "sekret"), "password in the error: %s", err);
}

Test(redis_conn, refuses_bad_settings_before_connecting)
{
    conn_bad(&(redis_conn_opts_t){.url = "http://h"}, "redis URL");
    conn_bad(&(redis_conn_opts_t){.url = "redis://u:sekret@h",
                                  .sentinels = "a:1,,b:2",
                                  .master_name = "m"},
             "redis.sentinels");
    conn_bad(&(redis_conn_opts_t){.url = "redis://h", .sentinels = "a:1"}, "master_name");
    conn_bad(&(redis_conn_opts_t){.url = "rediss://h", .tls_ca = "/nonexistent/ca.crt"},
             "redis.tls_ca '/nonexistent/ca.crt'");
}

Test(redis_conn, where_names_the_url_host)
{
    char err[400];
    redis_conn_t *c =
        redis_conn_new(&(redis_conn_opts_t){.url = "redis://[::1]:6390/3"}, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_str_eq(redis_conn_where(c), "[::1]:6390");
    cr_assert_eq(redis_conn_sentinel(c), 0);
    redis_conn_destroy(c);
}

Test(redis_conn, readonly_and_masterdown_mean_failover)
{
    redisReply r = {.type = REDIS_REPLY_ERROR};
    r.str = "READONLY You can't write against a read only replica.";
    cr_assert(redis_conn_failover(&r));
    r.str = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    cr_assert(redis_conn_failover(&r));
    r.str = "NOSCRIPT No matching script.";
    cr_assert_not(redis_conn_failover(&r));
    r.type = REDIS_REPLY_STATUS;
    r.str = "READONLY";
    cr_assert_not(redis_conn_failover(&r));
    cr_assert_not(redis_conn_failover(NULL));
}

Test(redis_conn, sentinels_that_do_not_answer_back_off)
{
    char err[600];
    /* Port 1 on loopback: nothing listens. */
    redis_conn_t *c = redis_conn_new(&(redis_conn_opts_t){.url = "redis://h",
                                                          .sentinels = "127.0.0.1:1,[::1]:1",
                                                          .master_name = "incidentd"},
                                     err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(redis_conn_sentinel(c), 1);
    cr_assert_null(redis_conn_open(c, 500, err, sizeof(err)));
    cr_assert(strstr(err, "sentinel"), "%s", err);
    cr_assert_null(redis_conn_open(c, 500, err, sizeof(err)));
    cr_assert(strstr(err, "backing off"), "the second attempt at once waits: %s", err);
    redis_conn_destroy(c);
}
