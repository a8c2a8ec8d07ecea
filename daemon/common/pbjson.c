/*
 * pbjson.c — protobuf-c messages to and from JSON; see pbjson.h.
 */
#include "pbjson.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- enums ----------------------------------------------------------------- */

const char *pbjson_enum_name(const ProtobufCEnumDescriptor *desc, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
    return v ? v->name : NULL;
}

/* Length of the prefix all value names share, cut back to its last '_'
 * ("SEVERITY_" for SEVERITY_INFO, SEVERITY_MAJOR, ...). */
static size_t ctl_enum_prefix_len(const ProtobufCEnumDescriptor *desc)
{
    if (desc->n_values == 0)
        return 0;
    const char *first = desc->values[0].name;
    size_t len = strlen(first);
    for (unsigned i = 1; i < desc->n_values; i++) {
        const char *n = desc->values[i].name;
        size_t k = 0;
        while (k < len && n[k] == first[k])
            k++;
        len = k;
    }
    while (len > 0 && first[len - 1] != '_')
        len--;
    return len;
}

int pbjson_enum_value(const ProtobufCEnumDescriptor *desc, const char *name, int *out)
{
    if (!name || !*name)
        return -1;
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(desc, name);
    if (v) {
        *out = v->value;
        return 0;
    }
    size_t plen = ctl_enum_prefix_len(desc);
    for (unsigned i = 0; i < desc->n_values; i++) {
        const char *full = desc->values[i].name;
        if (strcasecmp(full, name) == 0 || strcasecmp(full + plen, name) == 0) {
            *out = desc->values[i].value;
            return 0;
        }
    }
    char *end;
    errno = 0;
    long n = strtol(name, &end, 10);
    if (*end == '\0' && errno == 0 && n >= INT_MIN && n <= INT_MAX &&
        protobuf_c_enum_descriptor_get_value(desc, (int)n)) {
        *out = (int)n;
        return 0;
    }
    return -1;
}

/* ---- field helpers --------------------------------------------------------- */

static size_t ctl_type_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

