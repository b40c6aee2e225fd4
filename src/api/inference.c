/* Inference: /v1/chat/completions, /v1/completions, /v1/embeddings and /v1/responses, one
 * pipeline read top to bottom:
 *
 *   validate (validate.c and the checks below) → resolve the model and its route → bound the
 *   input → admit (gate/: tier, rate limits, reservation) → attempts over the route's
 *   providers (providers/pool.h picks; the provider's adapter makes the URL, key header and
 *   body) → relay the answer (SSE event by event with backpressure, through the adapter) →
 *   settle (gate/) → record usage durably → end the answer.
 *
 * An attempt that fails before anything reached the client (connect error, no first byte
 * within the provider's timeout_ms, 429, 5xx, a refused key, an answer that is not OpenAI's)
 * moves to the next candidate after a short jittered back-off, at most TG_ATTEMPTS_MAX in
 * all. The reservation is made once; only the attempt that answered is charged, and the
 * usage record names its provider. Nothing here knows a vendor's wire format. */
#include "api/api_int.h"

#include "auth/perms.h"
#include "billing/ledger.h"
#include "billing/usage.h"
#include "core/log.h"
#include "core/sse.h"
#include "core/util.h"
#include "limits/tiers.h"
#include "pricing/pricing.h"
#include "providers/pool.h"
#include "tokenizer/tokenizer.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_HWM (256 * 1024)     /* pause the upstream above this much unsent output */
#define SSE_EVENT_MAX (1024 * 1024) /* one upstream SSE event */
#define TG_ATTEMPTS_MAX 3           /* attempts per request, over all providers */
#define BACKOFF_MS 20               /* before the second attempt (then doubled), ± half */
/* ---- tokenizers: loaded once at start, read-only afterwards ---- */

static tg_tok_t *toks[2]; /* cl100k_base, o200k_base */

int tg_api_load_tokenizers(void)
{
    static const char *names[2] = {"cl100k_base", "o200k_base"};
    for (int i = 0; i < 2; i++) {
        int rc = tg_tok_load(names[i], &toks[i]);
        if (rc < 0) {
            tg_error("tokenizer %s: %s", names[i], tg_tok_strerror(rc));
            return -1;
        }
    }
    return 0;
}

void tg_api_free_tokenizers(void)
{
    for (int i = 0; i < 2; i++) {
        tg_tok_free(toks[i]);
        toks[i] = NULL;
    }
}

const tg_tok_t *tg_api_tokenizer(const char *name)
{
    return !strcmp(name, "cl100k_base") ? toks[0] : !strcmp(name, "o200k_base") ? toks[1] : NULL;
}


/* ---- the endpoints' common checks ---- */

/* stream, stream_options: shared by chat and completions. */
static int check_stream(tg_call_t *c, cJSON *j)
{
    int stream = 0;
    if (tg_opt_bool(c, j, "stream", &stream) < 0)
        return -1;
    cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!stream) {
            tg_call_error(c, TG_E_INVALID_VALUE, "stream_options",
                          "The 'stream_options' parameter is only allowed when 'stream' is "
                          "enabled.");
            return -1;
        }
        if (!cJSON_IsObject(so))
            return tg_bad_type(c, "stream_options", "an object", so);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(so, "include_usage");
        if (v && !cJSON_IsNull(v) && !cJSON_IsBool(v))
            return tg_bad_type(c, "stream_options.include_usage", "a boolean", v);
        c->relay.client_usage = cJSON_IsTrue(v);
    }
    c->stream = stream; /* the adapter asks the upstream for usage; stripped again if unwanted */
    return 0;
}

static int check_common(tg_call_t *c, cJSON *j)
{
    c->n = 1;
    if (tg_opt_int(c, j, "n", 1, 128, &c->n) < 0 ||
        tg_opt_number(c, j, "temperature", 0, 2) < 0 || tg_opt_number(c, j, "top_p", 0, 1) < 0 ||
        tg_opt_number(c, j, "presence_penalty", -2, 2) < 0 ||
        tg_opt_number(c, j, "frequency_penalty", -2, 2) < 0)
        return -1;
    return 0;
}

static int check_model(tg_call_t *c, cJSON *j)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!m || cJSON_IsNull(m))
        return tg_missing(c, "model");
    if (!cJSON_IsString(m))
        return tg_bad_type(c, "model", "a string", m);
    return 0;
}

/* ---- relay: the answer, as it comes ---- */

static const tg_target_t *target(const tg_call_t *c) { return &c->route->targets[c->pick.target]; }
static const tg_adapter_t *adapter(const tg_call_t *c) { return target(c)->provider->adapter; }

static void on_sse_event(void *arg, const char *line, size_t len)
{
    tg_call_t *c = arg; /* `event: NAME`: kept for the data line that follows */
    const char *v = line + 6; /* after "event:" */
    size_t n = len > 6 ? len - 6 : 0;
    if (n && *v == ' ')
        v++, n--;
    if (len < 6 || n >= sizeof(c->sse_event))
        n = 0;
    memcpy(c->sse_event, v, n);
    c->sse_event_len = n;
}

static void on_sse_data(void *arg, char *data, size_t len)
{
    tg_call_t *c = arg;
    adapter(c)->event(&c->relay, c->sse_event, c->sse_event_len, data, len, c->out);
    c->sse_event_len = 0;
}

static const tg_sse_cbs_t sse_cbs = {on_sse_data, on_sse_event};

static int process_sse(tg_call_t *c, const char *p, size_t n, int final)
{
    return tg_sse_feed(&c->sse, p, n, final, &sse_cbs, c);
}

static void flush_out(tg_call_t *c)
{
    size_t n = evbuffer_get_length(c->out);
    if (!n)
        return;
    tg_http_stream_write(c->req, (const char *)evbuffer_pullup(c->out, (ssize_t)n), n);
    evbuffer_drain(c->out, n);
}

static void start_stream(tg_call_t *c)
{
    c->started = 1; /* from here on the answer is the client's: no other attempt */
    tg_observe_stream(c, 1);
    tg_call_headers(c);
    tg_http_add_header(c->req, "cache-control", "no-cache");
    tg_http_stream_begin(c->req, 200, "text/event-stream; charset=utf-8");
}

