/* OpenAI's wire format: the `openai` and `openai_compatible` adapters, and the functions the
 * Azure adapter reuses. What is OpenAI-specific about a request's body, its usage (in a body
 * and in a stream), its stream's end and its errors lives here and nowhere else. */
#include "providers/provider.h"

#include "tokenizer/tokenizer.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg_openai_address(const tg_provider_row_t *p, const char *upstream_model, const char *path,
                       char *url, size_t url_cap)
{
    snprintf(url, url_cap, "%s/%s", p->base_url, path);
}

void tg_openai_auth(const char *key, char *line, size_t cap)
{
    if (key && *key)
        snprintf(line, cap, "Authorization: Bearer %s", key);
    else
        line[0] = '\0';
}

char *tg_openai_body(cJSON *j, tg_ep_t ep, const char *upstream_model, int stream, size_t hint,
                     size_t *len)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (m)
        cJSON_SetValuestring(m, upstream_model);
    if (stream && (ep == TG_EP_CHAT || ep == TG_EP_COMPLETIONS)) {
        /* always ask for usage; the relay strips it again if the client did not */
        cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
        if (!cJSON_IsObject(so)) {
            cJSON_DeleteItemFromObjectCaseSensitive(j, "stream_options");
            so = cJSON_AddObjectToObject(j, "stream_options");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(so, "include_usage");
        cJSON_AddBoolToObject(so, "include_usage", 1);
    }
    /* the rewrite adds at most stream_options and a longer model name */
    size_t cap = hint + 256 + strlen(upstream_model);
    char *out = malloc(cap);
    if (out && !cJSON_PrintPreallocated(j, out, (int)cap, 0)) {
        free(out);
        out = cJSON_PrintUnformatted(j);
    }
    if (out)
        *len = strlen(out);
    return out;
}

/* ---- usage ---- */

/* A usage object: chat and completions say prompt_tokens / completion_tokens
 * (prompt_tokens_details.cached_tokens), the Responses API input_tokens / output_tokens
 * (input_tokens_details.cached_tokens). Counts that are not non-negative integers make it
 * invalid (settlement then uses Tollgate's own count and reports the discrepancy). */
static void read_usage(tg_ep_t ep, const cJSON *u, tg_counts_t *k)
{
    int resp = ep == TG_EP_RESPONSES;
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, resp ? "input_tokens" : "prompt_tokens");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, resp ? "output_tokens" : "completion_tokens");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(u, resp ? "input_tokens_details"
                                                               : "prompt_tokens_details");
    const cJSON *cached = cJSON_GetObjectItemCaseSensitive(d, "cached_tokens");
    if (!pt)
        return;
    memset(k, 0, sizeof(*k));
    k->present = 1;
    k->valid = tg_count_from_json(pt, &k->input) == 0 &&
               (!ct || cJSON_IsNull(ct) || tg_count_from_json(ct, &k->output) == 0) &&
               (!cached || cJSON_IsNull(cached) || tg_count_from_json(cached, &k->cached) == 0);
}

static int is_space(char ch) { return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t'; }

/* The `usage` object of a chat, completions or embeddings answer, without parsing the whole
 * answer (which can be large): the last `"usage"` key — unescaped quotes cannot occur inside
 * a JSON string, and nothing the client controls follows usage in these objects — and its
 * balanced braces. */
static int usage_fast(tg_ep_t ep, const char *b, size_t n, tg_counts_t *out)
{
    static const char key[] = "\"usage\"";
    size_t lo = 0, hi = n;
    while (lo < hi && is_space(b[lo]))
        lo++;
    while (hi > lo && is_space(b[hi - 1]))
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
    while (p < end && (is_space(*p) || *p == ':'))
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
                read_usage(ep, u, out);
            cJSON_Delete(u);
            return 0;
        }
    }
    return 0;
}

/* A response object's id, kept for GET and DELETE /v1/responses/{id}. */
static void keep_id(tg_relay_t *r, const cJSON *resp)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(resp, "id");
    if (cJSON_IsString(id) && strlen(id->valuestring) < sizeof(r->response_id))
        snprintf(r->response_id, sizeof(r->response_id), "%s", id->valuestring);
}

