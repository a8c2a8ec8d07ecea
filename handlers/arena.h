/*
 * arena.h — a bump allocator for one unit of work (a message, a batch).
 *
 * Everything a handler or a decoder allocates for one transition comes from
 * an arena and is freed at once by arena_reset(). This keeps the hot path free
 * of per-event malloc/free and makes ownership trivial: nothing allocated from
 * an arena is ever freed on its own.
 */
#ifndef INCIDENTD_ARENA_H
#define INCIDENTD_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct arena_chunk arena_chunk_t;

typedef struct arena {
    arena_chunk_t *head;   /* chunk being filled */
    size_t chunk_size;     /* default size of new chunks */
    size_t used_total;     /* bytes handed out since the last reset */
    ProtobufCAllocator pb; /* protobuf-c allocator backed by this arena */
} arena_t;

/** Initialises @p a; @p chunk_size 0 picks 64 KiB. Aborts on out of memory. */
void arena_init(arena_t *a, size_t chunk_size);
/** Frees every chunk. Accepts a zeroed arena. */
void arena_destroy(arena_t *a);
/** Exchanges what @p a and @p b hold (their chunks and allocations): what
 *  was allocated from one now belongs to the other, e.g. a batch's
 *  allocations handed on while the next batch fills a second arena. */
void arena_swap(arena_t *a, arena_t *b);
/** Forgets every allocation, keeping the first chunk for reuse. */
void arena_reset(arena_t *a);
/** Returns @p n zeroed bytes, aligned for any type. Never NULL (aborts on OOM). */
void *arena_alloc(arena_t *a, size_t n);
/** Copies a NUL-terminated string (NULL gives ""). */
char *arena_strdup(arena_t *a, const char *s);
/** Copies @p n bytes and adds a NUL. */
char *arena_strndup(arena_t *a, const char *s, size_t n);
/** printf into the arena. */
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** The protobuf-c allocator view of @p a (for unpack: free is a no-op). */
static inline ProtobufCAllocator *arena_pb(arena_t *a) { return &a->pb; }

#endif
