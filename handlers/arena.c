/*
 * arena.c — bump allocator; see arena.h.
 */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    arena_chunk_t *next;
    size_t size;
    size_t used;
    _Alignas(max_align_t) unsigned char data[];
};

static void *xmalloc_or_die(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "incidentd: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

static void *arena_pb_alloc(void *data, size_t n) { return arena_alloc(data, n); }
static void arena_pb_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

void arena_init(arena_t *a, size_t chunk_size)
{
    memset(a, 0, sizeof(*a));
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    a->pb.alloc = arena_pb_alloc;
    a->pb.free = arena_pb_free;
    a->pb.allocator_data = a;
}

void arena_destroy(arena_t *a)
{
    arena_chunk_t *c = a->head;
    while (c) {
        arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used_total = 0;
}

void arena_swap(arena_t *a, arena_t *b)
{
    arena_t t = *a;
    *a = *b;
    *b = t;
    /* the protobuf-c allocator names its own arena */
    a->pb.allocator_data = a;
    b->pb.allocator_data = b;
}

void arena_reset(arena_t *a)
{
    if (!a->head)
        return;
    /* Keep the oldest chunk (the last in the list), free the others. */
    arena_chunk_t *c = a->head, *keep = NULL;
    while (c) {
        arena_chunk_t *next = c->next;
        if (!next)
            keep = c;
        else
            free(c);
        c = next;
    }
    keep->used = 0;
    keep->next = NULL;
    a->head = keep;
    a->used_total = 0;
}

void *arena_alloc(arena_t *a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    arena_chunk_t *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = a->chunk_size > n ? a->chunk_size : n;
        arena_chunk_t *nc = xmalloc_or_die(sizeof(*nc) + size);
        nc->size = size;
        nc->used = 0;
        nc->next = c;
        a->head = c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used_total += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
    if (!s)
        s = "";
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return arena_strdup(a, "");
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
