/* The `stripe` payment provider: the only file that knows Stripe's wire format.
 *
 * Calls (form-encoded POSTs, `Authorization: Bearer <secret key>`, every one with an
 * `Idempotency-Key` so that a retry after a lost answer never acts twice):
 *   POST /v1/customers                       the payer (one customer per payment method)
 *   POST /v1/payment_methods/{pm}/attach     the pm_… that Stripe.js made in the browser
 *   POST /v1/payment_intents                 confirm=true, off_session=true; key = payment id
 * Webhooks: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]` is HMAC-SHA256 with the endpoint's
 * signing secret over "<t>.<raw body>"; compared in constant time; t must be within 5 minutes.
 *
 * Calls block (libcurl easy API) on the payment thread that runs them; each thread keeps its
 * own handle, so its HTTPS connection to Stripe stays open between calls. Transient failures
 * (no connection, timeouts, 429, 5xx) are retried twice with the same idempotency key. */
#include "billing/payments.h"
#include "core/strbuf.h"

#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define STRIPE_VERSION "2024-06-20"
#define CONNECT_TIMEOUT_MS 10000L
#define TIMEOUT_MS 30000L
#define MAX_RESPONSE (1u << 20)
#define ATTEMPTS 3

typedef struct {
    tg_pay_provider_t base;
    char url[TG_URL_MAX];
    char *key;   /* secret key; wiped on free */
    char *whsec; /* webhook signing secret; wiped on free */
} stripe_t;

static __thread CURL *tl_curl; /* one per payment thread: keeps the connection alive */

/* Appends "&name=value" (form-encoded). Empty values are left out. */
static void form(tg_strbuf_t *b, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!value || !*value)
        return;
    if (b->len)
        tg_strbuf_add(b, "&", 1);
    for (int pass = 0; pass < 2; pass++) {
        const char *s = pass ? value : name;
        for (; *s; s++) {
            unsigned char ch = (unsigned char)*s;
            if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '_' || ch == '.' || ch == '~') {
                tg_strbuf_add(b, (const char *)&ch, 1);
            } else {
                char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
                tg_strbuf_add(b, e, 3);
            }
        }
        if (!pass)
            tg_strbuf_add(b, "=", 1);
    }
}

static void form_int(tg_strbuf_t *b, const char *name, int64_t v)
{
    char s[32];
    snprintf(s, sizeof(s), "%lld", (long long)v);
    form(b, name, s);
}

/* ---- HTTP ---- */

static size_t on_write(char *ptr, size_t size, size_t n, void *arg)
{
    tg_strbuf_t *b = arg;
    size_t len = size * n;
    if (b->len + len > MAX_RESPONSE)
        return 0;
    tg_strbuf_add(b, ptr, len);
    return b->oom ? 0 : len;
}

typedef enum {
    HTTP_OK = 0,       /* an answer with a status */
    HTTP_NOT_SENT = 1, /* no connection: Stripe never saw the request */
    HTTP_UNKNOWN = 2   /* sent, but no answer: it may have been processed */
} http_result_t;

static int not_sent(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_SSL_CONNECT_ERROR ||
           rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT;
}

/* POSTs a form to path; the answer (status, body) in *status and *resp. Retries transient
 * failures with the same idempotency key. */
