/*
 * overrides.h — the global table of on-call overrides (gtable.h): every
 * incidentd.v1.RotationOverride of the compacted topic incidents.overrides
 * (key: override id), held whole by each worker whose stage assigns or
 * re-escalates (when rotations are configured) and by the API. A record
 * that fails hd_override_validate() is ignored; one past
 * overrides.max_active overrides in force waits (gtable.h: the cap); an
 * override is dropped from memory at its end. A worker keeps the view the
 * rules take (overrides_view_t) and builds it again only when the table
 * changed.
 *
 * Owned by the runtime room. @locality as gtable.h
 */
#ifndef INCIDENTD_OVERRIDES_H
#define INCIDENTD_OVERRIDES_H

#include "gtable.h"
#include "rotation.h"

extern const gtable_kind_t overrides_kind;

/** An empty table of overrides, at most @p max in force
 *  (overrides.max_active; 0: no cap); see gtable_new(). */
static inline gtable_t *overrides_new(const char *brokers, const char *topic,
                                      const char *const *props, size_t max)
{
    return gtable_new(&overrides_kind, brokers, topic, props, max);
}

/**
 * The overrides of @p t as the rotation arithmetic takes them, into *@p v
 * (grown with realloc as needed, capacity in *@p cap; strings borrowed from
 * the table until its next change). Returns how many.
 */
size_t overrides_view(const gtable_t *t, hd_override_t **v, size_t *cap);

/* A view kept across turns: built again only when its table changed. */
typedef struct overrides_view {
    hd_override_t *v; /* n overrides (overrides_view()) */
    size_t n, cap;
    uint64_t gen; /* the table's generation v was built at */
    int built;    /* 0: never built */
} overrides_view_t;

/**
 * Brings @p view (zeroed at first) up to date with @p t: built again
 * (overrides_view()) only when the table's generation moved since the
 * last build. Returns 1 when it was built again, 0 when it was current.
 * Free with overrides_view_free().
 */
int overrides_view_update(const gtable_t *t, overrides_view_t *view);

/** Frees what @p view holds and zeroes it; accepts a zeroed view. */
void overrides_view_free(overrides_view_t *view);

#endif