static void on_drain(tg_http_req_t *req, void *arg)
{
    tg_call_t *c = arg;
    c->paused = 0;
    if (c->up)
        tg_upstream_resume(c->up);
}

/* A header line of the attempt's answer: the first one means the answer began. */
static void on_header(void *arg, const char *line, size_t n)
{
    tg_call_t *c = arg;
    if (!c->first_byte) {
        c->first_byte = 1;
        if (c->timer && !c->backing_off)
            event_del(c->timer); /* the first-byte timeout */
    }
    static const char ra[] = "retry-after:", ram[] = "retry-after-ms:";
    char v[24];
    int ms = n > sizeof(ram) - 1 && !strncasecmp(line, ram, sizeof(ram) - 1);
    if (!ms && !(n > sizeof(ra) - 1 && !strncasecmp(line, ra, sizeof(ra) - 1)))
        return;
    size_t skip = ms ? sizeof(ram) - 1 : sizeof(ra) - 1;
    snprintf(v, sizeof(v), "%.*s", (int)(n - skip), line + skip);
    char *end;
    long long x = strtoll(v, &end, 10); /* an HTTP date is not honoured: too rare to matter */
    if (end != v && x > 0 && x < 86400000LL && (ms || !c->retry_after_ms))
        c->retry_after_ms = ms ? x : x * 1000;
}

static int on_data(void *arg, int status, const char *p, size_t n)
{
    tg_call_t *c = arg;
    c->status = status;
    if (!c->stream || status < 200 || status >= 300) {
        if (evbuffer_get_length(c->body) + n > tg_api__cfg()->max_response_bytes)
            return -1;
        evbuffer_add(c->body, p, n);
        return 0;
    }
    if (!c->started)
        start_stream(c);
    if (tg_http_pending(c->req) > STREAM_HWM) {
        c->paused = 1;
        tg_http_on_drain(c->req, on_drain, c);
        return 1; /* curl hands us the same bytes again after resume */
    }
    int rc = process_sse(c, p, n, 0);
    flush_out(c);
    return rc;
}

/* ---- the end: an error, the usage record, the answer's end ---- */

static void set_error(tg_call_t *c, tg_err_t err, const char *msg)
{
    const tg_err_info_t *e = tg_err_info(err);
    cJSON *root = cJSON_CreateObject(), *o = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(o, "message", msg ? msg : e->message);
    cJSON_AddStringToObject(o, "type", e->type);
    cJSON_AddNullToObject(o, "param");
    if (e->code)
        cJSON_AddStringToObject(o, "code", e->code);
    else
        cJSON_AddNullToObject(o, "code");
    char *t = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
    if (t)
        evbuffer_add(c->body, t, strlen(t));
    free(t);
    c->status = e->status;
    c->err = err;
}

/* A stream that broke says so before it ends: chat and completions as a data event with
 * OpenAI's error object, the Responses API as its `error` event. */
static void stream_error(tg_call_t *c)
{
    size_t n = evbuffer_get_length(c->body);
    const char *b = (const char *)evbuffer_pullup(c->body, (ssize_t)n);
    if (c->ep != TG_EP_RESPONSES) {
        evbuffer_add_printf(c->out, "data: %.*s\n\n", (int)n, b);
        return;
    }
    cJSON *j = cJSON_ParseWithLength(b, n);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", "error");
    cJSON_AddItemToObject(ev, "code", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "type"), 1));
    cJSON_AddItemToObject(ev, "message",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "message"), 1));
    cJSON_AddNullToObject(ev, "param");
    char *t = cJSON_PrintUnformatted(ev);
    if (t)
        evbuffer_add_printf(c->out, "event: error\ndata: %s\n\n", t);
    free(t);
    cJSON_Delete(ev);
    cJSON_Delete(j);
}

/* The usage record is durable: now the client may see the end of the answer. */
static void on_durable(void *arg)
{
    tg_call_t *c = arg;
    if (c->started) {
        if (!c->gone) {
            if (c->status >= 300)
                stream_error(c);
            if (c->relay.held && evbuffer_get_length(c->relay.held))
                evbuffer_add_buffer(c->out, c->relay.held); /* response.completed */
            else if (c->ep != TG_EP_RESPONSES)
                evbuffer_add(c->out, "data: [DONE]\n\n", 14);
            flush_out(c);
        }
        tg_http_stream_end(c->req);
    } else {
        tg_call_headers(c);
        size_t n = evbuffer_get_length(c->body);
        tg_http_respond(c->req, c->status, "application/json",
                        (const char *)evbuffer_pullup(c->body, (ssize_t)n), n);
    }
    tg_call_free(c);
}

/* Settles and records the request (reached: some attempt reached a provider), then ends it
 * once the record is durable. */
static void record_and_finish(tg_call_t *c, int reached)
{
    tg_usage_row_t *u = &c->rec;

    c->finished = 1;
    tg_pool_abandon(c->route->targets, &c->tries);
    if (!reached) { /* never reached a provider: no usage, answer now */
        tg_admit_release(&c->ticket);
        on_durable(c);
        return;
    }
    memset(u, 0, sizeof(*u));
    memcpy(u->request_id, c->request_id, sizeof(c->request_id));
    u->created_at = tg_now();
    snprintf(u->org_id, sizeof(u->org_id), "%s", c->key->row.org_id);
    snprintf(u->project_id, sizeof(u->project_id), "%s", c->key->row.project_id);
    snprintf(u->api_key_id, sizeof(u->api_key_id), "%s", c->key->row.id);
    snprintf(u->model, sizeof(u->model), "%s", c->model->id);
    snprintf(u->provider_id, sizeof(u->provider_id), "%s", target(c)->provider->row.id);
    snprintf(u->endpoint, sizeof(u->endpoint), "%s", c->endpoint);
    snprintf(u->response_id, sizeof(u->response_id), "%s", c->relay.response_id);
    u->status = c->status;
    u->latency_ms = (int64_t)((tg_mono_ns() - c->t0) / 1000000);
    u->streamed = c->stream;
    u->aborted = c->aborted;
    /* Tollgate's own count, for when the upstream reported nothing usable: the input (its
     * exact text count, else the bound) and the output relayed or answered */
    int answered = !c->aborted && c->up_result == TG_UP_OK && c->status >= 200 &&
                   c->status < 300;
    tg_counts_t own = {0};
    const tg_counts_t *rep = &c->relay.usage;
    if (!(rep->present && rep->valid) &&
        (c->aborted || c->relay.relayed || rep->present || answered)) {
        const tg_tok_t *tok = tg_api_tokenizer(c->model->tokenizer);
        own.input = c->bound.text_tokens >= 0 ? c->bound.text_tokens : c->bound.tokens;
        if (c->stream) {
            own.output = tg_relay_tokens(&c->relay, tok);
        } else if (answered) {
            size_t n = evbuffer_get_length(c->body);
            own.output = adapter(c)->answer_tokens(
                c->ep, (const char *)evbuffer_pullup(c->body, (ssize_t)n), n, tok);
        }
    }
    tg_settle(&c->ticket, c->model, rep, &own, answered, u, c->w->base, on_durable, c);
}

