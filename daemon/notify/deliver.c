/*
 * deliver.c — the sender: delivery attempts on one libcurl multi handle,
 * bounded in number overall and per endpoint (see deliver.h).
 *
 * An attempt is a job: notify_send() checks and copies the message into a
 * job and queues it; notify_sender_run() starts queued jobs while slots are
 * free (in order, skipping a job whose endpoint is at its limit, so a slow
 * endpoint only delays its own), lets libcurl move the running ones, and
 * finishes each one that ended: its result (deliver_rules.c), its callback,
 * its memory. A job refused before any I/O (a bad message) finishes on the
 * next run the same way.
 */
#include "deliver.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#ifndef INCIDENTD_VERSION
#define INCIDENTD_VERSION "0.1.0"
#endif

#define NOTIFY_ID_MAX 200
#define NOTIFY_LINE_MAX 900 /* octets per mail body line (RFC 5322: 998) */

typedef struct notify_job {
    struct notify_job *next; /* queue or finished list */
    notify_sender_t *s;
    CURL *easy;
    directory_channel_t channel;
    char *id;
    char *address;
    char *endpoint; /* the per-endpoint limit's key */
    char *payload;  /* the POST body or the whole mail */
    size_t len, off;
    struct curl_slist *headers; /* HTTP headers, or the mail's recipients */
    char retry_after[64];
    char errbuf[CURL_ERROR_SIZE];
    notify_result_t result; /* set when refused before any I/O */
    notify_done_fn cb;
    void *opaque;
} notify_job_t;

struct notify_sender {
    CURLM *multi;
    int max_concurrent, max_per_endpoint;
    long timeout_ms, connect_timeout_ms;
    char *webhook_secret, *smtp_url, *smtp_user, *smtp_password, *smtp_from;
    notify_job_t *queue_head, *queue_tail; /* waiting for a slot */
    notify_job_t *refused;                 /* finished before any I/O */
    notify_job_t **running;                /* max_concurrent slots, NULL = free */
    int n_running;
    size_t pending;
};

static void notify_oom(void)
{
    fputs("incidentd: out of memory\n", stderr);
    abort();
}

static char *notify_xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        notify_oom();
    return d;
}

static void *notify_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        notify_oom();
    return p;
}

/* ---- the sender ------------------------------------------------------------------------- */

void notify_sender_conf_from_config(const config_t *cfg, notify_sender_conf_t *conf)
{
    *conf = (notify_sender_conf_t){
        .max_concurrent = cfg->notify_concurrency,
        .timeout_ms = cfg->notify_timeout_ms,
        .webhook_secret = cfg->notify_webhook_secret,
        .smtp_url = cfg->notify_smtp_url,
        .smtp_user = cfg->notify_smtp_user,
        .smtp_password = cfg->notify_smtp_password,
        .smtp_from = cfg->notify_smtp_from,
    };
}

static pthread_once_t notify_curl_once = PTHREAD_ONCE_INIT;
static CURLcode notify_curl_init_rc;

