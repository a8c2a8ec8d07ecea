/*
 * strmap.h — a string-keyed hash map that remembers insertion order, for
 * grouping audit records per incident in incidentctl.
 */
#ifndef INCIDENTD_CTL_MAP_H
#define INCIDENTD_CTL_MAP_H

#include <stddef.h>

typedef struct strmap {
    char **keys;   /* insertion order; owned copies */
    void **values; /* insertion order; borrowed */
    size_t n;
    size_t cap;     /* of keys/values */
    size_t *slots;  /* open addressing: index + 1, 0 = empty */
    size_t n_slots; /* power of two */
} strmap_t;

/** An empty map (a zeroed strmap_t is one too). */
void strmap_init(strmap_t *m);
/** Frees the map's own memory (keys); the values are the caller's. */
void strmap_destroy(strmap_t *m);
/** The value of @p key, or NULL. */
void *strmap_get(const strmap_t *m, const char *key);
/** Sets @p key to @p value (replacing any). Aborts when out of memory. */
void strmap_put(strmap_t *m, const char *key, void *value);

#endif
