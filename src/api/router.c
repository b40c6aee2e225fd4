/* Routing: method + path → handler, and the worker lifecycle callbacks. */
#include "api/api_int.h"

#include "auth/perms.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

static int path_prefix(const char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len > n && memcmp(p, lit, n) == 0;
}

static void handle(tg_http_req_t *req, void *data)
{
    tg_api_worker_t *w = data;
    tg_call_t *c = tg_call_new(req, w);
    size_t len;
    const char *path = tg_http_path(req, &len);
    const char *m = tg_http_method(req);
    int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;

    if (!c) {
        tg_http_respond(req, 503, "application/json", "", 0);
        return;
    }
    if (tg_span_is(path, len, "/healthz")) {
        get ? tg_api_health(c) : tg_call_bad_method(c);
    } else if (tg_span_is(path, len, "/readyz")) {
        get ? tg_api_ready(c) : tg_call_bad_method(c);
    } else if (tg_span_is(path, len, "/metrics")) {
        get ? tg_api_metrics(c) : tg_call_bad_method(c);
    } else if (tg_span_is(path, len, "/v1/chat/completions")) {
        post ? tg_api_chat(c) : tg_call_bad_method(c);
    } else if (tg_span_is(path, len, "/v1/completions")) {
        post ? tg_api_completions(c) : tg_call_bad_method(c);
    } else if (tg_span_is(path, len, "/v1/embeddings")) {
        post ? tg_api_embeddings(c) : tg_call_bad_method(c);
    } else if (tg_span_is(path, len, "/v1/responses")) {
        post ? tg_api_responses(c) : tg_call_bad_method(c);
    } else if (path_prefix(path, len, "/v1/responses/")) {
        tg_api_response_item(c, path + 14, len - 14);
    } else if (tg_span_is(path, len, "/v1/models")) {
        get ? tg_api_models_list(c) : tg_call_bad_method(c);
    } else if (path_prefix(path, len, "/v1/models/")) {
        if (get && tg_call_auth(c, TG_KEY_PROJECT, TG_SCOPE_MODELS_READ) == 0)
            tg_api_models_get(c, path + 11, len - 11);
        else if (!get)
            tg_call_bad_method(c);
    } else if (path_prefix(path, len, "/v1/organization/")) {
        tg_api_admin(c, path + 17, len - 17);
    } else if (path_prefix(path, len, "/v1/platform/")) {
        tg_api_platform(c, path + 13, len - 13);
    } else if (path_prefix(path, len, "/v1/billing/webhooks/")) {
        tg_api_payments_webhook(c, path + 21, len - 21);
    } else if (path_prefix(path, len, "/console/api/")) {
        tg_api_console(c, path + 13, len - 13);
    } else if (get && !path_prefix(path, len, "/v1/") && !tg_span_is(path, len, "/v1")) {
        tg_api_console_file(c, path, len); /* the console: its files and its pages */
    } else {
        tg_call_unknown_url(c);
    }
}

static void on_error(tg_http_req_t *req, int status, void *data)
{
    tg_call_t *c = tg_call_new(req, data);
    if (!c) {
        tg_http_respond(req, status, "text/plain", "", 0);
        return;
    }
    if (status == 413)
        tg_call_error(c, TG_E_BODY_TOO_LARGE, NULL,
                      "Request body too large. The maximum size of a request is set by the "
                      "server's --max-body-bytes.");
    else if (status == 431)
        tg_call_error(c, TG_E_HEADERS_TOO_LARGE, NULL, NULL);
    else
        tg_call_error(c, TG_E_BAD_REQUEST, NULL, "The request is not valid HTTP/1.1.");
}

static void *worker_init(struct event_base *base, int index, void *app)
{
    const tg_api_config_t *cfg = app;
    tg_api_worker_t *w = calloc(1, sizeof(*w));
    if (!w)
        abort();
    w->base = base;
    w->cfg = cfg;
    w->up = tg_upstream_new(base);
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
    http->app = (void *)cfg;
}
