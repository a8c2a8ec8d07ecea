/*
 * log.c — structured logging; see log.h.
 */
#include "log.h"
#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static log_level_t log_min = LOG_INFO;
static int log_logfmt;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level_t level) { log_min = level; }

int log_set_level_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, log_names[i]) == 0) {
            log_min = (log_level_t)i;
            return 0;
        }
    return -1;
}

int log_set_format_name(const char *name)
{
    if (strcmp(name, "json") == 0)
        log_logfmt = 0;
    else if (strcmp(name, "logfmt") == 0)
        log_logfmt = 1;
    else
        return -1;
    return 0;
}

/* Appends @p s escaped for JSON (or logfmt quoting) to buf at *pos. */
static void log_put_escaped(char *buf, size_t size, size_t *pos, const char *s)
{
    for (; *s && *pos + 7 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = (char)c;
        } else if (c == '\n') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = 'n';
        } else if (c < 0x20) {
            *pos += (size_t)snprintf(buf + *pos, size - *pos, "\\u%04x", c);
        } else {
            buf[(*pos)++] = (char)c;
        }
    }
}

static void log_put_field(char *buf, size_t size, size_t *pos, const char *key, const char *val,
                          int first)
{
    if (*pos + 8 + strlen(key) >= size)
        return;
    if (log_logfmt) {
        *pos += (size_t)snprintf(buf + *pos, size - *pos, "%s%s=\"", first ? "" : " ", key);
        log_put_escaped(buf, size, pos, val);
        if (*pos + 1 < size)
            buf[(*pos)++] = '"';
    } else {
        *pos += (size_t)snprintf(buf + *pos, size - *pos, "%s\"%s\":\"", first ? "{" : ",", key);
        log_put_escaped(buf, size, pos, val);
        if (*pos + 1 < size)
            buf[(*pos)++] = '"';
    }
}

void log_msg(log_level_t level, const char *stage, const char *incident, const char *cause,
             const char *fmt, ...)
{
    if (level < log_min)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    int64_t now_ms = clock_now_ms();
    time_t now_s = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&now_s, &tm);
    char tsbuf[64];
    snprintf(tsbuf, sizeof(tsbuf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(now_ms % 1000));

    char line[4096];
    size_t pos = 0;
    log_put_field(line, sizeof(line), &pos, "ts", tsbuf, 1);
    log_put_field(line, sizeof(line), &pos, "level", log_names[level], 0);
    if (stage)
        log_put_field(line, sizeof(line), &pos, "stage", stage, 0);
    if (incident)
        log_put_field(line, sizeof(line), &pos, "incident", incident, 0);
    if (cause)
        log_put_field(line, sizeof(line), &pos, "cause", cause, 0);
    log_put_field(line, sizeof(line), &pos, "msg", msg, 0);
    if (!log_logfmt && pos + 1 < sizeof(line))
        line[pos++] = '}';
    if (pos + 1 < sizeof(line))
        line[pos++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}