static void notify_curl_init(void) { notify_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

notify_sender_t *notify_sender_new(const notify_sender_conf_t *conf, char *errstr,
                                   size_t errstr_size)
{
    if (conf->max_concurrent < 1 || conf->timeout_ms < 1 || conf->max_per_endpoint < 0) {
        snprintf(errstr, errstr_size, "notify sender: bad limits (concurrency %d, timeout %lld)",
                 conf->max_concurrent, (long long)conf->timeout_ms);
        return NULL;
    }
    pthread_once(&notify_curl_once, notify_curl_init);
    if (notify_curl_init_rc != CURLE_OK) {
        snprintf(errstr, errstr_size, "libcurl: %s", curl_easy_strerror(notify_curl_init_rc));
        return NULL;
    }
    notify_sender_t *s = notify_xcalloc(1, sizeof(*s));
    s->multi = curl_multi_init();
    if (!s->multi) {
        snprintf(errstr, errstr_size, "libcurl: cannot create a multi handle");
        free(s);
        return NULL;
    }
    s->max_concurrent = conf->max_concurrent;
    s->max_per_endpoint =
        conf->max_per_endpoint ? conf->max_per_endpoint : (conf->max_concurrent + 1) / 2;
    s->timeout_ms = (long)conf->timeout_ms;
    s->connect_timeout_ms = (long)(conf->connect_timeout_ms ? conf->connect_timeout_ms : 5000);
    if (s->connect_timeout_ms > s->timeout_ms)
        s->connect_timeout_ms = s->timeout_ms;
    s->webhook_secret = notify_xstrdup(conf->webhook_secret);
    s->smtp_url = notify_xstrdup(conf->smtp_url);
    s->smtp_user = notify_xstrdup(conf->smtp_user);
    s->smtp_password = notify_xstrdup(conf->smtp_password);
    s->smtp_from = notify_xstrdup(conf->smtp_from);
    s->running = notify_xcalloc((size_t)s->max_concurrent, sizeof(*s->running));
    return s;
}

static void notify_secret_free(char *p)
{
    if (p)
        memset(p, 0, strlen(p));
    free(p);
}

static void notify_job_free(notify_job_t *j)
{
    if (!j)
        return;
    if (j->easy) {
        curl_multi_remove_handle(j->s->multi, j->easy);
        curl_easy_cleanup(j->easy);
    }
    curl_slist_free_all(j->headers);
    free(j->id);
    free(j->address);
    free(j->endpoint);
    free(j->payload);
    free(j);
}

void notify_sender_destroy(notify_sender_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->max_concurrent; i++)
        notify_job_free(s->running[i]);
    for (notify_job_t *lists[] = {s->queue_head, s->refused}, **l = lists; l < lists + 2; l++)
        for (notify_job_t *j = *l, *next; j; j = next) {
            next = j->next;
            notify_job_free(j);
        }
    free(s->running);
    curl_multi_cleanup(s->multi);
    free(s->webhook_secret);
    free(s->smtp_url);
    free(s->smtp_user);
    notify_secret_free(s->smtp_password);
    free(s->smtp_from);
    free(s);
}

size_t notify_sender_pending(const notify_sender_t *s) { return s ? s->pending : 0; }

void notify_sender_wakeup(notify_sender_t *s)
{
    if (s)
        curl_multi_wakeup(s->multi);
}

/* ---- building a job ------------------------------------------------------------------- */

char *notify_endpoint_of(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = (size_t)(p - url) + strcspn(p, "/?#");
    char *e = notify_xstrdup(url);
    e[n] = '\0';
    return e;
}

static int notify_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > NOTIFY_ID_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return 0;
    return 1;
}

/* Refuses @p j before any I/O, with the reason. */
static void notify_job_refuse(notify_job_t *j, const char *why)
{
    notify_classify(0, NOTIFY_TRANSPORT_REJECTED, 0, NULL, 0, why, &j->result);
}

static char *notify_slack_body(const char *text)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "text", text))
        notify_oom();
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        notify_oom();
    char *d = notify_xstrdup(s); /* cJSON's allocator need not be free() */
    cJSON_free(s);
    return d;
}

static struct curl_slist *notify_slist_add(struct curl_slist *l, const char *s)
{
    struct curl_slist *n = curl_slist_append(l, s);
    if (!n)
        notify_oom();
    return n;
}

/* The HTTP headers of a webhook or Slack post. */
static struct curl_slist *notify_http_headers(const notify_sender_t *s, const notify_job_t *j)
{
    char line[NOTIFY_ID_MAX + 64];
    struct curl_slist *h = notify_slist_add(NULL, "Content-Type: application/json");
    snprintf(line, sizeof(line), "Idempotency-Key: %s", j->id);
    h = notify_slist_add(h, line);
    if (j->channel == DIRECTORY_CHANNEL_WEBHOOK && *s->webhook_secret) {
        char sig[NOTIFY_SIGNATURE_SIZE];
        notify_signature(s->webhook_secret, j->payload, j->len, sig);
        snprintf(line, sizeof(line), "X-Incidentd-Signature: %s", sig);
        h = notify_slist_add(h, line);
    }
    return notify_slist_add(h, "Expect:"); /* no 100-continue round trip */
}

