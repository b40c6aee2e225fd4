/* tollgate serve: the API, the console and the metrics on one port. */
#include "cli/cli.h"

#include "api/api.h"
#include "auth/accounts.h"
#include "auth/secrets.h"
#include "billing/alerts.h"
#include "billing/ledger.h"
#include "billing/payments.h"
#include "billing/usage.h"
#include "catalog/catalog.h"
#include "core/log.h"
#include "http/server.h"
#include "limits/tiers.h"
#include "pricing/pricing.h"
#include "providers/pool.h"
#include "shared/shared.h"
#include "store/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Several instances: another one changed something this one caches. */
static int reload_shared(tg_store_t *st)
{
    int rc = tg_catalog_refresh(st);
    if (tg_alerts_reload(st) < 0)
        rc = -1;
    return rc;
}

static void usage(FILE *f)
{
    fputs("Usage: tollgate serve [--listen HOST:PORT] [--db URL] [--redis URL] [--config FILE]\n"
          "                      [options]\n"
          "\n"
          "Serves the OpenAI-compatible API, the Admin API and the operations endpoints on one\n"
          "port. SIGTERM or SIGINT stop it gracefully: no new connections, in-flight requests\n"
          "finish (or are settled after --shutdown-timeout-ms), usage is flushed.\n"
          "\n"
          "  --listen HOST:PORT          default 127.0.0.1:8080 (port 0: any free port)\n"
          "  --db URL                    sqlite:PATH (default sqlite:./tollgate.db)\n"
          "  --redis URL                 redis://HOST[:PORT][/DB]: shared limits and balances, for\n"
          "                              several instances on one PostgreSQL (docs/scale.md)\n"
          "  --config FILE               lines of `option = value` with the names below\n"
          "  --workers N                 event-loop threads (default: one per core)\n"
          "  --max-body-bytes N          largest request body (default 33554432)\n"
          "  --max-header-bytes N        largest request head (default 65536)\n"
          "  --upstream-timeout-ms N     whole upstream request (default 600000)\n"
          "  --idle-timeout-ms N         idle keep-alive / slow request (default 60000)\n"
          "  --breaker-failures N        consecutive failures that open a provider's circuit\n"
          "                              breaker (default 5; docs/routing.md)\n"
          "  --breaker-cooldown-ms N     how long an open breaker skips its provider before one\n"
          "                              request probes it (default 30000)\n"
          "  --shutdown-timeout-ms N     grace for in-flight requests (default 30000)\n"
          "  --log-level LEVEL           debug, info, warn, error (default info)\n"
          "  --log-format FORMAT         json or text lines on standard error (default: json\n"
          "                              unless standard error is a terminal)\n"
          "  --access-log on|off         one line per request on standard error (default on)\n"
          "  --smtp-url URL              SMTP server for e-mail spend alerts (smtp:// or smtps://)\n"
          "  --smtp-from ADDRESS         sender of e-mail alerts (default tollgate@localhost)\n"
          "  --alert-retry-ms N          first retry delay of an alert delivery (default 1000)\n"
          "  --payments PROVIDER         test (offline test cards, default) or stripe\n"
          "  --stripe-url URL            Stripe API base (default https://api.stripe.com)\n"
          "  --stripe-key KEY            Stripe secret key (or env TOLLGATE_STRIPE_KEY)\n"
          "  --stripe-webhook-secret S   webhook signing secret (or env\n"
          "                              TOLLGATE_STRIPE_WEBHOOK_SECRET)\n"
          "  --stripe-publishable-key K  pk_... for the console's card form (Stripe.js)\n"
          "  --master-key-file FILE      the key that seals stored secrets (or env\n"
          "                              TOLLGATE_MASTER_KEY; SQLite default: PATH.key, created\n"
          "                              at first start; docs/operations.md)\n"
          "  --signup MODE               console sign-up: open (anyone creates an organization),\n"
          "                              invite (by invitation link only; default) or closed\n",
          f);
}

typedef struct {
    const char *payments, *stripe_url, *stripe_key, *stripe_webhook_secret, *stripe_pk;
    const char *signup;
    const char *master_key_file;
    const char *listen, *db, *redis, *smtp_url, *smtp_from;
    long alert_retry_ms;
    long workers, max_body, max_header, upstream_timeout, idle_timeout, shutdown_timeout;
    long breaker_failures, breaker_cooldown;
    int access_log;
} serve_opts_t;