/* A map entry type: "...Entry" with exactly the fields key and value. */
static int ctl_is_map(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t n = strlen(d->name);
    return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 && d->n_fields == 2 &&
           strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

/* "dedup_key" -> "dedupKey". */
static void ctl_camel(const char *name, char *out, size_t size)
{
    size_t o = 0;
    int up = 0;
    for (const char *p = name; *p && o + 1 < size; p++) {
        if (*p == '_') {
            up = 1;
            continue;
        }
        out[o++] = up ? (char)toupper((unsigned char)*p) : *p;
        up = 0;
    }
    out[o] = '\0';
}

/* ---- message -> JSON ------------------------------------------------------- */

static const char ctl_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static cJSON *ctl_bytes_json(const ProtobufCBinaryData *b)
{
    size_t olen = 4 * ((b->len + 2) / 3) + 1;
    char *s = malloc(olen);
    if (!s)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < b->len; i += 3) {
        uint32_t v = (uint32_t)b->data[i] << 16;
        if (i + 1 < b->len)
            v |= (uint32_t)b->data[i + 1] << 8;
        if (i + 2 < b->len)
            v |= b->data[i + 2];
        s[o++] = ctl_b64[(v >> 18) & 63];
        s[o++] = ctl_b64[(v >> 12) & 63];
        s[o++] = i + 1 < b->len ? ctl_b64[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < b->len ? ctl_b64[v & 63] : '=';
    }
    s[o] = '\0';
    cJSON *j = cJSON_CreateString(s);
    free(s);
    return j;
}

/* The JSON of one value of field @p f stored at @p p. */
static cJSON *ctl_value_json(const ProtobufCFieldDescriptor *f, const void *p)
{
    char num[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return cJSON_CreateNumber(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return cJSON_CreateNumber(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        /* Raw digits: exact beyond 2^53, where a double would round. */
        snprintf(num, sizeof(num), "%" PRId64, *(const int64_t *)p);
        return cJSON_CreateRaw(num);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(num, sizeof(num), "%" PRIu64, *(const uint64_t *)p);
        return cJSON_CreateRaw(num);
    case PROTOBUF_C_TYPE_FLOAT:
        return cJSON_CreateNumber(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return cJSON_CreateNumber(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return cJSON_CreateBool(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const char *name = pbjson_enum_name(f->descriptor, v);
        return name ? cJSON_CreateString(name) : cJSON_CreateNumber(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return cJSON_CreateString(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ctl_bytes_json(p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        return m ? pbjson_from_message(m) : cJSON_CreateNull();
    }
    }
    return cJSON_CreateNull();
}

cJSON *pbjson_from_message(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    const char *base = (const char *)msg;
    cJSON *obj = cJSON_CreateObject();
    if (!obj)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        cJSON *v;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)(base + f->offset);
            size_t esz = ctl_type_size(f->type);
            if (ctl_is_map(f)) {
                v = cJSON_CreateObject();
                const ProtobufCMessageDescriptor *ed = f->descriptor;
                for (size_t k = 0; v && k < n; k++) {
                    const char *e = *(char *const *)(arr + k * esz);
                    const char *key = *(char *const *)(e + ed->fields[0].offset);
                    char kbuf[32];
                    if (ed->fields[0].type != PROTOBUF_C_TYPE_STRING) {
                        cJSON *kj = ctl_value_json(&ed->fields[0], e + ed->fields[0].offset);
                        char *kt = kj ? cJSON_PrintUnformatted(kj) : NULL;
                        snprintf(kbuf, sizeof(kbuf), "%s", kt ? kt : "");
                        free(kt);
                        cJSON_Delete(kj);
                        key = kbuf;
                    }
                    cJSON_AddItemToObject(v, key ? key : "",
                                          ctl_value_json(&ed->fields[1], e + ed->fields[1].offset));
                }
            } else {
                v = cJSON_CreateArray();
                for (size_t k = 0; v && k < n; k++)
                    cJSON_AddItemToArray(v, ctl_value_json(f, arr + k * esz));
            }
        } else {
            v = ctl_value_json(f, base + f->offset);
        }
        if (!v) {
            cJSON_Delete(obj);
            return NULL;
        }
        cJSON_AddItemToObject(obj, f->name, v);
    }
    return obj;
}

/* ---- JSON -> message ------------------------------------------------------- */

static int ctl_b64_val(int c)
{
    const char *p = c ? strchr(ctl_b64, c) : NULL;
    if (p)
        return (int)(p - ctl_b64);
    if (c == '-')
        return 62; /* URL-safe alphabet */
    if (c == '_')
        return 63;
    return -1;
}

static int ctl_bytes_parse(const char *s, ProtobufCBinaryData *out, arena_t *arena)
{
    size_t n = strlen(s);
    uint8_t *d = arena_alloc(arena, n * 3 / 4 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            break;
        int v = ctl_b64_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[o++] = (uint8_t)(acc >> bits);
        }
    }
    out->data = d;
    out->len = o;
    return 0;
}

/* An integer from a JSON number or decimal string, within [min, max]. */
static int ctl_int_parse(const cJSON *j, int is_signed, int64_t min, uint64_t max, int64_t *s_out,
                         uint64_t *u_out)
{
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* (double)max may round up to 2^63 / 2^64: compare against max + 1,
         * which is then exact, so that the conversion below is defined. */
        double limit = (double)max + 1.0;
        if (d != floor(d) || d >= limit || (is_signed ? d < (double)min : d < 0))
            return -1;
        /* Beyond 2^53 a JSON number has already been rounded: use a string. */
        if (is_signed)
            *s_out = (int64_t)d;
        else
            *u_out = (uint64_t)d;
        return 0;
    }
    if (!cJSON_IsString(j) || !j->valuestring[0])
        return -1;
    const char *s = j->valuestring;
    char *end;
    errno = 0;
    if (is_signed) {
        long long v = strtoll(s, &end, 10);
        if (*end || errno || v < min || (v > 0 && (uint64_t)v > max))
            return -1;
        *s_out = v;
    } else {
        if (*s == '-')
            return -1;
        unsigned long long v = strtoull(s, &end, 10);
        if (*end || errno || v > max)
            return -1;
        *u_out = v;
    }
    return 0;
}

static ProtobufCMessage *ctl_message_parse(const ProtobufCMessageDescriptor *desc,
                                           const cJSON *json, arena_t *arena, const char *path,
                                           char *err, size_t err_size);

/* An integer field of any width and signedness. */
static int ctl_int_field_parse(const ProtobufCFieldDescriptor *f, const cJSON *j, void *p,
                               const char *path, char *err, size_t err_size)
{
    int64_t sv = 0;
    uint64_t uv = 0;
    int rc = -1;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((rc = ctl_int_parse(j, 1, INT32_MIN, INT32_MAX, &sv, &uv)) == 0)
            *(int32_t *)p = (int32_t)sv;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((rc = ctl_int_parse(j, 0, 0, UINT32_MAX, &sv, &uv)) == 0)
            *(uint32_t *)p = (uint32_t)uv;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if ((rc = ctl_int_parse(j, 1, INT64_MIN, INT64_MAX, &sv, &uv)) == 0)
            *(int64_t *)p = sv;
        break;
    default: /* UINT64, FIXED64 */
        if ((rc = ctl_int_parse(j, 0, 0, UINT64_MAX, &sv, &uv)) == 0)
            *(uint64_t *)p = uv;
        break;
    }
    if (rc < 0)
        snprintf(err, err_size, "%s: expected an integer in range (number or decimal string)",
                 path);
    return rc < 0 ? -1 : 0;
}

/* A float or double field: a number, or a decimal string. */
static int ctl_float_field_parse(const ProtobufCFieldDescriptor *f, const cJSON *j, void *p,
                                 const char *path, char *err, size_t err_size)
{
    double d = 0;
    int ok = cJSON_IsNumber(j);
    if (ok) {
        d = j->valuedouble;
    } else if (cJSON_IsString(j) && j->valuestring[0]) {
        char *end;
        d = strtod(j->valuestring, &end);
        ok = *end == '\0';
    }
    if (!ok) {
        snprintf(err, err_size, "%s: expected a number", path);
        return -1;
    }
    if (f->type == PROTOBUF_C_TYPE_FLOAT)
        *(float *)p = (float)d;
    else
        *(double *)p = d;
    return 0;
}

/* An enum field: the value's name, or its number. */
static int ctl_enum_field_parse(const ProtobufCFieldDescriptor *f, const cJSON *j, int *p,
                                const char *path, char *err, size_t err_size)
{
    char num[32];
    const char *name = NULL;
    if (cJSON_IsString(j))
        name = j->valuestring;
    else if (cJSON_IsNumber(j) && j->valuedouble == floor(j->valuedouble) &&
             fabs(j->valuedouble) < 1e9) {
        snprintf(num, sizeof(num), "%d", (int)j->valuedouble);
        name = num;
    }
    if (!name || pbjson_enum_value(f->descriptor, name, p) < 0) {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        snprintf(err, err_size, "%s: not a %s value (e.g. \"%s\")", path, ed->name,
                 ed->n_values > 1 ? ed->values[1].name : "");
        return -1;
    }
    return 0;
}

/* Parses one value of field @p f from @p j into @p p. */
static int ctl_value_parse(const ProtobufCFieldDescriptor *f, const cJSON *j, void *p,
                           arena_t *arena, const char *path, char *err, size_t err_size)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return ctl_int_field_parse(f, j, p, path, err, err_size);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return ctl_float_field_parse(f, j, p, path, err, err_size);
    case PROTOBUF_C_TYPE_BOOL:
        if (!cJSON_IsBool(j)) {
            snprintf(err, err_size, "%s: expected true or false", path);
            return -1;
        }
        *(protobuf_c_boolean *)p = cJSON_IsTrue(j);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        return ctl_enum_field_parse(f, j, p, path, err, err_size);
    case PROTOBUF_C_TYPE_STRING:
        if (!cJSON_IsString(j)) {
            snprintf(err, err_size, "%s: expected a string", path);
            return -1;
        }
        *(char **)p = arena_strdup(arena, j->valuestring);
        return 0;
    case PROTOBUF_C_TYPE_BYTES:
        if (!cJSON_IsString(j) || ctl_bytes_parse(j->valuestring, p, arena) < 0) {
            snprintf(err, err_size, "%s: expected a base64 string", path);
            return -1;
        }
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *m = ctl_message_parse(f->descriptor, j, arena, path, err, err_size);
        if (!m)
            return -1;
        *(ProtobufCMessage **)p = m;
        return 0;
    }
    }
    snprintf(err, err_size, "%s: unsupported field type", path);
    return -1;
}

