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
#include "cli/cli_int.h"
#include "core/log.h"
#include "core/sdnotify.h"
#include "http/server.h"
#include "http/tls.h"
#include "limits/tiers.h"
#include "pricing/pricing.h"
#include "providers/pool.h"
#include "shared/shared.h"
#include "store/store.h"

#include <curl/curl.h>
#include <pthread.h>
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
          "port. SIGHUP re-reads --config FILE, the TLS certificate and the data files (models,\n"
          "tiers) without dropping a connection. SIGTERM or SIGINT stop it gracefully: no new\n"
          "connections, in-flight requests finish (or are settled after --shutdown-timeout-ms),\n"
          "usage is flushed. Under systemd (Type=notify) it reports READY=1 and STOPPING=1.\n"
          "\n"
          "  --listen HOST:PORT          default 127.0.0.1:8080 (port 0: any free port)\n"
          "  --db URL                    sqlite:PATH (default sqlite:./tollgate.db)\n"
          "  --redis URL                 redis://HOST[:PORT][/DB]: shared limits and balances, for\n"
          "                              several instances on one PostgreSQL (docs/scale.md)\n"
          "  --config FILE               lines of `option = value` with the names below; the\n"
          "                              command line overrides the file\n"
          "  --workers N                 event-loop threads (default: one per core)\n"
          "  --max-connections N         open client connections at most; beyond, accepting\n"
          "                              pauses (default: half the open-file limit, which is\n"
          "                              raised to its hard limit at start)\n"
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
          "                              invite (by invitation link only; default) or closed\n"
          "  --tls-cert FILE             serve HTTPS with this PEM certificate chain (server\n"
          "                              certificate first); needs --tls-key\n"
          "  --tls-key FILE              the certificate's PEM private key\n",
          f);
}

/* What a reload needs of the running server. */
typedef struct {
    int argc;
    char **argv;
    const tg_serve_opts_t *start; /* the options read at start (modules borrow their strings) */
    tg_serve_opts_t *live;        /* the options of the last reload, NULL before one */
    tg_http_server_t *srv;
    tg_tls_t *tls;
    tg_store_t *st;            /* the main thread's connection */
    tg_model_row_t *models;    /* the model table as last read from models.json */
    size_t nmodels;
} serve_t;

static void fill_api(const tg_serve_opts_t *o, const tg_pay_config_t *pay, tg_api_config_t *api)
{
    *api = (tg_api_config_t){.db_url = o->db,
                             .signup = tg_cli__opts_signup(o),
                             .payments_provider = pay ? pay->provider : NULL,
                             .stripe_publishable_key = o->stripe_pk,
                             .email_alerts = o->smtp_url != NULL,
                             .upstream_timeout_ms = o->upstream_timeout,
                             .max_response_bytes = 64u << 20};
}

static void fill_http(const tg_serve_opts_t *o, tg_http_config_t *http)
{
    http->max_header_bytes = (size_t)o->max_header;
    http->max_body_bytes = (size_t)o->max_body;
    http->idle_timeout_ms = (int)o->idle_timeout;
    http->write_timeout_ms = 60000;
    http->shutdown_timeout_ms = (int)o->shutdown_timeout;
}

static void fill_alerts(const tg_serve_opts_t *o, tg_alerts_config_t *alerts)
{
    *alerts = (tg_alerts_config_t){.db_url = o->db,
                                   .smtp_url = o->smtp_url,
                                   .smtp_from = o->smtp_from,
                                   .retry_base_ms = (int)o->alert_retry_ms};
}

/* ---- the data files on SIGHUP ---- */

static int model_same(const tg_model_row_t *a, const tg_model_row_t *b)
{
    return !strcmp(a->id, b->id) && !strcmp(a->type, b->type) &&
           !strcmp(a->owned_by, b->owned_by) && a->created == b->created &&
           a->input_price == b->input_price && a->cached_input_price == b->cached_input_price &&
           a->output_price == b->output_price && a->context_window == b->context_window &&
           a->max_output_tokens == b->max_output_tokens && !strcmp(a->tokenizer, b->tokenizer) &&
           a->image_base_tokens == b->image_base_tokens &&
           a->image_tile_tokens == b->image_tile_tokens &&
           a->image_max_tokens == b->image_max_tokens;
}

static const tg_model_row_t *model_by_id(const tg_model_row_t *rows, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].id, id))
            return &rows[i];
    return NULL;
}

/* models.json against the database: a model new to the database is added; a model whose row
 * still says what the file said when it was last read gets the file's new values; a row
 * changed since through the Admin API is kept (the operator's hand wins, as with `init`).
 * Returns the number of rows written, or -1. */
