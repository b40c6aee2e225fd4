/* Internal to api/: the per-worker state, the per-request call and shared helpers. */
#ifndef TG_API_INT_H
#define TG_API_INT_H

#include "api/api.h"
#include "billing/ledger.h"
#include "catalog/catalog.h"
#include "limits/ratelimit.h"
#include "core/errors.h"
#include "core/sse.h"
#include "core/strbuf.h"
#include "gate/gate.h"
#include "providers/upstream.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <stdint.h>

typedef struct tg_call tg_call_t;
typedef struct tg_tok tg_tok_t;
typedef struct tg_observe tg_observe_t;

enum { IN_CHAT = 1, IN_PROMPT, IN_EMBEDDING, IN_RESPONSES };

typedef struct {
    struct event_base *base;
    tg_upstream_t *up;
    tg_store_t *store; /* for Admin API calls on this thread */
    tg_catalog_t *cat_slot;
    tg_shared_conn_t *shared; /* the shared counters (several instances), else NULL */
    uint64_t caught_up_ns;    /* the last tg_call_org/project re-read of the store */
    tg_call_t *calls; /* in-flight inference calls (for shutdown) */
    tg_observe_t *obs;  /* this worker's counters (observe.c) */
} tg_api_worker_t;

/* The running configuration: an immutable snapshot, replaced whole by tg_api_reconfigure. Read
 * it where it is used; a pointer stays valid until tg_api_unbind (replaced snapshots are kept,
 * a few hundred bytes per reload). */
const tg_api_config_t *tg_api__cfg(void);