/* ---- attempts ---- */

static void attempt(tg_call_t *c);
static const tg_up_cbs_t relay_cbs;

/* Every candidate failed (or none was available): the last failure's answer, already in
 * c->body, or 503 when no attempt was made. wait_ms: when a candidate may be available. */
static void no_more_attempts(tg_call_t *c, int64_t wait_ms)
{
    if (c->tries.attempts == 0) {
        char msg[TG_NAME_MAX + 200];
        snprintf(msg, sizeof(msg),
                 "No upstream provider of the model `%s` is available right now (each is "
                 "cooling down after failures or rate limits). Please retry shortly.",
                 c->model->id);
        set_error(c, TG_E_UNAVAILABLE, msg);
    }
    if (wait_ms > 0) {
        char v[24];
        snprintf(v, sizeof(v), "%lld", (long long)((wait_ms + 999) / 1000));
        tg_http_add_header(c->req, "retry-after", v);
    }
    record_and_finish(c, c->reached);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    tg_call_t *c = arg;
    if (c->backing_off) { /* the back-off is over: the next candidate */
        c->backing_off = 0;
        attempt(c);
        return;
    }
    /* no first byte within the provider's timeout_ms: give this attempt up */
    if (!c->up || c->first_byte)
        return;
    tg_upstream_cancel(c->up);
    c->up = NULL;
    relay_cbs.on_done(c, TG_UP_ETIMEOUT, 0);
}

static void arm(tg_call_t *c, int64_t ms, int backing_off)
{
    if (!c->timer && !(c->timer = evtimer_new(c->w->base, on_timer, c)))
        return; /* out of memory: the upstream's own timeout still ends the attempt */
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    c->backing_off = backing_off;
    evtimer_add(c->timer, &tv);
}

/* Starts the next attempt on the candidate the pool picks. */
static void attempt(tg_call_t *c)
{
    int64_t wait = 0;
    if (c->gone) {
        record_and_finish(c, c->reached);
        return;
    }
    if (c->tries.attempts >= TG_ATTEMPTS_MAX ||
        tg_pool_pick(c->model->id, c->route->targets, c->route->n, &c->tries, &c->pick,
                     &wait) < 0) {
        no_more_attempts(c, wait);
        return;
    }
    const tg_target_t *t = target(c);
    const tg_provider_t *p = t->provider;
    size_t hint, len = 0;
    tg_http_body(c->req, &hint);
    char *body = p->adapter->body(c->fwd_json, c->ep, t->upstream_model, c->stream, hint, &len);
    char url[TG_URL_MAX + TG_NAME_MAX + 128], auth[TG_UPSTREAM_KEY_MAX + 32];
    const char *headers[4] = {"Content-Type: application/json", NULL, NULL, NULL};
    p->adapter->address(&p->row, t->upstream_model, c->path, url, sizeof(url));
    p->adapter->auth(p->nkeys ? p->keys[c->pick.key] : "", auth, sizeof(auth));
    if (auth[0])
        headers[1] = auth;
    /* the attempt's own state: nothing of a failed attempt reached the client */
    c->first_byte = 0;
    c->retry_after_ms = 0;
    c->status = 0;
    c->err = TG_OK;
    c->up_t0 = tg_mono_ns();
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
    c->up = body ? tg_upstream_send(c->w->up, "POST", url, headers, body, len,
                                    tg_api__cfg()->upstream_timeout_ms, &relay_cbs, c)
                 : NULL;
    sodium_memzero(auth, sizeof(auth));
    if (!c->up) {
        tg_pool_abandon(c->route->targets, &c->tries);
        set_error(c, TG_E_UNAVAILABLE, NULL);
        record_and_finish(c, c->reached);
        return;
    }
    if (p->row.timeout_ms > 0)
        arm(c, p->row.timeout_ms, 0);
}

/* What one failed attempt tells the pool, the operator and, if it is the last, the client. */
typedef struct {
    tg_outcome_t outcome;
    int retry;        /* another candidate may serve it */
    tg_err_t err;     /* the client's error if this is the last attempt (0: pass through) */
    char msg[300];    /* its message (also the provider's last_error) */
} verdict_t;