static int sync_models(serve_t *s, const char *path)
{
    tg_model_row_t *rows = NULL, *db = NULL;
    size_t n = 0, ndb = 0;
    int written = 0;
    if (tg_pricing_load_file(path, &rows, &n) < 0) {
        tg_error("reload: %s refused; the models in force stay", path);
        return -1;
    }
    if (s->st->tenancy->model_list(s->st, &db, &ndb) < 0) {
        tg_error("reload: cannot read the models from the database; %s not applied", path);
        free(rows);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const tg_model_row_t *r = &rows[i];
        const tg_model_row_t *was = model_by_id(s->models, s->nmodels, r->id);
        const tg_model_row_t *d = model_by_id(db, ndb, r->id);
        if (was && model_same(was, r))
            continue; /* the file says what it said */
        if (d && model_same(d, r))
            continue;
        if (d && !(was && model_same(d, was))) {
            tg_warn("reload: %s: %s was changed through the Admin API; keeping the database's "
                    "row", path, r->id);
            continue;
        }
        if (s->st->tenancy->model_upsert(s->st, r, d == NULL) < 0) {
            tg_error("reload: %s: cannot write %s to the database", path, r->id);
            continue;
        }
        tg_info("reload: %s: %s %s", path, r->id, d ? "updated" : "added");
        written++;
    }
    free(db);
    free(s->models);
    s->models = rows;
    s->nmodels = n;
    if (written && tg_catalog_reload(s->st) < 0)
        tg_error("reload: cannot rebuild the catalog; the models change at the next one");
    return written;
}

static int reload_data(serve_t *s)
{
    char path[4096];
    int changes = 0, rc;
    if (tg_data_path("tiers.json", path, sizeof(path)) < 0) {
        tg_error("reload: data/tiers.json not found; the tier table in force stays");
    } else if ((rc = tg_tiers_reload(path)) < 0) {
        tg_error("reload: %s refused; the tier table in force stays", path);
    } else if (rc == 1) {
        tg_info("reload: %s: changed; requests from now on use it", path);
        changes++;
    }
    if (tg_data_path("models.json", path, sizeof(path)) < 0)
        tg_error("reload: data/models.json not found; the models in force stay");
    else if ((rc = sync_models(s, path)) > 0)
        changes += rc;
    return changes;
}

/* ---- SIGHUP ---- */

static void apply(const tg_serve_opts_t *o, tg_http_server_t *srv)
{
    tg_api_config_t api;
    tg_http_config_t http = {0};
    tg_alerts_config_t alerts;
    tg_log_level = tg_cli__opts_log_level(o);
    tg_pool_config((int)o->breaker_failures, o->breaker_cooldown);
    fill_http(o, &http);
    tg_http_server_reconfigure(srv, &http);
    fill_api(o, NULL, &api);
    tg_api_reconfigure(&api);
    fill_alerts(o, &alerts);
    tg_alerts_reconfigure(&alerts);
}

static void reload(serve_t *s)
{
    const tg_serve_opts_t *cur = s->live ? s->live : s->start;
    tg_serve_opts_t *next = calloc(1, sizeof(*next));
    char err[4608];
    int changes = 0, refused = 0;

    tg_sd_notify_reloading();
    tg_info("SIGHUP: reloading%s%s and the data files", cur->config ? " " : "",
            cur->config ? cur->config : "");
    if (!next || tg_cli__opts_load(s->argc, s->argv, next, err, sizeof(err)) != 0) {
        tg_error("reload refused: %s; the running configuration stays", next ? err : "no memory");
        refused = 1;
    } else if (s->tls) {
        /* TLS goes on or off only with a restart: then the running files are re-read */
        int flip = !next->tls_cert;
        const char *cert = flip ? cur->tls_cert : next->tls_cert;
        const char *key = flip ? cur->tls_key : next->tls_key;
        char was[65], now[65];
        tg_tls_fingerprint(s->tls, was);
        if (tg_tls_reload(s->tls, cert, key, err, sizeof(err)) < 0) {
            tg_error("reload refused: %s; the running configuration and certificate stay", err);
            refused = 1;
        } else {
            tg_tls_fingerprint(s->tls, now);
            if (strcmp(was, now)) {
                tg_info("reload: TLS certificate %s: sha256 %.16s… -> %.16s… (for new "
                        "connections)", cert, was, now);
                changes++;
            }
        }
    }
    if (refused) {
        if (next)
            tg_cli__opts_dispose(next);
        free(next);
    } else {
        changes += tg_cli__opts_diff(cur, next);
        apply(next, s->srv);
        if (s->live)
            tg_cli__opts_dispose(s->live);
        free(s->live);
        s->live = next;
    }
    changes += reload_data(s);
    tg_info("reload: done%s; %d change%s applied", refused ? " (configuration refused)" : "",
            changes, changes == 1 ? "" : "s");
    tg_sd_notify("READY=1");
}

