/* A call is one API request: its id, timing, key and the helpers that answer it. */
#include "api/api_int.h"

#include "auth/keys.h"
#include "auth/perms.h"
#include "billing/usage.h"
#include "core/log.h"
#include "core/util.h"

#include <event2/event.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JSON_MAX_DEPTH 64

tg_call_t *tg_call_new(tg_http_req_t *req, tg_api_worker_t *w)
{
    tg_call_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->req = req;
    c->w = w;
    c->route_id = TG_ROUTE_NONE;
    snprintf(c->verb, sizeof(c->verb), "%s", tg_http_method(req));
    c->t0 = tg_mono_ns();
    tg_request_id(c->request_id);
    c->cat = tg_catalog_current(&w->cat_slot);
    if (c->cat)
        tg_catalog_ref(c->cat);
    return c;
}

void tg_call_free(tg_call_t *c)
{
    if (!c)
        return;
    tg_observe_end(c); /* the call's answer is complete: count it, log it */
    if (c->prev || c->next || c->w->calls == c) {
        if (c->prev)
            c->prev->next = c->next;
        else
            c->w->calls = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
    if (c->body)
        evbuffer_free(c->body);
    tg_sse_dispose(&c->sse);
    if (c->out)
        evbuffer_free(c->out);
    tg_relay_dispose(&c->relay);
    if (c->timer)
        event_free(c->timer);
    if (c->fwd_json)
        cJSON_Delete(c->fwd_json);
    tg_catalog_unref(c->cat);
    tg_catalog_unref(c->cat_before);
    free(c);
}

void tg_call_headers(tg_call_t *c)
{
    char ms[32];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)((tg_mono_ns() - c->t0) / 1000000));
    tg_http_add_header(c->req, "x-request-id", c->request_id);
    tg_http_add_header(c->req, "openai-processing-ms", ms);
    tg_http_add_header(c->req, "openai-version", "2020-10-01");
    if (c->org_id[0])
        tg_http_add_header(c->req, "openai-organization", c->org_id);
    tg_http_add_header(c->req, "access-control-expose-headers", "X-Request-ID");
    if (c->ticket.rl_state.have) {
        const tg_rl_state_t *s = &c->ticket.rl_state;
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)s->limit_requests);
        tg_http_add_header(c->req, "x-ratelimit-limit-requests", v);
        snprintf(v, sizeof(v), "%lld", (long long)s->limit_tokens);
        tg_http_add_header(c->req, "x-ratelimit-limit-tokens", v);
        snprintf(v, sizeof(v), "%lld", (long long)s->remaining_requests);
        tg_http_add_header(c->req, "x-ratelimit-remaining-requests", v);
        snprintf(v, sizeof(v), "%lld", (long long)s->remaining_tokens);
        tg_http_add_header(c->req, "x-ratelimit-remaining-tokens", v);
        tg_rl_duration(s->reset_requests_ms, v, sizeof(v));
        tg_http_add_header(c->req, "x-ratelimit-reset-requests", v);
        tg_rl_duration(s->reset_tokens_ms, v, sizeof(v));
        tg_http_add_header(c->req, "x-ratelimit-reset-tokens", v);
    }
}

void tg_call_json(tg_call_t *c, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) {
        static const char oom[] = "{\"error\":{\"message\":\"The server is out of memory.\","
                                  "\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        tg_call_headers(c);
        c->status = 503;
        tg_http_respond(c->req, 503, "application/json", oom, sizeof(oom) - 1);
        tg_call_free(c);
        return;
    }
    tg_call_headers(c);
    c->status = status;
    tg_http_respond(c->req, status, "application/json", text, strlen(text));
    free(text);
    tg_call_free(c);
}

static cJSON *error_body(tg_err_t err, const char *param, const char *msg)
{
    const tg_err_info_t *e = tg_err_info(err);
    cJSON *root = cJSON_CreateObject(), *o = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(o, "message", msg && *msg ? msg : e->message);
    cJSON_AddStringToObject(o, "type", e->type);
    if (param)
        cJSON_AddStringToObject(o, "param", param);
    else
        cJSON_AddNullToObject(o, "param");
    if (e->code)
        cJSON_AddStringToObject(o, "code", e->code);
    else
        cJSON_AddNullToObject(o, "code");
    return root;
}