int tg_openai_answer(tg_relay_t *r, const char *body, size_t n)
{
    if (r->ep != TG_EP_RESPONSES)
        return usage_fast(r->ep, body, n, &r->usage);
    /* a response object ends with `metadata`, which the client sets: parse it whole */
    cJSON *j = cJSON_ParseWithLength(body, n);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(u))
        read_usage(r->ep, u, &r->usage);
    keep_id(r, j);
    cJSON_Delete(j);
    return 0;
}

/* ---- streams ---- */

static void put_event(struct evbuffer *out, const char *event, size_t elen, const char *data,
                      size_t len)
{
    if (elen) {
        evbuffer_add(out, "event: ", 7);
        evbuffer_add(out, event, elen);
        evbuffer_add(out, "\n", 1);
    }
    evbuffer_add(out, "data: ", 6);
    evbuffer_add(out, data, len);
    evbuffer_add(out, "\n\n", 2);
}

size_t tg_openai_strip_null_usage(char *d, size_t len)
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

/* Keeps the text of a content event (`"content":"…"`, `"text":"…"` or, in the Responses API,
 * `"delta":"…"`, still JSON-escaped) so that an aborted stream without usage is charged its
 * relayed output exactly. */
static void relay_text(tg_relay_t *r, const char *data, size_t len)
{
    static const char *const keys[] = {"\"content\":\"", "\"text\":\"", "\"delta\":\""};
    const char *p = NULL;
    size_t skip = 0;
    for (size_t i = r->ep == TG_EP_RESPONSES ? 2 : 0; i < (r->ep == TG_EP_RESPONSES ? 3 : 2) && !p;
         i++) {
        skip = strlen(keys[i]);
        p = memmem(data, len, keys[i], skip);
    }
    if (!p)
        return;
    const char *q = p + skip, *end = data + len;
    const char *e = q;
    while (e < end && *e != '"')
        e += *e == '\\' ? 2 : 1;
    if (e >= end || e == q)
        return;
    r->relayed++;
    if (!r->text)
        r->text = evbuffer_new();
    if (r->text && evbuffer_get_length(r->text) + (size_t)(e - q) <= TG_RELAYED_MAX)
        evbuffer_add(r->text, q, (size_t)(e - q));
}

/* The Responses API's stream: usage comes in the final event (response.completed, or
 * response.incomplete / response.failed), which is held until the usage is durable. */
static void responses_event(tg_relay_t *r, const char *event, size_t elen, char *data,
                            size_t len, struct evbuffer *out)
{
    static const char delta[] = "\"type\":\"response.output_text.delta\"";
    static const char created[] = "\"type\":\"response.created\"";
    if (memmem(data, len, delta, sizeof(delta) - 1)) {
        relay_text(r, data, len);
        put_event(out, event, elen, data, len);
        return;
    }
    if (!r->response_id[0] && memmem(data, len, created, sizeof(created) - 1)) {
        cJSON *j = cJSON_ParseWithLength(data, len);
        keep_id(r, cJSON_GetObjectItemCaseSensitive(j, "response"));
        cJSON_Delete(j);
    }
    static const char *const finals[] = {"\"type\":\"response.completed\"",
                                         "\"type\":\"response.incomplete\"",
                                         "\"type\":\"response.failed\""};
    for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++) {
        if (!memmem(data, len, finals[i], strlen(finals[i])))
            continue;
        cJSON *j = cJSON_ParseWithLength(data, len);
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "response"), "usage");
        if (cJSON_IsObject(u))
            read_usage(r->ep, u, &r->usage);
        if (!r->response_id[0])
            keep_id(r, cJSON_GetObjectItemCaseSensitive(j, "response"));
        cJSON_Delete(j);
        r->saw_done = 1;
        if (!r->held)
            r->held = evbuffer_new();
        if (r->held) {
            put_event(r->held, event, elen, data, len);
            return;
        }
        break; /* out of memory: the client gets it now */
    }
    put_event(out, event, elen, data, len);
}

