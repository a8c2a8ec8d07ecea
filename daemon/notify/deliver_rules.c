/*
 * deliver_rules.c — what an attempt's result means, when to try again, and
 * the webhook signature: the pure part of deliver.h (no I/O, any thread).
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include "deliver.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

const char *notify_outcome_name(notify_outcome_t outcome)
{
    switch (outcome) {
    case NOTIFY_DELIVERED:
        return "delivered";
    case NOTIFY_RETRY:
        return "retry";
    case NOTIFY_FAILED:
        return "failed";
    }
    return "unknown";
}

/* ---- Retry-After ----------------------------------------------------------------- */

int notify_retry_after_parse(const char *value, int64_t now_ms, int64_t *out_ms)
{
    static const char *const forms[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
        "%a %b %e %H:%M:%S %Y",      /* asctime */
    };
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value)) {
        int64_t s = 0;
        const char *p = value;
        for (; isdigit((unsigned char)*p); p++) {
            if (s > 100000000) /* years: treat as "very long" */
                break;
            s = s * 10 + (*p - '0');
        }
        while (isdigit((unsigned char)*p))
            p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p)
            return -1;
        *out_ms = s * 1000;
        return 0;
    }
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(value, forms[i], &tm);
        if (!end)
            continue;
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end)
            continue;
        int64_t at = (int64_t)timegm(&tm) * 1000;
        *out_ms = at > now_ms ? at - now_ms : 0;
        return 0;
    }
    return -1;
}

/* ---- classification ---------------------------------------------------------------- */

static const char *notify_transport_text(notify_transport_t t)
{
    switch (t) {
    case NOTIFY_TRANSPORT_CONNECT:
        return "could not connect";
    case NOTIFY_TRANSPORT_TIMEOUT:
        return "timed out";
    case NOTIFY_TRANSPORT_BROKEN:
        return "connection failed";
    case NOTIFY_TRANSPORT_REJECTED:
        return "not deliverable as given";
    case NOTIFY_TRANSPORT_OK:
        break;
    }
    return "answered";
}

/* The outcome of an HTTP status. */
static notify_outcome_t notify_http_outcome(long code)
{
    if (code >= 200 && code <= 299)
        return NOTIFY_DELIVERED;
    if (code >= 500 || code == 408 || code == 429)
        return NOTIFY_RETRY;
    return NOTIFY_FAILED; /* other 4xx; 1xx/3xx: redirects are not followed */
}

/* The outcome of an SMTP reply: 2xx taken, 4xx transient, 5xx permanent. */
static notify_outcome_t notify_smtp_outcome(long code)
{
    if (code >= 200 && code <= 299)
        return NOTIFY_DELIVERED;
    if (code >= 400 && code <= 499)
        return NOTIFY_RETRY;
    return NOTIFY_FAILED;
}

void notify_classify(int smtp, notify_transport_t transport, long code, const char *retry_after,
                     int64_t now_ms, const char *detail, notify_result_t *out)
{
    memset(out, 0, sizeof(*out));
    out->code = code;
    out->retry_after_ms = -1;
    const char *sep = detail && *detail ? ": " : "";
    if (!detail)
        detail = "";
    /* A mail server's refusal ends the session with an error: its code,
     * once it is a refusal, says more than the transport. Below 400 the
     * code is an earlier step's and says nothing of the end. */
    if (transport != NOTIFY_TRANSPORT_OK && !(smtp && code >= 400)) {
        out->outcome = transport == NOTIFY_TRANSPORT_REJECTED ? NOTIFY_FAILED : NOTIFY_RETRY;
        out->code = 0;
        snprintf(out->error, sizeof(out->error), "%s%s%.200s", notify_transport_text(transport),
                 sep, detail);
        return;
    }
    out->outcome = smtp ? notify_smtp_outcome(code) : notify_http_outcome(code);
    if (!smtp && (code == 429 || code == 503) && retry_after) {
        int64_t ms;
        if (notify_retry_after_parse(retry_after, now_ms, &ms) == 0)
            out->retry_after_ms = ms;
    }
    if (out->outcome == NOTIFY_DELIVERED)
        return;
    if (out->retry_after_ms >= 0)
        snprintf(out->error, sizeof(out->error), "%s %ld (Retry-After %llds)%s%.160s",
                 smtp ? "SMTP" : "HTTP", code, (long long)(out->retry_after_ms / 1000), sep,
                 detail);
    else
        snprintf(out->error, sizeof(out->error), "%s %ld%s%s%.160s", smtp ? "SMTP" : "HTTP", code,
                 !smtp && code >= 300 && code < 400 ? " (redirects are not followed)" : "", sep,
                 detail);
}

/* ---- backoff ------------------------------------------------------------------------ */

int64_t notify_backoff_ms(int attempt, int64_t initial_ms, int64_t max_ms, uint32_t rnd)
{
    if (initial_ms < 1)
        initial_ms = 1;
    if (max_ms < initial_ms)
        max_ms = initial_ms;
    int64_t base = initial_ms;
    for (int i = 1; i < attempt && base < max_ms; i++)
        base = base > max_ms / 2 ? max_ms : base * 2;
    if (base > max_ms)
        base = max_ms;
    /* [3/4, 5/4] of base: attempts of many deliveries that failed together
     * spread out instead of hitting the endpoint together again */
    int64_t d = base - base / 4 + (int64_t)(rnd % (uint64_t)(base / 2 + 1));
    return d > max_ms ? max_ms : d;
}

int64_t notify_retry_delay_ms(const notify_result_t *result, int attempt, int64_t initial_ms,
                              int64_t max_ms, uint32_t rnd)
{
    int64_t d = notify_backoff_ms(attempt, initial_ms, max_ms, rnd);
    if (result && result->retry_after_ms > d)
        d = result->retry_after_ms < NOTIFY_RETRY_AFTER_MAX_MS ? result->retry_after_ms
                                                               : NOTIFY_RETRY_AFTER_MAX_MS;
    return d;
}

/* ---- signature ------------------------------------------------------------------------ */

void notify_signature(const char *secret, const void *body, size_t len,
                      char out[NOTIFY_SIGNATURE_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    static const unsigned char empty[1] = {0};
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), len ? body : empty, len, mac, &mac_len))
        mac_len = 0; /* cannot happen with SHA-256; an empty digest never verifies */
    size_t n = (size_t)snprintf(out, NOTIFY_SIGNATURE_SIZE, "sha256=");
    for (unsigned int i = 0; i < mac_len && n + 2 < NOTIFY_SIGNATURE_SIZE; i++) {
        out[n++] = hex[mac[i] >> 4];
        out[n++] = hex[mac[i] & 15];
    }
    out[n] = '\0';
}
