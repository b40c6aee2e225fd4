/* Internal to api/: the per-worker state, the per-request call and shared helpers. */
#ifndef TG_API_INT_H
#define TG_API_INT_H

#include "api/api.h"
#include "billing/ledger.h"
#include "catalog/catalog.h"
#include "limits/ratelimit.h"
#include "core/errors.h"
#include "core/sse.h"
#include "gate/gate.h"
#include "providers/upstream.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <stdint.h>

typedef struct tg_call tg_call_t;
typedef struct tg_tok tg_tok_t;

enum { IN_CHAT = 1, IN_PROMPT, IN_EMBEDDING, IN_RESPONSES };

typedef struct {
    struct event_base *base;
    const tg_api_config_t *cfg;
    tg_upstream_t *up;
    tg_store_t *store; /* for Admin API calls on this thread */
    tg_catalog_t *cat_slot;
    tg_shared_conn_t *shared; /* the shared counters (several instances), else NULL */
    uint64_t caught_up_ns;    /* the last tg_call_org/project re-read of the store */
    tg_call_t *calls; /* in-flight inference calls (for shutdown) */
} tg_api_worker_t;

struct tg_call {
    tg_http_req_t *req;
    tg_api_worker_t *w;
    tg_catalog_t *cat; /* ref held for the call's life */
    tg_catalog_t *cat_before; /* the snapshot c->key points into, after a catch-up */
    char request_id[37];
    uint64_t t0;
    const tg_cat_key_t *key;
    char org_id[TG_ID_MAX]; /* for the openai-organization header */
    /* a console session (console.c): the user, and the admin key it acts as */
    tg_user_row_t user;
    char session_hash[65]; /* the stored hash of its cookie's token (auth/accounts.h) */
    tg_cat_key_t session_key;
    int via_session;
    tg_call_t *prev, *next;

    /* inference */
    const char *endpoint; /* "chat.completions", "completions", "embeddings", "responses" */
    tg_ep_t ep;
    const char *path;     /* the upstream path: "chat/completions", … */
    const tg_model_row_t *model;
    const tg_cat_route_t *route;
    tg_tries_t tries;     /* the attempts over the route's providers */
    tg_pick_t pick;       /* the current (or last) attempt */
    const tg_provider_t *item_provider; /* GET/DELETE of a stored response: its provider */
    struct event *timer;  /* the attempt's first-byte timeout, or the back-off after it */
    int backing_off;      /* the timer is the back-off */
    int first_byte;       /* the current attempt's answer has begun */
    int reached;          /* some attempt reached a provider (its usage is recorded) */
    int64_t retry_after_ms; /* the current attempt's answer said so */
    tg_up_req_t *up;
    int stream, started, finished, aborted, gone, paused;
    int status; /* status for the client and the usage record */
    struct evbuffer *body; /* non-streamed answer, or an upstream error body */
    tg_sse_t sse;          /* upstream SSE parser */
    char sse_event[64];    /* the `event:` name of the event being read */
    size_t sse_event_len;
    struct evbuffer *out;  /* events to send in this write */
    tg_relay_t relay;      /* usage and text of the answer, as the adapter read them */
    tg_bound_t bound;      /* the input bound, and the exact text count */
    int64_t out_cap, n; /* output tokens asked for (-1: the model's maximum), choices */
    int out_cap_explicit;
    const cJSON *input_node; /* messages, prompt or input (borrowed from the request body) */
    int input_kind;          /* IN_CHAT, IN_PROMPT, IN_EMBEDDING, IN_RESPONSES */
    tg_ticket_t ticket; /* what admission holds: reservation, rate-limit tokens, headers */
    tg_refusal_t why;   /* why admission refused */
    cJSON *fwd_json;    /* the request body, from admission to the last attempt */
    int up_result;
};

