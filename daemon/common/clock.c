/*
 * clock.c — clock readings for the whole daemon; see clock.h.
 *
 * clock_gettime() of CLOCK_REALTIME and CLOCK_MONOTONIC cannot fail with
 * these arguments on Linux, so the readings return plain numbers.
 *
 * @locality any thread
 */
#include "clock.h"

static int64_t clock_read_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_now_ms(void) { return clock_read_us(CLOCK_REALTIME) / 1000; }

int64_t clock_mono_ms(void) { return clock_read_us(CLOCK_MONOTONIC) / 1000; }

int64_t clock_mono_us(void) { return clock_read_us(CLOCK_MONOTONIC); }

void clock_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

struct timespec clock_timespec_of_us(int64_t mono_us)
{
    struct timespec ts = {.tv_sec = (time_t)(mono_us / 1000000),
                          .tv_nsec = (long)(mono_us % 1000000) * 1000};
    return ts;
}