/* ---- the mail ------------------------------------------------------------------------------ */

typedef struct notify_buf {
    char *p;
    size_t n, cap;
} notify_buf_t;

static void notify_buf_put(notify_buf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            notify_oom();
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void notify_buf_puts(notify_buf_t *b, const char *s) { notify_buf_put(b, s, strlen(s)); }

/* Length of the longest prefix of [s, s+n) within @p max octets that does
 * not cut a UTF-8 sequence. */
static size_t notify_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k ? k : max;
}

/* The Subject header: as is when printable ASCII, else RFC 2047 encoded
 * words; controls become spaces (no header injection). */
static void notify_mail_subject(notify_buf_t *b, const char *subject)
{
    char clean[512];
    size_t n = 0;
    int ascii = 1;
    for (const unsigned char *p = (const unsigned char *)subject; *p && n + 1 < sizeof(clean);
         p++) {
        clean[n++] = *p < 0x20 || *p == 0x7f ? ' ' : (char)*p;
        if (*p >= 0x80)
            ascii = 0;
    }
    n = notify_utf8_cut(clean, n, sizeof(clean) - 1);
    clean[n] = '\0';
    notify_buf_puts(b, "Subject: ");
    if (ascii) {
        notify_buf_puts(b, clean);
    } else {
        for (size_t off = 0; off < n;) {
            size_t k = notify_utf8_cut(clean + off, n - off, 45);
            unsigned char enc[64];
            EVP_EncodeBlock(enc, (const unsigned char *)clean + off, (int)k);
            notify_buf_puts(b, off ? "\r\n =?UTF-8?B?" : "=?UTF-8?B?");
            notify_buf_puts(b, (const char *)enc);
            notify_buf_puts(b, "?=");
            off += k;
        }
    }
    notify_buf_puts(b, "\r\n");
}

/* The body: CRLF line ends, no bare CR, lines cut at NOTIFY_LINE_MAX. */
static void notify_mail_body(notify_buf_t *b, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        const char *next = p + n + (p[n] == '\n');
        while (n > 0 && p[n - 1] == '\r')
            n--;
        do {
            size_t k = notify_utf8_cut(p, n, NOTIFY_LINE_MAX);
            for (size_t i = 0; i < k; i++)
                if (p[i] != '\r')
                    notify_buf_put(b, &p[i], 1);
            notify_buf_puts(b, "\r\n");
            p += k;
            n -= k;
        } while (n > 0);
        p = next;
    }
}