/* calls.c */
tg_call_t *tg_call_new(tg_http_req_t *req, tg_api_worker_t *w);
void tg_call_free(tg_call_t *c);
/* Adds the headers every response carries. */
void tg_call_headers(tg_call_t *c);
void tg_call_json(tg_call_t *c, int status, cJSON *body); /* takes body; ends the request */
/* The one place that turns an error into OpenAI's body. msg NULL: the table's message. */
void tg_call_error(tg_call_t *c, tg_err_t err, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void tg_call_missing_scope(tg_call_t *c, unsigned scope);
/* 404 unknown_url and 405 for the request's own method and path. */
void tg_call_unknown_url(tg_call_t *c);
void tg_call_bad_method(tg_call_t *c);
/* Authenticates the bearer key; on failure answers and returns -1. */
int tg_call_auth(tg_call_t *c, int want_kind, unsigned scope);
/* Body as a JSON object; on failure answers 400 and returns NULL. */
cJSON *tg_call_body_json(tg_call_t *c);
/* Query parameter (decoded, copied into buf); NULL when absent. */
const char *tg_call_query(tg_call_t *c, const char *name, char *buf, size_t cap);
/* {"object":"list","data":[...],"first_id","last_id","has_more"} from items with "id". Pages
 * with ?limit (1..100, default 20) and ?after. Takes items. */
void tg_call_list(tg_call_t *c, cJSON *items);
/* The same with another default page size (OpenAI's project rate limits: 100). */
void tg_call_list_n(tg_call_t *c, cJSON *items, long default_limit);
/* The request's method is m ("GET", "POST", …). */
int tg_call_is(const tg_call_t *c, const char *m);
/* A span of the path (p, len) is exactly the text lit. */
int tg_span_is(const char *p, size_t len, const char *lit);
/* Rebuilds the catalog after a write and moves the call to the new snapshot (c->key, which
 * points into the old one, becomes NULL). */
int tg_call_reload(tg_call_t *c);
/* An organisation or project by id, for the Admin API and the console. With several
 * instances, a change made on another one reaches this snapshot within 2 s; a miss re-reads
 * the store once (at most every 10 ms per worker) before it answers NULL, so a project made
 * through one instance can be used through the next right away. c->key stays valid. */
const tg_org_row_t *tg_call_org(tg_call_t *c, const char *id);
const tg_project_row_t *tg_call_project(tg_call_t *c, const char *id);
cJSON *tg_json_nanos(int64_t nanos); /* exact decimal JSON number */
void tg_json_opt_time(cJSON *o, const char *name, int64_t t);

/* validate.c: typed field checks with OpenAI's errors. Each answers the error itself and
 * returns -1; the opt_ ones return 1 (present and valid, *out set) or 0 (absent or null). */
int tg_bad_type(tg_call_t *c, const char *name, const char *want, const cJSON *v);
int tg_missing(tg_call_t *c, const char *name);
int tg_opt_int(tg_call_t *c, const cJSON *j, const char *name, int64_t min, int64_t max,
               int64_t *out);
int tg_opt_bool(tg_call_t *c, const cJSON *j, const char *name, int *out);
int tg_opt_number(tg_call_t *c, const cJSON *j, const char *name, double min, double max);
int tg_opt_string(tg_call_t *c, const cJSON *j, const char *name, const cJSON **out);

/* inference.c */
void tg_api_chat(tg_call_t *c);
void tg_api_completions(tg_call_t *c);
void tg_api_embeddings(tg_call_t *c);
void tg_api_responses(tg_call_t *c);
/* GET /v1/responses/{id}[/input_items], DELETE /v1/responses/{id}: rest is after the
 * prefix "/v1/responses/". Relayed to the provider that made the response. */
void tg_api_response_item(tg_call_t *c, const char *rest, size_t len);

/* ops.c */
/* A request asked for a model that no provider serves: logged once a minute per model, and
 * named by /readyz while it stays so. */
void tg_api_note_unserved(const char *model);
void tg_api_abort_all(tg_api_worker_t *w);
/* The tokenizer of a model's `tokenizer` name (NULL: unknown or not loaded). */
const tg_tok_t *tg_api_tokenizer(const char *name);

/* Removes `"usage":null` (and its comma) from a JSON text in place; returns the new length. */
size_t tg_api__strip_null_usage(char *d, size_t len);

/* models.c */
void tg_api_models_list(tg_call_t *c);
void tg_api_models_get(tg_call_t *c, const char *id, size_t len);
void tg_api_admin_models(tg_call_t *c, const char *sub, size_t len);

/* admin.c: /v1/organization/... (after `/v1/organization/`) */
void tg_api_admin(tg_call_t *c, const char *sub, size_t len);

/* usage.c: /v1/organization/usage/{kind} and /v1/organization/costs */
void tg_api_usage(tg_call_t *c, const char *kind, size_t len);
void tg_api_costs(tg_call_t *c);

/* billing.c: /v1/organization/billing/{what}[/{id}], spend limits, /v1/platform/... */
void tg_api_billing(tg_call_t *c, const char *what, size_t len, const char *id, size_t idlen,
                    int nsegs);
/* `threshold_amount` (cents), `currency` (USD) and `interval` (month) of a spend limit or
 * alert body; -1 after answering the error. */
int tg_api_monthly_threshold(tg_call_t *c, const cJSON *j, int64_t *cents);
/* project NULL: the organisation's limit */
void tg_api_spend_limit(tg_call_t *c, const tg_project_row_t *project);
/* billing.c: an operator's credit grant to org_id (the body: amount, expires_at, …) */
void tg_api_grant_credit(tg_call_t *c, const char *org_id);
/* platform.c: /v1/platform/… (sub: the path after "/v1/platform/") */
void tg_api_platform(tg_call_t *c, const char *sub, size_t len);
void tg_api_usage_tier(tg_call_t *c);
/* alerts.c: spend alerts of the organisation (project NULL) or of a project */
void tg_api_spend_alerts(tg_call_t *c, const tg_project_row_t *project, const char *id,
                         size_t idlen);
/* payments.c: billing/{payment_methods,top_ups,auto_recharge,invoices}[/{id}] and the payment
 * provider's webhook; anything else under billing/ answers unknown_url */
void tg_api_payments(tg_call_t *c, const char *what, size_t len, const char *id, size_t idlen,
                     int nsegs);
/* POST /v1/billing/webhooks/{provider} (after the prefix): no bearer key, a signed body */
void tg_api_payments_webhook(tg_call_t *c, const char *provider, size_t len);

/* console.c: /console/api/..., the console's files, and sessions as Admin API credentials */
void tg_api_console(tg_call_t *c, const char *sub, size_t len);
/* Answers a GET outside the API with a file of the console (index.html for its pages). */
void tg_api_console_file(tg_call_t *c, const char *path, size_t len);
/* Authenticates the request's session cookie as an admin key of the user's organisation
 * (owner: all, reader: read-only); a write needs the session's CSRF token. 1 if the request
 * has no session cookie (nothing answered), 0 on success, -1 after answering an error. */
int tg_console_auth(tg_call_t *c, unsigned scope);

/* members.c: /v1/organization/{invites,users,settings}[/{id}] */
void tg_api_members(tg_call_t *c, const char *what, size_t len, const char *id, size_t idlen,
                    int nsegs);

/* ops.c */
void tg_api_health(tg_call_t *c);
void tg_api_ready(tg_call_t *c);
void tg_api_metrics(tg_call_t *c);

#endif
