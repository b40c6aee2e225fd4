/* Logging to stderr, one line per event. Never pass a secret to these functions. */
#ifndef TG_CORE_LOG_H
#define TG_CORE_LOG_H

enum { TG_LOG_DEBUG, TG_LOG_INFO, TG_LOG_WARN, TG_LOG_ERROR };

extern _Atomic int tg_log_level; /* atomic: a reload (SIGHUP) changes it while threads log */

void tg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tg_debug(...) do { if (tg_log_level <= TG_LOG_DEBUG) tg_log(TG_LOG_DEBUG, __VA_ARGS__); } while (0)
#define tg_info(...) tg_log(TG_LOG_INFO, __VA_ARGS__)
#define tg_warn(...) tg_log(TG_LOG_WARN, __VA_ARGS__)
#define tg_error(...) tg_log(TG_LOG_ERROR, __VA_ARGS__)

#endif
