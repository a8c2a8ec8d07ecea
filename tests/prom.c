/*
 * prom.c — the tests' parser of the text exposition format 0.0.4; see prom.h.
 */
#include "prom.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"

/* What the parse of one exposition has seen so far, besides the samples. */
typedef struct parse_state {
    char helped[TU_PROM_MAX_FAMILIES][128]; /* family names with a HELP line */
    size_t n_helped;
    char last_family[128]; /* of the last TYPE line */
} parse_state_t;

static int is_name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Reads a metric or label name at *p; returns its length (0 = none). */
static size_t parse_name(const char **p, char *out, size_t size)
{
    size_t n = 0;
    while (is_name_char((*p)[n], n == 0))
        n++;
    if (n == 0 || n >= size)
        return 0;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += n;
    return n;
}

/* The family a sample belongs to: histogram suffixes stripped when their
 * base is a declared histogram. */
static const char *family_of(const tu_prom_t *e, const char *name, char *buf, size_t size)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t nl = strlen(name), sl = strlen(suffixes[i]);
        if (nl > sl && strcmp(name + nl - sl, suffixes[i]) == 0) {
            snprintf(buf, size, "%.*s", (int)(nl - sl), name);
            for (size_t t = 0; t < e->n_types; t++)
                if (strcmp(e->types[t], buf) == 0 && strcmp(e->type_of[t], "histogram") == 0)
                    return buf;
        }
    }
    snprintf(buf, size, "%s", name);
    return buf;
}

/* A "# HELP name text" or "# TYPE name type" line. */
static void parse_comment(tu_prom_t *e, parse_state_t *st, const char *l)
{
    char kind[8], name[128], rest[512];
    int k = sscanf(l, "# %7s %127s %511[^\n]", kind, name, rest);
    cr_assert(k == 3, "comment line: '%s'", l);
    const char *p = name;
    char tmp[128];
    cr_assert(parse_name(&p, tmp, sizeof(tmp)) && *p == '\0', "metric name: '%s'", l);
    if (strcmp(kind, "TYPE") == 0) {
        cr_assert(strcmp(rest, "counter") == 0 || strcmp(rest, "gauge") == 0 ||
                      strcmp(rest, "histogram") == 0,
                  "type: '%s'", l);
        for (size_t t = 0; t < e->n_types; t++)
            cr_assert_str_neq(e->types[t], name, "one TYPE per family: %s", name);
        cr_assert_lt(e->n_types, TU_PROM_MAX_FAMILIES);
        snprintf(e->types[e->n_types], sizeof(e->types[0]), "%s", name);
        snprintf(e->type_of[e->n_types++], sizeof(e->type_of[0]), "%.15s", rest);
        snprintf(st->last_family, sizeof(st->last_family), "%s", name);
    } else {
        cr_assert_str_eq(kind, "HELP", "comment: '%s'", l);
        cr_assert_lt(st->n_helped, TU_PROM_MAX_FAMILIES);
        snprintf(st->helped[st->n_helped++], sizeof(st->helped[0]), "%s", name);
    }
}

/* The labels of line @p l at *p (just past the '{') into @p s; *p ends past
 * the '}'. */
static void parse_labels(const char **pp, const char *l, tu_prom_sample_t *s)
{
    const char *p = *pp, *start = p;
    while (*p != '}') {
        char lname[128];
        cr_assert(parse_name(&p, lname, sizeof(lname)), "label name: '%s'", l);
        cr_assert(p[0] == '=' && p[1] == '"', "label '%s' in '%s'", lname, l);
        p += 2;
        while (*p && *p != '"') {
            if (*p == '\\') {
                cr_assert(p[1] == '\\' || p[1] == '"' || p[1] == 'n', "escape: '%s'", l);
                p++;
            }
            p++;
        }
        cr_assert_eq(*p, '"', "unterminated label value: '%s'", l);
        p++;
        if (*p == ',')
            p++;
        else
            cr_assert_eq(*p, '}', "labels: '%s'", l);
    }
    snprintf(s->labels, sizeof(s->labels), "%.*s", (int)(p - start), start);
    *pp = p + 1;
}

/* The value at @p p of line @p l, and an optional timestamp (integer
 * milliseconds) after it. */