static const struct option opts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"db", required_argument, NULL, 'd'},
    {"redis", required_argument, NULL, 'r'},
    {"config", required_argument, NULL, 'c'},
    {"workers", required_argument, NULL, 'w'},
    {"max-body-bytes", required_argument, NULL, 'b'},
    {"max-header-bytes", required_argument, NULL, 'H'},
    {"upstream-timeout-ms", required_argument, NULL, 'u'},
    {"idle-timeout-ms", required_argument, NULL, 'i'},
    {"breaker-failures", required_argument, NULL, 'B'},
    {"breaker-cooldown-ms", required_argument, NULL, 'C'},
    {"shutdown-timeout-ms", required_argument, NULL, 's'},
    {"log-level", required_argument, NULL, 'L'},
    {"log-format", required_argument, NULL, 'f'},
    {"access-log", required_argument, NULL, 'a'},
    {"smtp-url", required_argument, NULL, 'S'},
    {"smtp-from", required_argument, NULL, 'F'},
    {"alert-retry-ms", required_argument, NULL, 'A'},
    {"payments", required_argument, NULL, 'P'},
    {"stripe-url", required_argument, NULL, 'U'},
    {"stripe-key", required_argument, NULL, 'K'},
    {"stripe-webhook-secret", required_argument, NULL, 'W'},
    {"stripe-publishable-key", required_argument, NULL, 'k'},
    {"signup", required_argument, NULL, 'g'},
    {"master-key-file", required_argument, NULL, 'M'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static int num(const char *name, const char *v, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < min || x > max)
        return tg_cli_fail("serve: --%s must be an integer from %ld to %ld", name, min, max) * -1;
    *out = x;
    return 0;
}

static int config_file(const char *path, serve_opts_t *o);
static int parse(int argc, char **argv, serve_opts_t *o, int from_file);

/* Returns 0, 1 for --help, or -1 after printing an error. */
static int parse(int argc, char **argv, serve_opts_t *o, int from_file)
{
    int ch;
    optind = 0; /* glibc: 0 re-initialises getopt completely between parses */
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'l': o->listen = optarg; break;
        case 'd': o->db = optarg; break;
        case 'r': o->redis = optarg; break;
        case 'c': /* read before the command line (see tg_cli_serve) */
            if (from_file) {
                tg_cli_fail("serve: --config cannot be nested");
                return -1;
            }
            break;
        case 'w': if (num("workers", optarg, 1, 256, &o->workers)) return -1; break;
        case 'b': if (num("max-body-bytes", optarg, 1024, 1L << 30, &o->max_body)) return -1; break;
        case 'H': if (num("max-header-bytes", optarg, 1024, 1L << 20, &o->max_header)) return -1; break;
        case 'u': if (num("upstream-timeout-ms", optarg, 100, 86400000, &o->upstream_timeout)) return -1; break;
        case 'i': if (num("idle-timeout-ms", optarg, 100, 86400000, &o->idle_timeout)) return -1; break;
        case 'B': if (num("breaker-failures", optarg, 1, 1000, &o->breaker_failures)) return -1; break;
        case 'C': if (num("breaker-cooldown-ms", optarg, 100, 86400000, &o->breaker_cooldown)) return -1; break;
        case 's': if (num("shutdown-timeout-ms", optarg, 0, 86400000, &o->shutdown_timeout)) return -1; break;
        case 'L':
            if (!strcmp(optarg, "debug")) tg_log_level = TG_LOG_DEBUG;
            else if (!strcmp(optarg, "info")) tg_log_level = TG_LOG_INFO;
            else if (!strcmp(optarg, "warn")) tg_log_level = TG_LOG_WARN;
            else if (!strcmp(optarg, "error")) tg_log_level = TG_LOG_ERROR;
            else { tg_cli_fail("serve: --log-level must be debug, info, warn or error"); return -1; }
            break;
        case 'f':
            if (!strcmp(optarg, "json")) tg_log_format = TG_LOG_JSON;
            else if (!strcmp(optarg, "text")) tg_log_format = TG_LOG_TEXT;
            else { tg_cli_fail("serve: --log-format must be json or text"); return -1; }
            break;
        case 'a':
            if (!strcmp(optarg, "on")) o->access_log = 1;
            else if (!strcmp(optarg, "off")) o->access_log = 0;
            else { tg_cli_fail("serve: --access-log must be on or off"); return -1; }
            break;
        case 'S': o->smtp_url = optarg; break;
        case 'F': o->smtp_from = optarg; break;
        case 'A': if (num("alert-retry-ms", optarg, 1, 3600000, &o->alert_retry_ms)) return -1; break;
        case 'P': o->payments = optarg; break;
        case 'U': o->stripe_url = optarg; break;
        case 'K': o->stripe_key = optarg; break;
        case 'W': o->stripe_webhook_secret = optarg; break;
        case 'k': o->stripe_pk = optarg; break;
        case 'g':
            if (strcmp(optarg, "open") && strcmp(optarg, "invite") && strcmp(optarg, "closed")) {
                tg_cli_fail("serve: --signup must be open, invite or closed");
                return -1;
            }
            o->signup = optarg;
            break;
        case 'M': o->master_key_file = optarg; break;
        case 'h': return 1;
        default:
            tg_cli_fail("serve: unknown or incomplete option %s (see --help)", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        tg_cli_fail("serve: unexpected argument %s (see --help)", argv[optind]);
        return -1;
    }
    return 0;
}

