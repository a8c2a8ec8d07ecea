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
 * Untrusted input is decoded with pb_strings_unpack() (the worker's inputs,
 * the fuzz targets). An input without a 0 byte costs one memchr().
 *
 * Pure (no I/O); part of the handlers library. @locality any thread
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

/**
 * protobuf_c_message_unpack() of untrusted input, then pb_strings_keep_nul():
 * the decoding every input topic's message goes through (the worker's
 * alerts, stage events and timer commands). Returns NULL when the bytes do
 * not decode or a NUL could not be placed. Free as protobuf-c's unpack.
 */
ProtobufCMessage *pb_strings_unpack(const ProtobufCMessageDescriptor *desc,
                                    ProtobufCAllocator *alloc, size_t len, const uint8_t *data);

#endif
