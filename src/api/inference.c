/* Inference: /v1/chat/completions, /v1/completions, /v1/embeddings. Validates the request,
 * resolves the model and its provider, forwards the request upstream, relays the answer
 * (SSE chunk by chunk, with backpressure), records usage durably and only then ends the
 * response. */
#include "api/api_int.h"

#include "auth/perms.h"
#include "billing/ledger.h"
#include "billing/usage.h"
#include "core/log.h"
#include "core/sse.h"
#include "tokenizer/tokenizer.h"
#include "limits/tiers.h"
#include "core/util.h"
#include "pricing/pricing.h"
#include "providers/provider.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_HWM (256 * 1024)      /* pause the upstream above this much unsent output */
#define SSE_EVENT_MAX (1024 * 1024)  /* one upstream SSE event */
#define RELAYED_MAX (4 * 1024 * 1024) /* relayed text kept for counting an aborted stream */

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

/* ---- validation helpers: each answers the error itself and returns -1 ---- */

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsNumber(v)) return v->valuedouble == (double)(int64_t)v->valuedouble ? "an integer" : "a decimal";
    return "an unknown type";
}

static int bad_type(tg_call_t *c, const char *name, const char *want, const cJSON *v)
{
    tg_call_error(c, TG_E_INVALID_TYPE, name,
                  "Invalid type for '%s': expected %s, but got %s instead.", name, want,
                  type_name(v));
    return -1;
}

static int missing(tg_call_t *c, const char *name)
{
    tg_call_error(c, TG_E_MISSING_PARAM, name, "Missing required parameter: '%s'.", name);
    return -1;
}

/* 1: present and valid (*out set), 0: absent or null, -1: answered with an error. */
static int opt_int(tg_call_t *c, const cJSON *j, const char *name, int64_t min, int64_t max,
                   int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble ||
        v->valuedouble > 9e15 || v->valuedouble < -9e15)
        return bad_type(c, name, "an integer", v);
    int64_t x = (int64_t)v->valuedouble;
    if (x < min) {
        tg_call_error(c, TG_E_INVALID_VALUE, name,
                      "Invalid '%s': integer below minimum value. Expected a value >= %lld, but "
                      "got %lld instead.", name, (long long)min, (long long)x);
        return -1;
    }
    if (x > max) {
        tg_call_error(c, TG_E_INVALID_VALUE, name,
                      "Invalid '%s': integer above maximum value. Expected a value <= %lld, but "
                      "got %lld instead.", name, (long long)max, (long long)x);
        return -1;
    }
    *out = x;
    return 1;
}

static int opt_bool(tg_call_t *c, const cJSON *j, const char *name, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return bad_type(c, name, "a boolean", v);
    *out = cJSON_IsTrue(v);
    return 1;
}

static int opt_number(tg_call_t *c, const cJSON *j, const char *name, double min, double max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return bad_type(c, name, "a number", v);
    if (v->valuedouble < min || v->valuedouble > max) {
        tg_call_error(c, TG_E_INVALID_VALUE, name,
                      "Invalid '%s': expected a value between %g and %g, but got %g instead.",
                      name, min, max, v->valuedouble);
        return -1;
    }
    return 1;
}

/* stream, stream_options: shared by chat and completions. */
static int check_stream(tg_call_t *c, cJSON *j)
{
    int stream = 0;
    if (opt_bool(c, j, "stream", &stream) < 0)
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
            return bad_type(c, "stream_options", "an object", so);
        int iu = 0;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(so, "include_usage");
        if (v && !cJSON_IsNull(v) && !cJSON_IsBool(v))
            return bad_type(c, "stream_options.include_usage", "a boolean", v);
        iu = cJSON_IsTrue(v);
        c->client_usage = iu;
    }
    c->stream = stream;
    if (stream) { /* always ask the upstream for usage; stripped again if unwanted */
        if (!so || !cJSON_IsObject(so)) {
            cJSON_DeleteItemFromObjectCaseSensitive(j, "stream_options");
            so = cJSON_AddObjectToObject(j, "stream_options");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(so, "include_usage");
        cJSON_AddBoolToObject(so, "include_usage", 1);
    }
    return 0;
}