static http_result_t post(stripe_t *s, const char *path, const tg_strbuf_t *body, const char *idem,
                          long *status, tg_strbuf_t *resp)
{
    char url[TG_URL_MAX + 256];
    char auth[512], idem_h[TG_NAME_MAX + 32];
    int maybe_sent = 0;
    http_result_t res = HTTP_NOT_SENT;

    if (!tl_curl && !(tl_curl = curl_easy_init()))
        return HTTP_NOT_SENT;
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", s->key);
    snprintf(idem_h, sizeof(idem_h), "Idempotency-Key: %s", idem);
    struct curl_slist *h = NULL, *h2;
    const char *lines[] = {auth, idem_h, "Stripe-Version: " STRIPE_VERSION,
                           "Content-Type: application/x-www-form-urlencoded", "Expect:"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!(h2 = curl_slist_append(h, lines[i]))) {
            for (struct curl_slist *l = h; l; l = l->next)
                sodium_memzero(l->data, strlen(l->data));
            curl_slist_free_all(h);
            sodium_memzero(auth, sizeof(auth));
            return HTTP_NOT_SENT;
        }
        h = h2;
    }
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (attempt) {
            struct timespec ts = {0, attempt == 1 ? 250000000L : 999000000L};
            nanosleep(&ts, NULL);
        }
        CURL *c = tl_curl;
        curl_easy_reset(c);
        resp->len = 0;
        if (resp->p)
            resp->p[0] = '\0';
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->p ? body->p : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body->len);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never through an environment proxy */
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "Tollgate");
        CURLcode rc = curl_easy_perform(c);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
            res = HTTP_OK; /* a 5xx on the last attempt stays HTTP_OK: the caller decides */
            maybe_sent = 1;
            if (*status != 429 && *status < 500)
                break;
            tg_warn("stripe: POST %s answered %ld (attempt %d of %d)", path, *status,
                    attempt + 1, ATTEMPTS);
            continue;
        }
        if (!not_sent(rc))
            maybe_sent = 1;
        res = maybe_sent ? HTTP_UNKNOWN : HTTP_NOT_SENT;
        tg_warn("stripe: POST %s failed: %s (attempt %d of %d)", path, curl_easy_strerror(rc),
                attempt + 1, ATTEMPTS);
    }
    curl_easy_setopt(tl_curl, CURLOPT_HTTPHEADER, NULL);
    for (struct curl_slist *l = h; l; l = l->next) /* the list's copy of the key */
        sodium_memzero(l->data, strlen(l->data));
    curl_slist_free_all(h);
    sodium_memzero(auth, sizeof(auth));
    return res;
}

/* ---- responses ---- */

static void str(const cJSON *o, const char *name, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int64_t num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    int64_t x;
    return cJSON_IsNumber(v) && tg_double_to_i64(v->valuedouble, &x) == 0 ? x : 0;
}

/* Our failure code for a Stripe error object (or a PaymentIntent's last_payment_error). */
static void failure_of(const cJSON *err, char *code, size_t cap, char *msg, size_t mcap)
{
    char c[32], d[32], type[32];
    str(err, "code", c, sizeof(c));
    str(err, "decline_code", d, sizeof(d));
    str(err, "type", type, sizeof(type));
    str(err, "message", msg, mcap);
    if (!strcmp(d, "insufficient_funds") || !strcmp(d, "expired_card"))
        snprintf(code, cap, "%s", d);
    else if (!strcmp(c, "card_declined") || !strcmp(c, "expired_card") ||
             !strcmp(c, "incorrect_cvc") || !strcmp(c, "processing_error") ||
             !strcmp(c, "authentication_required") || !strcmp(c, "insufficient_funds"))
        snprintf(code, cap, "%s", c);
    else if (!strcmp(type, "card_error"))
        snprintf(code, cap, "card_declined");
    else
        snprintf(code, cap, "provider_error");
}

/* Logs an unexpected answer without its body (it may echo what we sent). */
static void log_refusal(const char *what, long status, const cJSON *j)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    char type[64] = "", code[64] = "";
    str(e, "type", type, sizeof(type));
    str(e, "code", code, sizeof(code));
    tg_error("stripe: %s answered %ld (type %s, code %s)", what, status, type[0] ? type : "-",
             code[0] ? code : "-");
}

