/*
 * ctl_map.h — a string-keyed hash map that remembers insertion order, for
 * grouping audit records per incident in incidentctl.
 */
#ifndef INCIDENTD_CTL_MAP_H
#define INCIDENTD_CTL_MAP_H

#include <stddef.h>

typedef struct ctl_map {
    char **keys;   /* insertion order; owned copies */
    void **values; /* insertion order; borrowed */
    size_t n;
    size_t cap;     /* of keys/values */
    size_t *slots;  /* open addressing: index + 1, 0 = empty */
    size_t n_slots; /* power of two */
} ctl_map_t;

/** An empty map (a zeroed ctl_map_t is one too). */
void ctl_map_init(ctl_map_t *m);
/** Frees the map's own memory (keys); the values are the caller's. */
void ctl_map_destroy(ctl_map_t *m);
/** The value of @p key, or NULL. */
void *ctl_map_get(const ctl_map_t *m, const char *key);
/** Sets @p key to @p value (replacing any). Aborts when out of memory. */
void ctl_map_put(ctl_map_t *m, const char *key, void *value);

#endif
