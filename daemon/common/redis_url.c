/*
 * redis_url.c — the one parser of Redis URLs; see redis_url.h.
 */
#include "redis_url.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int ru_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes [s, s+n) into @p out (NUL-terminated); -1 on a bad escape,
 * a decoded NUL or a result that does not fit. */
static int ru_pct_decode(const char *s, size_t n, char *out, size_t size)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? ru_hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? ru_hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (j + 1 >= size)
            return -1;
        out[j++] = c;
    }
    out[j] = '\0';
    return 0;
}

/* Digits only, value in [min, max]. */
static int ru_number(const char *s, size_t n, long min, long max, int *out)
{
    long v = 0;
    if (n == 0 || n > 6)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* A host name or address may not hold these. */
static int ru_host_char_ok(char c)
{
    return !isspace((unsigned char)c) && !iscntrl((unsigned char)c) && c != '/' && c != '[' &&
           c != ']' && c != '@' && c != '?' && c != '#';
}

/* host[:port] or [v6][:port] in [s, s+n). */
static int ru_authority(const char *s, size_t n, redis_url_t *out, char *errstr, size_t errstr_size)
{
    const char *h = s, *he, *port = NULL, *end = s + n;
    if (n > 0 && *s == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb) {
            snprintf(errstr, errstr_size, "'[' of an IPv6 host without its ']'");
            return -1;
        }
        h = s + 1;
        he = rb;
        if (rb + 1 < end && rb[1] != ':') {
            snprintf(errstr, errstr_size, "text after the ']' of the IPv6 host");
            return -1;
        }
        port = rb + 1 < end ? rb + 2 : NULL;
        if (!memchr(h, ':', (size_t)(he - h))) {
            snprintf(errstr, errstr_size, "brackets around a host that is not an IPv6 address");
            return -1;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        he = colon ? colon : end;
        port = colon ? colon + 1 : NULL;
        if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
            snprintf(errstr, errstr_size, "an IPv6 host needs brackets: redis://[::1]:6379/0");
            return -1;
        }
    }
    if (he == h) {
        snprintf(errstr, errstr_size, "missing host");
        return -1;
    }
    if ((size_t)(he - h) >= sizeof(out->host)) {
        snprintf(errstr, errstr_size, "host longer than %zu bytes", sizeof(out->host) - 1);
        return -1;
    }
    for (const char *p = h; p < he; p++)
        if (!ru_host_char_ok(*p)) {
            snprintf(errstr, errstr_size, "character not allowed in the host");
            return -1;
        }
    memcpy(out->host, h, (size_t)(he - h));
    out->host[he - h] = '\0';
    out->port = REDIS_URL_DEFAULT_PORT;
    if (port && ru_number(port, (size_t)(end - port), 1, 65535, &out->port) < 0) {
        snprintf(errstr, errstr_size, "bad port '%.*s' (1..65535)",
                 (int)(end - port > 16 ? 16 : end - port), port);
        return -1;
    }
    return 0;
}

/* user[:password] in [s, s+n). */
static int ru_credentials(const char *s, size_t n, redis_url_t *out, char *errstr,
                          size_t errstr_size)
{
    const char *colon = memchr(s, ':', n);
    size_t un = colon ? (size_t)(colon - s) : n;
    if (ru_pct_decode(s, un, out->user, sizeof(out->user)) < 0 ||
        (colon && ru_pct_decode(colon + 1, n - un - 1, out->password, sizeof(out->password)) < 0)) {
        snprintf(errstr, errstr_size, "bad %%-escape or too long in the credentials");
        return -1;
    }
    out->has_password = colon != NULL;
    return 0;
}

int redis_url_parse(const char *url, redis_url_t *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    int tls = url && strncasecmp(url, "rediss://", 9) == 0;
    if (!url || (!tls && strncasecmp(url, "redis://", 8) != 0)) {
        snprintf(errstr, errstr_size, "must start with redis:// (or rediss:// for TLS)");
        return -1;
    }
    const char *rest = url + (tls ? 9 : 8);
    /* The last '@' ends the credentials, so a raw '@' or '/' in a password
     * still works (host and db never hold an '@'). */
    const char *at = strrchr(rest, '@');
    if (at) {
        if (ru_credentials(rest, (size_t)(at - rest), out, errstr, errstr_size) < 0)
            goto fail;
        rest = at + 1;
    }
    const char *slash = strchr(rest, '/');
    size_t an = slash ? (size_t)(slash - rest) : strlen(rest);
    if (ru_authority(rest, an, out, errstr, errstr_size) < 0)
        goto fail;
    if (slash && slash[1] &&
        ru_number(slash + 1, strlen(slash + 1), 0, REDIS_URL_DB_MAX, &out->db) < 0) {
        snprintf(errstr, errstr_size, "bad database number (0..%d)", REDIS_URL_DB_MAX);
        goto fail;
    }
    out->tls = tls;
    return 0;
fail:
    /* Don't leave a half-parsed secret behind. */
    memset(out, 0, sizeof(*out));
    return -1;
}

int redis_url_format(const redis_url_t *u, char *buf, size_t size)
{
    const char *scheme = u->tls ? "rediss" : "redis";
    return snprintf(buf, size, strchr(u->host, ':') ? "%s://[%s]:%d/%d" : "%s://%s:%d/%d", scheme,
                    u->host, u->port, u->db);
}

int redis_url_hostports(const char *list, redis_hostport_t *out, int max, char *errstr,
                        size_t errstr_size)
{
    int n = 0;
    const char *p = list ? list : "";
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *b = p, *e = comma ? comma : p + strlen(p);
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == b) {
            snprintf(errstr, errstr_size, "empty item in the list");
            return -1;
        }
        if (n >= max) {
            snprintf(errstr, errstr_size, "more than %d items", max);
            return -1;
        }
        redis_url_t u;
        char why[160];
        if (ru_authority(b, (size_t)(e - b), &u, why, sizeof(why)) < 0) {
            snprintf(errstr, errstr_size, "item %d: %s", n + 1, why);
            return -1;
        }
        snprintf(out[n].host, sizeof(out[n].host), "%s", u.host);
        /* ru_authority() defaults to Redis's port; a Sentinel's is another. */
        out[n].port = memchr(b, ':', (size_t)(e - b)) && !(*b == '[' && e[-1] == ']')
                          ? u.port
                          : REDIS_SENTINEL_DEFAULT_PORT;
        n++;
        if (!comma)
            return n;
        p = comma + 1;
    }
}
