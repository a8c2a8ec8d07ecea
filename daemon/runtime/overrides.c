/*
 * overrides.c — the kind of the global table of on-call overrides and its
 * view for the rules; see overrides.h.
 */
#include "overrides.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *overrides_id(const ProtobufCMessage *m)
{
    return ((const hd_override_record_t *)m)->id;
}

static int overrides_check(const ProtobufCMessage *m, char *err, size_t err_size)
{
    return hd_override_validate((const hd_override_record_t *)m, NULL, err, err_size);
}

static int64_t overrides_ends_at(const ProtobufCMessage *m)
{
    return ((const hd_override_record_t *)m)->until_ms;
}

const gtable_kind_t overrides_kind = {
    .what = "overrides",
    .max_setting = "overrides.max_active",
    .desc = &incidentd__v1__rotation_override__descriptor,
    .id = overrides_id,
    .check = overrides_check,
    .ends_at = overrides_ends_at,
};

/* Older first: of two overrides that both apply, the one that began later
 * wins (hd_rotation_on_call(): the last that applies). */
static int overrides_cmp(const void *a, const void *b)
{
    const hd_override_t *x = a, *y = b;
    if (x->from_ms != y->from_ms)
        return x->from_ms < y->from_ms ? -1 : 1;
    return strcmp(x->person, y->person);
}

size_t overrides_view(const gtable_t *t, hd_override_t **v, size_t *cap)
{
    size_t n;
    const ProtobufCMessage *const *all = gtable_all(t, &n);
    if (n > *cap) {
        hd_override_t *nv = realloc(*v, n * sizeof(**v));
        if (!nv) {
            fputs("incidentd: out of memory\n", stderr);
            abort();
        }
        *v = nv;
        *cap = n;
    }
    for (size_t i = 0; i < n; i++)
        (*v)[i] = hd_override_of((const hd_override_record_t *)all[i]);
    if (n > 1)
        qsort(*v, n, sizeof(**v), overrides_cmp);
    return n;
}

int overrides_view_update(const gtable_t *t, overrides_view_t *view)
{
    uint64_t gen = gtable_generation(t);
    if (view->built && view->gen == gen)
        return 0;
    view->n = overrides_view(t, &view->v, &view->cap);
    view->gen = gen;
    view->built = 1;
    return 1;
}

void overrides_view_free(overrides_view_t *view)
{
    free(view->v);
    memset(view, 0, sizeof(*view));
}