static void judge(tg_call_t *c, int result, verdict_t *v)
{
    int status = c->status;
    memset(v, 0, sizeof(*v));
    if (result == TG_UP_ECONNECT) {
        *v = (verdict_t){TG_OUT_FAILED, 1, TG_E_UPSTREAM_FAILED, ""};
        snprintf(v->msg, sizeof(v->msg), "The upstream provider could not be reached.");
        return;
    }
    if (result == TG_UP_ETIMEOUT) { /* before the first byte it may go elsewhere */
        *v = (verdict_t){TG_OUT_FAILED, !c->first_byte, TG_E_UPSTREAM_TIMEOUT, ""};
        snprintf(v->msg, sizeof(v->msg), "The upstream provider timed out%s.",
                 c->first_byte ? "" : " before its first byte");
        return;
    }
    if (result != TG_UP_OK) {
        *v = (verdict_t){TG_OUT_FAILED, !c->first_byte, TG_E_UPSTREAM_FAILED, ""};
        snprintf(v->msg, sizeof(v->msg), "The upstream provider's answer broke off.");
        return;
    }
    size_t n = evbuffer_get_length(c->body);
    const char *b = (const char *)evbuffer_pullup(c->body, (ssize_t)n);
    if (status >= 200 && status < 300) {
        if (adapter(c)->answer(&c->relay, b, n) == 0) {
            v->outcome = TG_OUT_OK;
            return;
        }
        *v = (verdict_t){TG_OUT_FAILED, 1, TG_E_UPSTREAM_FAILED, ""};
        snprintf(v->msg, sizeof(v->msg), "The upstream provider's answer is not JSON.");
        return;
    }
    switch (adapter(c)->error(status, b, n)) {
    case TG_UPERR_PASS: /* the client's mistake, in OpenAI's words: passed through */
        v->outcome = TG_OUT_CLIENT;
        return;
    case TG_UPERR_AUTH: /* the key is Tollgate's, not the client's: never quote the answer */
        *v = (verdict_t){TG_OUT_AUTH, 1, TG_E_UPSTREAM_FAILED, ""};
        snprintf(v->msg, sizeof(v->msg),
                 "The upstream provider refused the gateway's credentials (HTTP %d).", status);
        return;
    case TG_UPERR_LIMITED:
        *v = (verdict_t){TG_OUT_LIMITED, 1, TG_E_UNAVAILABLE, ""};
        snprintf(v->msg, sizeof(v->msg),
                 "The upstream provider of this model is rate limited (HTTP 429). Please retry "
                 "shortly.");
        return;
    case TG_UPERR_SERVER:
    default:
        *v = (verdict_t){TG_OUT_FAILED, 1, TG_E_UPSTREAM_FAILED, ""};
        snprintf(v->msg, sizeof(v->msg), "The upstream provider failed (HTTP %d).", status);
        return;
    }
}

static void on_done(void *arg, int result, int status)
{
    tg_call_t *c = arg;
    c->up = NULL;
    tg_observe_upstream(c, target(c)->provider->row.id, tg_mono_ns() - c->up_t0);
    c->up_result = result;
    if (status)
        c->status = status;
    if (c->timer && !c->backing_off)
        event_del(c->timer);
    if (result != TG_UP_ECONNECT)
        c->reached = 1; /* it may have started generating: the record says what it cost */

    if (c->started) { /* a stream the client already has: it ends here, whatever happened */
        process_sse(c, NULL, 0, 1);
        flush_out(c);
        if (result == TG_UP_ETIMEOUT)
            set_error(c, TG_E_UPSTREAM_TIMEOUT, NULL);
        else if (result != TG_UP_OK)
            set_error(c, TG_E_UPSTREAM_FAILED,
                      "The upstream provider closed the stream before it was complete.");
        tg_pool_report(c->route->targets, &c->pick, &c->tries,
                       result == TG_UP_OK ? TG_OUT_OK : TG_OUT_FAILED, 0,
                       result == TG_UP_OK ? NULL : "The stream broke off.");
        record_and_finish(c, 1);
        return;
    }
    verdict_t v;
    judge(c, result, &v);
    if (v.msg[0]) /* the pool logs what changes a provider's state, once */
        tg_debug("provider %s, model %s, attempt %d: %s", target(c)->provider->row.id,
                 c->model->id, c->tries.attempts, v.msg);
    tg_pool_report(c->route->targets, &c->pick, &c->tries, v.outcome, c->retry_after_ms,
                   v.outcome == TG_OUT_OK || v.outcome == TG_OUT_CLIENT ? NULL : v.msg);
    if (v.err)
        set_error(c, v.err, v.msg);
    if (v.retry && !c->gone && c->tries.attempts < TG_ATTEMPTS_MAX) {
        /* jittered, doubling back-off: BACKOFF_MS, then twice that, each ± half */
        int64_t base = (int64_t)BACKOFF_MS << (c->tries.attempts - 1);
        arm(c, base / 2 + (int64_t)randombytes_uniform((uint32_t)base + 1), 1);
        if (c->backing_off)
            return;
    }
    if (v.err && c->retry_after_ms > 0) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%lld", (long long)((c->retry_after_ms + 999) / 1000));
        tg_http_add_header(c->req, "retry-after", ra);
    }
    record_and_finish(c, c->reached);
}

static const tg_up_cbs_t relay_cbs = {on_header, on_data, on_done};

static void on_client_close(tg_http_req_t *req, void *arg)
{
    tg_call_t *c = arg;
    c->gone = 1;
    if (c->up) { /* the upstream may have read the prompt and generated: charged so far */
        tg_upstream_cancel(c->up);
        c->up = NULL;
        c->reached = 1;
        c->aborted = 1;
    } else if (c->backing_off) { /* between attempts: the last one failed, nothing is owed */
        event_del(c->timer);
        c->backing_off = 0;
    } else {
        return; /* in admission (it sees `gone`), or complete and waiting for its record */
    }
    c->status = 499;
    record_and_finish(c, c->reached);
}

static void item_answer(tg_call_t *c);

void tg_api_abort_all(tg_api_worker_t *w)
{
    for (tg_call_t *c = w->calls, *next; c; c = next) {
        next = c->next;
        if (c->item_provider && c->up) { /* GET/DELETE of a stored response */
            tg_upstream_cancel(c->up);
            c->up = NULL;
            set_error(c, TG_E_UNAVAILABLE, "The server is shutting down.");
            item_answer(c);
            continue;
        }
        if (c->up) {
            tg_upstream_cancel(c->up);
            c->up = NULL;
            c->reached = 1;
            c->aborted = 1;
        } else if (c->backing_off) {
            event_del(c->timer);
            c->backing_off = 0;
        } else {
            continue;
        }
        set_error(c, TG_E_UNAVAILABLE, "The server is shutting down.");
        record_and_finish(c, c->reached);
    }
}
/* The input bound (gate/bound.c), and the context-window check (400
 * context_length_exceeded) on the exact text count where the model's tokenizer is ours.
 * -1 after answering. */
