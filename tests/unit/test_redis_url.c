/*
 * test_redis_url.c — the one Redis URL parser (daemon/common/redis_url.c), used by
 * config.c and store.c alike.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "redis_url.h"

static redis_url_t parse_ok(const char *url)
{
    redis_url_t u;
    char err[256] = "";
    cr_assert_eq(redis_url_parse(url, &u, err, sizeof(err)), 0, "%s: %s", url, err);
    return u;
}

static void parse_bad(const char *url, const char *why)
{
    redis_url_t u;
    char err[256] = "";
    cr_assert_eq(redis_url_parse(url, &u, err, sizeof(err)), -1, "%s accepted", url);
    cr_assert(strstr(err, why), "%s: '%s' does not say '%s'", url, err, why);
    cr_assert_null(strstr(err, "sekret"), "password in the error: %s", err);
    cr_assert_str_eq(u.password, "", "secret left behind after a failure");
}

Test(redis_url, ipv4_with_port_and_db)
{
    redis_url_t u = parse_ok("redis://127.0.0.1:6380/3");
    cr_assert_str_eq(u.host, "127.0.0.1");
    cr_assert_eq(u.port, 6380);
    cr_assert_eq(u.db, 3);
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "");
    cr_assert_eq(u.has_password, 0);
}

Test(redis_url, name_without_port_or_db_takes_the_defaults)
{
    redis_url_t u = parse_ok("REDIS://cache.local");
    cr_assert_str_eq(u.host, "cache.local");
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(u.db, 0);
    u = parse_ok("redis://cache.local/");
    cr_assert_eq(u.db, 0);
}

Test(redis_url, ipv6_in_brackets_comes_out_bare)
{
    redis_url_t u = parse_ok("redis://[::1]:6390/0");
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 6390);
    u = parse_ok("redis://[fe80::1:2]/4");
    cr_assert_str_eq(u.host, "fe80::1:2");
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(u.db, 4);
}

Test(redis_url, credentials_are_decoded_and_the_last_at_ends_them)
{
    redis_url_t u = parse_ok("redis://bob:p%40ss/w@x@[::1]:7000/2");
    cr_assert_str_eq(u.user, "bob");
    cr_assert_str_eq(u.password, "p@ss/w@x");
    cr_assert_eq(u.has_password, 1);
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 7000);
    u = parse_ok("redis://:only@h");
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "only");
    cr_assert_eq(u.has_password, 1);
    u = parse_ok("redis://alice@h");
    cr_assert_str_eq(u.user, "alice");
    cr_assert_eq(u.has_password, 0);
}

Test(redis_url, bad_forms_say_why)
{
    parse_bad("http://h:1/0", "redis://");
    parse_bad("h:6379", "redis://");
    parse_bad("redis://", "missing host");
    parse_bad("redis://:6379/0", "missing host");
    parse_bad("redis://u:sekret@/0", "missing host");
    parse_bad("redis://h:0/0", "port");
    parse_bad("redis://h:65536", "port");
    parse_bad("redis://h:port/0", "port");
    parse_bad("redis://h:/0", "port");
    parse_bad("redis://h:1/x", "database");
    parse_bad("redis://h:1/-1", "database");
    parse_bad("redis://h:1/100001", "database");
    parse_bad("redis://::1/0", "brackets");
    parse_bad("redis://::1:6379/0", "brackets");
    parse_bad("redis://[::1/0", "']'");
    parse_bad("redis://[::1]x/0", "after the ']'");
    parse_bad("redis://[host]:1/0", "not an IPv6");
    parse_bad("redis://a b", "character");
    parse_bad("redis://h]", "character");
    parse_bad("redis://u:sekret%zz@h/0", "%-escape");
    parse_bad("redis://u:sekret%00@h/0", "%-escape");
}

Test(redis_url, format_is_canonical_and_round_trips)
{
    char buf[300];
    redis_url_t u = parse_ok("redis://u:pw@[::1]/5");
    redis_url_format(&u, buf, sizeof(buf));
    cr_assert_str_eq(buf, "redis://[::1]:6379/5");
    redis_url_t v = parse_ok(buf);
    cr_assert_str_eq(v.host, "::1");
    cr_assert_eq(v.db, 5);
    u = parse_ok("redis://h");
    redis_url_format(&u, buf, sizeof(buf));
    cr_assert_str_eq(buf, "redis://h:6379/0");
}

Test(redis_url, sentinel_lists)
{
    redis_hostport_t hp[REDIS_SENTINELS_MAX];
    char why[200];
    cr_assert_eq(redis_url_hostports("", hp, REDIS_SENTINELS_MAX, why, sizeof(why)), 0);
    int n = redis_url_hostports(" s1:26380, [::1]:26381 ,[fe80::1],s4", hp, REDIS_SENTINELS_MAX,
                                why, sizeof(why));
    cr_assert_eq(n, 4, "%s", why);
    cr_assert_str_eq(hp[0].host, "s1");
    cr_assert_eq(hp[0].port, 26380);
    cr_assert_str_eq(hp[1].host, "::1");
    cr_assert_eq(hp[1].port, 26381);
    cr_assert_str_eq(hp[2].host, "fe80::1");
    cr_assert_eq(hp[2].port, REDIS_SENTINEL_DEFAULT_PORT);
    cr_assert_str_eq(hp[3].host, "s4");
    cr_assert_eq(hp[3].port, REDIS_SENTINEL_DEFAULT_PORT);
    cr_assert_eq(redis_url_hostports("a:1,,b:2", hp, REDIS_SENTINELS_MAX, why, sizeof(why)), -1);
    cr_assert(strstr(why, "empty"), "%s", why);
    cr_assert_eq(redis_url_hostports("::1:26379", hp, REDIS_SENTINELS_MAX, why, sizeof(why)), -1);
    cr_assert(strstr(why, "brackets"), "%s", why);
    cr_assert_eq(redis_url_hostports("a:0", hp, REDIS_SENTINELS_MAX, why, sizeof(why)), -1);
    cr_assert(strstr(why, "item 1: bad port"), "%s", why);
    cr_assert_eq(redis_url_hostports("a,b,c", hp, 2, why, sizeof(why)), -1);
}

Test(redis_url, rediss_is_tls)
{
    char buf[300];
    redis_url_t u = parse_ok("REDISS://u:pw@[::1]:6380/2");
    cr_assert_eq(u.tls, 1);
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 6380);
    redis_url_format(&u, buf, sizeof(buf));
    cr_assert_str_eq(buf, "rediss://[::1]:6380/2");
    cr_assert_eq(parse_ok("redis://h").tls, 0);
    parse_bad("redisss://h", "rediss://");
}
