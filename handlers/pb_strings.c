/*
 * pb_strings.c — protobuf decoding that keeps a NUL inside a string; see
 * pb_strings.h.
 */
#include "pb_strings.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define PB_STRINGS_FIELDS_MAX 64 /* fields of one message (ours have <= 23) */
#define PB_STRINGS_DEPTH_MAX 16

static void *pbs_alloc(ProtobufCAllocator *a, size_t n)
{
    return a ? a->alloc(a->allocator_data, n) : malloc(n);
}

static void pbs_free(ProtobufCAllocator *a, void *p)
{
    if (a)
        a->free(a->allocator_data, p);
    else
        free(p);
}

static int pbs_varint(const uint8_t **p, const uint8_t *e, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64 && *p < e; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Replaces the string in *slot by the @p n encoded bytes at @p s, each NUL
 * written as UTF8_NUL_KEPT. */
static int pbs_keep(ProtobufCAllocator *a, const ProtobufCFieldDescriptor *f, char **slot,
                    const uint8_t *s, size_t n)
{
    size_t nul = 0;
    for (size_t i = 0; i < n; i++)
        nul += s[i] == 0;
    char *d = pbs_alloc(a, n + nul + 1);
    if (!d)
        return -1;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0) {
            memcpy(d + j, UTF8_NUL_KEPT, 2);
            j += 2;
        } else {
            d[j++] = (char)s[i];
        }
    }
    d[j] = '\0';
    if (*slot && *slot != protobuf_c_empty_string && *slot != f->default_value)
        pbs_free(a, *slot);
    *slot = d;
    return 0;
}

/* Where occurrence @p idx of field @p f lands in @p m, or NULL when it
 * cannot be told (a singular message given again is merged). */
static void **pbs_slot(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, unsigned idx)
{
    char *base = (char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *(size_t *)(base + f->quantifier_offset);
        void **items = *(void ***)(base + f->offset);
        return items && idx < n ? &items[idx] : NULL;
    }
    if (idx > 0 && f->type == PROTOBUF_C_TYPE_MESSAGE)
        return NULL;
    return (void **)(base + f->offset);
}

/* One message's fields in [p, e); returns the strings rewritten or -1. */
static int pbs_walk(const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a, const uint8_t *p,
                    const uint8_t *e, ProtobufCMessage *m, int depth)
{
    unsigned seen[PB_STRINGS_FIELDS_MAX] = {0};
    int kept = 0;
    if (d->n_fields > PB_STRINGS_FIELDS_MAX || depth > PB_STRINGS_DEPTH_MAX)
        return -1;
    while (p < e) {
        uint64_t tag, len;
        if (pbs_varint(&p, e, &tag) < 0)
            return -1;
        switch (tag & 7) {
        case PROTOBUF_C_WIRE_TYPE_VARINT:
            if (pbs_varint(&p, e, &len) < 0)
                return -1;
            continue;
        case PROTOBUF_C_WIRE_TYPE_64BIT:
        case PROTOBUF_C_WIRE_TYPE_32BIT: {
            size_t w = (tag & 7) == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;
            if ((size_t)(e - p) < w)
                return -1;
            p += w;
            continue;
        }
        case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
            break;
        default:
            return -1; /* groups: protobuf-c refuses them too */
        }
        if (pbs_varint(&p, e, &len) < 0 || len > (uint64_t)(e - p))
            return -1;
        const uint8_t *v = p;
        p += len;
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
        if (!f || (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE))
            continue;
        unsigned idx = seen[f - d->fields]++;
        if (!memchr(v, 0, (size_t)len))
            continue; /* no NUL in this value, nor in any string nested in it */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
            continue; /* another member of the oneof won: this value is not kept */
        void **slot = pbs_slot(m, f, idx);
        if (!slot)
            return -1;
        int k;
        if (f->type == PROTOBUF_C_TYPE_STRING)
            k = pbs_keep(a, f, (char **)slot, v, (size_t)len) < 0 ? -1 : 1;
        else
            k = *slot ? pbs_walk(f->descriptor, a, v, v + len, *slot, depth + 1) : -1;
        if (k < 0)
            return -1;
        kept += k;
    }
    return kept;
}

int pb_strings_keep_nul(const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
                        size_t len, const uint8_t *data, ProtobufCMessage *msg)
{
    if (!len || !memchr(data, 0, len))
        return 0;
    return pbs_walk(desc, alloc, data, data + len, msg, 0);
}

ProtobufCMessage *pb_strings_unpack(const ProtobufCMessageDescriptor *desc,
                                    ProtobufCAllocator *alloc, size_t len, const uint8_t *data)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, alloc, len, data);
    if (m && pb_strings_keep_nul(desc, alloc, len, data, m) < 0) {
        /* A NUL we could not place: refuse the message rather than cut it. */
        protobuf_c_message_free_unpacked(m, alloc);
        return NULL;
    }
    return m;
}
