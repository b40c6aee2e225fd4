/* Internal to cli/: tollgate serve's options (src/cli/serve_conf.c) — one table for the command
 * line and the config file, the file's strict parser (errors name FILE:LINE), and what a reload
 * may change live. */
#ifndef TG_CLI_INT_H
#define TG_CLI_INT_H

#include <stddef.h>

typedef struct tg_serve_str tg_serve_str_t;

typedef struct {
    const char *listen, *db, *redis;
    const char *log_level, *signup;
    const char *smtp_url, *smtp_from;
    const char *payments, *stripe_url, *stripe_key, *stripe_webhook_secret, *stripe_pk;
    const char *tls_cert, *tls_key;
    const char *log_format;      /* "json", "text", or NULL: json unless stderr is a terminal */
    const char *access_log;      /* "on" or "off" */
    const char *master_key_file; /* NULL: TOLLGATE_MASTER_KEY, or PATH.key beside SQLite */
    long workers, max_body, max_header, upstream_timeout, idle_timeout, shutdown_timeout;
    long breaker_failures, breaker_cooldown, alert_retry_ms;
    long max_connections; /* 0: from RLIMIT_NOFILE (http/server.h) */
    const char *config; /* the --config FILE (NULL: none) */
    tg_serve_str_t *strs;  /* owns the values read from the file */
} tg_serve_opts_t;

/* Reads the options: the defaults, then the --config file if argv names one, then argv, which
 * overrides the file. Returns 0, 1 for --help, or -1 with the reason in err (no "serve: "
 * prefix; a file's errors start with FILE:LINE:). The values borrow argv and *o's own strings:
 * free those with tg_cli__opts_dispose. */
int tg_cli__opts_load(int argc, char **argv, tg_serve_opts_t *o, char *err, size_t cap);
void tg_cli__opts_dispose(tg_serve_opts_t *o);

/* After a reload: logs one line per option whose value changed between `cur` (running) and
 * `next` (just read). Options that cannot change while running keep their running value in
 * `next` (the line says a restart is needed). Returns the number of options that change live. */
int tg_cli__opts_diff(const tg_serve_opts_t *cur, tg_serve_opts_t *next);

/* The log level's TG_LOG_* value; the signup mode's TG_SIGNUP_* value. */
int tg_cli__opts_log_level(const tg_serve_opts_t *o);
int tg_cli__opts_signup(const tg_serve_opts_t *o);

#endif