/* Parses a JSON object into the repeated map-entry field @p f. */
static int strmap_parse(const ProtobufCFieldDescriptor *f, const cJSON *j, char *base,
                        arena_t *arena, const char *path, char *err, size_t err_size)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    if (!cJSON_IsObject(j)) {
        snprintf(err, err_size, "%s: expected an object of key: value", path);
        return -1;
    }
    if (ed->fields[0].type != PROTOBUF_C_TYPE_STRING) {
        snprintf(err, err_size, "%s: only string map keys are supported", path);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(j);
    ProtobufCMessage **v = arena_alloc(arena, (n ? n : 1) * sizeof(*v));
    size_t k = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, j)
    {
        ProtobufCMessage *e = arena_alloc(arena, ed->sizeof_message);
        ed->message_init(e);
        *(char **)((char *)e + ed->fields[0].offset) = arena_strdup(arena, item->string);
        char sub[300];
        snprintf(sub, sizeof(sub), "%s.%s", path, item->string);
        if (!cJSON_IsNull(item) &&
            ctl_value_parse(&ed->fields[1], item, (char *)e + ed->fields[1].offset, arena, sub, err,
                            err_size) < 0)
            return -1;
        v[k++] = e;
    }
    *(size_t *)(base + f->quantifier_offset) = k;
    *(ProtobufCMessage ***)(base + f->offset) = v;
    return 0;
}