struct tg_call {
    tg_http_req_t *req;
    tg_api_worker_t *w;
    const char *method; /* the route's method (a HEAD is served as its GET); NULL: unrouted */
    int route_id;       /* its row of the route table, or TG_ROUTE_* (router.c) */
    char verb[8];       /* the request's method, kept for the access log (req may be gone) */
    char actor_key[TG_ID_MAX]; /* the admin key's id, for the audit log (audit.c) */
    int status;         /* the answer's HTTP status */
    tg_err_t err;       /* the error answered, TG_OK if none */
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
    int stream_open;      /* counted in the open-streams gauge */
    uint64_t up_t0, up_ns; /* the current attempt's start; all attempts' time upstream */
    tg_usage_row_t rec;   /* the usage record, as settled (tokens, cost) */
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
/* Calls fn with every value of a repeated query parameter (`name`, `name[]` or `name[N]`),
 * decoded, until fn returns non-zero; returns that (or -1 when an allocation fails), else 0. */
int tg_call_query_each(tg_call_t *c, const char *name, int (*fn)(void *arg, const char *v),
                       void *arg);
/* Query parameter (decoded, copied into buf; the first of several); NULL when absent. */
const char *tg_call_query(tg_call_t *c, const char *name, char *buf, size_t cap);
/* {"object":"list","data":[...],"first_id","last_id","has_more"} from items with "id". Pages
 * with ?limit (1..100, default 20) and ?after. Takes items. */
void tg_call_list(tg_call_t *c, cJSON *items);
/* The same with another default page size (OpenAI's project rate limits: 100). */
void tg_call_list_n(tg_call_t *c, cJSON *items, long default_limit);
/* The request's method is m ("GET", "POST", …); a HEAD routed as a GET is a GET. */
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

/* ---- handlers: each is one row (or a few) of router.c's route table ----
 *
 * When a handler runs, the caller is authenticated for the row (c->key, c->org_id), and what
 * the row's pattern names is resolved: */
typedef struct {
    const tg_project_row_t *project; /* {project}: one of the caller's organisation's */
    const tg_org_row_t *org;         /* {org}: an organisation (the platform calls) */
    const char *id;                  /* {id}: one segment; {*}: the rest of the path */
    size_t idlen;                    /* id NULL: the pattern names none */
} tg_route_args_t;

typedef void tg_handler_t(tg_call_t *c, const tg_route_args_t *a);

/* inference.c */
tg_handler_t tg_api_chat, tg_api_completions, tg_api_embeddings, tg_api_responses;
/* GET/DELETE /v1/responses/{id}, GET …/{id}/input_items: relayed to the provider that made
 * the response */
tg_handler_t tg_api_response_item, tg_api_response_input_items;

/* models.c: /v1/models[/{*}], /v1/organization/models[/{*}] */
tg_handler_t tg_api_models_list, tg_api_models_get;
tg_handler_t tg_api_admin_models_list, tg_api_admin_model_get, tg_api_admin_model_set;

/* admin.c: admin keys and project keys (a->project NULL: admin keys), projects, their rate
 * limits, providers */
tg_handler_t tg_api_keys_list, tg_api_key_create, tg_api_key_get, tg_api_key_delete;
tg_handler_t tg_api_projects_list, tg_api_project_create, tg_api_project_get,
    tg_api_project_update, tg_api_project_archive;
tg_handler_t tg_api_rate_limits_list, tg_api_rate_limit_get, tg_api_rate_limit_set;
tg_handler_t tg_api_providers_list, tg_api_provider_get, tg_api_provider_save,
    tg_api_provider_delete;

/* usage.c: /v1/organization/usage/{completions,embeddings} and /v1/organization/costs */
tg_handler_t tg_api_usage_completions, tg_api_usage_embeddings, tg_api_costs;

/* billing.c: balance, credit grants, usage tier, spend limits (a->project NULL: the
 * organisation's) */
tg_handler_t tg_api_balance, tg_api_grants_list, tg_api_grant_own, tg_api_usage_tier;
tg_handler_t tg_api_spend_limit_get, tg_api_spend_limit_set, tg_api_spend_limit_delete;
/* `threshold_amount` (cents), `currency` (USD) and `interval` (month) of a spend limit or
 * alert body; -1 after answering the error. */
int tg_api_monthly_threshold(tg_call_t *c, const cJSON *j, int64_t *cents);
/* An operator's credit grant to org_id (the body: amount, expires_at, …) */
void tg_api_grant_credit(tg_call_t *c, const char *org_id);

/* platform.c: /v1/platform/organizations[/{org}[/credit_grants]] */
tg_handler_t tg_api_orgs_list, tg_api_org_create, tg_api_org_get, tg_api_org_update,
    tg_api_org_grant;

/* alerts.c: spend alerts of the organisation (a->project NULL) or of a project */
tg_handler_t tg_api_spend_alerts_list, tg_api_spend_alert_create, tg_api_spend_alert_get,
    tg_api_spend_alert_delete;

/* payments.c: billing/{payment_methods,top_ups,invoices}[/{id}], billing/auto_recharge (each
 * by the call's method), and the payment provider's webhook /v1/billing/webhooks/{id} */
tg_handler_t tg_api_payment_methods, tg_api_top_ups, tg_api_auto_recharge, tg_api_invoices;
tg_handler_t tg_api_payments_webhook;

/* members.c: /v1/organization/{invites,users}[/{id}], /v1/organization/settings */
tg_handler_t tg_api_invites, tg_api_users, tg_api_settings;

/* console.c: /console/api/…, the console's files, and sessions as Admin API credentials */
tg_handler_t tg_console_config, tg_console_session, tg_console_signup, tg_console_login,
    tg_console_logout, tg_console_password, tg_console_invite;
/* Answers a GET outside the API with a file of the console (index.html for its pages). */
void tg_api_console_file(tg_call_t *c, const char *path, size_t len);
/* Authenticates the request's session cookie as an admin key of the user's organisation
 * (owner: all, reader: read-only); a write needs the session's CSRF token. 1 if the request
 * has no session cookie (nothing answered), 0 on success, -1 after answering an error. */
int tg_console_auth(tg_call_t *c, unsigned scope);

/* router.c: the name of a route for metrics and logs — its path pattern, never the request's
 * own path (which may hold a token) */
enum { TG_ROUTE_UNKNOWN = 120, TG_ROUTE_FILE, TG_ROUTE_HTTP_ERROR, TG_ROUTE_NONE };
const char *tg_route_name(int route);
const char *tg_route_method(int route); /* "" for TG_ROUTE_* */

/* observe.c: metrics and the access log, written when a call ends */
tg_observe_t *tg_observe_new(void); /* a worker's counters, registered for the scrape */
void tg_observe_end(tg_call_t *c);  /* from tg_call_free */
void tg_observe_stream(tg_call_t *c, int open); /* a streamed answer began (1) or ended (0) */
void tg_observe_upstream(tg_call_t *c, const char *provider, uint64_t ns); /* one attempt */
void tg_observe_scrape(tg_strbuf_t *b); /* the families above, in Prometheus' text format */
/* One histogram in Prometheus' text format: n holds nb + 1 per-bucket counts (the last for
 * +Inf) for the upper bounds le; labels are `name="value"` pairs ("" for none); sum in the
 * family's unit. */
void tg_observe_hist(tg_strbuf_t *b, const char *family, const char *labels,
                     const double *le, size_t nb, const uint64_t *n, double sum);

/* audit.c: the audit log. tg_audit_begin opens a transaction; tg_audit_end records the event
 * when rc is 0 and commits, else rolls back, and returns the outcome. Both take `details` (the
 * object named like the event's type; NULL: {}). tg_audit_write records an event inside the
 * caller's own transaction (org_id NULL: the caller's organisation). */
int tg_audit_begin(tg_call_t *c);
int tg_audit_end(tg_call_t *c, int rc, const char *type, const char *project_id, cJSON *details);
int tg_audit_write(tg_call_t *c, const char *org_id, const char *type, const char *project_id,
                   cJSON *details);
cJSON *tg_audit_details(const char *id); /* {"id": id} */
tg_handler_t tg_api_audit_logs;

/* ops.c */
tg_handler_t tg_api_health, tg_api_ready, tg_api_metrics;
/* A request asked for a model that no provider serves: logged once a minute per model, and
 * named by /readyz while it stays so. */
void tg_api_note_unserved(const char *model);
void tg_api_abort_all(tg_api_worker_t *w);
/* The tokenizer of a model's `tokenizer` name (NULL: unknown or not loaded). */
const tg_tok_t *tg_api_tokenizer(const char *name);

/* Removes `"usage":null` (and its comma) from a JSON text in place; returns the new length. */
size_t tg_api__strip_null_usage(char *d, size_t len);

#endif