static int bound_input(tg_call_t *c, const tg_model_row_t *m, const cJSON *j)
{
    const tg_tok_t *tok = tg_api_tokenizer(m->tokenizer);
    int rc;
    if (c->input_kind == IN_RESPONSES) {
        int continues = 0;
        static const char *const refs[] = {"previous_response_id", "conversation", "prompt"};
        for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, refs[i]);
            continues |= v && !cJSON_IsNull(v);
        }
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
        rc = tg_bound_responses(m, tok, c->input_node,
                                cJSON_GetObjectItemCaseSensitive(j, "instructions"),
                                cJSON_GetObjectItemCaseSensitive(j, "tools"),
                                cJSON_GetObjectItemCaseSensitive(text, "format"), continues,
                                &c->bound);
    } else if (c->input_kind == IN_CHAT) {
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(j, "tools");
        if (!tools)
            tools = cJSON_GetObjectItemCaseSensitive(j, "functions");
        rc = tg_bound_chat(m, tok, c->input_node, tools,
                           cJSON_GetObjectItemCaseSensitive(j, "response_format"), &c->bound);
    } else {
        rc = tg_bound_text(m, tok, c->input_node, &c->bound);
    }
    if (rc == TG_BOUND_EUNBOUNDED) {
        tg_call_error(c, TG_E_INVALID_VALUE, c->input_kind == IN_RESPONSES ? "input" : "messages",
                      "The model `%s` has no context window in this server's model table, so "
                      "the cost of its audio, file and image parts cannot be bounded. Ask the "
                      "operator to set the model's context_window.", m->id);
        return -1;
    }
    if (rc < 0) {
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        return -1;
    }
    int64_t n = c->bound.text_tokens;
    if (n < 0 || m->context_window <= 0)
        return 0; /* no tokenizer of ours: the upstream judges its own window */
    if (c->input_kind == IN_EMBEDDING && c->bound.max_item > m->context_window) {
        /* each input on its own against the model's limit */
        tg_call_error(c, TG_E_CONTEXT_LENGTH, "input",
                      "This model's maximum context length is %lld tokens, however you "
                      "requested %lld tokens in input[%d]. Please reduce your input.",
                      (long long)m->context_window, (long long)c->bound.max_item,
                      c->bound.max_item_index);
        return -1;
    }
    if (c->input_kind == IN_EMBEDDING && c->bound.max_item >= 0)
        return 0;
    const char *what = c->input_kind == IN_CHAT ? "messages" : c->input_kind == IN_PROMPT ? "prompt" : "input";
    int64_t out = c->out_cap_explicit ? c->out_cap : 0;
    if (n + out <= m->context_window)
        return 0;
    if (out)
        tg_call_error(c, TG_E_CONTEXT_LENGTH, what,
                      "This model's maximum context length is %lld tokens. However, you requested "
                      "%lld tokens (%lld in the %s, %lld in the completion). Please reduce the "
                      "length of the %s or completion.",
                      (long long)m->context_window, (long long)(n + out), (long long)n, what,
                      (long long)out, what);
    else
        tg_call_error(c, TG_E_CONTEXT_LENGTH, what,
                      "This model's maximum context length is %lld tokens. However, your %s "
                      "resulted in %lld tokens. Please reduce the length of the %s.",
                      (long long)m->context_window, what, (long long)n, what);
    return -1;
}

/* 429 insufficient_quota. When the limit is not reached and only this request's worst case
 * does not fit, the message says so (and how to make it fit); type and code stay OpenAI's. */
static void quota_refused(tg_call_t *c, const tg_refusal_t *why)
{
    static const struct {
        tg_err_t err;
        const char *what;
    } under[] = {
        {TG_E_CREDIT_EXHAUSTED, "of your organization's credit balance"},
        {TG_E_USAGE_LIMIT, "under your organization's monthly usage limit for its usage tier"},
        {TG_E_ORG_SPEND_LIMIT, "under your organization's monthly spend limit"},
        {TG_E_PROJECT_SPEND_LIMIT, "under this project's monthly spend limit"},
    };
    const char *what = NULL;
    for (size_t i = 0; i < sizeof(under) / sizeof(under[0]); i++)
        if (under[i].err == why->err)
            what = under[i].what;
    if (!what || why->left <= 0) {
        tg_call_error(c, why->err, NULL, NULL);
        return;
    }
    char worst[32], left[32];
    tg_format_nanos(why->worst, worst);
    tg_format_nanos(why->left, left);
    tg_call_error(c, why->err, NULL,
                  "This request's maximum cost, $%s, exceeds the $%s left %s. Lower max_tokens "
                  "(or max_completion_tokens), or shorten the input, so that its worst case "
                  "fits; a request is charged only for what it uses, but it may start only if "
                  "its maximum cost fits.", worst, left, what);
}

