/* Routing: the route table (method + path → who may call, handler), the HTTP server's error
 * answers, and the worker lifecycle callbacks. */
#include "api/api_int.h"

#include "auth/perms.h"
#include "core/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the route table ----
 *
 * Every endpoint is one row: method, path pattern, who may call it and with which scope, and
 * its handler. A pattern's segments are literals or:
 *   {project}  a project of the caller's organisation, resolved before the handler runs
 *   {org}      an organisation (the operator's platform calls), resolved likewise
 *   {id}       one segment, handed to the handler as a span
 *   {*}        the rest of the path, slashes included (a model's id may hold one)
 * The router matches the path, then the method (HEAD is served as GET, without a body), then
 * authenticates once, resolves what the pattern names and calls the handler; a handler starts
 * with everything it needs. The inference rows come first: they are the hot path. */

enum {
    OPEN,     /* no credentials (health, metrics, the payment provider's signed webhook) */
    CONSOLE,  /* the console's own calls: the handler checks the session where it needs one */
    PROJECT,  /* a project API key with the row's scope */
    ADMIN,    /* an admin key, or a console session, of any organisation */
    OPERATOR, /* an admin key or session of the operator's organisation */
};

#define RD TG_SCOPE_MGMT_READ
#define WR TG_SCOPE_MGMT_WRITE
#define ORG "/v1/organization"

static const struct route {
    const char *method;
    const char *path;
    int who;
    unsigned scope;
    tg_handler_t *fn;
} routes[] = {
    {"POST", "/v1/chat/completions", PROJECT, TG_SCOPE_MODEL_REQUEST, tg_api_chat},
    {"POST", "/v1/completions", PROJECT, TG_SCOPE_MODEL_REQUEST, tg_api_completions},
    {"POST", "/v1/embeddings", PROJECT, TG_SCOPE_MODEL_REQUEST, tg_api_embeddings},
    {"POST", "/v1/responses", PROJECT, TG_SCOPE_MODEL_REQUEST, tg_api_responses},
    {"GET", "/v1/responses/{id}", PROJECT, TG_SCOPE_MODEL_REQUEST, tg_api_response_item},
    {"DELETE", "/v1/responses/{id}", PROJECT, TG_SCOPE_MODEL_REQUEST, tg_api_response_item},
    {"GET", "/v1/responses/{id}/input_items", PROJECT, TG_SCOPE_MODEL_REQUEST, tg_api_response_input_items},
    {"GET", "/v1/models", PROJECT, TG_SCOPE_MODELS_READ, tg_api_models_list},
    {"GET", "/v1/models/{*}", PROJECT, TG_SCOPE_MODELS_READ, tg_api_models_get},

    {"GET", "/healthz", OPEN, 0, tg_api_health},
    {"GET", "/readyz", OPEN, 0, tg_api_ready},
    {"GET", "/metrics", OPEN, 0, tg_api_metrics},

    /* the Admin API: the organisation of the caller's key */
    {"GET", ORG "/admin_api_keys", ADMIN, RD, tg_api_keys_list},
    {"POST", ORG "/admin_api_keys", ADMIN, WR, tg_api_key_create},
    {"GET", ORG "/admin_api_keys/{id}", ADMIN, RD, tg_api_key_get},
    {"DELETE", ORG "/admin_api_keys/{id}", ADMIN, WR, tg_api_key_delete},
    {"GET", ORG "/projects", ADMIN, RD, tg_api_projects_list},
    {"POST", ORG "/projects", ADMIN, WR, tg_api_project_create},
    {"GET", ORG "/projects/{project}", ADMIN, RD, tg_api_project_get},
    {"POST", ORG "/projects/{project}", ADMIN, WR, tg_api_project_update},
    {"POST", ORG "/projects/{project}/archive", ADMIN, WR, tg_api_project_archive},
    {"GET", ORG "/projects/{project}/api_keys", ADMIN, RD, tg_api_keys_list},
    {"POST", ORG "/projects/{project}/api_keys", ADMIN, WR, tg_api_key_create},
    {"GET", ORG "/projects/{project}/api_keys/{id}", ADMIN, RD, tg_api_key_get},
    {"DELETE", ORG "/projects/{project}/api_keys/{id}", ADMIN, WR, tg_api_key_delete},
    {"GET", ORG "/projects/{project}/rate_limits", ADMIN, RD, tg_api_rate_limits_list},
    {"GET", ORG "/projects/{project}/rate_limits/{id}", ADMIN, RD, tg_api_rate_limit_get},
    {"POST", ORG "/projects/{project}/rate_limits/{id}", ADMIN, WR, tg_api_rate_limit_set},
    {"GET", ORG "/projects/{project}/spend_limit", ADMIN, RD, tg_api_spend_limit_get},
    {"POST", ORG "/projects/{project}/spend_limit", ADMIN, WR, tg_api_spend_limit_set},
    {"DELETE", ORG "/projects/{project}/spend_limit", ADMIN, WR, tg_api_spend_limit_delete},
    {"GET", ORG "/projects/{project}/spend_alerts", ADMIN, RD, tg_api_spend_alerts_list},
    {"POST", ORG "/projects/{project}/spend_alerts", ADMIN, WR, tg_api_spend_alert_create},
    {"GET", ORG "/projects/{project}/spend_alerts/{id}", ADMIN, RD, tg_api_spend_alert_get},
    {"DELETE", ORG "/projects/{project}/spend_alerts/{id}", ADMIN, WR, tg_api_spend_alert_delete},
    {"GET", ORG "/spend_limit", ADMIN, RD, tg_api_spend_limit_get},
    {"POST", ORG "/spend_limit", ADMIN, WR, tg_api_spend_limit_set},
    {"DELETE", ORG "/spend_limit", ADMIN, WR, tg_api_spend_limit_delete},
    {"GET", ORG "/spend_alerts", ADMIN, RD, tg_api_spend_alerts_list},
    {"POST", ORG "/spend_alerts", ADMIN, WR, tg_api_spend_alert_create},
    {"GET", ORG "/spend_alerts/{id}", ADMIN, RD, tg_api_spend_alert_get},
    {"DELETE", ORG "/spend_alerts/{id}", ADMIN, WR, tg_api_spend_alert_delete},
    {"GET", ORG "/usage/completions", ADMIN, RD, tg_api_usage_completions},
    {"GET", ORG "/usage/embeddings", ADMIN, RD, tg_api_usage_embeddings},
    {"GET", ORG "/costs", ADMIN, RD, tg_api_costs},
    {"GET", ORG "/usage_tier", ADMIN, RD, tg_api_usage_tier},
    {"GET", ORG "/audit_logs", ADMIN, RD, tg_api_audit_logs},
    {"GET", ORG "/billing/balance", ADMIN, RD, tg_api_balance},
    {"GET", ORG "/billing/credit_grants", ADMIN, RD, tg_api_grants_list},
    {"POST", ORG "/billing/credit_grants", OPERATOR, WR, tg_api_grant_own}, /* never bought by the org itself */
    {"GET", ORG "/billing/payment_methods", ADMIN, RD, tg_api_payment_methods},
    {"POST", ORG "/billing/payment_methods", ADMIN, WR, tg_api_payment_methods},
    {"GET", ORG "/billing/payment_methods/{id}", ADMIN, RD, tg_api_payment_methods},
    {"POST", ORG "/billing/payment_methods/{id}", ADMIN, WR, tg_api_payment_methods},
    {"DELETE", ORG "/billing/payment_methods/{id}", ADMIN, WR, tg_api_payment_methods},
    {"GET", ORG "/billing/top_ups", ADMIN, RD, tg_api_top_ups},
    {"POST", ORG "/billing/top_ups", ADMIN, WR, tg_api_top_ups},
    {"GET", ORG "/billing/top_ups/{id}", ADMIN, RD, tg_api_top_ups},
    {"GET", ORG "/billing/auto_recharge", ADMIN, RD, tg_api_auto_recharge},
    {"POST", ORG "/billing/auto_recharge", ADMIN, WR, tg_api_auto_recharge},
    {"GET", ORG "/billing/invoices", ADMIN, RD, tg_api_invoices},
    {"GET", ORG "/billing/invoices/{id}", ADMIN, RD, tg_api_invoices},
    {"GET", ORG "/invites", ADMIN, RD, tg_api_invites},
    {"POST", ORG "/invites", ADMIN, WR, tg_api_invites},
    {"GET", ORG "/invites/{id}", ADMIN, RD, tg_api_invites},
    {"DELETE", ORG "/invites/{id}", ADMIN, WR, tg_api_invites},
    {"GET", ORG "/users", ADMIN, RD, tg_api_users},
    {"GET", ORG "/users/{id}", ADMIN, RD, tg_api_users},
    {"POST", ORG "/users/{id}", ADMIN, WR, tg_api_users},
    {"DELETE", ORG "/users/{id}", ADMIN, WR, tg_api_users},
    {"GET", ORG "/settings", ADMIN, RD, tg_api_settings},
    {"POST", ORG "/settings", ADMIN, WR, tg_api_settings},
    {"GET", ORG "/models", ADMIN, RD, tg_api_admin_models_list},
    {"GET", ORG "/models/{*}", ADMIN, RD, tg_api_admin_model_get},
    {"POST", ORG "/models/{*}", OPERATOR, WR, tg_api_admin_model_set},
    /* customers never see providers */
    {"GET", ORG "/providers", OPERATOR, RD, tg_api_providers_list},
    {"POST", ORG "/providers", OPERATOR, WR, tg_api_provider_save},
    {"GET", ORG "/providers/{id}", OPERATOR, RD, tg_api_provider_get},
    {"POST", ORG "/providers/{id}", OPERATOR, WR, tg_api_provider_save},
    {"DELETE", ORG "/providers/{id}", OPERATOR, WR, tg_api_provider_delete},

    /* the operator's platform calls (SPEC.md §1.2) */
    {"GET", "/v1/platform/organizations", OPERATOR, RD, tg_api_orgs_list},
    {"POST", "/v1/platform/organizations", OPERATOR, WR, tg_api_org_create},
    {"GET", "/v1/platform/organizations/{org}", OPERATOR, RD, tg_api_org_get},
    {"POST", "/v1/platform/organizations/{org}", OPERATOR, WR, tg_api_org_update},
    {"POST", "/v1/platform/organizations/{org}/credit_grants", OPERATOR, WR, tg_api_org_grant},

    /* signed by the payment provider, not by a key */
    {"POST", "/v1/billing/webhooks/{id}", OPEN, 0, tg_api_payments_webhook},

    /* the console's own calls; its pages and files are the fallback below */
    {"GET", "/console/api/config", CONSOLE, 0, tg_console_config},
    {"GET", "/console/api/session", CONSOLE, 0, tg_console_session},
    {"POST", "/console/api/signup", CONSOLE, 0, tg_console_signup},
    {"POST", "/console/api/login", CONSOLE, 0, tg_console_login},
    {"POST", "/console/api/logout", CONSOLE, 0, tg_console_logout},
    {"POST", "/console/api/password", CONSOLE, 0, tg_console_password},
    {"GET", "/console/api/invites/{id}", CONSOLE, 0, tg_console_invite},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))
_Static_assert(NROUTES <= TG_ROUTE_UNKNOWN, "route indexes collide with TG_ROUTE_*");

const char *tg_route_name(int route)
{
    if (route >= 0 && (size_t)route < NROUTES)
        return routes[route].path;
    switch (route) {
    case TG_ROUTE_UNKNOWN: return "unknown";  /* 404 unknown_url */
    case TG_ROUTE_FILE: return "/{console}";  /* the console's pages and files */
    case TG_ROUTE_HTTP_ERROR: return "http";  /* refused by the HTTP layer (400, 413, 431) */
    default: return "none";
    }
}

const char *tg_route_method(int route)
{
    return route >= 0 && (size_t)route < NROUTES ? routes[route].method : "";
}

#define PARAM_MAX (TG_ID_MAX * 4) /* longer segments name nothing */

typedef struct {
    const char *project, *org; /* spans of {project} and {org} */
    size_t project_len, org_len;
} names_t;

static int is_param(const char *p, size_t pl, const char *name)
{
    return tg_span_is(p, pl, name);
}

/* 1 if the path (p, len) matches pattern; what it captures goes to a and nm. */
static int match(const char *pattern, const char *p, size_t len, tg_route_args_t *a, names_t *nm)
{
    const char *pp = pattern, *end = p + len;
    memset(a, 0, sizeof(*a));
    memset(nm, 0, sizeof(*nm));
    for (;;) { /* both at a '/' */
        if (*pp != '/' || p == end || *p != '/')
            return 0;
        pp++, p++;
        const char *pe = strchr(pp, '/'), *se = memchr(p, '/', (size_t)(end - p));
        size_t pl = pe ? (size_t)(pe - pp) : strlen(pp);
        size_t sl = se ? (size_t)(se - p) : (size_t)(end - p);
        if (is_param(pp, pl, "{*}")) { /* the rest, non-empty */
            if (p == end || end[-1] == '/')
                return 0;
            a->id = p, a->idlen = (size_t)(end - p);
            return 1;
        }
        if (*pp == '{') {
            if (sl == 0 || sl >= PARAM_MAX)
                return 0;
            if (is_param(pp, pl, "{project}"))
                nm->project = p, nm->project_len = sl;
            else if (is_param(pp, pl, "{org}"))
                nm->org = p, nm->org_len = sl;
            else
                a->id = p, a->idlen = sl;
        } else if (pl != sl || memcmp(pp, p, pl) != 0) {
            return 0;
        }
        pp += pl, p += sl;
        if (!*pp)
            return p == end;
    }
}

static int authenticate(tg_call_t *c, const struct route *r)
{
    switch (r->who) {
    case OPEN:
        return 0;
    case CONSOLE:
        if (!c->cat) {
            tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
            return -1;
        }
        return 0;
    case PROJECT:
        return tg_call_auth(c, TG_KEY_PROJECT, r->scope);
    default:
        if (tg_call_auth(c, TG_KEY_ADMIN, r->scope) < 0)
            return -1;
        if (r->who == OPERATOR && !c->key->org->is_operator) {
            tg_call_missing_scope(c, r->scope);
            return -1;
        }
        return 0;
    }
}

/* {project} and {org} as rows of the current snapshot; 404 after answering when unknown (or,
 * for a project, another organisation's). */
static int resolve(tg_call_t *c, const names_t *nm, tg_route_args_t *a)
{
    char id[PARAM_MAX];
    if (nm->project) {
        snprintf(id, sizeof(id), "%.*s", (int)nm->project_len, nm->project);
        a->project = tg_call_project(c, id);
        if (!a->project || strcmp(a->project->org_id, c->org_id) != 0) {
            tg_call_error(c, TG_E_NOT_FOUND, NULL, "No project found with id '%.64s'.", id);
            return -1;
        }
    }
    if (nm->org) {
        snprintf(id, sizeof(id), "%.*s", (int)nm->org_len, nm->org);
        if (!(a->org = tg_call_org(c, id))) {
            tg_call_error(c, TG_E_NOT_FOUND, NULL, "No organization found with id '%.64s'.", id);
            return -1;
        }
    }
    return 0;
}

static int under(const char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len >= n && memcmp(p, lit, n) == 0;
}

static void handle(tg_http_req_t *req, void *data)
{
    tg_api_worker_t *w = data;
    tg_call_t *c = tg_call_new(req, w);
    size_t len;
    const char *path = tg_http_path(req, &len);
    const char *m = tg_http_method(req);
    int head = strcmp(m, "HEAD") == 0, path_known = 0;
    const struct route *r = NULL;
    char allow[64] = ""; /* the path's methods, for a 405's Allow header */
    tg_route_args_t a;
    names_t nm;

    if (!c) {
        tg_http_respond(req, 503, "application/json", "", 0);
        return;
    }
    for (size_t i = 0; i < NROUTES; i++) {
        if (!match(routes[i].path, path, len, &a, &nm))
            continue;
        path_known = 1;
        if (strcmp(routes[i].method, m) == 0 || (head && strcmp(routes[i].method, "GET") == 0)) {
            r = &routes[i];
            break;
        }
        if (strlen(allow) + strlen(routes[i].method) + 8 < sizeof(allow))
            snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s%s",
                     *allow ? ", " : "", routes[i].method,
                     strcmp(routes[i].method, "GET") == 0 ? ", HEAD" : "");
    }
    c->route_id = r ? (int)(r - routes) : TG_ROUTE_UNKNOWN;
    if (!r) {
        if (path_known) {
            tg_http_add_header(req, "allow", allow);
            tg_call_bad_method(c);
        } else if ((strcmp(m, "GET") == 0 || head) && !under(path, len, "/v1/") &&
                 !tg_span_is(path, len, "/v1") && !under(path, len, "/console/api/")) {
            c->route_id = TG_ROUTE_FILE;
            tg_api_console_file(c, path, len); /* the console: its files and its pages */
        } else {
            tg_call_unknown_url(c);
        }
        return;
    }
    c->method = r->method;
    if (authenticate(c, r) < 0 || resolve(c, &nm, &a) < 0)
        return;
    r->fn(c, &a);
}

