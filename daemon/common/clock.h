/*
 * clock.h — the daemon's one set of clock readings.
 *
 * Wall clock for timestamps that leave the process (event times, log lines,
 * the Redis epoch); the monotonic clock for every interval, deadline and
 * rate, so a clock step never stretches or cuts a timeout. Condition
 * variables that wait with a deadline are made to count on the monotonic
 * clock too (clock_cond_init()), and clock_timespec_of_us() turns a
 * clock_mono_us() deadline into what pthread_cond_timedwait() takes.
 *
 * @locality any thread
 */
#ifndef INCIDENTD_CLOCK_H
#define INCIDENTD_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/** Wall clock: milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_now_ms(void);

/** Monotonic clock in milliseconds, for intervals and deadlines. */
int64_t clock_mono_ms(void);

/** Monotonic clock in microseconds, for latencies and fine deadlines. */
int64_t clock_mono_us(void);

/** Initialises @p cv (caller destroys with pthread_cond_destroy()) so its
 *  timed waits count on the monotonic clock. */
void clock_cond_init(pthread_cond_t *cv);

/** The absolute time @p mono_us (a clock_mono_us() value) as a timespec,
 *  for pthread_cond_timedwait() on a clock_cond_init() variable. */
struct timespec clock_timespec_of_us(int64_t mono_us);

#endif