static double parse_value(const char *p, const char *l)
{
    if (strcmp(p, "+Inf") == 0)
        return INFINITY;
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    cr_assert(end != p && errno == 0, "value: '%s'", l);
    if (*end == ' ') {
        const char *ts = end + 1;
        strtoll(ts, &end, 10);
        cr_assert(end != ts, "timestamp: '%s'", l);
    }
    cr_assert_eq(*end, '\0', "trailing characters: '%s'", l);
    return v;
}

/* A sample line: right after the TYPE of its family, which has a HELP, and
 * no series twice. */
static void parse_sample(tu_prom_t *e, const parse_state_t *st, const char *l)
{
    cr_assert_lt(e->n, TU_PROM_MAX_SAMPLES);
    tu_prom_sample_t *s = &e->s[e->n];
    const char *p = l;
    cr_assert(parse_name(&p, s->name, sizeof(s->name)), "sample name: '%s'", l);
    if (*p == '{') {
        p++;
        parse_labels(&p, l, s);
    }
    cr_assert_eq(*p, ' ', "space before the value: '%s'", l);
    s->value = parse_value(p + 1, l);
    char fam[128];
    family_of(e, s->name, fam, sizeof(fam));
    cr_assert_str_eq(fam, st->last_family, "sample '%s' right after the TYPE of its family", l);
    int has_help = 0;
    for (size_t h = 0; h < st->n_helped; h++)
        has_help |= strcmp(st->helped[h], fam) == 0;
    cr_assert(has_help, "HELP of %s", fam);
    for (size_t i = 0; i < e->n; i++)
        cr_assert(strcmp(e->s[i].name, s->name) != 0 || strcmp(e->s[i].labels, s->labels) != 0,
                  "duplicate series: '%s'", l);
    e->n++;
}

void tu_prom_parse(tu_prom_t *e, const char *text)
{
    memset(e, 0, sizeof(*e));
    parse_state_t st;
    memset(&st, 0, sizeof(st));
    cr_assert(text[0] != '\0', "empty exposition");
    cr_assert_eq(text[strlen(text) - 1], '\n', "the exposition ends with a newline");
    const char *line = text;
    while (*line) {
        const char *eol = strchr(line, '\n');
        cr_assert_not_null(eol);
        char l[1024];
        cr_assert_lt((size_t)(eol - line), sizeof(l), "line too long");
        memcpy(l, line, (size_t)(eol - line));
        l[eol - line] = '\0';
        line = eol + 1;
        cr_assert(l[0] != '\0', "no empty lines");
        if (l[0] == '#')
            parse_comment(e, &st, l);
        else
            parse_sample(e, &st, l);
    }
}

double tu_prom_get(const tu_prom_t *e, const char *name, const char *labels)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->s[i].name, name) == 0 && strcmp(e->s[i].labels, labels) == 0)
            return e->s[i].value;
    cr_assert_fail("no series %s{%s}", name, labels);
    return NAN;
}

int tu_prom_has(const tu_prom_t *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->s[i].name, name) == 0)
            return 1;
    return 0;
}

const char *tu_prom_type(const tu_prom_t *e, const char *family)
{
    for (size_t t = 0; t < e->n_types; t++)
        if (strcmp(e->types[t], family) == 0)
            return e->type_of[t];
    return "";
}

double tu_prom_sum(const tu_prom_t *e, const char *name, const char *label)
{
    double sum = 0;
    int found = 0;
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->s[i].name, name) == 0 && (!label || strstr(e->s[i].labels, label))) {
            sum += e->s[i].value;
            found = 1;
        }
    return found ? sum : -1;
}

tu_prom_t *tu_prom_scrape(int port)
{
    tu_http_resp_t r;
    if (tu_http_request(port, "GET", "/metrics", NULL, NULL, 0, 0, 10000, &r) != 0)
        return NULL;
    if (r.status != 200) {
        tu_http_resp_free(&r);
        return NULL;
    }
    const char *ct = tu_http_header(&r, "Content-Type");
    cr_assert(ct && strncmp(ct, "text/plain; version=0.0.4", 25) == 0, "Content-Type: %s",
              ct ? ct : "(none)");
    cr_assert_eq(strlen(r.body), r.body_len, "no NUL in the body");
    tu_prom_t *e = malloc(sizeof(*e));
    cr_assert_not_null(e);
    tu_prom_parse(e, r.body);
    tu_http_resp_free(&r);
    return e;
}