static void on_error(tg_http_req_t *req, int status, void *data)
{
    tg_call_t *c = tg_call_new(req, data);
    if (!c) {
        tg_http_respond(req, status, "text/plain", "", 0);
        return;
    }
    c->route_id = TG_ROUTE_HTTP_ERROR;
    if (status == 413)
        tg_call_error(c, TG_E_BODY_TOO_LARGE, NULL,
                      "Request body too large. The maximum size of a request is set by the "
                      "server's --max-body-bytes.");
    else if (status == 431)
        tg_call_error(c, TG_E_HEADERS_TOO_LARGE, NULL, NULL);
    else
        tg_call_error(c, TG_E_BAD_REQUEST, NULL, "The request is not valid HTTP/1.1.");
}

/* ---- the running configuration ---- */

typedef struct conf {
    tg_api_config_t cfg;
    struct conf *older; /* replaced snapshots, freed by tg_api_unbind */
    char strs[];        /* db_url, payments_provider, stripe_publishable_key */
} conf_t;

static _Atomic(conf_t *) conf;

const tg_api_config_t *tg_api__cfg(void)
{
    return &atomic_load_explicit(&conf, memory_order_acquire)->cfg;
}

static char *put(char **p, const char *s)
{
    if (!s)
        return NULL;
    char *at = *p;
    size_t n = strlen(s) + 1;
    memcpy(at, s, n);
    *p += n;
    return at;
}

