/*
 * ingest_map.c — webhook bodies to Alerts; see ingest_map.h.
 *
 * Each mapper parses the body with cJSON, builds its alerts in the arena
 * and checks every one (im_check: the contract's limits, UTF-8). A reason
 * always names the field ("alerts[2].labels: ...") so that the sender's
 * operator can fix the integration from the 400 answer alone.
 */
#include "ingest_map.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "pbjson.h"
#include "utf8.h"

typedef Incident__V1__Alert__LabelsEntry im_label_t;

/* ---- small helpers ------------------------------------------------------------------ */

/* A copy of @p s of at most @p max bytes, cut before a UTF-8 sequence that
 * would not fit whole. */
static char *im_cut(arena_t *arena, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return arena_strndup(arena, s, n);
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return arena_strndup(arena, s, n);
}

/* Lower-case hex of SHA-256 over @p n parts, each followed by a '\n'
 * separator, into @p hex (65 bytes). */
static void im_sha256_hex(char hex[65], size_t n, const char *const *parts, const size_t *lens)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) {
        fputs("incidentd: out of memory\n", stderr);
        abort();
    }
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        EVP_DigestUpdate(ctx, parts[i], lens ? lens[i] : strlen(parts[i]));
        EVP_DigestUpdate(ctx, "\n", 1);
    }
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

/* One JSON value in [body, body+len) and nothing but white space after it. */
static cJSON *im_parse_json(const char *body, size_t len, char *err, size_t err_size)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        snprintf(err, err_size, "invalid JSON near byte %zu", at);
        return NULL;
    }
    size_t at = (size_t)(end - body);
    while (at < len && (body[at] == ' ' || body[at] == '\t' || body[at] == '\r' ||
                        body[at] == '\n' || body[at] == '\0'))
        at++;
    if (at < len) {
        cJSON_Delete(root);
        snprintf(err, err_size, "invalid JSON: text after the value at byte %zu", at);
        return NULL;
    }
    return root;
}

/*
 * cJSON turns the escape \u0000 (and takes a raw NUL byte) inside a string
 * into a NUL that ends its C string: "x\u0000-1" would be read as "x". When
 * the body may hold one, this returns a copy with every NUL inside a string
 * written as UTF8_NUL_KEPT (C0 80), which hd_alert_validate() rejects naming
 * the field; otherwise NULL (parse the body as it is). Caller frees.
 */
static char *im_keep_nul(const char *body, size_t len, size_t *out_len)
{
    int maybe = memchr(body, '\0', len) != NULL;
    for (const char *p = body; !maybe && (p = memchr(p, '\\', len - (size_t)(p - body))); p++)
        maybe = (size_t)(body + len - p) >= 6 && memcmp(p + 1, "u0000", 5) == 0;
    if (!maybe)
        return NULL;
    char *d = malloc(2 * len + 1);
    if (!d) {
        fputs("incidentd: out of memory\n", stderr);
        abort();
    }
    size_t j = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_str && c == '\\' && i + 5 < len && memcmp(body + i + 1, "u0000", 5) == 0) {
            memcpy(d + j, UTF8_NUL_KEPT, 2);
            j += 2;
            i += 5;
        } else if (in_str && c == '\\' && i + 1 < len) {
            d[j++] = c; /* any other escape, \\ and \" included, as it is */
            d[j++] = body[++i];
        } else if (in_str && c == '\0') {
            memcpy(d + j, UTF8_NUL_KEPT, 2);
            j += 2;
        } else {
            if (c == '"')
                in_str = !in_str;
            d[j++] = c;
        }
    }
    d[j] = '\0';
    *out_len = j;
    return d;
}

/* Parses a whole body: one JSON value and nothing but white space after it. */
static cJSON *im_parse(const char *body, size_t len, char *err, size_t err_size)
{
    if (len == 0) {
        snprintf(err, err_size, "empty body (expected a JSON object)");
        return NULL;
    }
    char *kept = im_keep_nul(body, len, &len);
    cJSON *root = im_parse_json(kept ? kept : body, len, err, err_size);
    free(kept);
    return root;
}

