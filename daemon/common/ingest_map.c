/*
 * ingest_map.c — what the webhook mappers share; see ingest_map.h and
 * ingest_map_internal.h.
 *
 * Each mapper (ingest_map_alertmanager.c, ingest_map_events.c,
 * ingest_map_alert.c) parses the body here, builds its alerts with the
 * builder here and checks every one (ingest_map_check: the contract's
 * limits, UTF-8). A reason always names the field ("alerts[2].labels: ...")
 * so that the sender's operator can fix the integration from the 400
 * answer alone. Timestamps of every mapper are read by ingest_map_time_ms().
 */
#include "ingest_map_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "utf8.h"

typedef Incident__V1__Alert__LabelsEntry im_label_t;

void ingest_map_oom(void)
{
    fputs("incidentd: out of memory\n", stderr);
    abort();
}

/* ---- small helpers ------------------------------------------------------------------ */

/* A copy of @p s of at most @p max bytes, cut before a UTF-8 sequence that
 * would not fit whole. */
char *ingest_map_cut(arena_t *arena, const char *s, size_t max)
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
void ingest_map_sha256_hex(char hex[65], size_t n, const char *const *parts, const size_t *lens)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) {
        ingest_map_oom();
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

/* The string member @p name of @p obj: NULL when absent or null, "" marks a
 * wrong type through *bad. */
const char *ingest_map_str(const cJSON *obj, const char *name, int *bad)
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

void ingest_map_build_init(im_build_t *b, arena_t *arena)
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

const char *ingest_map_label_get(const hd_alert_t *a, const char *key)
{
    for (size_t i = 0; i < a->n_labels; i++)
        if (strcmp(a->labels[i]->key, key) == 0)
            return a->labels[i]->value;
    return NULL;
}

/* Adds a label (both strings borrowed from the arena already). */
void ingest_map_label_add(im_build_t *b, char *key, char *value)
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

int ingest_map_where_add(im_build_t *b, const char *key, const cJSON *v)
{
    hd_alert_t *a = b->alert;
    char ***items;
    size_t *n, *cap;
    if (strcmp(key, "site") == 0 || strcmp(key, "sites") == 0) {
        items = &a->sites, n = &a->n_sites, cap = &b->cap_sites;
    } else if (strcmp(key, "client") == 0 || strcmp(key, "clients") == 0) {
        items = &a->clients, n = &a->n_clients, cap = &b->cap_clients;
    } else {
        return 0;
    }
    if (cJSON_IsString(v)) {
        im_list_add(b, items, n, cap, v->valuestring);
    } else if (cJSON_IsArray(v)) {
        const cJSON *el;
        cJSON_ArrayForEach(el, v)
        {
            if (cJSON_IsString(el))
                im_list_add(b, items, n, cap, el->valuestring);
        }
    }
    return 1;
}

/* Checks a finished alert: the contract's limits, and UTF-8 without NUL in
 * every string (hd_alert_validate()). */
int ingest_map_check(const hd_alert_t *a, const char *where, char *err, size_t err_size)
{
    char why[300];
    if (hd_alert_validate(a, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "%s%s%s", where, *where ? ": " : "", why);
        return -1;
    }
    return 0;
}

/* ---- batches -------------------------------------------------------------------------- */

int ingest_map_each(const cJSON *items, const char *where, arena_t *arena, ingest_map_item_fn fn,
                    void *ctx, ingest_batch_t *out, char *err, size_t err_size)
{
    size_t n = (size_t)cJSON_GetArraySize(items);
    if (n > INGEST_ALERTS_MAX) {
        snprintf(err, err_size, "%s%zu alerts, limit %d", where, n, INGEST_ALERTS_MAX);
        return -1;
    }
    out->alerts = arena_alloc(arena, (n ? n : 1) * sizeof(*out->alerts));
    size_t k = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, items)
    {
        if (fn(item, k, arena, ctx, &out->alerts[k], err, err_size) != 0) {
            out->alerts = NULL;
            out->n = 0;
            return -1;
        }
        k++;
    }
    out->n = k;
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
