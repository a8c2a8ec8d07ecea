/*
 * deliver.h — delivering one notification: one attempt per call, many at
 * once, without one slow or dead endpoint holding up the others.
 *
 * A sender (notify_sender_t) runs the attempts on one libcurl multi handle:
 * notify_send() queues an attempt and returns at once; notify_sender_run()
 * moves every attempt in flight along for up to a given time and calls each
 * finished attempt's callback with its result. At most
 * notify_sender_conf_t.max_concurrent attempts are in flight, and one
 * endpoint (scheme://host:port of a webhook, or the mail server) holds at
 * most max_per_endpoint of them; the others wait in order. Every attempt has
 * a total and a connect timeout.
 *
 * Channels (directory.h):
 *   - WEBHOOK: POST of msg->body (a JSON document, notify_text.h) with
 *     Content-Type: application/json, Idempotency-Key: <delivery id> and,
 *     when a secret is set, X-Incidentd-Signature: sha256=<hex HMAC-SHA256 of
 *     the body> (notify_signature()).
 *   - SLACK: POST {"text": msg->body} (Slack-compatible incoming webhook),
 *     with the Idempotency-Key too.
 *   - EMAIL: SMTP through conf.smtp_url (MAIL FROM conf.smtp_from, RCPT TO
 *     msg->address), STARTTLS when the server offers it (smtps:// is TLS
 *     from the start); an RFC 5322 message with Date, From, To, Subject
 *     (RFC 2047 when not ASCII), Message-ID <delivery id@from's domain>,
 *     Auto-Submitted: auto-generated, text/plain UTF-8.
 *
 * What an attempt's result means (notify_classify(), pure): a 2xx, or the
 * mail server's final 250, is DELIVERED; connection refused or lost, a time
 * out, HTTP 5xx, 408 and 429 (with Retry-After as seconds or an HTTP date)
 * and SMTP 4xx are RETRY; any other HTTP status, SMTP 5xx, a bad message or
 * URL are FAILED at once. The retry's delay is the caller's (it keeps the
 * attempts on durable timers): notify_retry_delay_ms().
 *
 * Threads: a sender is used by one thread (the one calling notify_send()
 * and notify_sender_run(); callbacks run on it, inside
 * notify_sender_run()); only notify_sender_wakeup() may be called from any
 * thread. curl_global_init() is called once by the first notify_sender_new().
 * Out of memory aborts with a message. Secrets (the webhook secret, the SMTP
 * password) and URLs (a Slack URL is a credential) never appear in results.
 */
#ifndef INCIDENTD_NOTIFY_DELIVER_H
#define INCIDENTD_NOTIFY_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "directory.h"

/* ---- one attempt --------------------------------------------------------------- */

/* One notification to send; every string is borrowed for the call only
 * (notify_send() copies what it keeps). */
typedef struct notify_msg {
    const char *delivery_id;     /* Idempotency-Key, Message-ID: 1..200 printable ASCII, no space */
    directory_channel_t channel; /* EMAIL, WEBHOOK or SLACK */
    const char *address;         /* EMAIL: the email address; else the http(s) URL */
    const char *subject;         /* EMAIL: the Subject (UTF-8; NULL = ""); else unused */
    const char *body;            /* WEBHOOK: the JSON document; SLACK, EMAIL: the text (UTF-8) */
} notify_msg_t;

typedef enum notify_outcome {
    NOTIFY_DELIVERED = 0, /* the endpoint took it: record `notified` */
    NOTIFY_RETRY,         /* try again later (notify_retry_delay_ms()) */
    NOTIFY_FAILED,        /* trying again will not help: `delivery_failed` now */
} notify_outcome_t;

typedef struct notify_result {
    notify_outcome_t outcome;
    long code;              /* HTTP status or SMTP reply code; 0 = no answer */
    int64_t retry_after_ms; /* Retry-After of the answer, in ms from now; -1 = none */
    char error[256];        /* what went wrong, for the audit record; "" when delivered */
} notify_result_t;

/** "delivered", "retry", "failed". Static, never NULL. */
const char *notify_outcome_name(notify_outcome_t outcome);

/* ---- the sender ------------------------------------------------------------------- */

typedef struct notify_sender notify_sender_t;

typedef struct notify_sender_conf {
    int max_concurrent;         /* attempts in flight at once, >= 1 (notify.concurrency) */
    int max_per_endpoint;       /* of them to one endpoint; 0 = (max_concurrent + 1) / 2 */
    int64_t timeout_ms;         /* one attempt, whole (notify.timeout), >= 1 */
    int64_t connect_timeout_ms; /* connecting; 0 = min(timeout_ms, 5s) */
    const char *webhook_secret; /* HMAC key; NULL or "" = no signature header */
    const char *smtp_url;       /* smtp://host:port, smtps://; NULL or "" = no email */
    const char *smtp_user;      /* NULL or "" = no AUTH */
    const char *smtp_password;
    const char *smtp_from; /* envelope sender and From:; required for email */
} notify_sender_conf_t;

/** Fills @p conf from the notify.* settings of @p cfg (borrowing its
 *  strings: @p cfg must outlive the notify_sender_new() call only). */
void notify_sender_conf_from_config(const config_t *cfg, notify_sender_conf_t *conf);

