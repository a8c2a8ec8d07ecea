/*
 * ctl_out.h — incidentctl's output helpers, shared by every command:
 * messages on stderr, colours, padded table cells, times and ages, JSON on
 * stdout and the progress bar of long Kafka reads.
 *
 * Text a sender chose goes through ctl_text_safe() before it reaches the
 * terminal (ctl_cell() does it itself); JSON output is escaped by cJSON.
 * Owned by the ctl room.
 *
 * @locality incidentctl's main thread
 */
#ifndef INCIDENTD_CTL_OUT_H
#define INCIDENTD_CTL_OUT_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "handlers.h"

#define CTL_C_RED "\033[31m"
#define CTL_C_BRED "\033[1;31m"
#define CTL_C_GREEN "\033[32m"
#define CTL_C_YELLOW "\033[33m"
#define CTL_C_CYAN "\033[36m"
#define CTL_C_BOLD "\033[1m"
#define CTL_C_DIM "\033[2m"
#define CTL_C_OFF "\033[0m"

/** "incidentctl[ CMD]: <message>" on stderr. */
void ctl_err(const ctl_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** "warning: TOPIC read only up to the last committed record (WHY)" on stderr. */
void ctl_warn_partial(const ctl_t *c, const char *topic, const char *why);

/**
 * "incidentctl CMD: <message>" and "Try 'incidentctl CMD --help'." on
 * stderr. Returns CTL_EXIT_USAGE.
 */
int ctl_usage_error(const ctl_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Colours: only on a terminal, without NO_COLOR, --no-color or --json. */
void ctl_decide_color(ctl_t *c);

const char *ctl_color_severity(Incident__V1__Severity s);
const char *ctl_color_status(Incident__V1__Status s);

/**
 * Prints @p text made terminal-safe, in @p color (when colours are on; NULL
 * = none), padded to @p width (0 = no padding). Padding counts the visible
 * text only.
 */
void ctl_cell(const ctl_t *c, FILE *out, const char *text, const char *color, int width);

/** The larger of @p width and the length of @p text made terminal-safe. */
int ctl_width(int width, const char *text);

/** Prints @p j indented on stdout and frees it (takes ownership; NULL ok). */
void ctl_json_print(cJSON *j);

/** Prints @p j on one line of stdout and frees it (takes ownership). */
void ctl_json_print_line(cJSON *j);

/** "2026-11-26T15:00:00.123Z", or "-" for 0, into @p buf; returns @p buf. */
const char *ctl_time(int64_t ms, char *buf, size_t size);

/** "45s", "12m", "3h05m", "2d04h" into @p buf; returns @p buf. */
const char *ctl_age(int64_t ms, char *buf, size_t size);

/* A progress bar on stderr, drawn only when it is a terminal (and not
 * with --json). */
typedef struct ctl_progress {
    int on;
    const char *what;
    int64_t last_ms;
    int drawn;
} ctl_progress_t;

/** A progress bar saying @p what (a string that outlives it). */
ctl_progress_t ctl_progress_init(const ctl_t *c, const char *what);

/** Draws @p opaque (a ctl_progress_t) at @p done of @p total records. */
void ctl_progress_draw(uint64_t done, uint64_t total, void *opaque);

/** Clears the bar if it was drawn. */
void ctl_progress_end(ctl_progress_t *p);

#endif