/* The whole RFC 5322 message of @p msg. */
static char *notify_mail(const notify_sender_t *s, const notify_msg_t *msg, size_t *len)
{
    notify_buf_t b = {0};
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    const char *domain = strchr(s->smtp_from, '@');
    const char *const lines[] = {
        "Date: ",
        date,
        "\r\nFrom: ",
        s->smtp_from,
        "\r\nTo: ",
        msg->address,
        "\r\nMessage-ID: <",
        msg->delivery_id,
        "@",
        domain ? domain + 1 : "incidentd",
        ">\r\nX-Incidentd-Delivery: ",
        msg->delivery_id,
        "\r\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        notify_buf_puts(&b, lines[i]);
    notify_mail_subject(&b, msg->subject ? msg->subject : "");
    notify_buf_puts(&b, "MIME-Version: 1.0\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n"
                        "Auto-Submitted: auto-generated\r\n"
                        "\r\n");
    notify_mail_body(&b, msg->body);
    *len = b.n;
    return b.p;
}

/* Fills @p j from @p msg. Returns 0, or -1 with the reason in @p why when
 * the message cannot be sent. */
static int notify_job_fill(notify_sender_t *s, notify_job_t *j, const notify_msg_t *msg, char *why,
                           size_t why_size)
{
    j->channel = msg->channel;
    j->id = notify_xstrdup(msg->delivery_id);
    j->address = notify_xstrdup(msg->address);
    j->endpoint = notify_xstrdup("");
    if (!msg->delivery_id || !notify_id_ok(msg->delivery_id)) {
        snprintf(why, why_size, "bad delivery id (1-200 printable ASCII, no spaces)");
        return -1;
    }
    if (!msg->address || !msg->body) {
        snprintf(why, why_size, "no address or no body");
        return -1;
    }
    if (msg->channel == DIRECTORY_CHANNEL_EMAIL) {
        if (directory_check_email(msg->address, why, why_size) != 0)
            return -1;
        if (!*s->smtp_url || directory_check_email(s->smtp_from, why, why_size) != 0) {
            snprintf(why, why_size, "no mail server (notify.smtp_url, notify.smtp_from)");
            return -1;
        }
        free(j->endpoint);
        j->endpoint = notify_xstrdup(s->smtp_url);
        j->payload = notify_mail(s, msg, &j->len);
        return 0;
    }
    if (msg->channel != DIRECTORY_CHANNEL_WEBHOOK && msg->channel != DIRECTORY_CHANNEL_SLACK) {
        snprintf(why, why_size, "unknown channel");
        return -1;
    }
    if (directory_check_http_url(msg->address, why, why_size) != 0)
        return -1;
    free(j->endpoint);
    j->endpoint = notify_endpoint_of(msg->address);
    j->payload = msg->channel == DIRECTORY_CHANNEL_SLACK ? notify_slack_body(msg->body)
                                                         : notify_xstrdup(msg->body);
    j->len = strlen(j->payload);
    return 0;
}

int notify_send(notify_sender_t *s, const notify_msg_t *msg, notify_done_fn cb, void *opaque)
{
    if (!s || !msg || !cb)
        return -1;
    notify_job_t *j = notify_xcalloc(1, sizeof(*j));
    j->s = s;
    j->cb = cb;
    j->opaque = opaque;
    char why[160];
    s->pending++;
    if (notify_job_fill(s, j, msg, why, sizeof(why)) != 0) {
        notify_job_refuse(j, why);
        j->next = s->refused;
        s->refused = j;
        return 0;
    }
    if (s->queue_tail)
        s->queue_tail->next = j;
    else
        s->queue_head = j;
    s->queue_tail = j;
    return 0;
}

/* ---- running ----------------------------------------------------------------------------------
 */

static size_t notify_discard(char *data, size_t size, size_t n, void *opaque)
{
    (void)data;
    (void)opaque;
    return size * n;
}

/* Keeps the Retry-After header of the answer. */
static size_t notify_header(char *data, size_t size, size_t n, void *opaque)
{
    notify_job_t *j = opaque;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        size_t vn = len - (sizeof(name) - 1);
        while (vn > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vn--;
        }
        while (vn > 0 && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
            vn--;
        snprintf(j->retry_after, sizeof(j->retry_after), "%.*s",
                 (int)(vn < sizeof(j->retry_after) ? vn : sizeof(j->retry_after) - 1), v);
    }
    return len;
}

/* Hands the mail to libcurl (which does the SMTP dot-stuffing). */
static size_t notify_read(char *buf, size_t size, size_t n, void *opaque)
{
    notify_job_t *j = opaque;
    size_t room = size * n, left = j->len - j->off;
    size_t k = left < room ? left : room;
    memcpy(buf, j->payload + j->off, k);
    j->off += k;
    return k;
}

/* Sets up @p j's easy handle. Returns 0, or -1 with j->result set. */
static int notify_job_easy(notify_sender_t *s, notify_job_t *j)
{
    CURL *e = j->easy = curl_easy_init();
    if (!e) {
        notify_classify(0, NOTIFY_TRANSPORT_BROKEN, 0, NULL, 0, "libcurl: no handle", &j->result);
        return -1;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, notify_discard);
    if (j->channel == DIRECTORY_CHANNEL_EMAIL) {
        char from[320], to[320];
        snprintf(from, sizeof(from), "<%s>", s->smtp_from);
        snprintf(to, sizeof(to), "<%s>", j->address);
        j->headers = notify_slist_add(NULL, to);
        curl_easy_setopt(e, CURLOPT_URL, s->smtp_url);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, j->headers);
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, notify_read);
        curl_easy_setopt(e, CURLOPT_READDATA, j);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->len);
        if (*s->smtp_user) {
            curl_easy_setopt(e, CURLOPT_USERNAME, s->smtp_user);
            curl_easy_setopt(e, CURLOPT_PASSWORD, s->smtp_password);
        }
    } else {
        j->headers = notify_http_headers(s, j);
        curl_easy_setopt(e, CURLOPT_URL, j->address);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_USERAGENT, "incidentd/" INCIDENTD_VERSION);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->payload);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->len);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, notify_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    }
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        j->easy = NULL;
        notify_classify(0, NOTIFY_TRANSPORT_BROKEN, 0, NULL, 0, "libcurl: cannot add", &j->result);
        return -1;
    }
    return 0;
}