static int check_common(tg_call_t *c, cJSON *j)
{
    c->n = 1;
    if (opt_int(c, j, "n", 1, 128, &c->n) < 0 ||
        opt_number(c, j, "temperature", 0, 2) < 0 || opt_number(c, j, "top_p", 0, 1) < 0 ||
        opt_number(c, j, "presence_penalty", -2, 2) < 0 ||
        opt_number(c, j, "frequency_penalty", -2, 2) < 0)
        return -1;
    return 0;
}

static int check_model(tg_call_t *c, cJSON *j)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!m || cJSON_IsNull(m))
        return missing(c, "model");
    if (!cJSON_IsString(m))
        return bad_type(c, "model", "a string", m);
    return 0;
}

/* ---- upstream relay ---- */

static void emit(tg_call_t *c, const char *data, size_t len)
{
    evbuffer_add(c->out, "data: ", 6);
    evbuffer_add(c->out, data, len);
    evbuffer_add(c->out, "\n\n", 2);
}

/* The upstream's usage object: counts that are not non-negative integers make it invalid
 * (settlement then uses Tollgate's own count and reports the discrepancy). */
static void read_usage(tg_call_t *c, const cJSON *u)
{
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details");
    const cJSON *cached = cJSON_GetObjectItemCaseSensitive(d, "cached_tokens");
    tg_counts_t *k = &c->usage;
    if (!pt)
        return;
    memset(k, 0, sizeof(*k));
    k->present = 1;
    k->valid = tg_count_from_json(pt, &k->input) == 0 &&
               (!ct || cJSON_IsNull(ct) || tg_count_from_json(ct, &k->output) == 0) &&
               (!cached || cJSON_IsNull(cached) || tg_count_from_json(cached, &k->cached) == 0);
}

/* Removes `"usage":null` (with its comma) in place; such bytes cannot occur inside a JSON
 * string, where the quotes would be escaped. Returns the new length. */
size_t tg_api__strip_null_usage(char *d, size_t len)
{
    static const char key[] = "\"usage\":null";
    char *p = memmem(d, len, key, sizeof(key) - 1);
    if (!p)
        return len;
    char *from = p, *to = p + sizeof(key) - 1;
    if (from > d && from[-1] == ',')
        from--;
    else if (to < d + len && *to == ',')
        to++;
    memmove(from, to, (size_t)(d + len - to));
    return len - (size_t)(to - from);
}

/* Keeps the text of a content chunk (`"content":"…"` or `"text":"…"`, still JSON-escaped) so
 * that an aborted stream without a usage chunk is charged its relayed output exactly. */
static void relay_text(tg_call_t *c, const char *data, size_t len)
{
    const char *p = memmem(data, len, "\"content\":\"", 11);
    size_t skip = 11;
    if (!p) {
        p = memmem(data, len, "\"text\":\"", 8);
        skip = 8;
    }
    if (!p)
        return;
    const char *q = p + skip, *end = data + len;
    const char *e = q;
    while (e < end && *e != '"')
        e += *e == '\\' ? 2 : 1;
    if (e >= end || e == q)
        return;
    c->relayed++;
    if (!c->relayed_text)
        c->relayed_text = evbuffer_new();
    if (c->relayed_text && evbuffer_get_length(c->relayed_text) + (size_t)(e - q) <= RELAYED_MAX)
        evbuffer_add(c->relayed_text, q, (size_t)(e - q));
}

/* Output tokens of a complete non-streamed answer that came without usage: its choices'
 * text and tool-call arguments, counted with the model's tokenizer (else their bytes). */