/* 429 in OpenAI's words, with retry-after and retry-after-ms. */
static void rate_limited(tg_call_t *c, const tg_model_row_t *m, const tg_rl_refusal_t *w)
{
    static const char *names[TG_RL__N] = {"requests per min (RPM)", "requests per day (RPD)",
                                          "tokens per min (TPM)", "tokens per day (TPD)"};
    tg_err_t err = w->which == TG_RL_RPM || w->which == TG_RL_RPD ? TG_E_RATE_LIMIT_REQUESTS
                                                                 : TG_E_RATE_LIMIT_TOKENS;
    /* OpenAI's words: "in project proj_… organization org-…" or "in organization org-…" */
    char scope[TG_ID_MAX * 2 + 32];
    if (w->project)
        snprintf(scope, sizeof(scope), "project %s organization %s", c->key->row.project_id,
                 c->key->row.org_id);
    else
        snprintf(scope, sizeof(scope), "organization %s", c->key->row.org_id);
    char wait[32], v[32];

    if (w->too_large) { /* waiting cannot help: the SDKs must not retry */
        tg_http_add_header(c->req, "x-should-retry", "false");
        tg_call_error(c, err, NULL,
                      "Request too large for %s in %s on %s: Limit %lld, Requested %lld. The "
                      "input or output tokens must be reduced in order to run successfully. "
                      "Visit https://platform.openai.com/account/rate-limits to learn more.",
                      m->id, scope, names[w->which], (long long)w->limit,
                      (long long)w->requested);
        return;
    }
    int64_t ms = w->retry_after_ms > 0 ? w->retry_after_ms : 1;
    tg_rl_duration(ms, wait, sizeof(wait));
    snprintf(v, sizeof(v), "%lld", (long long)((ms + 999) / 1000));
    tg_http_add_header(c->req, "retry-after", v);
    snprintf(v, sizeof(v), "%lld", (long long)ms);
    tg_http_add_header(c->req, "retry-after-ms", v);
    tg_call_error(c, err, NULL,
                  "Rate limit reached for %s in %s on %s: Limit %lld, Used %lld, Requested "
                  "%lld. Please try again in %s. Visit https://platform.openai.com/account/"
                  "rate-limits to learn more.",
                  m->id, scope, names[w->which], (long long)w->limit, (long long)w->used,
                  (long long)w->requested, wait);
}


static void on_admitted(void *arg, int rc);

/* Resolves the model and its route, bounds the input and admits. Takes j. */
static void forward(tg_call_t *c, cJSON *j, const char *type, tg_ep_t ep, const char *path)
{
    const char *model = cJSON_GetObjectItemCaseSensitive(j, "model")->valuestring;
    const tg_model_row_t *m = tg_catalog_model(c->cat, model, strlen(model));
    const tg_cat_route_t *r = m ? tg_catalog_route(c->cat, m) : NULL;

    c->fwd_json = j; /* the call owns it from here: freed with the call */
    if (!m || !r->n || !tg_catalog_key_allows(c->key, m->id)) {
        if (m && !r->n)
            tg_api_note_unserved(m->id); /* the operator's log and /readyz say so */
        tg_call_error(c, TG_E_MODEL_NOT_FOUND, NULL,
                      "The model `%.200s` does not exist or you do not have access to it.", model);
        return;
    }
    if (strcmp(m->type, type) != 0) {
        tg_call_error(c, TG_E_NOT_FOUND, "model",
                      "This is not %s model and thus not supported in the v1/%s endpoint.",
                      strcmp(type, "chat") == 0 ? "a chat" : strcmp(type, "embedding") == 0
                      ? "an embedding" : "a completion", path);
        return;
    }
    if (!tg_usage_ok()) { /* never served unmetered: its usage could not be recorded */
        tg_call_error(c, TG_E_UNAVAILABLE, NULL,
                      "The database is unavailable, so this request's usage could not be "
                      "recorded; it was not started. Please retry shortly.");
        return;
    }
    if (bound_input(c, m, j) < 0)
        return;
    c->model = m;
    c->route = r;
    c->ep = c->relay.ep = ep;
    c->path = path;
    tg_admit_req_t q = {c->key->org, c->key->row.project_id, m, c->bound.tokens, c->out_cap,
                        c->n};
    tg_http_on_close(c->req, on_client_close, c);
    int rc = tg_admit(c->cat, &q, c->w->shared, &c->ticket, &c->why, on_admitted, c);
    if (rc != 1) /* decided now; else the shared counters answer later */
        on_admitted(c, rc);
}

/* Admitted (rc 0: the first attempt) or refused (-1: answers why). */
static void on_admitted(void *arg, int rc)
{
    tg_call_t *c = arg;
    const tg_model_row_t *m = c->model;
    const tg_refusal_t *why = &c->why;

    if (rc < 0) {
        if (why->err == TG_E_BELOW_USAGE_TIER)
            tg_call_error(c, TG_E_BELOW_USAGE_TIER, "model",
                          "The model `%s` requires usage tier %s or higher; your organization is "
                          "on %s. Tiers rise automatically with payments.",
                          m->id, why->needed_tier, tg_tiers_name(c->key->org->tier));
        else if (why->err == TG_E_RATE_LIMIT_REQUESTS || why->err == TG_E_RATE_LIMIT_TOKENS)
            rate_limited(c, m, &why->rl);
        else if (why->err == TG_E_UNAVAILABLE)
            tg_call_error(c, TG_E_UNAVAILABLE, NULL,
                          "The shared rate limits and balances (Redis) are unavailable, so this "
                          "request could not be metered; it was not started. Please retry "
                          "shortly.");
        else
            quota_refused(c, why);
        return;
    }
    if (c->gone) { /* the client left while the shared counters decided */
        tg_admit_release(&c->ticket);
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        return;
    }
    c->body = evbuffer_new();
    if (c->stream) /* only streams need the SSE parser and an output batch */
        c->out = evbuffer_new();
    if (!c->body || (c->stream && (!c->out || tg_sse_init(&c->sse, SSE_EVENT_MAX) < 0))) {
        tg_admit_release(&c->ticket);
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        return;
    }
    c->next = c->w->calls; /* in flight: tg_api_abort_all finds it */
    if (c->w->calls)
        c->w->calls->prev = c;
    c->w->calls = c;
    attempt(c);
}

/* The JSON body, `model`, and the presence of the endpoint's required
 * `field` (its value in *value; field NULL: none required). NULL after answering an error. */