static int safe_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 4 || n > 200)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static tg_err_t method_create(tg_pay_provider_t *p, const tg_pay_method_in_t *in,
                              const char *method_id, tg_pay_method_row_t *out, char *param,
                              size_t param_cap, char *msg, size_t msg_cap)
{
    stripe_t *s = (stripe_t *)p;
    const tg_payer_t *py = &in->payer;
    tg_strbuf_t body = {0}, resp = {0};
    cJSON *j = NULL;
    long status = 0;
    char idem[TG_ID_MAX + 16], path[TG_NAME_MAX + 64];
    tg_err_t err = TG_E_PAYMENT_PROVIDER_FAILED;

    if (in->has_card || strncmp(in->token, "pm_", 3) || !safe_id(in->token)) {
        snprintf(param, param_cap, "stripe_payment_method");
        snprintf(msg, msg_cap, "Expected 'stripe_payment_method': the id (pm_…) of a payment "
                               "method created with Stripe.js.");
        return TG_E_INVALID_VALUE;
    }
    /* the customer */
    form(&body, "name", py->name);
    form(&body, "email", py->email);
    form(&body, "address[line1]", py->line1);
    form(&body, "address[line2]", py->line2);
    form(&body, "address[city]", py->city);
    form(&body, "address[postal_code]", py->postal_code);
    form(&body, "address[state]", py->state);
    form(&body, "address[country]", py->country);
    form(&body, "metadata[tollgate_organization_id]", in->org_id);
    form(&body, "metadata[tollgate_payment_method_id]", method_id);
    form(&body, "metadata[payer_type]", py->type);
    form(&body, "metadata[tax_id]", py->tax_id);
    snprintf(idem, sizeof(idem), "%s-customer", method_id);
    if (body.oom)
        goto out;
    http_result_t hr = post(s, "/v1/customers", &body, idem, &status, &resp);
    j = hr == HTTP_OK ? cJSON_Parse(resp.p ? resp.p : "") : NULL;
    if (hr != HTTP_OK || status != 200 || !j) {
        if (hr == HTTP_OK)
            log_refusal("POST /v1/customers", status, j);
        snprintf(msg, msg_cap, "The payment provider could not create the customer.");
        goto out;
    }
    str(j, "id", out->customer_ref, sizeof(out->customer_ref));
    cJSON_Delete(j);
    j = NULL;
    if (!safe_id(out->customer_ref)) {
        snprintf(msg, msg_cap, "The payment provider answered without a customer id.");
        goto out;
    }
    /* the payment method, attached to it */
    tg_strbuf_free(&body);
    form(&body, "customer", out->customer_ref);
    snprintf(idem, sizeof(idem), "%s-attach", method_id);
    snprintf(path, sizeof(path), "/v1/payment_methods/%s/attach", in->token);
    if (body.oom)
        goto out;
    hr = post(s, path, &body, idem, &status, &resp);
    j = hr == HTTP_OK ? cJSON_Parse(resp.p ? resp.p : "") : NULL;
    if (hr != HTTP_OK || !j) {
        snprintf(msg, msg_cap, "The payment provider could not be reached.");
        goto out;
    }
    if (status != 200) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        char type[32], code[64];
        str(e, "type", type, sizeof(type));
        str(e, "code", code, sizeof(code));
        if (!strcmp(type, "card_error")) {
            char fc[32];
            failure_of(e, fc, sizeof(fc), msg, msg_cap);
            err = tg_pay_failure_err(fc);
        } else if (status == 404 || !strcmp(code, "resource_missing")) {
            snprintf(param, param_cap, "stripe_payment_method");
            snprintf(msg, msg_cap, "No such payment method at Stripe: '%s'.", in->token);
            err = TG_E_INVALID_VALUE;
        } else {
            log_refusal("POST /v1/payment_methods/…/attach", status, j);
            snprintf(msg, msg_cap, "The payment provider refused the payment method.");
        }
        goto out;
    }
    const cJSON *card = cJSON_GetObjectItemCaseSensitive(j, "card");
    if (!cJSON_IsObject(card)) {
        snprintf(param, param_cap, "stripe_payment_method");
        snprintf(msg, msg_cap, "Only card payment methods are supported.");
        err = TG_E_INVALID_VALUE;
        goto out;
    }
    str(j, "id", out->provider_ref, sizeof(out->provider_ref));
    str(card, "brand", out->brand, sizeof(out->brand));
    str(card, "last4", out->last4, sizeof(out->last4));
    out->exp_month = (int)num(card, "exp_month");
    out->exp_year = (int)num(card, "exp_year");
    if (!safe_id(out->provider_ref) || strlen(out->last4) != 4) {
        snprintf(msg, msg_cap, "The payment provider answered without a usable card.");
        goto out;
    }
    err = TG_OK;
out:
    cJSON_Delete(j);
    tg_strbuf_free(&body);
    tg_strbuf_free(&resp);
    return err;
}