/* `name = value` lines (# comments) become --name=value options. Strings are leaked on
 * purpose: options point into them for the life of the process. */
static int config_file(const char *path, serve_opts_t *o)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    char *args[64];
    int n = 1, lineno = 0;
    if (!f) {
        tg_cli_fail("serve: cannot read --config %s: %s", path, strerror(errno));
        return -1;
    }
    args[0] = "serve";
    while (fgets(line, sizeof(line), f)) {
        char *p = line, *eq, *k, *v;
        lineno++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        if (!(eq = strchr(p, '=')) || n == 63) {
            fclose(f);
            tg_cli_fail("serve: %s:%d: expected `option = value`", path, lineno);
            return -1;
        }
        *eq = '\0';
        k = p;
        v = eq + 1;
        for (char *e = eq - 1; e >= k && (*e == ' ' || *e == '\t'); e--)
            *e = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        v[strcspn(v, "\r\n")] = '\0';
        for (char *e = v + strlen(v) - 1; e >= v && (*e == ' ' || *e == '\t'); e--)
            *e = '\0';
        if (asprintf(&args[n], "--%s=%s", k, v) < 0) {
            fclose(f);
            return -1;
        }
        n++;
    }
    fclose(f);
    args[n] = NULL;
    return parse(n, args, o, 1) == 0 ? 0 : -1;
}