void tg_openai_event(tg_relay_t *r, const char *event, size_t elen, char *data, size_t len,
                     struct evbuffer *out)
{
    if (r->ep == TG_EP_RESPONSES) {
        responses_event(r, event, elen, data, len, out);
        return;
    }
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        r->saw_done = 1; /* written after the usage record is durable */
        return;
    }
    relay_text(r, data, len);
    if (memmem(data, len, "\"usage\":null", 12)) {
        if (!r->client_usage)
            len = tg_openai_strip_null_usage(data, len);
        put_event(out, event, elen, data, len);
        return;
    }
    if (memmem(data, len, "\"usage\"", 7)) {
        cJSON *j = cJSON_ParseWithLength(data, len);
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
        if (cJSON_IsObject(u)) {
            read_usage(r->ep, u, &r->usage);
            const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
            if (!r->client_usage) { /* the usage chunk goes; a chunk with choices stays */
                if (!cJSON_IsArray(ch) || cJSON_GetArraySize(ch) > 0) {
                    cJSON_DeleteItemFromObjectCaseSensitive(j, "usage");
                    char *t = cJSON_PrintUnformatted(j);
                    if (t)
                        put_event(out, event, elen, t, strlen(t));
                    free(t);
                }
                cJSON_Delete(j);
                return;
            }
        }
        cJSON_Delete(j);
    }
    put_event(out, event, elen, data, len);
}

/* ---- an answer without usage: its text, counted ---- */

static int64_t count(const cJSON *s, const struct tg_tok *tok)
{
    if (!cJSON_IsString(s))
        return 0;
    size_t len = strlen(s->valuestring);
    size_t k = tok ? tg_tok_count(tok, s->valuestring, len) : len;
    return k == TG_TOK_COUNT_ERR ? (int64_t)len : (int64_t)k;
}

int64_t tg_openai_answer_tokens(tg_ep_t ep, const char *body, size_t n, const struct tg_tok *tok)
{
    cJSON *j = cJSON_ParseWithLength(body, n);
    const cJSON *it, *part, *call;
    int64_t t = 0;
    if (ep == TG_EP_RESPONSES) {
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "output"))
        {
            t += count(cJSON_GetObjectItemCaseSensitive(it, "arguments"), tok);
            cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(it, "content"))
            {
                t += count(cJSON_GetObjectItemCaseSensitive(part, "text"), tok);
                t += count(cJSON_GetObjectItemCaseSensitive(part, "refusal"), tok);
            }
        }
        cJSON_Delete(j);
        return t;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "choices"))
    {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(it, "message");
        t += count(cJSON_GetObjectItemCaseSensitive(it, "text"), tok);
        t += count(cJSON_GetObjectItemCaseSensitive(msg, "content"), tok);
        t += count(cJSON_GetObjectItemCaseSensitive(msg, "refusal"), tok);
        int k = 0;
        cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"))
        {
            if (k++ == 8)
                break;
            t += count(cJSON_GetObjectItemCaseSensitive(
                           cJSON_GetObjectItemCaseSensitive(call, "function"), "arguments"),
                       tok);
        }
    }
    cJSON_Delete(j);
    return t;
}

/* ---- errors ---- */

tg_uperr_t tg_openai_error(int status, const char *body, size_t n)
{
    if (status == 429)
        return TG_UPERR_LIMITED;
    if (status >= 500)
        return TG_UPERR_SERVER;
    cJSON *j = cJSON_ParseWithLength(body, n);
    int shaped = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "error"));
    cJSON_Delete(j);
    if (!shaped)
        return TG_UPERR_SERVER; /* not an answer from an OpenAI-compatible server */
    if (status == 401 || status == 403)
        return TG_UPERR_AUTH;
    return TG_UPERR_PASS;
}

const tg_adapter_t tg_adapter_openai = {
    "openai", TG_OPENAI_BASE_URL, tg_openai_address, tg_openai_auth, tg_openai_body,
    tg_openai_answer, tg_openai_event, tg_openai_answer_tokens, tg_openai_error,
};

const tg_adapter_t tg_adapter_openai_compatible = {
    "openai_compatible", NULL, tg_openai_address, tg_openai_auth, tg_openai_body,
    tg_openai_answer, tg_openai_event, tg_openai_answer_tokens, tg_openai_error,
};