static int64_t answer_tokens(tg_call_t *c)
{
    const tg_tok_t *tok = tg_api_tokenizer(c->model->tokenizer);
    size_t n = evbuffer_get_length(c->body);
    cJSON *j = cJSON_ParseWithLength((const char *)evbuffer_pullup(c->body, (ssize_t)n), n);
    const cJSON *choice, *call;
    int64_t t = 0;
    cJSON_ArrayForEach(choice, cJSON_GetObjectItemCaseSensitive(j, "choices"))
    {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
        const cJSON *parts[8];
        int np = 0;
        parts[np++] = cJSON_GetObjectItemCaseSensitive(choice, "text");
        parts[np++] = cJSON_GetObjectItemCaseSensitive(msg, "content");
        parts[np++] = cJSON_GetObjectItemCaseSensitive(msg, "refusal");
        cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"))
        {
            if (np == 8)
                break;
            parts[np++] = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(call, "function"), "arguments");
        }
        for (int i = 0; i < np; i++) {
            if (!cJSON_IsString(parts[i]))
                continue;
            size_t len = strlen(parts[i]->valuestring);
            size_t k = tok ? tg_tok_count(tok, parts[i]->valuestring, len) : len;
            t += k == TG_TOK_COUNT_ERR ? (int64_t)len : (int64_t)k;
        }
    }
    cJSON_Delete(j);
    return t;
}

/* Tokens of the relayed text (the chunk count when it cannot be counted). */
static int64_t relayed_tokens(tg_call_t *c)
{
    const tg_tok_t *tok = c->model ? tg_api_tokenizer(c->model->tokenizer) : NULL;
    size_t n = c->relayed_text ? evbuffer_get_length(c->relayed_text) : 0;
    if (!tok || !n)
        return c->relayed;
    evbuffer_prepend(c->relayed_text, "\"", 1);
    evbuffer_add(c->relayed_text, "\"", 1);
    n += 2;
    cJSON *str = cJSON_ParseWithLength((const char *)evbuffer_pullup(c->relayed_text, (ssize_t)n), n);
    int64_t t = c->relayed;
    if (cJSON_IsString(str)) {
        size_t k = tg_tok_count(tok, str->valuestring, strlen(str->valuestring));
        if (k != TG_TOK_COUNT_ERR)
            t = (int64_t)k;
    }
    cJSON_Delete(str);
    return t;
}

static void handle_data(tg_call_t *c, char *data, size_t len)
{
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        c->saw_done = 1;
        return;
    }
    relay_text(c, data, len);
    if (memmem(data, len, "\"usage\":null", 12)) {
        if (!c->client_usage)
            len = tg_api__strip_null_usage(data, len);
        emit(c, data, len);
        return;
    }
    if (memmem(data, len, "\"usage\"", 7)) {
        cJSON *j = cJSON_ParseWithLength(data, len);
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
        if (cJSON_IsObject(u)) {
            read_usage(c, u);
            const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
            if (!c->client_usage) {
                if (!cJSON_IsArray(ch) || cJSON_GetArraySize(ch) > 0) {
                    cJSON_DeleteItemFromObjectCaseSensitive(j, "usage");
                    char *t = cJSON_PrintUnformatted(j);
                    if (t)
                        emit(c, t, strlen(t));
                    free(t);
                }
                cJSON_Delete(j);
                return;
            }
        }
        cJSON_Delete(j);
    }
    emit(c, data, len);
}

static void on_sse_event(void *arg, const char *line, size_t len)
{
    tg_call_t *c = arg; /* e.g. `event: error`: keep it with its data */
    evbuffer_add(c->out, line, len);
    evbuffer_add(c->out, "\n", 1);
}

static void on_sse_data(void *arg, char *data, size_t len) { handle_data(arg, data, len); }

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
    c->started = 1;
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