int tg_cli_serve(int argc, char **argv)
{
    serve_opts_t o = {.listen = "127.0.0.1:8080",
                      .db = "sqlite:./tollgate.db",
                      .max_body = 32L << 20,
                      .max_header = 64L << 10,
                      .upstream_timeout = 600000,
                      .breaker_failures = 5,
                      .breaker_cooldown = 30000,
                      .idle_timeout = 60000,
                      .shutdown_timeout = 30000,
                      .access_log = 1};
    char host[256], path[4096];
    int port, rc;
    tg_store_t *st = NULL, *claim = NULL, *shared_st = NULL, *poll_st = NULL;
    char shown[4096]; /* the database URL without its password, for messages */
    tg_http_server_t *srv = NULL;

    tg_log_format = isatty(STDERR_FILENO) ? TG_LOG_TEXT : TG_LOG_JSON;
    /* The config file first, then the command line, which overrides it. */
    for (int i = 1; i < argc; i++) {
        const char *file = NULL;
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            file = argv[i] + 9;
        if (file && config_file(file, &o) < 0)
            return 1;
    }
    rc = parse(argc, argv, &o, 0);
    if (rc == 1) {
        usage(stdout);
        return 0;
    }
    if (rc < 0)
        return 1;
    const char *colon = strrchr(o.listen, ':');
    char *end;
    if (!colon || colon == o.listen || (size_t)(colon - o.listen) >= sizeof(host))
        return tg_cli_fail("serve: --listen must be HOST:PORT");
    port = (int)strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return tg_cli_fail("serve: --listen must be HOST:PORT with a port from 0 to 65535");
    snprintf(host, sizeof(host), "%.*s", (int)(colon - o.listen), o.listen);
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof(host), "127.0.0.1");
    int pg = tg_store_is_pg(o.db);
    if (!pg && !tg_store_sqlite_path(o.db, path, sizeof(path)))
        return tg_cli_fail("serve: unsupported --db %s (use sqlite:PATH or postgres://…)", o.db);
    if (o.redis && !pg)
        return tg_cli_fail("serve: --redis shares limits between instances on one PostgreSQL; "
                           "use --db postgres://… with it");
    tg_pool_config((int)o.breaker_failures, o.breaker_cooldown);
    if (o.redis) {
        char err[512];
        if (tg_shared_config(o.redis, err, sizeof(err)) < 0)
            return tg_cli_fail("serve: %s", err);
    }
    if (pg)
        path[0] = '\0';
    else if (access(path, F_OK) != 0)
        return tg_cli_fail("serve: %s does not exist; run `tollgate init --db %s` first", path,
                           o.db);
    if (o.workers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        o.workers = cores > 0 ? cores : 1;
    }

    tg_store_redact_url(o.db, shown, sizeof(shown));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    if (tg_store_open(o.db, &st) < 0 || st->ops->migrate(st) < 0)
        return tg_cli_fail("serve: cannot open the database %s", shown);
    /* one instance per database unless limits are shared (--redis): kept for the process's
     * life, released by the kernel or the server when it ends, however it ends */
    if (!o.redis && (tg_store_open(o.db, &claim) < 0 || (rc = claim->ops->claim(claim)) != 0)) {
        tg_store_close(st);
        tg_store_close(claim);
        return tg_cli_fail(rc == TG_STORE_CONFLICT
                               ? "serve: another `tollgate serve` is running on %s; several "
                                 "instances need shared limits (--redis redis://…)"
                               : "serve: cannot claim the database %s", shown);
    }
    /* the master key: checked against the database, older rows sealed anew (auth/secrets.h) */
    char kerr[1024];
    if (tg_secrets_start(st, o.db, o.master_key_file, kerr, sizeof(kerr)) < 0) {
        tg_store_close(st);
        tg_store_close(claim);
        return tg_cli_fail("serve: %s", kerr);
    }
    if (tg_catalog_reload(st) < 0) {
        tg_store_close(st);
        return tg_cli_fail("serve: cannot load the catalog from %s", shown);
    }
    if (tg_api_load_tokenizers() < 0) {
        tg_store_close(st);
        return tg_cli_fail("serve: cannot load the tokenizers from data/tokenizer/");
    }
    char tiers[4096];
    if (tg_data_path("tiers.json", tiers, sizeof(tiers)) < 0 || tg_tiers_load(tiers) < 0) {
        tg_store_close(st);
        return tg_cli_fail("serve: cannot load the tier table data/tiers.json");
    }
    /* promotions that were only waiting for days to pass */
    tg_org_row_t *orgs = NULL;
    size_t norgs = 0;
    if (st->tenancy->org_list(st, &orgs, &norgs) == 0)
        for (size_t i = 0; i < norgs; i++)
            tg_tiers_promote(st, &orgs[i]);
    free(orgs);
    if (o.redis) { /* the ledger's live numbers are in Redis, rebuilt from the store */
        if (tg_store_open(o.db, &shared_st) < 0 || tg_shared_start(shared_st, reload_shared) < 0) {
            tg_store_close(st);
            tg_store_close(shared_st);
            return tg_cli_fail("serve: cannot start the shared counters on %s", o.redis);
        }
        tg_catalog_on_change(tg_shared_publish);
        tg_ledger_set_remote(&tg_shared_ledger);
    } else if (tg_ledger_load(st) < 0) {
        tg_store_close(st);
        return tg_cli_fail("serve: cannot load the ledger from %s", shown);
    }
    tg_pay_config_t pay = {.provider = o.payments ? o.payments : "test",
                           .stripe_url = o.stripe_url,
                           .stripe_key = o.stripe_key ? o.stripe_key
                                                      : getenv("TOLLGATE_STRIPE_KEY"),
                           .stripe_webhook_secret =
                               o.stripe_webhook_secret ? o.stripe_webhook_secret
                                                       : getenv("TOLLGATE_STRIPE_WEBHOOK_SECRET")};
    if (strcmp(pay.provider, "test") && strcmp(pay.provider, "stripe")) {
        tg_store_close(st);
        return tg_cli_fail("serve: --payments must be test or stripe");
    }
    if (!strcmp(pay.provider, "stripe") && (!pay.stripe_key || !pay.stripe_webhook_secret)) {
        tg_store_close(st);
        return tg_cli_fail("serve: --payments stripe needs --stripe-key (or TOLLGATE_STRIPE_KEY) "
                           "and --stripe-webhook-secret (or TOLLGATE_STRIPE_WEBHOOK_SECRET)");
    }
    if (tg_pay_start(o.db, &pay) < 0) {
        tg_store_close(st);
        return tg_cli_fail("serve: cannot start payments (--stripe-url must be https://, or "
                           "http:// to a loopback host)");
    }
    tg_alerts_config_t alerts = {.db_url = o.db,
                                 .smtp_url = o.smtp_url,
                                 .smtp_from = o.smtp_from,
                                 .retry_base_ms = (int)o.alert_retry_ms};
    if (tg_alerts_start(st, &alerts) < 0) {
        tg_store_close(st);
        return tg_cli_fail("serve: cannot start spend alerts");
    }
    tg_store_close(st);
    if (tg_usage_start(o.db) < 0)
        return tg_cli_fail("serve: cannot start the usage recorder");
    if (tg_accounts_start(2) < 0)
        return tg_cli_fail("serve: cannot start the password hashing threads");

    /* Signals go to this thread only (workers block them), taken with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    tg_api_config_t api = {.db_url = o.db,
                           .signup = !o.signup || !strcmp(o.signup, "invite") ? TG_SIGNUP_INVITE
                                     : !strcmp(o.signup, "open")              ? TG_SIGNUP_OPEN
                                                                              : TG_SIGNUP_CLOSED,
                           .payments_provider = pay.provider,
                           .stripe_publishable_key = o.stripe_pk,
                           .email_alerts = o.smtp_url != NULL,
                           .upstream_timeout_ms = o.upstream_timeout,
                           .max_response_bytes = 64u << 20};
    tg_http_config_t http = {.host = host,
                             .port = port,
                             .workers = (int)o.workers,
                             .max_header_bytes = (size_t)o.max_header,
                             .max_body_bytes = (size_t)o.max_body,
                             .idle_timeout_ms = (int)o.idle_timeout,
                             .write_timeout_ms = 60000,
                             .shutdown_timeout_ms = (int)o.shutdown_timeout};
    tg_api_bind(&http, &api);
    if (o.access_log && tg_log_access_start(STDERR_FILENO) < 0)
        tg_warn("cannot start the access log's writer: no access log");
    if (tg_http_server_start(&http, &srv) < 0) {
        tg_log_access_stop();
        tg_accounts_stop();
        tg_usage_stop();
        return tg_cli_fail("serve: cannot listen on %s", o.listen);
    }
    tg_info("listening on http://%s:%d (%ld workers, db %s)", host, tg_http_server_port(srv),
            o.workers, shown);

    /* Meanwhile, once a second: a change made on the host (tollgate org …) raises the store's
     * catalog counter; the catalog is re-read when it moves (and, with several instances,
     * every instance does the same). */
    int sig = 0;
    int64_t seen = 0, v;
    if (tg_store_open(o.db, &poll_st) < 0 || poll_st->tenancy->catalog_version(poll_st, &seen) < 0)
        tg_warn("serve: cannot read the catalog counter; changes made with `tollgate org` take "
                "effect at the next restart");
    for (;;) {
        struct timespec second = {1, 0};
        sig = sigtimedwait(&set, NULL, &second);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (poll_st && poll_st->tenancy->catalog_version(poll_st, &v) == 0 && v != seen) {
            seen = v;
            if (tg_catalog_refresh(poll_st) == 0)
                tg_info("catalog: re-read after a change made on the host");
        }
    }
    tg_store_close(poll_st);
    tg_info("%s: stopping; %ld requests in flight", sig == SIGTERM ? "SIGTERM" : "SIGINT",
            tg_http_server_inflight(srv));
    tg_http_server_shutdown(srv);
    tg_accounts_stop();
    tg_pay_stop();
    tg_usage_stop();
    tg_alerts_stop();
    tg_http_server_free(srv);
    tg_log_access_stop(); /* every call has ended: its line is queued */
    tg_shared_stop();
    tg_store_close(shared_st);
    tg_catalog_shutdown();
    tg_ledger_shutdown();
    tg_tiers_free();
    tg_api_free_tokenizers();
    curl_global_cleanup();
    tg_store_close(claim);
    tg_info("stopped");
    return 0;
}