int tg_cli_serve(int argc, char **argv)
{
    tg_serve_opts_t o;
    char host[256], path[4096], err[4608];
    int port, rc;
    tg_store_t *st = NULL, *claim = NULL, *shared_st = NULL, *poll_st = NULL;
    char shown[4096]; /* the database URL without its password, for messages */
    tg_http_server_t *srv = NULL;
    tg_tls_t *tls = NULL;

    /* Signals go to the main thread only, taken with sigtimedwait: blocked before any thread
     * starts, so every thread inherits the mask (and an early SIGHUP does not kill us). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    rc = tg_cli__opts_load(argc, argv, &o, err, sizeof(err));
    if (rc == 1) {
        usage(stdout);
        return 0;
    }
    if (rc < 0)
        return tg_cli_fail("serve: %s", err);
    tg_log_level = tg_cli__opts_log_level(&o);
    tg_log_format = o.log_format ? (!strcmp(o.log_format, "json") ? TG_LOG_JSON : TG_LOG_TEXT)
                                 : (isatty(STDERR_FILENO) ? TG_LOG_TEXT : TG_LOG_JSON);
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
    if (o.tls_cert && tg_tls_new(o.tls_cert, o.tls_key, &tls, err, sizeof(err)) < 0)
        return tg_cli_fail("serve: %s", err);
    tg_pool_config((int)o.breaker_failures, o.breaker_cooldown);
    if (o.redis) {
        char rerr[512];
        if (tg_shared_config(o.redis, rerr, sizeof(rerr)) < 0)
            return tg_cli_fail("serve: %s", rerr);
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
    /* the model table as shipped now: a reload compares the file with it (sync_models) */
    serve_t sv = {.argc = argc, .argv = argv, .start = &o};
    char models[4096];
    if (tg_data_path("models.json", models, sizeof(models)) < 0 ||
        tg_pricing_load_file(models, &sv.models, &sv.nmodels) < 0)
        tg_warn("serve: data/models.json not readable; a reload adds its models when it is");
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
    tg_pay_config_t pay = {.provider = o.payments,
                           .stripe_url = o.stripe_url,
                           .stripe_key = o.stripe_key ? o.stripe_key
                                                      : getenv("TOLLGATE_STRIPE_KEY"),
                           .stripe_webhook_secret =
                               o.stripe_webhook_secret ? o.stripe_webhook_secret
                                                       : getenv("TOLLGATE_STRIPE_WEBHOOK_SECRET")};
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
    tg_alerts_config_t alerts;
    fill_alerts(&o, &alerts);
    if (tg_alerts_start(st, &alerts) < 0) {
        tg_store_close(st);
        return tg_cli_fail("serve: cannot start spend alerts");
    }
    tg_store_close(st);
    if (tg_usage_start(o.db) < 0)
        return tg_cli_fail("serve: cannot start the usage recorder");
    if (tg_accounts_start(2) < 0)
        return tg_cli_fail("serve: cannot start the password hashing threads");

    tg_api_config_t api;
    fill_api(&o, &pay, &api);
    tg_http_config_t http = {.host = host, .port = port, .workers = (int)o.workers, .tls = tls,
                             .max_connections = o.max_connections};
    fill_http(&o, &http);
    tg_api_bind(&http, &api);
    if (!strcmp(o.access_log, "on") && tg_log_access_start(STDERR_FILENO) < 0)
        tg_warn("cannot start the access log's writer: no access log");
    if (tg_http_server_start(&http, &srv) < 0) {
        tg_log_access_stop();
        tg_accounts_stop();
        tg_usage_stop();
        return tg_cli_fail("serve: cannot listen on %s", o.listen);
    }
    tg_info("listening on %s://%s:%d (%ld workers, db %s)", tls ? "https" : "http", host,
            tg_http_server_port(srv), o.workers, shown);
    if (tls) {
        char fp[65];
        tg_tls_fingerprint(tls, fp);
        tg_info("TLS certificate %s: sha256 %s", o.tls_cert, fp);
    }
    tg_sd_notify("READY=1");

    /* Meanwhile, once a second: a change made on the host (tollgate org …) raises the store's
     * catalog counter; the catalog is re-read when it moves (and, with several instances,
     * every instance does the same). */
    int sig = 0;
    int64_t seen = 0, v;
    if (tg_store_open(o.db, &poll_st) < 0 || poll_st->tenancy->catalog_version(poll_st, &seen) < 0)
        tg_warn("serve: cannot read the catalog counter; changes made with `tollgate org` take "
                "effect at the next restart");
    sv.srv = srv;
    sv.tls = tls;
    sv.st = poll_st;
    for (;;) {
        struct timespec second = {1, 0};
        sig = sigtimedwait(&set, NULL, &second);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (sig == SIGHUP) {
            if (poll_st)
                reload(&sv);
            else
                tg_error("SIGHUP: no database connection; nothing reloaded");
        }
        if (poll_st && poll_st->tenancy->catalog_version(poll_st, &v) == 0 && v != seen) {
            seen = v;
            if (tg_catalog_refresh(poll_st) == 0)
                tg_info("catalog: re-read after a change made on the host");
        }
    }
    tg_sd_notify("STOPPING=1");
    tg_store_close(poll_st);
    tg_info("%s: stopping; %ld requests in flight, up to %d ms to finish",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", tg_http_server_inflight(srv),
            (int)(sv.live ? sv.live : &o)->shutdown_timeout);
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
    tg_api_unbind();
    tg_tls_free(tls);
    curl_global_cleanup();
    tg_store_close(claim);
    free(sv.models);
    if (sv.live)
        tg_cli__opts_dispose(sv.live);
    free(sv.live);
    tg_cli__opts_dispose(&o);
    tg_info("stopped");
    return 0;
}
