/*
 * pb_strings.h — protobuf decoding that keeps a NUL inside a string.
 *
 * protobuf-c decodes a string field into a C string, so a NUL inside one
 * silently cuts it: an alert_id "x\0-1" arrives as "x", and two distinct
 * alerts become one. pb_strings_keep_nul() walks the input once more and
 * rewrites every decoded string that held a NUL with each NUL written as
 * UTF8_NUL_KEPT (C0 80, utf8.h), which validate.c then rejects naming the
 * field ("alert_id: NUL byte (U+0000) at byte 1").
 *
 * Every program is linked with --wrap=protobuf_c_message_unpack (see
 * CMakeLists.txt), so every generated *__unpack() of every message goes
 * through __wrap_protobuf_c_message_unpack() below: the worker's decoding of
 * incidents.detected and of the stage topics included, without a second
 * decoding call at each site. An input without a 0 byte costs one memchr().
 *
 * Pure (no I/O). Built into its own library, linked after the generated
 * code (incidentd_pbstr). @locality any thread
 */
#ifndef INCIDENTD_PB_STRINGS_H
#define INCIDENTD_PB_STRINGS_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/**
 * Rewrites, in @p msg (decoded from the @p len bytes at @p data with
 * descriptor @p desc and allocator @p alloc, NULL = protobuf-c's default),
 * every string whose encoded value holds a NUL: the new string has each NUL
 * as UTF8_NUL_KEPT; the old one is freed with @p alloc. Returns the number
 * of strings rewritten, or -1 when a NUL could not be placed (a nested
 * message given twice, which protobuf-c merges; malformed input) — then the
 * caller must not use the message.
 */
int pb_strings_keep_nul(const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
                        size_t len, const uint8_t *data, ProtobufCMessage *msg);

/* The link-time wrapper and the real function (ld --wrap). */
ProtobufCMessage *__real_protobuf_c_message_unpack(const ProtobufCMessageDescriptor *desc,
                                                   ProtobufCAllocator *alloc, size_t len,
                                                   const uint8_t *data);
/** protobuf_c_message_unpack(), then pb_strings_keep_nul(); NULL when that fails. */
ProtobufCMessage *__wrap_protobuf_c_message_unpack(const ProtobufCMessageDescriptor *desc,
                                                   ProtobufCAllocator *alloc, size_t len,
                                                   const uint8_t *data);

#endif