static ProtobufCMessage *ctl_message_parse(const ProtobufCMessageDescriptor *desc,
                                           const cJSON *json, arena_t *arena, const char *path,
                                           char *err, size_t err_size)
{
    if (!cJSON_IsObject(json)) {
        snprintf(err, err_size, "%s: expected an object (%s)", path[0] ? path : "value",
                 desc->name);
        return NULL;
    }
    ProtobufCMessage *msg = arena_alloc(arena, desc->sizeof_message);
    desc->message_init(msg);
    char *base = (char *)msg;
    unsigned char *seen = arena_alloc(arena, desc->n_fields + 1);
    const cJSON *item;
    cJSON_ArrayForEach(item, json)
    {
        const ProtobufCFieldDescriptor *f = NULL;
        unsigned fi = 0;
        for (unsigned i = 0; i < desc->n_fields; i++) {
            char camel[128];
            ctl_camel(desc->fields[i].name, camel, sizeof(camel));
            if (strcmp(item->string, desc->fields[i].name) == 0 ||
                strcmp(item->string, camel) == 0) {
                f = &desc->fields[i];
                fi = i;
                break;
            }
        }
        char sub[256];
        if (path[0])
            snprintf(sub, sizeof(sub), "%s.%s", path, item->string);
        else
            snprintf(sub, sizeof(sub), "%s", item->string);
        if (!f) {
            snprintf(err, err_size, "%s: unknown field of %s", sub, desc->name);
            return NULL;
        }
        if (seen[fi]) {
            snprintf(err, err_size, "%s: given twice", sub);
            return NULL;
        }
        seen[fi] = 1;
        if (cJSON_IsNull(item))
            continue; /* null = the default */
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (ctl_is_map(f)) {
                if (strmap_parse(f, item, base, arena, sub, err, err_size) < 0)
                    return NULL;
                continue;
            }
            if (!cJSON_IsArray(item)) {
                snprintf(err, err_size, "%s: expected an array", sub);
                return NULL;
            }
            size_t n = (size_t)cJSON_GetArraySize(item);
            size_t esz = ctl_type_size(f->type);
            char *arr = arena_alloc(arena, (n ? n : 1) * esz);
            size_t k = 0;
            const cJSON *el;
            cJSON_ArrayForEach(el, item)
            {
                char elp[280];
                snprintf(elp, sizeof(elp), "%s[%zu]", sub, k);
                if (ctl_value_parse(f, el, arr + k * esz, arena, elp, err, err_size) < 0)
                    return NULL;
                k++;
            }
            *(size_t *)(base + f->quantifier_offset) = k;
            *(char **)(base + f->offset) = arr;
            continue;
        }
        if (ctl_value_parse(f, item, base + f->offset, arena, sub, err, err_size) < 0)
            return NULL;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            *(uint32_t *)(base + f->quantifier_offset) = f->id;
        else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                 f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    }
    return msg;
}

ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *desc, const cJSON *json,
                                    arena_t *arena, char *err, size_t err_size)
{
    return ctl_message_parse(desc, json, arena, "", err, err_size);
}
