/*
 * test_arena.c — the bump allocator (handlers/arena.c): alignment, zeroed
 * memory, strings, reset, and arena_swap() handing one batch's allocations
 * to a second arena (the worker's overlapped commit keeps a batch's items
 * alive that way while the next batch fills the other arena).
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "incident/v1/incident.pb-c.h"

Test(arena, allocations_are_aligned_zeroed_and_strings_copied)
{
    arena_t a;
    arena_init(&a, 128);
    for (size_t n = 1; n < 600; n += 37) {
        unsigned char *p = arena_alloc(&a, n);
        cr_assert_eq((uintptr_t)p % _Alignof(max_align_t), 0);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(p[i], 0);
        memset(p, 0xab, n);
    }
    cr_expect_str_eq(arena_strdup(&a, NULL), "");
    cr_expect_str_eq(arena_strndup(&a, "abcdef", 3), "abc");
    cr_expect_str_eq(arena_printf(&a, "%s-%d", "x", 42), "x-42");
    arena_reset(&a);
    cr_expect_eq(a.used_total, 0);
    arena_destroy(&a);
}

Test(arena, swap_moves_allocations_and_keeps_each_protobuf_allocator_its_own)
{
    arena_t a, b;
    arena_init(&a, 256);
    arena_init(&b, 256);
    char *s = arena_strdup(&a, "batch N");
    for (int i = 0; i < 50; i++) /* several chunks */
        arena_alloc(&a, 100);
    size_t used = a.used_total;
    arena_swap(&a, &b);
    cr_expect_eq(b.used_total, used, "b holds what a allocated");
    cr_expect_eq(a.used_total, 0);
    cr_expect_eq(arena_pb(&a)->allocator_data, &a);
    cr_expect_eq(arena_pb(&b)->allocator_data, &b);
    /* a is free for the next batch: resetting it leaves b's memory alone */
    arena_reset(&a);
    arena_printf(&a, "batch N+1 %d", 1);
    cr_expect_str_eq(s, "batch N");
    /* protobuf-c unpacks into the arena the allocator names */
    Incident__V1__Alert al = INCIDENT__V1__ALERT__INIT;
    al.alert_id = "a-1";
    uint8_t buf[64];
    size_t len = incident__v1__alert__pack(&al, buf);
    size_t before = a.used_total;
    Incident__V1__Alert *u = incident__v1__alert__unpack(arena_pb(&a), len, buf);
    cr_assert_not_null(u);
    cr_expect_str_eq(u->alert_id, "a-1");
    cr_expect_gt(a.used_total, before);
    arena_destroy(&a);
    arena_destroy(&b);
}