static void charge(tg_pay_provider_t *p, const tg_pay_method_row_t *m,
                   const tg_payment_row_t *pay, tg_pay_charge_t *out)
{
    stripe_t *s = (stripe_t *)p;
    tg_strbuf_t body = {0}, resp = {0};
    cJSON *j = NULL;
    long status = 0;
    char st[32];

    memset(out, 0, sizeof(*out));
    out->status = TG_PAY_FAILED;
    form_int(&body, "amount", pay->amount);
    form(&body, "currency", "usd");
    form(&body, "customer", m->customer_ref);
    form(&body, "payment_method", m->provider_ref);
    form(&body, "confirm", "true");
    form(&body, "off_session", "true");
    form(&body, "description", "Prepaid API credit");
    form(&body, "metadata[tollgate_payment_id]", pay->id);
    form(&body, "metadata[tollgate_organization_id]", pay->org_id);
    form(&body, "metadata[tollgate_kind]", pay->kind);
    if (body.oom) {
        snprintf(out->failure_code, sizeof(out->failure_code), "provider_unavailable");
        goto out;
    }
    http_result_t hr = post(s, "/v1/payment_intents", &body, pay->id, &status, &resp);
    if (hr == HTTP_NOT_SENT) {
        snprintf(out->failure_code, sizeof(out->failure_code), "provider_unavailable");
        snprintf(out->failure_message, sizeof(out->failure_message),
                 "The payment provider could not be reached; nothing was charged.");
        goto out;
    }
    j = hr == HTTP_OK ? cJSON_Parse(resp.p ? resp.p : "") : NULL;
    if (hr == HTTP_UNKNOWN || !j || status >= 500 || status == 429) {
        /* it may have gone through: the webhook (or a retry with the same key) will tell */
        out->status = TG_PAY_PENDING;
        snprintf(out->failure_message, sizeof(out->failure_message),
                 "Waiting for the payment provider to confirm the payment.");
        goto out;
    }
    if (status != 200) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        const cJSON *pi = cJSON_GetObjectItemCaseSensitive(e, "payment_intent");
        str(pi, "id", out->provider_ref, sizeof(out->provider_ref));
        failure_of(e, out->failure_code, sizeof(out->failure_code), out->failure_message,
                   sizeof(out->failure_message));
        if (!strcmp(out->failure_code, "provider_error")) {
            log_refusal("POST /v1/payment_intents", status, j);
            snprintf(out->failure_message, sizeof(out->failure_message),
                     "The payment provider refused the request.");
        }
        goto out;
    }
    str(j, "id", out->provider_ref, sizeof(out->provider_ref));
    str(j, "status", st, sizeof(st));
    if (num(j, "amount") != pay->amount) {
        tg_error("stripe: payment %s: PaymentIntent %s has amount %lld, expected %lld", pay->id,
                 out->provider_ref, (long long)num(j, "amount"), (long long)pay->amount);
        out->status = TG_PAY_PENDING; /* let the webhook decide; never grant a wrong amount */
    } else if (!strcmp(st, "succeeded")) {
        out->status = TG_PAY_SUCCEEDED;
    } else if (!strcmp(st, "processing")) {
        out->status = TG_PAY_PENDING;
    } else {
        snprintf(out->failure_code, sizeof(out->failure_code), "%s",
                 !strcmp(st, "requires_action") ? "authentication_required" : "card_declined");
        snprintf(out->failure_message, sizeof(out->failure_message),
                 !strcmp(st, "requires_action")
                     ? "The card requires authentication, which an automatic payment cannot do."
                     : "The payment did not complete.");
    }
out:
    cJSON_Delete(j);
    tg_strbuf_free(&body);
    tg_strbuf_free(&resp);
}

/* ---- webhooks ---- */

static int unhex(const char *h, size_t n, unsigned char *out, size_t cap)
{
    size_t bin_len = 0;
    if (n != cap * 2)
        return -1;
    if (sodium_hex2bin(out, cap, h, n, NULL, &bin_len, NULL) != 0 || bin_len != cap)
        return -1;
    return 0;
}

/* Checks `t=…,v1=…` against HMAC-SHA256(secret, "<t>.<body>"). 0, -1 (no valid signature) or
 * -2 (timestamp outside the tolerance). */
static int verify(const char *secret, const char *header, const char *body, size_t len,
                  int64_t now)
{
    unsigned char want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
    const char *v1[8];
    size_t v1len[8], nv1 = 0;
    int64_t t = -1;
    int ok = 0;

    if (!header)
        return -1;
    for (const char *p = header; *p;) {
        size_t n = strcspn(p, ",");
        while (*p == ' ' && n) {
            p++;
            n--;
        }
        if (n > 2 && !strncmp(p, "t=", 2)) {
            char *end;
            long long v = strtoll(p + 2, &end, 10);
            if (end == p + n && v > 0)
                t = v;
        } else if (n > 3 && !strncmp(p, "v1=", 3) && nv1 < 8) {
            v1[nv1] = p + 3;
            v1len[nv1++] = n - 3;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (t < 0 || nv1 == 0)
        return -1;
    if (t < now - TG_PAY_WEBHOOK_TOLERANCE || t > now + TG_PAY_WEBHOOK_TOLERANCE)
        return -2;
    char ts[32];
    int tn = snprintf(ts, sizeof(ts), "%lld.", (long long)t);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (unsigned long long)tn);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, want);
    for (size_t i = 0; i < nv1; i++)
        if (unhex(v1[i], v1len[i], got, sizeof(got)) == 0 &&
            sodium_memcmp(got, want, sizeof(want)) == 0)
            ok = 1; /* no early exit: the time taken does not depend on which one matched */
    sodium_memzero(&st, sizeof(st));
    return ok ? 0 : -1;
}