static int on_data(void *arg, int status, const char *p, size_t n)
{
    tg_call_t *c = arg;
    c->status = status;
    if (!c->stream || status < 200 || status >= 300) {
        if (evbuffer_get_length(c->body) + n > c->w->cfg->max_response_bytes)
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
}

/* The usage record is durable: now the client may see the end of the answer. */
static void on_durable(void *arg)
{
    tg_call_t *c = arg;
    if (c->started) {
        if (!c->gone) {
            if (c->status >= 300) { /* the stream broke: say so before it ends */
                emit(c, (const char *)evbuffer_pullup(c->body, -1), evbuffer_get_length(c->body));
                flush_out(c);
            }
            tg_http_stream_write(c->req, "data: [DONE]\n\n", 14);
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

static void record_and_finish(tg_call_t *c, int reached)
{
    tg_usage_row_t u;

    c->finished = 1;
    if (!reached) { /* never reached a provider: no usage, answer now */
        tg_admit_release(&c->ticket);
        on_durable(c);
        return;
    }
    memset(&u, 0, sizeof(u));
    memcpy(u.request_id, c->request_id, sizeof(c->request_id));
    u.created_at = tg_now();
    snprintf(u.org_id, sizeof(u.org_id), "%s", c->key->row.org_id);
    snprintf(u.project_id, sizeof(u.project_id), "%s", c->key->row.project_id);
    snprintf(u.api_key_id, sizeof(u.api_key_id), "%s", c->key->row.id);
    snprintf(u.model, sizeof(u.model), "%s", c->model->id);
    snprintf(u.provider_id, sizeof(u.provider_id), "%s", c->route->provider->row.id);
    snprintf(u.endpoint, sizeof(u.endpoint), "%s", c->endpoint);
    u.status = c->status;
    u.latency_ms = (int64_t)((tg_mono_ns() - c->t0) / 1000000);
    u.streamed = c->stream;
    u.aborted = c->aborted;
    /* Tollgate's own count, for when the upstream reported nothing usable: the input (its
     * exact text count, else the bound) and the output relayed or answered */
    int answered = !c->aborted && c->up_result == TG_UP_OK && c->status >= 200 &&
                   c->status < 300;
    tg_counts_t own = {0};
    int usable = c->usage.present && c->usage.valid;
    if (!usable && (c->aborted || c->relayed || c->usage.present || answered)) {
        own.input = c->bound.text_tokens >= 0 ? c->bound.text_tokens : c->bound.tokens;
        own.output = c->stream ? relayed_tokens(c) : answered ? answer_tokens(c) : 0;
    }
    tg_settle(&c->ticket, c->model, &c->usage, &own, answered, &u, c->w->base, on_durable, c);
}

/* The `usage` object of a non-streamed answer, without parsing the whole answer (which
 * can be large): the last `"usage"` key — unescaped quotes cannot occur inside a JSON
 * string — and its balanced braces. Returns 0 (usage read or absent) or -1 when the body is
 * not a JSON object at all. */
static int read_usage_fast(tg_call_t *c, const char *b, size_t n)
{
    static const char key[] = "\"usage\"";
    size_t lo = 0, hi = n;
    while (lo < hi && (b[lo] == ' ' || b[lo] == '\n' || b[lo] == '\r' || b[lo] == '\t'))
        lo++;
    while (hi > lo && (b[hi - 1] == ' ' || b[hi - 1] == '\n' || b[hi - 1] == '\r' || b[hi - 1] == '\t'))
        hi--;
    if (hi - lo < 2 || b[lo] != '{' || b[hi - 1] != '}')
        return -1;
    const char *p = NULL;
    for (size_t i = hi - (sizeof(key) - 1); i > lo; i--)
        if (memcmp(b + i, key, sizeof(key) - 1) == 0) {
            p = b + i + sizeof(key) - 1;
            break;
        }
    if (!p)
        return 0;
    const char *end = b + hi;
    while (p < end && (*p == ' ' || *p == ':' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    if (p == end || *p != '{')
        return 0;
    int depth = 0, in_str = 0;
    for (const char *q = p; q < end; q++) {
        if (in_str) {
            if (*q == '\\')
                q++;
            else if (*q == '"')
                in_str = 0;
        } else if (*q == '"') {
            in_str = 1;
        } else if (*q == '{') {
            depth++;
        } else if (*q == '}' && --depth == 0) {
            cJSON *u = cJSON_ParseWithLength(p, (size_t)(q - p + 1));
            if (cJSON_IsObject(u))
                read_usage(c, u);
            cJSON_Delete(u);
            return 0;
        }
    }
    return 0;
}

static void on_done(void *arg, int result, int status)
{
    tg_call_t *c = arg;
    c->up = NULL;
    c->up_result = result;
    if (status)
        c->status = status;

    if (c->started) {
        process_sse(c, NULL, 0, 1);
        flush_out(c);
        if (result == TG_UP_ETIMEOUT)
            set_error(c, TG_E_UPSTREAM_TIMEOUT, NULL);
        else if (result != TG_UP_OK)
            set_error(c, TG_E_UPSTREAM_FAILED,
                      "The upstream provider closed the stream before it was complete.");
        record_and_finish(c, 1);
        return;
    }
    if (result == TG_UP_ECONNECT) {
        set_error(c, TG_E_UPSTREAM_FAILED, "The upstream provider could not be reached.");
        record_and_finish(c, 0);
        return;
    }
    if (result == TG_UP_ETIMEOUT) {
        set_error(c, TG_E_UPSTREAM_TIMEOUT, NULL);
        record_and_finish(c, 1);
        return;
    }
    size_t n = evbuffer_get_length(c->body);
    const char *b = (const char *)evbuffer_pullup(c->body, (ssize_t)n);
    if (result != TG_UP_OK) {
        set_error(c, TG_E_UPSTREAM_FAILED, NULL);
    } else if (status >= 200 && status < 300) {
        if (read_usage_fast(c, b, n) < 0)
            set_error(c, TG_E_UPSTREAM_FAILED, NULL);
    } else {
        cJSON *j = cJSON_ParseWithLength(b, n);
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "error"))) {
            set_error(c, TG_E_UPSTREAM_FAILED, NULL);
        } else if (status == 401 || status == 403) {
            /* The provider refused Tollgate's own credential: the client's key is fine, and
             * the upstream's message may quote part of the upstream key. */
            tg_warn("provider %s refused its credential (HTTP %d)", c->route->provider->row.id,
                    status);
            set_error(c, TG_E_UPSTREAM_FAILED,
                      "The upstream provider refused the gateway's credentials.");
        } /* else: an OpenAI-shaped upstream error passes through with its status */
        cJSON_Delete(j);
    }
    record_and_finish(c, 1);
}

static void on_client_close(tg_http_req_t *req, void *arg)
{
    tg_call_t *c = arg;
    c->gone = 1;
    if (!c->up)
        return; /* the answer is complete and waiting for its usage record */
    tg_upstream_cancel(c->up);
    c->up = NULL;
    c->aborted = 1;
    c->status = 499;
    record_and_finish(c, 1);
}

void tg_api_abort_all(tg_api_worker_t *w)
{
    for (tg_call_t *c = w->calls, *next; c; c = next) {
        next = c->next;
        if (!c->up)
            continue;
        tg_upstream_cancel(c->up);
        c->up = NULL;
        c->aborted = 1;
        set_error(c, TG_E_UNAVAILABLE, "The server is shutting down.");
        record_and_finish(c, 1);
    }
}

static const tg_up_cbs_t relay_cbs = {on_data, on_done};

/* The input bound (gate/bound.c), and the context-window check (400
 * context_length_exceeded) on the exact text count where the model's tokenizer is ours.
 * -1 after answering. */
static int bound_input(tg_call_t *c, const tg_model_row_t *m, const cJSON *j)
{
    const tg_tok_t *tok = tg_api_tokenizer(m->tokenizer);
    int rc;
    if (c->input_kind == IN_CHAT) {
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(j, "tools");
        if (!tools)
            tools = cJSON_GetObjectItemCaseSensitive(j, "functions");
        rc = tg_bound_chat(m, tok, c->input_node, tools,
                           cJSON_GetObjectItemCaseSensitive(j, "response_format"), &c->bound);
    } else {
        rc = tg_bound_text(m, tok, c->input_node, &c->bound);
    }
    if (rc == TG_BOUND_EUNBOUNDED) {
        tg_call_error(c, TG_E_INVALID_VALUE, "messages",
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
    const char *scope = w->project ? "project" : "organization";
    const char *id = w->project ? c->key->row.project_id : c->key->row.org_id;
    char wait[32], v[32];

    if (w->too_large) { /* waiting cannot help: the SDKs must not retry */
        tg_http_add_header(c->req, "x-should-retry", "false");
        tg_call_error(c, err, NULL,
                      "Request too large for %s in %s %s on %s: Limit %lld, Requested %lld. The "
                      "input or output tokens must be reduced in order to run successfully. "
                      "Visit https://platform.openai.com/account/rate-limits to learn more.",
                      m->id, scope, id, names[w->which], (long long)w->limit,
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
                  "Rate limit reached for %s in %s %s on %s: Limit %lld, Used %lld, Requested "
                  "%lld. Please try again in %s. Visit https://platform.openai.com/account/"
                  "rate-limits to learn more.",
                  m->id, scope, id, names[w->which], (long long)w->limit, (long long)w->used,
                  (long long)w->requested, wait);
}

static void on_admitted(void *arg, int rc);

/* Resolves, routes, admits and forwards. Takes j. */
static void forward(tg_call_t *c, cJSON *j, const char *type, const char *path)
{
    const char *model = cJSON_GetObjectItemCaseSensitive(j, "model")->valuestring;
    const tg_model_row_t *m = tg_catalog_model(c->cat, model, strlen(model));
    const tg_cat_route_t *r = m ? tg_catalog_route(c->cat, m) : NULL;

    if (!m || !r->provider || !tg_catalog_key_allows(c->key, m->id)) {
        tg_call_error(c, TG_E_MODEL_NOT_FOUND, NULL,
                      "The model `%.200s` does not exist or you do not have access to it.", model);
        cJSON_Delete(j); /* after the message: `model` points into it */
        return;
    }
    if (strcmp(m->type, type) != 0) {
        cJSON_Delete(j);
        tg_call_error(c, TG_E_NOT_FOUND, "model",
                      "This is not %s model and thus not supported in the v1/%s endpoint.",
                      strcmp(type, "chat") == 0 ? "a chat" : strcmp(type, "embedding") == 0
                      ? "an embedding" : "a completion", path);
        return;
    }
    if (!tg_usage_ok()) { /* never served unmetered: its usage could not be recorded */
        cJSON_Delete(j);
        tg_call_error(c, TG_E_UNAVAILABLE, NULL,
                      "The database is unavailable, so this request's usage could not be "
                      "recorded; it was not started. Please retry shortly.");
        return;
    }
    if (bound_input(c, m, j) < 0) {
        cJSON_Delete(j);
        return;
    }
    c->model = m;
    c->route = r;
    c->fwd_json = j;
    c->fwd_path = path;
    tg_admit_req_t q = {c->key->org, c->key->row.project_id, m, c->bound.tokens, c->out_cap,
                        c->n};
    tg_http_on_close(c->req, on_client_close, c);
    int rc = tg_admit(c->cat, &q, c->w->shared, &c->ticket, &c->why, on_admitted, c);
    if (rc != 1) /* decided now; else the shared counters answer later */
        on_admitted(c, rc);
}

/* Admitted (rc 0: relays) or refused (-1: answers why). Takes c->fwd_json. */
static void on_admitted(void *arg, int rc)
{
    tg_call_t *c = arg;
    cJSON *j = c->fwd_json;
    const char *path = c->fwd_path;
    const tg_model_row_t *m = c->model;
    const tg_cat_route_t *r = c->route;
    const tg_refusal_t *why = &c->why;

    c->fwd_json = NULL;
    if (rc < 0) {
        cJSON_Delete(j);
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
        cJSON_Delete(j);
        tg_admit_release(&c->ticket);
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        return;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(j, "model", cJSON_CreateString(r->upstream_model));
    size_t in_len, cap;
    tg_http_body(c->req, &in_len);
    cap = in_len + 256; /* the rewrite adds at most stream_options and a longer model name */
    char *body = malloc(cap);
    if (body && !cJSON_PrintPreallocated(j, body, (int)cap, 0)) {
        free(body);
        body = cJSON_PrintUnformatted(j);
    }
    cJSON_Delete(j);
    char url[TG_URL_MAX + 64];
    char auth[600];
    const char *headers[4] = {"Content-Type: application/json", NULL, NULL, NULL};
    tg_provider_request(&r->provider->row, r->provider->api_key, path, url, sizeof(url), auth,
                        sizeof(auth));
    if (auth[0])
        headers[1] = auth;
    c->body = evbuffer_new();
    if (c->stream) /* only streams need the SSE parser and an output batch */
        c->out = evbuffer_new();
    if (!body || !c->body || (c->stream && (!c->out || tg_sse_init(&c->sse, SSE_EVENT_MAX) < 0))) {
        free(body);
        tg_admit_release(&c->ticket);
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        return;
    }
    c->up = tg_upstream_post(c->w->up, url, headers, body, strlen(body),
                             c->w->cfg->upstream_timeout_ms, &relay_cbs, c);
    memset(auth, 0, sizeof(auth));
    if (!c->up) {
        tg_admit_release(&c->ticket);
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        return;
    }
    c->next = c->w->calls;
    if (c->w->calls)
        c->w->calls->prev = c;
    c->w->calls = c;
}

/* Authentication, the JSON body, `model`, and the presence of the endpoint's required
 * `field` (its value in *value). NULL after answering an error. */
static cJSON *begin(tg_call_t *c, const char *endpoint, const char *field, const cJSON **value)
{
    cJSON *j;
    if (tg_call_auth(c, TG_KEY_PROJECT, TG_SCOPE_MODEL_REQUEST) < 0 || !(j = tg_call_body_json(c)))
        return NULL;
    c->endpoint = endpoint;
    *value = cJSON_GetObjectItemCaseSensitive(j, field);
    if (check_model(c, j) < 0) {
        cJSON_Delete(j);
        return NULL;
    }
    if (!*value || cJSON_IsNull(*value)) {
        missing(c, field);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static const char *roles[] = {"system", "user", "assistant", "tool", "function", "developer"};

void tg_api_chat(tg_call_t *c)
{
    const cJSON *msgs;
    cJSON *j = begin(c, "chat.completions", "messages", &msgs);
    if (!j)
        return;
    if (!cJSON_IsArray(msgs)) {
        bad_type(c, "messages", "an array", msgs);
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
            bad_type(c, name, "an object", msg);
            goto bad;
        }
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        snprintf(name, sizeof(name), "messages[%d].role", i);
        if (!role) {
            missing(c, name);
            goto bad;
        }
        if (!cJSON_IsString(role)) {
            bad_type(c, name, "a string", role);
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
    if (opt_int(c, j, "max_tokens", 1, 1LL << 31, &mt) < 0 ||
        opt_int(c, j, "max_completion_tokens", 1, 1LL << 31, &mct) < 0 ||
        check_common(c, j) < 0 || check_stream(c, j) < 0)
        goto bad;
    c->out_cap = mct >= 0 ? mct : mt; /* -1: the model's maximum */
    c->out_cap_explicit = c->out_cap >= 0;
    c->input_node = msgs;
    c->input_kind = IN_CHAT;
    forward(c, j, "chat", "chat/completions");
    return;
bad:
    cJSON_Delete(j);
}

void tg_api_completions(tg_call_t *c)
{
    int64_t x;
    const cJSON *prompt;
    cJSON *j = begin(c, "completions", "prompt", &prompt);
    if (!j)
        return;
    if (!cJSON_IsString(prompt) && !cJSON_IsArray(prompt)) {
        bad_type(c, "prompt", "a string or an array", prompt);
        goto bad;
    }
    int64_t mt = 16, best_of = 1; /* OpenAI's default max_tokens for completions is 16 */
    if (opt_int(c, j, "max_tokens", 0, 1LL << 31, &mt) < 0 ||
        opt_int(c, j, "best_of", 1, 20, &best_of) < 0 ||
        opt_int(c, j, "logprobs", 0, 5, &x) < 0 || check_common(c, j) < 0 || check_stream(c, j) < 0)
        goto bad;
    c->out_cap = mt;
    c->out_cap_explicit = 1;
    if (best_of > c->n) /* best_of completions are generated (and billed) server-side */
        c->n = best_of;
    c->input_node = prompt;
    c->input_kind = IN_PROMPT;
    forward(c, j, "completion", "completions");
    return;
bad:
    cJSON_Delete(j);
}

void tg_api_embeddings(tg_call_t *c)
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
        bad_type(c, "input", "a string or an array", input);
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
    if (opt_int(c, j, "dimensions", 1, 1 << 16, &x) < 0)
        goto bad;
    c->n = 1;
    c->out_cap = 0;
    c->input_node = input;
    c->input_kind = IN_EMBEDDING;
    forward(c, j, "embedding", "embeddings");
    return;
bad:
    cJSON_Delete(j);
}