void tg_api_reconfigure(const tg_api_config_t *cfg)
{
    conf_t *old = atomic_load(&conf);
    const tg_api_config_t *keep = old ? &old->cfg : cfg; /* what needs a restart */
    size_t n = 0;
    const char *strs[] = {keep->db_url, keep->payments_provider, keep->stripe_publishable_key};
    for (size_t i = 0; i < 3; i++)
        n += strs[i] ? strlen(strs[i]) + 1 : 0;
    conf_t *c = malloc(sizeof(*c) + n);
    if (!c) {
        tg_error("reload: out of memory; the running configuration stays");
        return;
    }
    char *p = c->strs;
    c->cfg = *cfg;
    c->cfg.db_url = put(&p, keep->db_url);
    c->cfg.payments_provider = put(&p, keep->payments_provider);
    c->cfg.stripe_publishable_key = put(&p, keep->stripe_publishable_key);
    c->older = old;
    atomic_store_explicit(&conf, c, memory_order_release);
}

void tg_api_unbind(void)
{
    conf_t *c = atomic_exchange(&conf, NULL);
    while (c) {
        conf_t *older = c->older;
        free(c);
        c = older;
    }
}

static void *worker_init(struct event_base *base, int index, void *app)
{
    const tg_api_config_t *cfg = tg_api__cfg();
    tg_api_worker_t *w = calloc(1, sizeof(*w));
    if (!w)
        abort();
    w->base = base;
    w->up = tg_upstream_new(base);
    w->obs = tg_observe_new(); /* NULL: no metrics for this worker, nothing else changes */
    if (tg_shared_on() && !(w->shared = tg_shared_conn_new(base))) {
        tg_error("worker %d: cannot start", index);
        abort();
    }
    if (!w->up || tg_store_open(cfg->db_url, &w->store) < 0) {
        tg_error("worker %d: cannot start", index);
        abort();
    }
    return w;
}

static void worker_abort(void *data)
{
    tg_api_abort_all(data);
}

static void worker_dispose(void *data)
{
    tg_api_worker_t *w = data;
    tg_upstream_free(w->up);
    tg_shared_conn_free(w->shared);
    tg_store_close(w->store);
    tg_catalog_unref(w->cat_slot);
    free(w);
}

void tg_api_bind(tg_http_config_t *http, const tg_api_config_t *cfg)
{
    http->handler = handle;
    http->on_error = on_error;
    http->worker_init = worker_init;
    http->worker_abort = worker_abort;
    http->worker_dispose = worker_dispose;
    http->app = NULL;
    tg_api_reconfigure(cfg);
}