/**
 * A new sender. Copies what it needs of @p conf. Returns NULL with the
 * reason in @p errstr when @p conf is not usable (or libcurl cannot start).
 * Caller frees with notify_sender_destroy().
 */
notify_sender_t *notify_sender_new(const notify_sender_conf_t *conf, char *errstr,
                                   size_t errstr_size);

/** Abandons every attempt in flight or waiting (their callbacks are not
 *  called) and frees the sender. Accepts NULL. Not from a callback. */
void notify_sender_destroy(notify_sender_t *s);

/**
 * Called once per attempt, from notify_sender_run(), with its @p result
 * (borrowed for the call) and the @p opaque given to notify_send(). It may
 * call notify_send() (not notify_sender_destroy()).
 */
typedef void (*notify_done_fn)(const notify_result_t *result, void *opaque);

/** The endpoint of an http(s) URL (scheme://authority) that the
 *  per-endpoint limit applies to (an email's endpoint is the mail server,
 *  notify.smtp_url). Caller frees. */
char *notify_endpoint_of(const char *url);

/**
 * Queues one attempt to deliver @p msg (copied); never blocks. Its
 * result comes through @p cb from a later notify_sender_run(), also when
 * the message is unusable (FAILED with the reason). Returns 0, or -1 when
 * @p s, @p msg or @p cb is NULL (nothing queued).
 */
int notify_send(notify_sender_t *s, const notify_msg_t *msg, notify_done_fn cb, void *opaque);

/**
 * Runs the attempts: starts waiting ones as slots free up, waits up to
 * @p timeout_ms for network activity (or notify_sender_wakeup()), and calls
 * the callback of every attempt that finished. Returns the number of
 * callbacks called. With nothing in flight it just waits (interruptibly).
 */
int notify_sender_run(notify_sender_t *s, int timeout_ms);

/** Attempts queued or in flight whose callback has not been called yet. */
size_t notify_sender_pending(const notify_sender_t *s);

/** Makes a notify_sender_run() that waits return early. Any thread. */
void notify_sender_wakeup(notify_sender_t *s);

/* ---- the rules, pure ---------------------------------------------------------------- */

/* How an attempt ended below HTTP/SMTP (the libcurl result, mapped). */
typedef enum notify_transport {
    NOTIFY_TRANSPORT_OK = 0,   /* an answer came: its code decides */
    NOTIFY_TRANSPORT_CONNECT,  /* could not connect (refused, unreachable, DNS) */
    NOTIFY_TRANSPORT_TIMEOUT,  /* the attempt's time ran out */
    NOTIFY_TRANSPORT_BROKEN,   /* connection lost, TLS failed, nothing or garbage back */
    NOTIFY_TRANSPORT_REJECTED, /* cannot work as given: bad URL, scheme, login */
} notify_transport_t;

/**
 * The result of an attempt on an SMTP (@p smtp non-zero) or HTTP endpoint
 * that ended with @p transport and reply @p code (0 = none): see the top of
 * this file. For HTTP 429 and 503, @p retry_after (the header's value, NULL
 * = none) read at @p now_ms (Unix ms) gives out->retry_after_ms. @p detail
 * (NULL = none) is appended to the error text. Fills @p out.
 */
void notify_classify(int smtp, notify_transport_t transport, long code, const char *retry_after,
                     int64_t now_ms, const char *detail, notify_result_t *out);

/**
 * Reads a Retry-After value: delay seconds ("120") or an HTTP date
 * ("Wed, 21 Oct 2015 07:28:00 GMT"; the obsolete RFC 850 and asctime forms
 * too), as milliseconds from @p now_ms (a date in the past is 0). Returns 0
 * and sets @p out_ms, or -1 when @p value is neither.
 */
int notify_retry_after_parse(const char *value, int64_t now_ms, int64_t *out_ms);

/**
 * The delay before attempt @p attempt + 1 after @p attempt failed ones
 * (1 = after the first): @p initial_ms doubled per attempt up to
 * @p max_ms, with jitter from @p rnd: a value in [3/4, 5/4] of that,
 * never above @p max_ms. Deterministic in its inputs.
 */
int64_t notify_backoff_ms(int attempt, int64_t initial_ms, int64_t max_ms, uint32_t rnd);

/* Longest Retry-After honoured (a longer one is cut to this). */
#define NOTIFY_RETRY_AFTER_MAX_MS (3600 * 1000LL)

/**
 * The delay before the next attempt after the failed attempt @p attempt
 * that gave @p result: notify_backoff_ms(), or the answer's Retry-After
 * (up to NOTIFY_RETRY_AFTER_MAX_MS) when that is longer.
 */
int64_t notify_retry_delay_ms(const notify_result_t *result, int attempt, int64_t initial_ms,
                              int64_t max_ms, uint32_t rnd);

/* "sha256=" + 64 hex digits + NUL */
#define NOTIFY_SIGNATURE_SIZE 72

/** Writes "sha256=<hex HMAC-SHA256 of body[0..len) keyed by @p secret>"
 *  into @p out: the X-Incidentd-Signature value. */
void notify_signature(const char *secret, const void *body, size_t len,
                      char out[NOTIFY_SIGNATURE_SIZE]);

#endif
