/*
 * log.h — structured logs: one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-26T15:00:00.123Z","level":"info","stage":"scoped",
 *    "incident":"INC-..","cause":"..","msg":".."}
 *
 * Thread-safe (one write(2) per line). Never pass secrets to these functions.
 */
#ifndef INCIDENTD_LOG_H
#define INCIDENTD_LOG_H

typedef enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
} log_level_t;

/** Sets the lowest level printed ("debug", "info", "warn", "error").
 *  Returns 0, or -1 for an unknown name. */
int log_set_level_name(const char *name);
void log_set_level(log_level_t level);
/** Selects "json" (default) or "logfmt". Returns -1 for an unknown name. */
int log_set_format_name(const char *name);

/** Logs one line. @p stage, @p incident, @p cause may be NULL. */
void log_msg(log_level_t level, const char *stage, const char *incident, const char *cause,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define log_debug(...) log_msg(LOG_DEBUG, NULL, NULL, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, NULL, NULL, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, NULL, NULL, NULL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, NULL, NULL, NULL, __VA_ARGS__)

#endif
