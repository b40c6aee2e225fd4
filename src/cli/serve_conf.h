/* tollgate serve's options: one table for the command line and the config file, the file's
 * strict parser (errors name FILE:LINE), and what a reload may change live. Internal to cli/. */
#ifndef TG_CLI_SERVE_CONF_H
#define TG_CLI_SERVE_CONF_H

#include <stddef.h>

typedef struct serve_str serve_str_t;

typedef struct {
    const char *listen, *db, *redis;
    const char *log_level, *signup;
    const char *smtp_url, *smtp_from;
    const char *payments, *stripe_url, *stripe_key, *stripe_webhook_secret, *stripe_pk;
    const char *tls_cert, *tls_key;
    long workers, max_body, max_header, upstream_timeout, idle_timeout, shutdown_timeout;
    long breaker_failures, breaker_cooldown, alert_retry_ms;
    const char *config; /* the --config FILE (NULL: none) */
    serve_str_t *strs;  /* owns the values read from the file */
} serve_opts_t;

/* Reads the options: the defaults, then the --config file if argv names one, then argv, which
 * overrides the file. Returns 0, 1 for --help, or -1 with the reason in err (no "serve: "
 * prefix; a file's errors start with FILE:LINE:). The values borrow argv and *o's own strings:
 * free those with serve_opts_dispose. */
int serve_opts_load(int argc, char **argv, serve_opts_t *o, char *err, size_t cap);
void serve_opts_dispose(serve_opts_t *o);

/* After a reload: logs one line per option whose value changed between `cur` (running) and
 * `next` (just read). Options that cannot change while running keep their running value in
 * `next` (the line says a restart is needed). Returns the number of options that change live. */
int serve_opts_diff(const serve_opts_t *cur, serve_opts_t *next);

/* The log level's TG_LOG_* value; the signup mode's TG_SIGNUP_* value. */
int serve_opts_log_level(const serve_opts_t *o);
int serve_opts_signup(const serve_opts_t *o);

#endif