static cJSON *begin(tg_call_t *c, const char *endpoint, const char *field, const cJSON **value)
{
    cJSON *j;
    if (!(j = tg_call_body_json(c)))
        return NULL;
    c->endpoint = endpoint;
    *value = field ? cJSON_GetObjectItemCaseSensitive(j, field) : NULL;
    if (check_model(c, j) < 0) {
        cJSON_Delete(j);
        return NULL;
    }
    if (field && (!*value || cJSON_IsNull(*value))) {
        tg_missing(c, field);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}
static const char *roles[] = {"system", "user", "assistant", "tool", "function", "developer"};

void tg_api_chat(tg_call_t *c, const tg_route_args_t *a)
{
    const cJSON *msgs;
    cJSON *j = begin(c, "chat.completions", "messages", &msgs);
    if (!j)
        return;
    if (!cJSON_IsArray(msgs)) {
        tg_bad_type(c, "messages", "an array", msgs);
        goto bad;
    }
    if (cJSON_GetArraySize(msgs) == 0) {
        tg_call_error(c, TG_E_EMPTY_ARRAY, "messages",
                      "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                      "but got an empty array instead.");
        goto bad;
    }
    int i = 0;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, msgs) {
        char name[64];
        snprintf(name, sizeof(name), "messages[%d]", i);
        if (!cJSON_IsObject(msg)) {
            tg_bad_type(c, name, "an object", msg);
            goto bad;
        }
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        snprintf(name, sizeof(name), "messages[%d].role", i);
        if (!role) {
            tg_missing(c, name);
            goto bad;
        }
        if (!cJSON_IsString(role)) {
            tg_bad_type(c, name, "a string", role);
            goto bad;
        }
        size_t k = 0;
        while (k < sizeof(roles) / sizeof(roles[0]) && strcmp(roles[k], role->valuestring) != 0)
            k++;
        if (k == sizeof(roles) / sizeof(roles[0])) {
            tg_call_error(c, TG_E_INVALID_VALUE, name,
                          "Invalid value: '%.100s'. Supported values are: 'system', 'assistant', "
                          "'user', 'function', 'tool', and 'developer'.", role->valuestring);
            goto bad;
        }
        i++;
    }
    int64_t mt = -1, mct = -1;
    if (tg_opt_int(c, j, "max_tokens", 1, 1LL << 31, &mt) < 0 ||
        tg_opt_int(c, j, "max_completion_tokens", 1, 1LL << 31, &mct) < 0 ||
        check_common(c, j) < 0 || check_stream(c, j) < 0)
        goto bad;
    c->out_cap = mct >= 0 ? mct : mt; /* -1: the model's maximum */
    c->out_cap_explicit = c->out_cap >= 0;
    c->input_node = msgs;
    c->input_kind = IN_CHAT;
    forward(c, j, "chat", TG_EP_CHAT, "chat/completions");
    return;
bad:
    cJSON_Delete(j);
}

void tg_api_completions(tg_call_t *c, const tg_route_args_t *a)
{
    int64_t x;
    const cJSON *prompt;
    cJSON *j = begin(c, "completions", "prompt", &prompt);
    if (!j)
        return;
    if (!cJSON_IsString(prompt) && !cJSON_IsArray(prompt)) {
        tg_bad_type(c, "prompt", "a string or an array", prompt);
        goto bad;
    }
    int64_t mt = 16, best_of = 1; /* OpenAI's default max_tokens for completions is 16 */
    if (tg_opt_int(c, j, "max_tokens", 0, 1LL << 31, &mt) < 0 ||
        tg_opt_int(c, j, "best_of", 1, 20, &best_of) < 0 ||
        tg_opt_int(c, j, "logprobs", 0, 5, &x) < 0 || check_common(c, j) < 0 || check_stream(c, j) < 0)
        goto bad;
    c->out_cap = mt;
    c->out_cap_explicit = 1;
    if (best_of > c->n) /* best_of completions are generated (and billed) server-side */
        c->n = best_of;
    c->input_node = prompt;
    c->input_kind = IN_PROMPT;
    forward(c, j, "completion", TG_EP_COMPLETIONS, "completions");
    return;
bad:
    cJSON_Delete(j);
}

void tg_api_embeddings(tg_call_t *c, const tg_route_args_t *a)
{
    int64_t x;
    const cJSON *input;
    cJSON *j = begin(c, "embeddings", "input", &input);
    if (!j)
        return;
    if (cJSON_IsString(input)) {
        if (!*input->valuestring) {
            tg_call_error(c, TG_E_INVALID_VALUE, "input",
                          "'$.input' is invalid. Please check the API reference: "
                          "https://platform.openai.com/docs/api-reference.");
            goto bad;
        }
    } else if (cJSON_IsArray(input)) {
        int n = cJSON_GetArraySize(input);
        if (n == 0 || n > 2048) {
            tg_call_error(c, TG_E_INVALID_VALUE, "input",
                          "Invalid 'input': expected an array of 1 to 2048 items, but got %d.", n);
            goto bad;
        }
    } else {
        tg_bad_type(c, "input", "a string or an array", input);
        goto bad;
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "encoding_format");
    if (fmt && !cJSON_IsNull(fmt) &&
        (!cJSON_IsString(fmt) ||
         (strcmp(fmt->valuestring, "float") != 0 && strcmp(fmt->valuestring, "base64") != 0))) {
        tg_call_error(c, TG_E_INVALID_VALUE, "encoding_format",
                      "Invalid value for 'encoding_format': expected 'float' or 'base64'.");
        goto bad;
    }
    if (tg_opt_int(c, j, "dimensions", 1, 1 << 16, &x) < 0)
        goto bad;
    c->n = 1;
    c->out_cap = 0;
    c->input_node = input;
    c->input_kind = IN_EMBEDDING;
    forward(c, j, "embedding", TG_EP_EMBEDDINGS, "embeddings");
    return;
bad:
    cJSON_Delete(j);
}

/* POST /v1/responses: OpenAI's Responses API, plain or streamed, admitted and billed like a
 * chat completion (input from `input`, `instructions` and tools; the output cap from
 * `max_output_tokens`). */
void tg_api_responses(tg_call_t *c, const tg_route_args_t *a)
{
    const cJSON *none, *v;
    cJSON *j = begin(c, "responses", NULL, &none);
    if (!j)
        return;
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(j, "input");
    if (input && !cJSON_IsNull(input) && !cJSON_IsString(input) && !cJSON_IsArray(input)) {
        tg_bad_type(c, "input", "a string or an array", input);
        goto bad;
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(j, "tools");
    if (tools && !cJSON_IsNull(tools) && !cJSON_IsArray(tools)) {
        tg_bad_type(c, "tools", "an array", tools);
        goto bad;
    }
    int64_t mot = -1;
    int stream = 0, background = 0;
    if (tg_opt_string(c, j, "instructions", &v) < 0 ||
        tg_opt_string(c, j, "previous_response_id", &v) < 0 ||
        tg_opt_int(c, j, "max_output_tokens", 16, 1LL << 31, &mot) < 0 ||
        tg_opt_number(c, j, "temperature", 0, 2) < 0 || tg_opt_number(c, j, "top_p", 0, 1) < 0 ||
        tg_opt_bool(c, j, "stream", &stream) < 0 || tg_opt_bool(c, j, "background", &background) < 0)
        goto bad;
    if (background) { /* answered later, to a poll: its usage would never pass through here */
        tg_call_error(c, TG_E_INVALID_VALUE, "background",
                      "Background responses are not supported by this server: their usage could "
                      "not be metered. Send the request without 'background'.");
        goto bad;
    }
    c->stream = stream;
    c->n = 1;
    c->out_cap = mot; /* -1: the model's maximum */
    c->out_cap_explicit = mot >= 0;
    c->input_node = input;
    c->input_kind = IN_RESPONSES;
    forward(c, j, "chat", TG_EP_RESPONSES, "responses");
    return;
bad:
    cJSON_Delete(j);
}

/* ---- GET and DELETE of a stored response: to the provider that made it ---- */

static int item_data(void *arg, int status, const char *p, size_t n)
{
    tg_call_t *c = arg;
    c->status = status;
    if (evbuffer_get_length(c->body) + n > tg_api__cfg()->max_response_bytes)
        return -1;
    evbuffer_add(c->body, p, n);
    return 0;
}

static void item_done(void *arg, int result, int status)
{
    tg_call_t *c = arg;
    c->up = NULL;
    size_t n = evbuffer_get_length(c->body);
    const char *b = (const char *)evbuffer_pullup(c->body, (ssize_t)n);
    if (result == TG_UP_ETIMEOUT) {
        set_error(c, TG_E_UPSTREAM_TIMEOUT, NULL);
    } else if (result != TG_UP_OK) {
        set_error(c, TG_E_UPSTREAM_FAILED, "The upstream provider could not be reached.");
    } else {
        c->status = status;
        if (status >= 300 && c->item_provider->adapter->error(status, b, n) != TG_UPERR_PASS)
            /* a refused key, a failure: never the upstream's words (they may quote the key) */
            set_error(c, TG_E_UPSTREAM_FAILED, "The upstream provider failed.");
    }
    item_answer(c);
}

static void item_answer(tg_call_t *c)
{
    size_t n = evbuffer_get_length(c->body);
    tg_call_headers(c);
    tg_http_respond(c->req, c->status, "application/json",
                    (const char *)evbuffer_pullup(c->body, (ssize_t)n), n);
    tg_call_free(c);
}

static void item_close(tg_http_req_t *req, void *arg)
{
    tg_call_t *c = arg;
    if (!c->up)
        return;
    tg_upstream_cancel(c->up);
    c->up = NULL;
    tg_call_free(c);
}

static const tg_up_cbs_t item_cbs = {NULL, item_data, item_done};

/* GET or DELETE a stored response ({id}), or GET its input items: relayed to the provider
 * that made it, found by the usage record of the request that made it. */
static void relay_item(tg_call_t *c, const tg_route_args_t *a, int items)
{
    const char *m = c->method, *rest = a->id;
    size_t idlen = a->idlen;
    char id[TG_RESPONSE_ID_MAX], pid[TG_ID_MAX], path[TG_RESPONSE_ID_MAX + 32];
    int ok = idlen < sizeof(id);
    for (size_t i = 0; ok && i < idlen; i++)
        ok = (rest[i] >= 'a' && rest[i] <= 'z') || (rest[i] >= 'A' && rest[i] <= 'Z') ||
             (rest[i] >= '0' && rest[i] <= '9') || rest[i] == '_' || rest[i] == '-';
    int rc = ok ? (memcpy(id, rest, idlen), id[idlen] = '\0',
                   c->w->store->usage->response_provider(c->w->store, c->key->row.org_id, id,
                                                         pid))
                : TG_STORE_NOTFOUND;
    const tg_provider_t *p = rc == 0 ? tg_catalog_provider(c->cat, pid) : NULL;
    if (rc < 0 && rc != TG_STORE_NOTFOUND) {
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        return;
    }
    if (!p) { /* never made here, another organisation's, or its provider is gone */
        tg_call_error(c, TG_E_NOT_FOUND, NULL, "Response with id '%.*s' not found.",
                      (int)(idlen < 100 ? idlen : 100), rest);
        return;
    }
    char url[TG_URL_MAX + sizeof(path) + 512], auth[TG_UPSTREAM_KEY_MAX + 32];
    const char *headers[3] = {"Accept: application/json", NULL, NULL};
    const char *query = items ? tg_http_query(c->req) : NULL;
    snprintf(path, sizeof(path), "responses/%s%s", id, items ? "/input_items" : "");
    p->adapter->address(&p->row, "", path, url, sizeof(url));
    if (query && *query && strlen(url) + strlen(query) + 2 < sizeof(url)) {
        strcat(url, strchr(url, '?') ? "&" : "?");
        strcat(url, query);
    }
    p->adapter->auth(p->nkeys ? p->keys[0] : "", auth, sizeof(auth));
    if (auth[0])
        headers[1] = auth;
    c->item_provider = p;
    c->body = evbuffer_new();
    c->next = c->w->calls; /* in flight: tg_api_abort_all finds it */
    if (c->w->calls)
        c->w->calls->prev = c;
    c->w->calls = c;
    c->up = c->body ? tg_upstream_send(c->w->up, m, url, headers, NULL, 0,
                                       tg_api__cfg()->upstream_timeout_ms, &item_cbs, c)
                    : NULL;
    sodium_memzero(auth, sizeof(auth));
    if (!c->up) {
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        return;
    }
    tg_http_on_close(c->req, item_close, c);
}

void tg_api_response_item(tg_call_t *c, const tg_route_args_t *a) { relay_item(c, a, 0); }
void tg_api_response_input_items(tg_call_t *c, const tg_route_args_t *a) { relay_item(c, a, 1); }
