/*
 * strmap.c — string-keyed hash map in insertion order; see strmap.h.
 */
#include "strmap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *ctl_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "incidentctl: out of memory\n");
        abort();
    }
    return q;
}

static uint64_t strmap_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void strmap_init(strmap_t *m) { memset(m, 0, sizeof(*m)); }

void strmap_destroy(strmap_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->values);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

/* The slot of @p key: where it is, or the empty slot where it would go. */
static size_t strmap_slot(const strmap_t *m, const char *key)
{
    size_t mask = m->n_slots - 1;
    size_t i = (size_t)strmap_hash(key) & mask;
    while (m->slots[i] && strcmp(m->keys[m->slots[i] - 1], key) != 0)
        i = (i + 1) & mask;
    return i;
}

void *strmap_get(const strmap_t *m, const char *key)
{
    if (!m->n_slots)
        return NULL;
    size_t i = strmap_slot(m, key);
    return m->slots[i] ? m->values[m->slots[i] - 1] : NULL;
}

static void strmap_grow(strmap_t *m)
{
    size_t ns = m->n_slots ? m->n_slots * 2 : 64;
    free(m->slots);
    m->slots = calloc(ns, sizeof(*m->slots));
    if (!m->slots) {
        fprintf(stderr, "incidentctl: out of memory\n");
        abort();
    }
    m->n_slots = ns;
    for (size_t k = 0; k < m->n; k++)
        m->slots[strmap_slot(m, m->keys[k])] = k + 1;
}

void strmap_put(strmap_t *m, const char *key, void *value)
{
    if ((m->n + 1) * 2 > m->n_slots)
        strmap_grow(m);
    size_t i = strmap_slot(m, key);
    if (m->slots[i]) {
        m->values[m->slots[i] - 1] = value;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->keys = ctl_xrealloc(m->keys, m->cap * sizeof(*m->keys));
        m->values = ctl_xrealloc(m->values, m->cap * sizeof(*m->values));
    }
    size_t len = strlen(key);
    m->keys[m->n] = ctl_xrealloc(NULL, len + 1);
    memcpy(m->keys[m->n], key, len + 1);
    m->values[m->n] = value;
    m->n++;
    m->slots[i] = m->n;
}