static tg_err_t webhook(tg_pay_provider_t *p, const char *signature, const char *body,
                        size_t len, int64_t now, tg_pay_event_t *ev)
{
    stripe_t *s = (stripe_t *)p;
    memset(ev, 0, sizeof(*ev));
    int v = verify(s->whsec, signature, body, len, now);
    if (v < 0) {
        tg_warn("stripe webhook: %s", v == -2 ? "timestamp outside the 5-minute tolerance"
                                              : "missing or wrong signature");
        return TG_E_INVALID_SIGNATURE;
    }
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return TG_E_INVALID_JSON;
    }
    str(j, "type", ev->type, sizeof(ev->type));
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "data"), "object");
    if (!strncmp(ev->type, "payment_intent.", 15) && cJSON_IsObject(obj)) {
        str(obj, "id", ev->provider_ref, sizeof(ev->provider_ref));
        str(obj, "currency", ev->currency, sizeof(ev->currency));
        ev->amount = num(obj, "amount");
        str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "tollgate_payment_id",
            ev->payment_id, sizeof(ev->payment_id));
        if (!strcmp(ev->type, "payment_intent.succeeded")) {
            ev->kind = TG_PAY_EV_SUCCEEDED;
        } else if (!strcmp(ev->type, "payment_intent.payment_failed") ||
                   !strcmp(ev->type, "payment_intent.canceled")) {
            ev->kind = TG_PAY_EV_FAILED;
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(obj, "last_payment_error");
            if (cJSON_IsObject(e))
                failure_of(e, ev->failure_code, sizeof(ev->failure_code), ev->failure_message,
                           sizeof(ev->failure_message));
            else
                snprintf(ev->failure_code, sizeof(ev->failure_code), "card_declined");
        }
    }
    cJSON_Delete(j);
    return TG_OK;
}

static void thread_exit(tg_pay_provider_t *p)
{
    if (tl_curl)
        curl_easy_cleanup(tl_curl);
    tl_curl = NULL;
}

static void wipe_free(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
    free(s);
}

static void provider_free(tg_pay_provider_t *p)
{
    stripe_t *s = (stripe_t *)p;
    if (!s)
        return;
    wipe_free(s->key);
    wipe_free(s->whsec);
    free(s);
}

static const tg_pay_provider_ops_t stripe_ops = {
    .name = "stripe",
    .webhook_header = "Stripe-Signature",
    .method_create = method_create,
    .charge = charge,
    .webhook = webhook,
    .thread_exit = thread_exit,
    .free = provider_free,
};

/* http:// only to a loopback host (a local stand-in): the secret key never crosses a
 * network in clear text. */
static int url_ok(const char *u)
{
    static const char *loop[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};
    if (!strncasecmp(u, "https://", 8))
        return strlen(u) > 8;
    for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
        size_t n = strlen(loop[i]);
        if (!strncasecmp(u, loop[i], n) && (u[n] == '\0' || u[n] == ':' || u[n] == '/'))
            return 1;
    }
    return 0;
}

tg_pay_provider_t *tg_pay_stripe_new(const char *base_url, const char *secret_key,
                                     const char *webhook_secret)
{
    if (!base_url || !*base_url)
        base_url = "https://api.stripe.com";
    if (!secret_key || !*secret_key || !webhook_secret || !*webhook_secret ||
        !url_ok(base_url) || strlen(base_url) >= TG_URL_MAX || strlen(secret_key) > 400)
        return NULL;
    stripe_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base.ops = &stripe_ops;
    snprintf(s->url, sizeof(s->url), "%s", base_url);
    size_t n = strlen(s->url);
    while (n && s->url[n - 1] == '/')
        s->url[--n] = '\0';
    s->key = strdup(secret_key);
    s->whsec = strdup(webhook_secret);
    if (!s->key || !s->whsec) {
        provider_free(&s->base);
        return NULL;
    }
    return &s->base;
}
