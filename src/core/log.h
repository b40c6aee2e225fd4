/* Logging to stderr, one line per event. Never pass a secret to these functions.
 *
 * Two kinds of line: the server's own messages (tg_info, tg_warn, …), written at once by the
 * thread that logs them, and the access log, one line per request, handed to a writer thread
 * so that a slow standard error never blocks an event loop. Both are text or JSON lines
 * (tg_log_format; JSON by default when standard error is not a terminal). */
#ifndef TG_CORE_LOG_H
#define TG_CORE_LOG_H

#include <stddef.h>

enum { TG_LOG_DEBUG, TG_LOG_INFO, TG_LOG_WARN, TG_LOG_ERROR };
enum { TG_LOG_TEXT, TG_LOG_JSON };

extern _Atomic int tg_log_level; /* atomic: a reload (SIGHUP) changes it while threads log */
extern int tg_log_format; /* TG_LOG_TEXT or TG_LOG_JSON */

void tg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tg_debug(...) do { if (tg_log_level <= TG_LOG_DEBUG) tg_log(TG_LOG_DEBUG, __VA_ARGS__); } while (0)
#define tg_info(...) tg_log(TG_LOG_INFO, __VA_ARGS__)
#define tg_warn(...) tg_log(TG_LOG_WARN, __VA_ARGS__)
#define tg_error(...) tg_log(TG_LOG_ERROR, __VA_ARGS__)

/* The access log. Lines (each ending in '\n') wait in a 4 MiB buffer; the writer thread
 * writes them to fd in pieces of whole lines of at most PIPE_BUF bytes, so they never
 * interleave with the server's own lines. When the buffer is full (standard error stalled),
 * a line is dropped and counted, and a request never waits. Off until started. */
int tg_log_access_start(int fd);
int tg_log_access_on(void);
void tg_log_access(const char *line, size_t n);
/* Writes what is queued, then stops the thread. */
void tg_log_access_stop(void);
unsigned long long tg_log_access_dropped(void);

#endif