void tg_call_error(tg_call_t *c, tg_err_t err, const char *param, const char *fmt, ...)
{
    char msg[1024] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
    }
    /* quota errors: retrying does not help, so tell the SDKs not to */
    if (!strcmp(tg_err_info(err)->type, "insufficient_quota"))
        tg_http_add_header(c->req, "x-should-retry", "false");
    c->err = err;
    tg_call_json(c, tg_err_info(err)->status, error_body(err, param, msg));
}

void tg_call_missing_scope(tg_call_t *c, unsigned scope)
{
    tg_call_error(c, TG_E_MISSING_SCOPE, NULL,
                  "You have insufficient permissions for this operation. Missing scopes: %s. "
                  "Check that you have the correct role in your organization (Reader, Writer, "
                  "Owner) and project (Member, Owner), and if you're using a restricted API "
                  "key, that it has the necessary scopes.",
                  tg_scope_name(scope));
}

int tg_call_auth(tg_call_t *c, int want_kind, unsigned scope)
{
    const char *h = tg_http_header(c->req, "authorization");
    char redacted[128];

    if (!c->cat) {
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        return -1;
    }
    if (!h && want_kind == TG_KEY_ADMIN) { /* the console: a session cookie */
        int rc = tg_console_auth(c, scope);
        if (rc <= 0)
            return rc;
    }
    while (h && (*h == ' ' || *h == '\t'))
        h++;
    if (!h || strncasecmp(h, "bearer ", 7) != 0) {
        tg_call_error(c, TG_E_NO_KEY, NULL, NULL);
        return -1;
    }
    h += 7;
    while (*h == ' ')
        h++;
    size_t len = strlen(h);
    while (len && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    if (len == 0) {
        tg_call_error(c, TG_E_NO_KEY, NULL, NULL);
        return -1;
    }
    const tg_cat_key_t *k = len <= TG_KEY_SECRET_MAX ? tg_catalog_key_by_secret(c->cat, h, len)
                                                     : NULL;
    if (!k || (k->row.expires_at && k->row.expires_at <= tg_now()) ||
        (k->project && k->project->archived_at)) {
        tg_key_redact_error(h, len, redacted, sizeof(redacted));
        tg_call_error(c, TG_E_INVALID_KEY, NULL,
                      "Incorrect API key provided: %s. You can find your API key in the console "
                      "under API Keys.",
                      redacted);
        return -1;
    }
    if (k->org->suspended) { /* nothing is deleted; the operator may reactivate it */
        tg_call_error(c, TG_E_ACCOUNT_DEACTIVATED, NULL, NULL);
        return -1;
    }
    c->key = k;
    tg_usage_touch_key(k->row.id); /* last_used_at, written in the writer's next batch */
    snprintf(c->org_id, sizeof(c->org_id), "%s", k->row.org_id);
    if (k->row.kind != want_kind || !(k->scopes & scope)) {
        tg_call_missing_scope(c, scope);
        return -1;
    }
    return 0;
}

/* The length of the well-formed UTF-8 sequence at p (a byte ≥ 0x80 first), or 0: no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const char *s, size_t avail)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (u[0] >= 0xC2 && u[0] <= 0xDF)
        n = 2;
    else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
        n = 3;
        if (u[0] == 0xE0)
            lo = 0xA0;
        else if (u[0] == 0xED)
            hi = 0x9F;
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
        n = 4;
        if (u[0] == 0xF0)
            lo = 0x90;
        else if (u[0] == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (avail < n || u[1] < lo || u[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (u[k] < 0x80 || u[k] > 0xBF)
            return 0;
    return n;
}

/* Checks what cJSON lets through: nesting deeper than JSON_MAX_DEPTH (cJSON's own limit is
 * far higher), raw control characters, which JSON forbids inside strings, the escape
 * \u0000, which cJSON cannot represent, and strings that are not UTF-8 (cJSON copies any
 * byte), which would be stored and echoed back as text that is not JSON.
 * Returns 0, 1 (too deep), 2 (not JSON), 3 (\\u0000) or 4 (not UTF-8). */
static int json_prescan(const char *p, size_t len)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == 0)
            return 2;
        if (in_str) {
            if (ch < 0x20)
                return 2;
            if (ch >= 0x80) { /* a UTF-8 sequence, whole and shortest (RFC 3629) */
                size_t n = utf8_len(p + i, len - i);
                if (!n)
                    return 4;
                i += n - 1;
                continue;
            }
            if (ch == '\\') {
                /* \u0000 would end the C string cJSON gives us: the value we check and
                 * forward would differ from the one sent */
                if (i + 5 < len && memcmp(p + i + 1, "u0000", 5) == 0)
                    return 3;
                i++;
            } else if (ch == '"')
                in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '{' || ch == '[') {
            if (++depth > JSON_MAX_DEPTH)
                return 1;
        } else if (ch == '}' || ch == ']') {
            depth--;
        }
    }
    return 0;
}

