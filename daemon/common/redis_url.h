/*
 * redis_url.h — the one parser of Redis URLs,
 * redis[s]://[user[:password]@]host[:port][/db] (rediss: TLS).
 *
 * Pure (no I/O). config_value.c validates and canonicalises the configured URL with
 * it, store.c connects with what it fills in, so both always agree (an IPv6
 * host is written in brackets, redis://[::1]:6379/0, and comes out without
 * them, ready for connect()).
 *
 * @locality any thread
 */
#ifndef INCIDENTD_REDIS_URL_H
#define INCIDENTD_REDIS_URL_H

#include <stddef.h>

#define REDIS_URL_FORM "redis[s]://[user[:password]@]host[:port][/db]"
#define REDIS_URL_DEFAULT_PORT 6379
#define REDIS_URL_DB_MAX 100000

typedef struct redis_url {
    char host[256];     /* name, IPv4 or IPv6 address (no brackets) */
    int port;           /* 1..65535; 6379 when the URL has none */
    int db;             /* 0..REDIS_URL_DB_MAX; 0 when the URL has none */
    char user[128];     /* %-decoded; "" when absent */
    char password[256]; /* %-decoded; "" when absent */
    int has_password;   /* the URL had user:password@ or :password@ */
    int tls;            /* rediss://: TLS */
} redis_url_t;

/**
 * Parses @p url into @p out. The scheme is case-insensitive; the last '@'
 * ends the credentials, which may hold %-escapes; an IPv6 host needs
 * brackets. Returns 0, or -1 with the reason in @p errstr (never the
 * password, never the URL itself: the caller names it, masked).
 */
int redis_url_parse(const char *url, redis_url_t *out, char *errstr, size_t errstr_size);

/**
 * Writes the canonical form of @p u without credentials,
 * redis[s]://host:port/db (IPv6 in brackets), into @p buf. Returns the length
 * snprintf() would have written.
 */
int redis_url_format(const redis_url_t *u, char *buf, size_t size);

/* One Sentinel of redis.sentinels. */
typedef struct redis_hostport {
    char host[256]; /* name, IPv4 or IPv6 address (no brackets) */
    int port;       /* 1..65535; 26379 when the item has none */
} redis_hostport_t;

#define REDIS_SENTINEL_DEFAULT_PORT 26379
#define REDIS_SENTINELS_MAX 16

/**
 * Parses the comma list @p list of host[:port] (IPv6 in brackets,
 * "[::1]:26379") into at most @p max entries of @p out, with the host
 * rules of redis_url_parse(). Blanks around items are ignored; empty items
 * are not allowed. Returns the count (0 for an empty list), or -1 with the
 * reason in @p errstr.
 */
int redis_url_hostports(const char *list, redis_hostport_t *out, int max, char *errstr,
                        size_t errstr_size);

#endif
