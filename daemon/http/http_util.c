/*
 * http_util.c — rate limiter, client address, bearer token and JSON
 * Content-Type of the HTTP stages; see http_util.h.
 */
#include "http_util.h"

#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "clock.h"

#define HTTP_LIMIT_SOURCES_MAX 100000 /* sources remembered before pruning */

struct http_limit_bucket {
    http_limit_bucket_t *next;
    double tokens;
    int64_t last_us;
    char key[];
};

static void http_util_oom(void)
{
    fputs("incidentd: out of memory\n", stderr);
    abort();
}

static uint32_t http_limit_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

void http_limit_init(http_limit_t *l, double rate, double burst)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    l->rate = rate;
    l->burst = burst >= 1 ? burst : 1;
}

/* Forgets sources whose bucket has refilled (they are as if never seen). */
static void http_limit_prune(http_limit_t *l, int64_t now)
{
    for (size_t i = 0; i < HTTP_LIMIT_BUCKETS; i++) {
        http_limit_bucket_t **pp = &l->slots[i];
        while (*pp) {
            http_limit_bucket_t *b = *pp;
            double t = b->tokens + (double)(now - b->last_us) / 1e6 * l->rate;
            if (t >= l->burst) {
                *pp = b->next;
                free(b);
                l->n--;
            } else {
                pp = &b->next;
            }
        }
    }
}

/* The bucket of @p key, created full. Called with l->mu held. */
static http_limit_bucket_t *http_limit_bucket(http_limit_t *l, const char *key, int64_t now)
{
    uint32_t slot = http_limit_hash(key) % HTTP_LIMIT_BUCKETS;
    http_limit_bucket_t *b = l->slots[slot];
    while (b && strcmp(b->key, key) != 0)
        b = b->next;
    if (b)
        return b;
    if (l->n >= HTTP_LIMIT_SOURCES_MAX)
        http_limit_prune(l, now);
    size_t kl = strlen(key);
    b = malloc(sizeof(*b) + kl + 1);
    if (!b)
        http_util_oom();
    memcpy(b->key, key, kl + 1);
    b->tokens = l->burst;
    b->last_us = now;
    b->next = l->slots[slot];
    l->slots[slot] = b;
    l->n++;
    return b;
}

int http_limit_take(http_limit_t *l, const char *key)
{
    if (l->rate <= 0)
        return 0;
    int64_t now = clock_mono_us();
    int wait = 0;
    pthread_mutex_lock(&l->mu);
    http_limit_bucket_t *b = http_limit_bucket(l, key, now);
    b->tokens += (double)(now - b->last_us) / 1e6 * l->rate;
    if (b->tokens > l->burst)
        b->tokens = l->burst;
    b->last_us = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        double s = ceil((1.0 - b->tokens) / l->rate);
        wait = s < 1 ? 1 : s > 3600 ? 3600 : (int)s;
    }
    pthread_mutex_unlock(&l->mu);
    return wait;
}

void http_limit_destroy(http_limit_t *l)
{
    for (size_t i = 0; i < HTTP_LIMIT_BUCKETS; i++) {
        http_limit_bucket_t *b = l->slots[i];
        while (b) {
            http_limit_bucket_t *next = b->next;
            free(b);
            b = next;
        }
        l->slots[i] = NULL;
    }
    l->n = 0;
    pthread_mutex_destroy(&l->mu);
}

void http_client_addr(struct MHD_Connection *conn, char *buf, size_t size)
{
    snprintf(buf, size, "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    socklen_t sl =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    char host[NI_MAXHOST];
    if (getnameinfo(sa, sl, host, sizeof(host), NULL, 0, NI_NUMERICHOST) == 0)
        snprintf(buf, size, "%.63s", host);
}

const char *http_bearer(struct MHD_Connection *conn, size_t *len)
{
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    *len = n;
    return t;
}

int http_json_type(struct MHD_Connection *conn)
{
    const char *ct =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct)
        return 1;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return 1;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + n - 5, "+json", 5) == 0;
}

void http_body_append(char **body, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 4096;
        while (nc < *len + n + 1)
            nc *= 2;
        char *b = realloc(*body, nc);
        if (!b) {
            fprintf(stderr, "incidentd: out of memory\n");
            abort();
        }
        *body = b;
        *cap = nc;
    }
    memcpy(*body + *len, data, n);
    *len += n;
    (*body)[*len] = '\0';
}