cJSON *tg_call_body_json(tg_call_t *c)
{
    size_t len;
    const char *body = tg_http_body(c->req, &len);
    cJSON *j = NULL;

    int pre = json_prescan(body, len);
    if (pre == 1) {
        tg_call_error(c, TG_E_BAD_REQUEST, NULL,
                      "The JSON body of your request is nested more than %d levels deep.",
                      JSON_MAX_DEPTH);
        return NULL;
    }
    if (pre == 4) { /* JSON is UTF-8 (RFC 8259): a name, a setting or a prompt alike */
        tg_call_error(c, TG_E_INVALID_VALUE, NULL,
                      "The request body is not valid UTF-8: every string must be well-formed "
                      "UTF-8 text.");
        return NULL;
    }
    if (pre == 3) {
        tg_call_error(c, TG_E_BAD_REQUEST, NULL,
                      "Strings in the request body must not contain the character \\u0000.");
        return NULL;
    }
    /* The server NUL-terminates bodies; parsing len + 1 bytes with require_null_terminated
     * refuses trailing garbage after the JSON value. */
    j = pre == 0 ? cJSON_ParseWithLengthOpts(body, len + 1, NULL, 1) : NULL;
    if (!j) {
        tg_call_error(c, TG_E_INVALID_JSON, NULL, NULL);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        tg_call_error(c, TG_E_INVALID_JSON, NULL,
                      "The body of your request must be a JSON object.");
        return NULL;
    }
    return j;
}

int tg_call_query_each(tg_call_t *c, const char *name, int (*fn)(void *arg, const char *v),
                       void *arg)
{
    const char *q = tg_http_query(c->req);
    size_t nl = strlen(name);
    int rc = 0;
    while (q && *q && rc == 0) {
        size_t plen = strcspn(q, "&");
        const char *eq = memchr(q, '=', plen);
        size_t klen = eq ? (size_t)(eq - q) : plen;
        char *k = strndup(q, klen), *kd = k ? evhttp_uridecode(k, 1, NULL) : NULL;
        if (!kd) {
            rc = -1;
        } else if (strncmp(kd, name, nl) == 0 &&
                   (kd[nl] == '\0' || (kd[nl] == '[' && kd[strlen(kd) - 1] == ']' &&
                                       strspn(kd + nl + 1, "0123456789") == strlen(kd) - nl - 2))) {
            char *v = eq ? strndup(eq + 1, plen - klen - 1) : strdup("");
            char *vd = v ? evhttp_uridecode(v, 1, NULL) : NULL;
            rc = vd ? fn(arg, vd) : -1;
            free(v);
            free(vd);
        }
        free(k);
        free(kd);
        q += plen;
        if (*q == '&')
            q++;
    }
    return rc;
}

typedef struct {
    char *buf;
    size_t cap;
} first_t;

static int first_value(void *arg, const char *v)
{
    first_t *f = arg;
    snprintf(f->buf, f->cap, "%s", v);
    return 1; /* the first match wins */
}

const char *tg_call_query(tg_call_t *c, const char *name, char *buf, size_t cap)
{
    first_t f = {buf, cap};
    return tg_call_query_each(c, name, first_value, &f) == 1 ? buf : NULL;
}

void tg_call_list(tg_call_t *c, cJSON *items) { tg_call_list_n(c, items, 20); }