/* The string member @p name of @p obj: NULL when absent or null, "" marks a
 * wrong type through *bad. */
static const char *im_str(const cJSON *obj, const char *name, int *bad)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!j || cJSON_IsNull(j))
        return NULL;
    if (!cJSON_IsString(j) || !j->valuestring) {
        *bad = 1;
        return NULL;
    }
    return j->valuestring;
}

/* ---- alert building ------------------------------------------------------------------- */

/* An alert under construction: growable lists in the arena. */
typedef struct im_build {
    arena_t *arena;
    hd_alert_t *alert;
    size_t cap_labels, cap_sites, cap_clients;
} im_build_t;

static void im_build_init(im_build_t *b, arena_t *arena)
{
    static const hd_alert_t init = INCIDENT__V1__ALERT__INIT;
    memset(b, 0, sizeof(*b));
    b->arena = arena;
    b->alert = arena_alloc(arena, sizeof(*b->alert));
    *b->alert = init;
}

/* Grows an arena array of pointers to hold one more. */
static void *im_grow(arena_t *arena, void *arr, size_t n, size_t *cap)
{
    if (n < *cap)
        return arr;
    size_t nc = *cap ? *cap * 2 : 8;
    void **d = arena_alloc(arena, nc * sizeof(void *));
    if (n)
        memcpy(d, arr, n * sizeof(void *));
    *cap = nc;
    return d;
}

static const char *im_label_get(const hd_alert_t *a, const char *key)
{
    for (size_t i = 0; i < a->n_labels; i++)
        if (strcmp(a->labels[i]->key, key) == 0)
            return a->labels[i]->value;
    return NULL;
}

/* Adds a label (both strings borrowed from the arena already). */
static void im_label_add(im_build_t *b, char *key, char *value)
{
    static const im_label_t init = INCIDENT__V1__ALERT__LABELS_ENTRY__INIT;
    hd_alert_t *a = b->alert;
    a->labels = im_grow(b->arena, a->labels, a->n_labels, &b->cap_labels);
    im_label_t *e = arena_alloc(b->arena, sizeof(*e));
    *e = init;
    e->key = key;
    e->value = value;
    a->labels[a->n_labels++] = e;
}

/* Adds one entry to a list unless present. */
static void im_list_add1(im_build_t *b, char ***items, size_t *n, size_t *cap, const char *s,
                         size_t len)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*items)[i]) == len && memcmp((*items)[i], s, len) == 0)
            return;
    *items = im_grow(b->arena, *items, *n, cap);
    (*items)[(*n)++] = arena_strndup(b->arena, s, len);
}

/* Adds the entries of a comma list, trimmed, empty ones dropped. */
static void im_list_add(im_build_t *b, char ***items, size_t *n, size_t *cap, const char *s)
{
    for (;;) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : s + strlen(s);
        const char *p = s;
        while (p < e && isspace((unsigned char)*p))
            p++;
        while (e > p && isspace((unsigned char)e[-1]))
            e--;
        if (e > p)
            im_list_add1(b, items, n, cap, p, (size_t)(e - p));
        if (!comma)
            return;
        s = comma + 1;
    }
}

static void im_sites_add(im_build_t *b, const char *s)
{
    im_list_add(b, &b->alert->sites, &b->alert->n_sites, &b->cap_sites, s);
}

static void im_clients_add(im_build_t *b, const char *s)
{
    im_list_add(b, &b->alert->clients, &b->alert->n_clients, &b->cap_clients, s);
}

/* Checks a finished alert: the contract's limits, and UTF-8 without NUL in
 * every string (hd_alert_validate()). */