static int notify_endpoint_busy(const notify_sender_t *s, const char *endpoint)
{
    int n = 0;
    for (int i = 0; i < s->max_concurrent; i++)
        if (s->running[i] && strcmp(s->running[i]->endpoint, endpoint) == 0)
            n++;
    return n >= s->max_per_endpoint;
}

/* Starts queued jobs, in order, while slots are free. */
static void notify_start_queued(notify_sender_t *s)
{
    notify_job_t **link = &s->queue_head, *prev = NULL;
    while (*link && s->n_running < s->max_concurrent) {
        notify_job_t *j = *link;
        if (notify_endpoint_busy(s, j->endpoint)) {
            prev = j;
            link = &j->next;
            continue;
        }
        *link = j->next;
        if (s->queue_tail == j)
            s->queue_tail = prev;
        j->next = NULL;
        if (notify_job_easy(s, j) != 0) {
            j->next = s->refused;
            s->refused = j;
            continue;
        }
        int slot = 0;
        while (s->running[slot])
            slot++;
        s->running[slot] = j;
        s->n_running++;
    }
}

/* The libcurl result of a finished transfer, mapped. */
static notify_transport_t notify_transport_of(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return NOTIFY_TRANSPORT_OK;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return NOTIFY_TRANSPORT_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return NOTIFY_TRANSPORT_TIMEOUT;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_LOGIN_DENIED:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return NOTIFY_TRANSPORT_REJECTED;
    default:
        return NOTIFY_TRANSPORT_BROKEN;
    }
}

static void notify_finish(notify_sender_t *s, notify_job_t *j)
{
    s->pending--;
    j->cb(&j->result, j->opaque);
    notify_job_free(j);
}

/* Finishes every transfer libcurl says has ended. Returns how many. */
static int notify_collect(notify_sender_t *s)
{
    int done = 0, left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        notify_job_t *j = NULL;
        long code = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        notify_transport_t t = notify_transport_of(m->data.result);
        const char *detail = t == NOTIFY_TRANSPORT_OK ? NULL
                             : j->errbuf[0]           ? j->errbuf
                                                      : curl_easy_strerror(m->data.result);
        notify_classify(j->channel == DIRECTORY_CHANNEL_EMAIL, t, code,
                        j->retry_after[0] ? j->retry_after : NULL, (int64_t)time(NULL) * 1000,
                        detail, &j->result);
        for (int i = 0; i < s->max_concurrent; i++)
            if (s->running[i] == j)
                s->running[i] = NULL;
        s->n_running--;
        notify_finish(s, j);
        done++;
    }
    return done;
}

int notify_sender_run(notify_sender_t *s, int timeout_ms)
{
    int done = 0, still;
    notify_start_queued(s);
    /* the refused ones first: their callbacks may queue more */
    while (s->refused) {
        notify_job_t *j = s->refused;
        s->refused = j->next;
        notify_finish(s, j);
        done++;
    }
    if (done)
        timeout_ms = 0;
    curl_multi_perform(s->multi, &still);
    done += notify_collect(s);
    notify_start_queued(s);
    if (done == 0) {
        curl_multi_poll(s->multi, NULL, 0, timeout_ms < 0 ? 0 : timeout_ms, NULL);
        curl_multi_perform(s->multi, &still);
        done += notify_collect(s);
        notify_start_queued(s);
    }
    if (s->n_running)
        curl_multi_perform(s->multi, &still); /* the new ones start connecting now */
    return done;
}