void tg_call_list_n(tg_call_t *c, cJSON *items, long limit)
{
    char buf[128];
    const char *after = tg_call_query(c, "after", buf, sizeof(buf));
    char lbuf[32];
    const char *ls = tg_call_query(c, "limit", lbuf, sizeof(lbuf));

    if (ls) {
        char *end;
        limit = strtol(ls, &end, 10);
        if (*end || limit < 1 || limit > 100) {
            cJSON_Delete(items);
            tg_call_error(c, TG_E_INVALID_VALUE, "limit",
                          "Invalid 'limit': expected an integer between 1 and 100.");
            return;
        }
    }
    cJSON *root = cJSON_CreateObject(), *data = cJSON_CreateArray();
    int n = cJSON_GetArraySize(items), start = 0;
    if (after) {
        start = n; /* an unknown cursor gives an empty page */
        for (int i = 0; i < n; i++) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(items, i), "id");
            if (cJSON_IsString(id) && strcmp(id->valuestring, after) == 0) {
                start = i + 1;
                break;
            }
        }
    }
    int end = start + (int)limit < n ? start + (int)limit : n;
    for (int i = start; i < end; i++) /* the item at `start` moves up as we detach */
        cJSON_AddItemToArray(data, cJSON_DetachItemFromArray(items, start));
    cJSON *ordered = data;
    cJSON_Delete(items);
    cJSON_AddStringToObject(root, "object", "list");
    cJSON_AddItemToObject(root, "data", ordered);
    int cnt = cJSON_GetArraySize(ordered);
    if (cnt) {
        cJSON_AddStringToObject(root, "first_id", cJSON_GetObjectItem(cJSON_GetArrayItem(ordered, 0), "id")->valuestring);
        cJSON_AddStringToObject(root, "last_id", cJSON_GetObjectItem(cJSON_GetArrayItem(ordered, cnt - 1), "id")->valuestring);
    } else {
        cJSON_AddNullToObject(root, "first_id");
        cJSON_AddNullToObject(root, "last_id");
    }
    cJSON_AddBoolToObject(root, "has_more", end < n);
    tg_call_json(c, 200, root);
}

int tg_call_is(const tg_call_t *c, const char *m)
{
    return strcmp(c->method ? c->method : tg_http_method(c->req), m) == 0;
}

int tg_span_is(const char *p, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(p, lit, len) == 0;
}

int tg_call_reload(tg_call_t *c)
{
    if (tg_catalog_reload(c->w->store) < 0)
        return -1;
    tg_catalog_t *fresh = tg_catalog_current(&c->w->cat_slot);
    tg_catalog_unref(c->cat);
    c->cat = tg_catalog_ref(fresh);
    c->key = NULL; /* borrowed from the old snapshot */
    return 0;
}

/* Re-reads the catalog from the store after a miss, when other instances may have made what
 * is missing. 1 when the call now sees a newer snapshot. */
static int catch_up(tg_call_t *c)
{
    uint64_t now = tg_mono_ns();
    if (!c->w->shared || c->cat_before || now - c->w->caught_up_ns < 10000000ull)
        return 0;
    c->w->caught_up_ns = now;
    if (tg_catalog_refresh(c->w->store) < 0)
        return 0;
    c->cat_before = c->cat; /* c->key borrows from it */
    c->cat = tg_catalog_ref(tg_catalog_current(&c->w->cat_slot));
    return 1;
}

const tg_org_row_t *tg_call_org(tg_call_t *c, const char *id)
{
    const tg_org_row_t *o = c->cat ? tg_catalog_org(c->cat, id) : NULL;
    if (!o && c->cat && catch_up(c))
        o = tg_catalog_org(c->cat, id);
    return o;
}

const tg_project_row_t *tg_call_project(tg_call_t *c, const char *id)
{
    const tg_project_row_t *p = c->cat ? tg_catalog_project(c->cat, id) : NULL;
    if (!p && c->cat && catch_up(c))
        p = tg_catalog_project(c->cat, id);
    return p;
}

cJSON *tg_json_nanos(int64_t nanos)
{
    char buf[32];
    tg_format_nanos(nanos, buf);
    return cJSON_CreateRaw(buf);
}

void tg_json_opt_time(cJSON *o, const char *name, int64_t t)
{
    if (t)
        cJSON_AddNumberToObject(o, name, (double)t);
    else
        cJSON_AddNullToObject(o, name);
}

void tg_call_unknown_url(tg_call_t *c)
{
    size_t len;
    const char *path = tg_http_path(c->req, &len);
    tg_call_error(c, TG_E_UNKNOWN_URL, NULL,
                  "Unknown request URL: %s %.*s. Please check the URL for typos, or see the docs "
                  "at https://platform.openai.com/docs/api-reference/.",
                  tg_http_method(c->req), (int)(len > 512 ? 512 : len), path);
}

void tg_call_bad_method(tg_call_t *c)
{
    size_t len;
    const char *path = tg_http_path(c->req, &len);
    tg_call_error(c, TG_E_METHOD_NOT_ALLOWED, NULL, "Invalid method for URL (%s %.*s).",
                  tg_http_method(c->req), (int)(len > 512 ? 512 : len), path);
}