static int im_check(const hd_alert_t *a, const char *where, char *err, size_t err_size)
{
    char why[300];
    if (hd_alert_validate(a, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "%s%s%s", where, *where ? ": " : "", why);
        return -1;
    }
    return 0;
}

/* ---- time --------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static int64_t im_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Reads exactly @p n digits. */
static int im_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int ingest_map_time_ms(const char *s, int64_t *ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    int Y, M, D, h, m, sec, frac_ms = 0;
    if (im_digits(&p, 4, &Y) || *p++ != '-' || im_digits(&p, 2, &M) || *p++ != '-' ||
        im_digits(&p, 2, &D))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (im_digits(&p, 2, &h) || *p++ != ':' || im_digits(&p, 2, &m) || *p++ != ':' ||
        im_digits(&p, 2, &sec))
        return -1;
    if (*p == '.' || *p == ',') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        int k = 0;
        for (; isdigit((unsigned char)*p); p++, k++)
            if (k < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        for (; k < 3; k++)
            frac_ms *= 10;
    }
    int off_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (im_digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (im_digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        off_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    if (Y < 1 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
        return -1;
    if (M == 2 && D == 29 && !(Y % 4 == 0 && (Y % 100 != 0 || Y % 400 == 0)))
        return -1;
    if (Y == 1 && M == 1 && D == 1 && h == 0 && m == 0 && sec == 0 && frac_ms == 0 &&
        off_min == 0) {
        *ms = 0; /* Go's zero time: "not set" */
        return 0;
    }
    int64_t t = im_days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec -
                (int64_t)off_min * 60;
    *ms = t * 1000 + frac_ms;
    return 0;
}

/* ---- severity ----------------------------------------------------------------------- */

static const struct {
    const char *name;
    Incident__V1__Severity sev;
} im_severities[] = {
    {"critical", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"crit", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"fatal", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"emergency", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"emerg", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"page", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"disaster", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"p1", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"sev1", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"major", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"high", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"error", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"err", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"p2", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"sev2", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"minor", INCIDENT__V1__SEVERITY__SEVERITY_MINOR},
    {"medium", INCIDENT__V1__SEVERITY__SEVERITY_MINOR},
    {"average", INCIDENT__V1__SEVERITY__SEVERITY_MINOR},
    {"p3", INCIDENT__V1__SEVERITY__SEVERITY_MINOR},
    {"sev3", INCIDENT__V1__SEVERITY__SEVERITY_MINOR},
    {"warning", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"warn", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"low", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"p4", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"sev4", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"info", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"informational", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"information", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"notice", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"debug", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"ok", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"none", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"p5", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"sev5", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
};

/* Alertmanager's severity label: anything unknown (or absent) is WARNING,
 * so that a firing alert always has a severity. */
static Incident__V1__Severity im_am_severity(const char *v)
{
    if (!v)
        return INCIDENT__V1__SEVERITY__SEVERITY_WARNING;
    for (size_t i = 0; i < sizeof(im_severities) / sizeof(im_severities[0]); i++)
        if (strcasecmp(v, im_severities[i].name) == 0)
            return im_severities[i].sev;
    return INCIDENT__V1__SEVERITY__SEVERITY_WARNING;
}

/* ---- Alertmanager ----------------------------------------------------------------------- */

/* Reads an object of string values (labels, annotations) into @p b's labels
 * (when @p keep) after checking it. */
static int im_am_kv_check(const cJSON *obj, const char *where, char *err, size_t err_size)
{
    if (!obj || cJSON_IsNull(obj))
        return 0;
    if (!cJSON_IsObject(obj)) {
        snprintf(err, err_size, "%s: expected an object of name: value", where);
        return -1;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, obj)
    {
        if (!cJSON_IsString(item)) {
            snprintf(err, err_size, "%s.%.200s: expected a string", where, item->string);
            return -1;
        }
    }
    return 0;
}

/* The values of site/sites (or client/clients) from labels then annotations. */
static void im_am_lists(im_build_t *b, const cJSON *labels, const cJSON *annotations)
{
    const cJSON *srcs[] = {labels, annotations};
    for (size_t k = 0; k < 2; k++) {
        int bad = 0;
        const char *v;
        if (!srcs[k])
            continue;
        if ((v = im_str(srcs[k], "site", &bad)))
            im_sites_add(b, v);
        if ((v = im_str(srcs[k], "sites", &bad)))
            im_sites_add(b, v);
        if ((v = im_str(srcs[k], "client", &bad)))
            im_clients_add(b, v);
        if ((v = im_str(srcs[k], "clients", &bad)))
            im_clients_add(b, v);
    }
}

/* Hex SHA-256 of a label set, sorted by name: the identity of an alert
 * without a fingerprint. */
static void im_am_labels_hash(const cJSON *labels, char hex[65])
{
    size_t n = labels ? (size_t)cJSON_GetArraySize(labels) : 0;
    const cJSON **v = calloc(n ? n : 1, sizeof(*v));
    const char **parts = calloc(2 * n + 1, sizeof(*parts));
    if (!v || !parts) {
        fputs("incidentd: out of memory\n", stderr);
        abort();
    }
    size_t k = 0;
    const cJSON *item;
    if (labels)
        cJSON_ArrayForEach(item, labels) v[k++] = item;
    /* insertion sort: label sets are small */
    for (size_t i = 1; i < k; i++) {
        const cJSON *x = v[i];
        size_t j = i;
        while (j > 0 && strcmp(v[j - 1]->string, x->string) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    for (size_t i = 0; i < k; i++) {
        parts[2 * i] = v[i]->string;
        parts[2 * i + 1] = v[i]->valuestring;
    }
    im_sha256_hex(hex, 2 * k, parts, NULL);
    free(parts);
    free(v);
}

static int im_am_alert(const cJSON *j, size_t idx, const char *group_status, const char *receiver,
                       arena_t *arena, hd_alert_t **out, char *err, size_t err_size)
{
    char where[48];
    snprintf(where, sizeof(where), "alerts[%zu]", idx);
    if (!cJSON_IsObject(j)) {
        snprintf(err, err_size, "%s: expected an object", where);
        return -1;
    }
    int bad = 0;
    const char *status = im_str(j, "status", &bad);
    const char *fingerprint = im_str(j, "fingerprint", &bad);
    const char *starts = im_str(j, "startsAt", &bad);
    const char *ends = im_str(j, "endsAt", &bad);
    if (bad) {
        snprintf(err, err_size, "%s: status, fingerprint, startsAt and endsAt must be strings",
                 where);
        return -1;
    }
    if (!status)
        status = group_status;
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(j, "labels");
    const cJSON *annotations = cJSON_GetObjectItemCaseSensitive(j, "annotations");
    char sub[64];
    snprintf(sub, sizeof(sub), "%s.labels", where);
    if (im_am_kv_check(labels, sub, err, err_size) != 0)
        return -1;
    snprintf(sub, sizeof(sub), "%s.annotations", where);
    if (im_am_kv_check(annotations, sub, err, err_size) != 0)
        return -1;
    if (labels && cJSON_IsNull(labels))
        labels = NULL;
    if (annotations && cJSON_IsNull(annotations))
        annotations = NULL;

    im_build_t b;
    im_build_init(&b, arena);
    hd_alert_t *a = b.alert;
    if (status && strcasecmp(status, "firing") == 0) {
        a->action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    } else if (status && strcasecmp(status, "resolved") == 0) {
        a->action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
        a->actor = "alertmanager";
    } else {
        snprintf(err, err_size, "%s.status: %s%.64s%s, expected firing or resolved", where,
                 status ? "'" : "", status ? status : "missing", status ? "'" : "");
        return -1;
    }

    /* identity */
    char hex[65];
    const char *identity;
    if (fingerprint && *fingerprint) {
        identity = fingerprint;
        a->dedup_key = arena_printf(arena, "am:%s", fingerprint);
    } else {
        if (!labels || cJSON_GetArraySize(labels) == 0) {
            snprintf(err, err_size, "%s: neither a fingerprint nor labels to identify it", where);
            return -1;
        }
        im_am_labels_hash(labels, hex);
        identity = arena_strdup(arena, hex);
        a->dedup_key = arena_printf(arena, "am:%s", hex);
    }
    const char *id_parts[] = {identity, status, starts ? starts : "", ends ? ends : ""};
    im_sha256_hex(hex, 4, id_parts, NULL);
    a->alert_id = arena_printf(arena, "am:%s", hex);

    /* times */
    int64_t t_start = 0, t_end = 0;
    if (starts && *starts && ingest_map_time_ms(starts, &t_start) != 0) {
        snprintf(err, err_size, "%s.startsAt: '%.64s' is not an RFC 3339 time", where, starts);
        return -1;
    }
    if (ends && *ends && ingest_map_time_ms(ends, &t_end) != 0) {
        snprintf(err, err_size, "%s.endsAt: '%.64s' is not an RFC 3339 time", where, ends);
        return -1;
    }
    a->occurred_at_ms =
        a->action == INCIDENT__V1__ACTION__ACTION_RESOLVE && t_end != 0 ? t_end : t_start;

    /* what and where */
    const char *sev = labels ? im_str(labels, "severity", &bad) : NULL;
    a->severity = im_am_severity(sev);
    const char *summary = annotations ? im_str(annotations, "summary", &bad) : NULL;
    if (!summary || !*summary)
        summary = annotations ? im_str(annotations, "description", &bad) : NULL;
    if ((!summary || !*summary) && labels)
        summary = im_str(labels, "alertname", &bad);
    if (summary)
        a->summary = im_cut(arena, summary, HD_SUMMARY_MAX);
    const char *service = labels ? im_str(labels, "service", &bad) : NULL;
    if ((!service || !*service) && labels)
        service = im_str(labels, "job", &bad);
    if (service)
        a->service = arena_strdup(arena, service);
    a->source = receiver && *receiver
                    ? im_cut(arena, arena_printf(arena, "alertmanager/%s", receiver), HD_SHORT_MAX)
                    : "alertmanager";
    im_am_lists(&b, labels, annotations);

    if (labels) {
        size_t nl = (size_t)cJSON_GetArraySize(labels);
        if (nl > HD_LABELS_MAX) {
            snprintf(err, err_size, "%s.labels: %zu labels, limit %d", where, nl, HD_LABELS_MAX);
            return -1;
        }
        const cJSON *item;
        cJSON_ArrayForEach(item, labels)
        {
            if (im_label_get(a, item->string))
                continue; /* a name given twice: the first one counts */
            im_label_add(&b, arena_strdup(arena, item->string),
                         arena_strdup(arena, item->valuestring));
        }
    }
    if (im_check(a, where, err, err_size) != 0)
        return -1;
    *out = a;
    return 0;
}

int ingest_map_alertmanager(const char *body, size_t len, arena_t *arena, ingest_batch_t *out,
                            char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = im_parse(body, len, err, err_size);
    if (!root)
        return -1;
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        snprintf(err, err_size, "expected a JSON object (an Alertmanager webhook notification)");
        goto out;
    }
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (version && !(cJSON_IsString(version) && strcmp(version->valuestring, "4") == 0)) {
        snprintf(err, err_size,
                 "version: expected \"4\" (the Alertmanager webhook payload version)");
        goto out;
    }
    int bad = 0;
    const char *status = im_str(root, "status", &bad);
    const char *receiver = im_str(root, "receiver", &bad);
    if (bad) {
        snprintf(err, err_size, "status and receiver must be strings");
        goto out;
    }
    const cJSON *alerts = cJSON_GetObjectItemCaseSensitive(root, "alerts");
    if (!cJSON_IsArray(alerts)) {
        snprintf(err, err_size, "alerts: %s", alerts ? "expected an array" : "missing");
        goto out;
    }
    size_t n = (size_t)cJSON_GetArraySize(alerts);
    if (n > INGEST_ALERTS_MAX) {
        snprintf(err, err_size, "alerts: %zu alerts, limit %d", n, INGEST_ALERTS_MAX);
        goto out;
    }
    out->alerts = arena_alloc(arena, (n ? n : 1) * sizeof(*out->alerts));
    size_t k = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, alerts)
    {
        if (im_am_alert(item, k, status, receiver, arena, &out->alerts[k], err, err_size) != 0)
            goto out;
        k++;
    }
    out->n = k;
    rc = 0;
out:
    if (rc != 0) {
        out->alerts = NULL;
        out->n = 0;
    }
    cJSON_Delete(root);
    return rc;
}

/* ---- PagerDuty Events API v2 -------------------------------------------------------------- */

/* sites/clients from a custom_details value: a comma list or an array of strings. */
static void im_pd_list(im_build_t *b, const cJSON *v, int sites)
{
    if (cJSON_IsString(v)) {
        if (sites)
            im_sites_add(b, v->valuestring);
        else
            im_clients_add(b, v->valuestring);
        return;
    }
    if (!cJSON_IsArray(v))
        return;
    const cJSON *el;
    cJSON_ArrayForEach(el, v)
    {
        if (!cJSON_IsString(el))
            continue;
        if (sites)
            im_sites_add(b, el->valuestring);
        else
            im_clients_add(b, el->valuestring);
    }
}

/* A label from a JSON value: strings as they are, anything else as JSON;
 * cut at the contract's limit. Skipped when full, unnamed or too long a name. */
static void im_pd_label(im_build_t *b, const char *key, const cJSON *v)
{
    if (!key || !*key || strlen(key) > HD_SHORT_MAX || b->alert->n_labels >= HD_LABELS_MAX ||
        im_label_get(b->alert, key))
        return;
    const char *text;
    char *printed = NULL;
    if (cJSON_IsString(v)) {
        text = v->valuestring;
    } else {
        printed = cJSON_PrintUnformatted(v);
        if (!printed) {
            fputs("incidentd: out of memory\n", stderr);
            abort();
        }
        text = printed;
    }
    im_label_add(b, arena_strdup(b->arena, key), im_cut(b->arena, text, HD_SUMMARY_MAX));
    free(printed);
}

static const struct {
    const char *name;
    Incident__V1__Severity sev;
} im_pd_severities[] = {
    {"critical", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"error", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"warning", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"info", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
};

int ingest_map_events(const char *body, size_t len, arena_t *arena, ingest_batch_t *out, char *err,
                      size_t err_size)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = im_parse(body, len, err, err_size);
    if (!root)
        return -1;
    int rc = -1, bad = 0;
    im_build_t b;
    im_build_init(&b, arena);
    hd_alert_t *a = b.alert;
    if (!cJSON_IsObject(root)) {
        snprintf(err, err_size, "expected a JSON object (an Events API v2 event)");
        goto out;
    }

    const char *routing_key = im_str(root, "routing_key", &bad);
    if (bad || !routing_key || !*routing_key) {
        snprintf(err, err_size, "routing_key: %s", bad ? "expected a string" : "missing");
        goto out;
    }
    size_t at = 0;
    const char *why = utf8_check(routing_key, strlen(routing_key), &at);
    if (why) {
        snprintf(err, err_size, "routing_key: %s at byte %zu (strings must be UTF-8 without NUL)",
                 why, at);
        goto out;
    }
    if (strlen(routing_key) > INGEST_ROUTING_KEY_MAX) {
        snprintf(err, err_size, "routing_key: longer than %d characters", INGEST_ROUTING_KEY_MAX);
        goto out;
    }
    const char *action = im_str(root, "event_action", &bad);
    if (bad || !action) {
        snprintf(err, err_size, "event_action: %s (trigger, acknowledge or resolve)",
                 bad ? "expected a string" : "missing");
        goto out;
    }
    if (strcasecmp(action, "trigger") == 0)
        a->action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    else if (strcasecmp(action, "acknowledge") == 0)
        a->action = INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE;
    else if (strcasecmp(action, "resolve") == 0)
        a->action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
    else {
        snprintf(err, err_size, "event_action: '%.64s' is not trigger, acknowledge or resolve",
                 action);
        goto out;
    }
    int trigger = a->action == INCIDENT__V1__ACTION__ACTION_TRIGGER;

    const char *dedup = im_str(root, "dedup_key", &bad);
    if (bad) {
        snprintf(err, err_size, "dedup_key: expected a string");
        goto out;
    }
    if (dedup && strlen(dedup) > HD_DEDUP_KEY_MAX) {
        snprintf(err, err_size, "dedup_key: %zu characters, limit %d", strlen(dedup),
                 HD_DEDUP_KEY_MAX);
        goto out;
    }
    char hex[65];
    const char *parts[] = {"dedup", routing_key, body};
    size_t lens[] = {5, strlen(routing_key), len};
    if (!dedup || !*dedup) {
        if (!trigger) {
            snprintf(err, err_size, "dedup_key: required for %s", action);
            goto out;
        }
        im_sha256_hex(hex, 3, parts, lens);
        hex[32] = '\0';
        dedup = hex;
    }
    a->dedup_key = arena_strdup(arena, dedup);
    im_sha256_hex(hex, 2, parts + 1, lens + 1);
    a->alert_id = arena_printf(arena, "pd:%s", hex);

    const char *client = im_str(root, "client", &bad);
    if (bad) {
        snprintf(err, err_size, "client: expected a string");
        goto out;
    }
    if (client && !trigger)
        a->actor = im_cut(arena, client, HD_SHORT_MAX);

    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(root, "payload");
    if (payload && cJSON_IsNull(payload))
        payload = NULL;
    if (payload && !cJSON_IsObject(payload)) {
        snprintf(err, err_size, "payload: expected an object");
        goto out;
    }
    if (!payload && trigger) {
        snprintf(err, err_size, "payload: required for trigger (summary, source, severity)");
        goto out;
    }
    if (payload) {
        static const char *const str_fields[] = {"summary",   "source", "severity", "timestamp",
                                                 "component", "group",  "class"};
        const char *v[7];
        for (size_t i = 0; i < 7; i++) {
            v[i] = im_str(payload, str_fields[i], &bad);
            if (bad) {
                snprintf(err, err_size, "payload.%s: expected a string", str_fields[i]);
                goto out;
            }
        }
        const char *summary = v[0], *source = v[1], *severity = v[2], *timestamp = v[3];
        if (trigger) {
            for (size_t i = 0; i < 3; i++)
                if (!v[i] || !*v[i]) {
                    snprintf(err, err_size, "payload.%s: required for trigger", str_fields[i]);
                    goto out;
                }
        }
        if (summary && strlen(summary) > HD_SUMMARY_MAX) {
            snprintf(err, err_size, "payload.summary: %zu characters, limit %d", strlen(summary),
                     HD_SUMMARY_MAX);
            goto out;
        }
        if (source && strlen(source) > HD_SHORT_MAX) {
            snprintf(err, err_size, "payload.source: %zu characters, limit %d", strlen(source),
                     HD_SHORT_MAX);
            goto out;
        }
        if (severity) {
            size_t i = 0;
            for (; i < sizeof(im_pd_severities) / sizeof(im_pd_severities[0]); i++)
                if (strcasecmp(severity, im_pd_severities[i].name) == 0)
                    break;
            if (i == sizeof(im_pd_severities) / sizeof(im_pd_severities[0])) {
                snprintf(err, err_size,
                         "payload.severity: '%.64s' is not critical, error, warning or info",
                         severity);
                goto out;
            }
            a->severity = im_pd_severities[i].sev;
        }
        if (timestamp && ingest_map_time_ms(timestamp, &a->occurred_at_ms) != 0) {
            snprintf(err, err_size, "payload.timestamp: '%.64s' is not an ISO 8601 time",
                     timestamp);
            goto out;
        }
        if (summary)
            a->summary = arena_strdup(arena, summary);
        if (source)
            a->source = arena_strdup(arena, source);
        if (v[4])
            a->service = arena_strdup(arena, v[4]);
        if (v[5] && *v[5])
            im_pd_label(&b, "group", cJSON_GetObjectItemCaseSensitive(payload, "group"));
        if (v[6] && *v[6])
            im_pd_label(&b, "class", cJSON_GetObjectItemCaseSensitive(payload, "class"));

        const cJSON *details = cJSON_GetObjectItemCaseSensitive(payload, "custom_details");
        if (details && cJSON_IsObject(details)) {
            const cJSON *item;
            cJSON_ArrayForEach(item, details)
            {
                if (strcmp(item->string, "site") == 0 || strcmp(item->string, "sites") == 0)
                    im_pd_list(&b, item, 1);
                else if (strcmp(item->string, "client") == 0 ||
                         strcmp(item->string, "clients") == 0)
                    im_pd_list(&b, item, 0);
                im_pd_label(&b, item->string, item);
            }
        } else if (details && !cJSON_IsNull(details)) {
            im_pd_label(&b, "custom_details", details);
        }
    }
    if (im_check(a, "", err, err_size) != 0)
        goto out;
    out->alerts = arena_alloc(arena, sizeof(*out->alerts));
    out->alerts[0] = a;
    out->n = 1;
    out->dedup_key = a->dedup_key;
    out->routing_key = arena_strdup(arena, routing_key);
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- the JSON mapping of an Alert ------------------------------------------------------------ */

int ingest_map_alert_json(const char *body, size_t len, arena_t *arena, ingest_batch_t *out,
                          char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = im_parse(body, len, err, err_size);
    if (!root)
        return -1;
    int rc = -1;
    char why[300];
    const cJSON *one[1] = {root};
    const cJSON **items = one;
    size_t n = 1;
    if (cJSON_IsArray(root)) {
        n = (size_t)cJSON_GetArraySize(root);
        if (n > INGEST_ALERTS_MAX) {
            snprintf(err, err_size, "%zu alerts, limit %d", n, INGEST_ALERTS_MAX);
            goto out;
        }
        items = arena_alloc(arena, (n ? n : 1) * sizeof(*items));
        size_t k = 0;
        const cJSON *el;
        cJSON_ArrayForEach(el, root) items[k++] = el;
    } else if (!cJSON_IsObject(root)) {
        snprintf(err, err_size,
                 "expected a JSON object (an incident.v1.Alert) or an array of them");
        goto out;
    }
    out->alerts = arena_alloc(arena, (n ? n : 1) * sizeof(*out->alerts));
    for (size_t i = 0; i < n; i++) {
        char where[32];
        if (cJSON_IsArray(root))
            snprintf(where, sizeof(where), "[%zu]", i);
        else
            where[0] = '\0';
        ProtobufCMessage *m = pbjson_to_message(&incident__v1__alert__descriptor, items[i], arena,
                                                  why, sizeof(why));
        if (!m) {
            snprintf(err, err_size, "%s%s%s", where, *where ? ": " : "", why);
            goto out;
        }
        hd_alert_t *a = (hd_alert_t *)m;
        if (im_check(a, where, err, err_size) != 0)
            goto out;
        out->alerts[i] = a;
    }
    out->n = n;
    rc = 0;
out:
    if (rc != 0) {
        out->alerts = NULL;
        out->n = 0;
    }
    cJSON_Delete(root);
    return rc;
}
