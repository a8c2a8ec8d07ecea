/*
 * redis_tls.c — TLS to Redis for hiredis 0.14 through a relay thread; see
 * redis_tls.h.
 *
 * Owned by the runtime room (used by redis_conn.c only).
 * @locality: redis_tls_new/connect on the caller's thread; one detached
 * relay thread per connection.
 */
#include "redis_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* How long the relay may block on one TLS read or write of a record. */
#define REDIS_TLS_IO_TIMEOUT_S 10

struct redis_tls {
    SSL_CTX *ctx;
};

typedef struct rt_relay {
    SSL *ssl;
    int tcp;   /* the TLS connection's socket */
    int local; /* our end of the socketpair (hiredis has the other) */
} rt_relay_t;

/* The first OpenSSL error, or @p fallback. */
static const char *rt_ssl_error(char *buf, size_t size, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (!e)
        return fallback;
    ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

redis_tls_t *redis_tls_new(const char *ca, const char *cert, const char *key, char *errstr,
                           size_t errstr_size)
{
    char why[256];
    redis_tls_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->ctx = SSL_CTX_new(TLS_client_method()))) {
        snprintf(errstr, errstr_size, "TLS: %s", rt_ssl_error(why, sizeof(why), "out of memory"));
        goto fail;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if ((ca && *ca ? SSL_CTX_load_verify_locations(t->ctx, ca, NULL)
                   : SSL_CTX_set_default_verify_paths(t->ctx)) != 1) {
        snprintf(errstr, errstr_size, "redis.tls_ca '%s': %s", ca ? ca : "",
                 rt_ssl_error(why, sizeof(why), "cannot load"));
        goto fail;
    }
    if (cert && *cert &&
        (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1 ||
         SSL_CTX_use_PrivateKey_file(t->ctx, key && *key ? key : cert, SSL_FILETYPE_PEM) != 1 ||
         SSL_CTX_check_private_key(t->ctx) != 1)) {
        snprintf(errstr, errstr_size, "redis.tls_cert / redis.tls_key: %s",
                 rt_ssl_error(why, sizeof(why), "cannot load"));
        goto fail;
    }
    return t;
fail:
    redis_tls_destroy(t);
    return NULL;
}

void redis_tls_destroy(redis_tls_t *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx); /* connections hold their own reference */
    free(t);
}

static void rt_timeouts(int fd, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int rt_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Moves bytes both ways until either side closes or fails. */
static void *rt_relay_run(void *arg)
{
    rt_relay_t *r = arg;
    char buf[16384];
    for (;;) {
        struct pollfd p[2] = {{r->local, POLLIN, 0}, {r->tcp, POLLIN, 0}};
        int pending = SSL_pending(r->ssl) > 0;
        if (poll(p, 2, pending ? 0 : -1) < 0 && errno != EINTR)
            break;
        if (pending || p[1].revents) {
            int n = SSL_read(r->ssl, buf, sizeof(buf));
            if (n <= 0 || rt_send_all(r->local, buf, (size_t)n) < 0)
                break;
        }
        if (p[0].revents) {
            ssize_t n = recv(r->local, buf, sizeof(buf), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || SSL_write(r->ssl, buf, (int)n) <= 0)
                break;
        }
    }
    SSL_free(r->ssl);
    close(r->tcp);
    close(r->local);
    free(r);
    return NULL;
}

/* The TLS handshake on @p fd, checking the certificate's name or address
 * against @p host. Returns the SSL, or NULL with the reason. */
static SSL *rt_handshake(redis_tls_t *t, int fd, const char *host, char *errstr, size_t errstr_size)
{
    char why[256];
    unsigned char addr[16];
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        snprintf(errstr, errstr_size, "TLS: %s", rt_ssl_error(why, sizeof(why), "out of memory"));
        SSL_free(ssl);
        return NULL;
    }
    int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    if (is_ip)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    else {
        SSL_set_tlsext_host_name(ssl, host);
        SSL_set1_host(ssl, host);
    }
    if (SSL_connect(ssl) != 1) {
        long v = SSL_get_verify_result(ssl);
        snprintf(errstr, errstr_size, "TLS handshake with redis %s failed: %s", host,
                 v != X509_V_OK ? X509_verify_cert_error_string(v)
                                : rt_ssl_error(why, sizeof(why), "connection closed"));
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

redisContext *redis_tls_connect(redis_tls_t *t, const char *host, int port, int timeout_ms,
                                char *errstr, size_t errstr_size)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *tcp = redisConnectWithTimeout(host, port, tv);
    if (!tcp || tcp->err) {
        snprintf(errstr, errstr_size, "cannot connect to redis %s:%d: %s", host, port,
                 tcp ? tcp->errstr : "out of memory");
        if (tcp)
            redisFree(tcp);
        return NULL;
    }
    /* hiredis made the TCP connection (names, IPv6, the timeout); TLS
     * takes the socket over. */
    int fd = dup(tcp->fd), sv[2] = {-1, -1};
    redisFree(tcp);
    rt_relay_t *r = calloc(1, sizeof(*r));
    SSL *ssl = NULL;
    if (fd < 0 || !r) {
        snprintf(errstr, errstr_size, "TLS: %s", strerror(errno ? errno : ENOMEM));
        goto fail;
    }
    rt_timeouts(fd, timeout_ms);
    if (!(ssl = rt_handshake(t, fd, host, errstr, errstr_size)))
        goto fail;
    rt_timeouts(fd, REDIS_TLS_IO_TIMEOUT_S * 1000);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        snprintf(errstr, errstr_size, "TLS: socketpair: %s", strerror(errno));
        goto fail;
    }
    *r = (rt_relay_t){.ssl = ssl, .tcp = fd, .local = sv[1]};
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, rt_relay_run, r);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        snprintf(errstr, errstr_size, "TLS: relay thread: %s", strerror(rc));
        goto fail;
    }
    redisContext *ctx = redisConnectFd(sv[0]);
    if (!ctx || ctx->err) {
        snprintf(errstr, errstr_size, "TLS: %s", ctx ? ctx->errstr : "out of memory");
        if (ctx)
            redisFree(ctx); /* closes sv[0]: the relay ends */
        else
            close(sv[0]);
        return NULL;
    }
    return ctx;
fail:
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
    free(r);
    return NULL;
}
