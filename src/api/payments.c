/* Payments on the Admin API: /v1/organization/billing/{payment_methods, top_ups,
 * auto_recharge, invoices}[/{id}], and the payment provider's webhook
 * (POST /v1/billing/webhooks/{provider}, no bearer key: the signature authenticates it).
 *
 * Reads go to the worker's store connection. Anything that talks to the payment provider
 * (adding a method, charging, webhooks) is a job for the payment threads (billing/
 * payments.h); the call waits for its result without holding the worker, which answers
 * when the result comes back on its loop. A card number and CVC are read from the body,
 * handed to the job and wiped from the body and the parsed JSON at once. */
#include "api/api_int.h"

#include "core/log.h"
#include "core/strbuf.h"

#include "billing/payments.h"
#include "core/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A JSON integer in [min, max] (cents and such). */
static int json_int(const cJSON *v, int64_t min, int64_t max, int64_t *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

static void wipe_string(cJSON *v)
{
    if (cJSON_IsString(v) && v->valuestring)
        sodium_memzero(v->valuestring, strlen(v->valuestring));
}

/* ---- objects ---- */

static cJSON *payer_json(const char *text)
{
    cJSON *p = cJSON_Parse(text);
    return p ? p : cJSON_CreateNull();
}

static cJSON *method_object(const tg_pay_method_row_t *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization.billing.payment_method");
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "type", "card");
    cJSON_AddStringToObject(o, "brand", m->brand);
    cJSON_AddStringToObject(o, "last4", m->last4);
    cJSON_AddNumberToObject(o, "exp_month", m->exp_month);
    cJSON_AddNumberToObject(o, "exp_year", m->exp_year);
    cJSON_AddItemToObject(o, "payer", payer_json(m->payer));
    cJSON_AddBoolToObject(o, "default", m->is_default);
    cJSON_AddStringToObject(o, "provider", m->provider);
    cJSON_AddNumberToObject(o, "created_at", (double)m->created_at);
    return o;
}

static void add_opt_str(cJSON *o, const char *name, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

static cJSON *payment_object(const tg_payment_row_t *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization.billing.payment");
    cJSON_AddStringToObject(o, "id", p->id);
    cJSON_AddStringToObject(o, "kind", p->kind);
    cJSON_AddNumberToObject(o, "amount", (double)p->amount);
    cJSON_AddStringToObject(o, "currency", p->currency);
    cJSON_AddStringToObject(o, "status", p->status);
    cJSON_AddStringToObject(o, "payment_method_id", p->method_id);
    cJSON *card = cJSON_AddObjectToObject(o, "card");
    cJSON_AddStringToObject(card, "brand", p->brand);
    cJSON_AddStringToObject(card, "last4", p->last4);
    add_opt_str(o, "failure_code", p->failure_code);
    add_opt_str(o, "failure_message", p->failure_message);
    add_opt_str(o, "invoice_id", p->invoice_id);
    add_opt_str(o, "credit_grant_id", p->grant_id);
    cJSON_AddNumberToObject(o, "created_at", (double)p->created_at);
    cJSON_AddNumberToObject(o, "updated_at", (double)p->updated_at);
    return o;
}

static cJSON *invoice_object(const tg_invoice_row_t *v)
{
    char url[128];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization.billing.invoice");
    cJSON_AddStringToObject(o, "id", v->id);
    cJSON_AddStringToObject(o, "number", v->number);
    cJSON_AddStringToObject(o, "status", "paid");
    cJSON_AddStringToObject(o, "currency", v->currency);
    cJSON_AddNumberToObject(o, "subtotal", (double)v->amount);
    cJSON_AddNumberToObject(o, "tax", 0);
    cJSON_AddNumberToObject(o, "total", (double)v->amount);
    cJSON_AddNumberToObject(o, "amount_due", (double)v->amount);
    cJSON_AddNumberToObject(o, "amount_paid", (double)v->amount);
    cJSON_AddNumberToObject(o, "created_at", (double)v->created_at);
    cJSON_AddNumberToObject(o, "paid_at", (double)v->created_at);
    cJSON_AddStringToObject(o, "payment_id", v->payment_id);
    cJSON *card = cJSON_AddObjectToObject(o, "card");
    cJSON_AddStringToObject(card, "brand", v->brand);
    cJSON_AddStringToObject(card, "last4", v->last4);
    cJSON_AddItemToObject(o, "payer", payer_json(v->payer));
    cJSON *s = cJSON_AddObjectToObject(o, "seller");
    cJSON_AddStringToObject(s, "name", v->seller);
    cJSON *lines = cJSON_AddArrayToObject(o, "lines");
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "description", v->description);
    cJSON_AddNumberToObject(l, "quantity", 1);
    cJSON_AddNumberToObject(l, "unit_amount", (double)v->amount);
    cJSON_AddNumberToObject(l, "amount", (double)v->amount);
    cJSON_AddItemToArray(lines, l);
    snprintf(url, sizeof(url), "/v1/organization/billing/invoices/%s?format=html", v->id);
    cJSON_AddStringToObject(o, "html_url", url);
    return o;
}

/* ---- answering a job's result ---- */

static void answer_error(tg_call_t *c, const tg_pay_result_t *res)
{
    if (res->msg[0])
        tg_call_error(c, res->err, res->param[0] ? res->param : NULL, "%s", res->msg);
    else
        tg_call_error(c, res->err, res->param[0] ? res->param : NULL, NULL);
}

/* The payment thread made the change in its own transaction; the audit log records it in the
 * next one (a crash between the two loses the event, not the payment). */
static void audit_after(tg_call_t *c, const char *type, cJSON *details)
{
    if (tg_audit_begin(c) < 0 || tg_audit_end(c, 0, type, NULL, details) < 0)
        tg_warn("audit: %s of %s not recorded", type, c->org_id);
}

static void on_method_done(void *arg, const tg_pay_result_t *res)
{
    tg_call_t *c = arg;
    if (res->err != TG_OK) {
        answer_error(c, res);
        return;
    }
    audit_after(c, "payment_method.created", tg_audit_details(res->method.id));
    tg_call_json(c, 200, method_object(&res->method));
}

static void on_top_up_done(void *arg, const tg_pay_result_t *res)
{
    tg_call_t *c = arg;
    if (res->err != TG_OK) {
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "error_code", tg_err_info(res->err)->code
                                                      ? tg_err_info(res->err)->code
                                                      : tg_err_info(res->err)->type);
        audit_after(c, "top_up.failed", ev);
        answer_error(c, res);
        return;
    }
    cJSON *ev = tg_audit_details(res->payment.id), *evd = cJSON_AddObjectToObject(ev, "data");
    cJSON_AddNumberToObject(evd, "amount", (double)res->payment.amount); /* cents */
    cJSON_AddStringToObject(evd, "status", res->payment.status);
    audit_after(c, "top_up.created", ev);
    tg_call_json(c, 200, payment_object(&res->payment));
}

static void on_webhook_done(void *arg, const tg_pay_result_t *res)
{
    tg_call_t *c = arg;
    if (res->err == TG_E_UNKNOWN_URL) {
        tg_call_unknown_url(c);
    } else if (res->err != TG_OK) {
        answer_error(c, res);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "received", 1);
        tg_call_json(c, 200, o);
    }
}

/* ---- payment methods ---- */

/* A string field of at most cap-1 bytes without control characters; "" when absent (or an
 * error if required). Answers errors itself (-1). */
static int text_field(tg_call_t *c, const cJSON *o, const char *name, const char *param,
                      int required, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    out[0] = '\0';
    if (!v || cJSON_IsNull(v)) {
        if (required) {
            tg_call_error(c, TG_E_MISSING_PARAM, param, "Missing required parameter: '%s'.",
                          param);
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsString(v)) {
        tg_call_error(c, TG_E_INVALID_TYPE, param, "Invalid type for '%s': expected a string.",
                      param);
        return -1;
    }
    size_t n = strlen(v->valuestring);
    int ok = n < cap && (!required || n > 0);
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v->valuestring[i] >= 0x20 && v->valuestring[i] != 0x7f;
    if (!ok) {
        tg_call_error(c, TG_E_INVALID_VALUE, param,
                      "Invalid '%s': expected a %sstring of at most %zu bytes without control "
                      "characters.",
                      param, required ? "non-empty " : "", cap - 1);
        return -1;
    }
    memcpy(out, v->valuestring, n + 1);
    return 0;
}

/* The payer object → p. Company: name, address (line1, city, postal_code, country) and
 * tax_id are required; individual: name. */
static int parse_payer(tg_call_t *c, const cJSON *body, tg_payer_t *p)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(body, "payer");
    memset(p, 0, sizeof(*p));
    if (!o) {
        tg_call_error(c, TG_E_MISSING_PARAM, "payer",
                      "Missing required parameter: 'payer' ({\"type\": \"individual\" or "
                      "\"company\", \"name\", …}).");
        return -1;
    }
    if (!cJSON_IsObject(o)) {
        tg_call_error(c, TG_E_INVALID_TYPE, "payer", "Invalid type for 'payer': expected an "
                                                     "object.");
        return -1;
    }
    if (text_field(c, o, "type", "payer.type", 1, p->type, sizeof(p->type)) < 0)
        return -1;
    int company = !strcmp(p->type, "company");
    if (!company && strcmp(p->type, "individual")) {
        tg_call_error(c, TG_E_INVALID_VALUE, "payer.type",
                      "Invalid 'payer.type': expected 'individual' or 'company'.");
        return -1;
    }
    if (text_field(c, o, "name", "payer.name", 1, p->name, sizeof(p->name)) < 0 ||
        text_field(c, o, "email", "payer.email", 0, p->email, sizeof(p->email)) < 0 ||
        text_field(c, o, "tax_id", "payer.tax_id", company, p->tax_id, sizeof(p->tax_id)) < 0)
        return -1;
    if (p->email[0] && !strchr(p->email, '@')) {
        tg_call_error(c, TG_E_INVALID_VALUE, "payer.email",
                      "Invalid 'payer.email': expected an email address.");
        return -1;
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "address");
    if (!a || cJSON_IsNull(a)) {
        if (company) {
            tg_call_error(c, TG_E_MISSING_PARAM, "payer.address",
                          "Missing required parameter: 'payer.address' (a company's billing "
                          "address).");
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsObject(a)) {
        tg_call_error(c, TG_E_INVALID_TYPE, "payer.address",
                      "Invalid type for 'payer.address': expected an object.");
        return -1;
    }
    if (text_field(c, a, "line1", "payer.address.line1", 1, p->line1, sizeof(p->line1)) < 0 ||
        text_field(c, a, "line2", "payer.address.line2", 0, p->line2, sizeof(p->line2)) < 0 ||
        text_field(c, a, "city", "payer.address.city", 1, p->city, sizeof(p->city)) < 0 ||
        text_field(c, a, "postal_code", "payer.address.postal_code", 1, p->postal_code,
                   sizeof(p->postal_code)) < 0 ||
        text_field(c, a, "state", "payer.address.state", 0, p->state, sizeof(p->state)) < 0 ||
        text_field(c, a, "country", "payer.address.country", 1, p->country,
                   sizeof(p->country)) < 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if (p->country[i] >= 'a' && p->country[i] <= 'z')
            p->country[i] = (char)(p->country[i] - 'a' + 'A');
    if (strlen(p->country) != 2 || p->country[0] < 'A' || p->country[0] > 'Z' ||
        p->country[1] < 'A' || p->country[1] > 'Z') {
        tg_call_error(c, TG_E_INVALID_VALUE, "payer.address.country",
                      "Invalid 'payer.address.country': expected a two-letter country code "
                      "(ISO 3166-1 alpha-2).");
        return -1;
    }
    return 0;
}

/* A month or year given as an integer or a string of digits. */
static int card_int(const cJSON *v, int *out)
{
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9999 &&
        v->valuedouble == (double)(int)v->valuedouble) {
        *out = (int)v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v)) {
        size_t n = strlen(v->valuestring);
        if (n == 0 || n > 4)
            return -1;
        int x = 0;
        for (size_t i = 0; i < n; i++) {
            if (v->valuestring[i] < '0' || v->valuestring[i] > '9')
                return -1;
            x = x * 10 + (v->valuestring[i] - '0');
        }
        *out = x;
        return 0;
    }
    return -1;
}

/* The card object → in->card (number digits only). Wipes the number and CVC from the JSON. */
static int parse_card(tg_call_t *c, cJSON *card, tg_pay_method_in_t *in)
{
    cJSON *num = cJSON_GetObjectItemCaseSensitive(card, "number");
    cJSON *cvc = cJSON_GetObjectItemCaseSensitive(card, "cvc");
    const cJSON *em = cJSON_GetObjectItemCaseSensitive(card, "exp_month");
    const cJSON *ey = cJSON_GetObjectItemCaseSensitive(card, "exp_year");
    const char *missing = !num ? "card.number" : !em ? "card.exp_month" : !ey ? "card.exp_year"
                                                     : !cvc ? "card.cvc" : NULL;
    int rc = -1;
    size_t n = 0;

    in->has_card = 1;
    if (missing) {
        tg_call_error(c, TG_E_MISSING_PARAM, missing, "Missing required parameter: '%s'.",
                      missing);
        goto out;
    }
    if (!cJSON_IsString(num)) {
        tg_call_error(c, TG_E_INVALID_TYPE, "card.number",
                      "Invalid type for 'card.number': expected a string of digits.");
        goto out;
    }
    for (const char *p = num->valuestring; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (*p < '0' || *p > '9' || n + 1 >= sizeof(in->card.number)) {
            tg_call_error(c, TG_E_INVALID_VALUE, "card.number", "Your card number is "
                                                                "incorrect.");
            goto out;
        }
        in->card.number[n++] = *p;
    }
    in->card.number[n] = '\0';
    if (card_int(em, &in->card.exp_month) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "card.exp_month",
                      "Your card's expiration month is invalid.");
        goto out;
    }
    if (card_int(ey, &in->card.exp_year) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "card.exp_year",
                      "Your card's expiration year is invalid.");
        goto out;
    }
    if (in->card.exp_year < 100)
        in->card.exp_year += 2000;
    if (!cJSON_IsString(cvc) || strlen(cvc->valuestring) >= sizeof(in->card.cvc)) {
        tg_call_error(c, TG_E_INVALID_VALUE, "card.cvc",
                      "Your card's security code is invalid: it has 3 or 4 digits.");
        goto out;
    }
    snprintf(in->card.cvc, sizeof(in->card.cvc), "%s", cvc->valuestring);
    const char *param, *msg; /* checked here too, so that a bad card never leaves the worker */
    if (tg_pay_card_check(&in->card, tg_now(), &param, &msg) != TG_OK) {
        tg_call_error(c, TG_E_INVALID_VALUE, param, "%s", msg);
        goto out;
    }
    rc = 0;
out:
    wipe_string(num);
    wipe_string(cvc);
    return rc;
}

static void create_method(tg_call_t *c)
{
    tg_pay_method_in_t *in = calloc(1, sizeof(*in));
    const char *prov = tg_pay_provider_name();
    int stripe = prov && !strcmp(prov, "stripe");
    size_t blen;
    const char *body = tg_http_body(c->req, &blen);
    cJSON *j = NULL;

    if (!in || !prov) {
        free(in);
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        return;
    }
    j = tg_call_body_json(c);
    if (!j) { /* answered (and the request freed) */
        free(in);
        return;
    }
    /* the raw body may hold a card number: wipe it now that it is parsed (the server owns
     * the bytes, nothing reads them after the handler) */
    sodium_memzero((char *)body, blen);
    snprintf(in->org_id, sizeof(in->org_id), "%s", c->org_id);
    cJSON *card = cJSON_GetObjectItemCaseSensitive(j, "card");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "token");
    const cJSON *spm = cJSON_GetObjectItemCaseSensitive(j, "stripe_payment_method");
    const cJSON *def = cJSON_GetObjectItemCaseSensitive(j, "default");
    int given = (card != NULL) + (tok != NULL) + (spm != NULL);

    if (stripe && (card || tok)) {
        tg_call_error(c, TG_E_INVALID_VALUE, card ? "card" : "token",
                      "With the stripe payment provider card details never reach Tollgate: "
                      "create the payment method with Stripe.js and pass its id as "
                      "'stripe_payment_method'.");
    } else if (!stripe && spm) {
        tg_call_error(c, TG_E_INVALID_VALUE, "stripe_payment_method",
                      "The server uses the test payment provider: pass 'card' or 'token'.");
    } else if (given != 1) {
        tg_call_error(c, given ? TG_E_INVALID_VALUE : TG_E_MISSING_PARAM,
                      stripe ? "stripe_payment_method" : "card",
                      stripe ? "Missing required parameter: 'stripe_payment_method'."
                             : "Pass exactly one of 'card' ({\"number\", \"exp_month\", "
                               "\"exp_year\", \"cvc\"}) or 'token'.");
    } else if (card && !cJSON_IsObject(card)) {
        tg_call_error(c, TG_E_INVALID_TYPE, "card", "Invalid type for 'card': expected an "
                                                    "object.");
    } else if (card && parse_card(c, card, in) < 0) {
        /* answered */
    } else if (!card && text_field(c, j, tok ? "token" : "stripe_payment_method",
                                   tok ? "token" : "stripe_payment_method", 1, in->token,
                                   sizeof(in->token)) < 0) {
        /* answered */
    } else if (def && !cJSON_IsBool(def)) {
        tg_call_error(c, TG_E_INVALID_TYPE, "default", "Invalid type for 'default': expected "
                                                       "a boolean.");
    } else if (parse_payer(c, j, &in->payer) < 0) {
        /* answered */
    } else {
        in->make_default = cJSON_IsTrue(def);
        if (tg_pay_method_add(in, c->w->base, on_method_done, c) < 0)
            tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
    }
    if (card) {
        wipe_string(cJSON_GetObjectItemCaseSensitive(card, "number"));
        wipe_string(cJSON_GetObjectItemCaseSensitive(card, "cvc"));
    }
    cJSON_Delete(j);
    sodium_memzero(in, sizeof(*in));
    free(in);
}

/* …/payment_methods (GET, POST) and …/payment_methods/{id} (GET, POST, DELETE) */
void tg_api_payment_methods(tg_call_t *c, const tg_route_args_t *a)
{
    tg_store_t *st = c->w->store;
    tg_pay_method_row_t *rows = NULL;
    size_t n = 0, i, idlen = a->idlen;
    char mid[TG_ID_MAX];

    if (!a->id) {
        if (tg_call_is(c, "POST")) {
            create_method(c);
        } else {
            if (st->payments->pay_method_list(st, c->org_id, &rows, &n) < 0) {
                tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
                return;
            }
            cJSON *items = cJSON_CreateArray();
            for (i = 0; i < n; i++)
                cJSON_AddItemToArray(items, method_object(&rows[i]));
            free(rows);
            tg_call_list(c, items);
        }
        return;
    }
    if (idlen >= sizeof(mid)) {
        tg_call_error(c, TG_E_NOT_FOUND, NULL, "No payment method found with that id.");
        return;
    }
    snprintf(mid, sizeof(mid), "%.*s", (int)idlen, a->id);
    if (tg_call_is(c, "DELETE")) {
        int rc = tg_audit_begin(c) < 0
                     ? -1
                     : tg_audit_end(c, st->payments->pay_method_delete(st, c->org_id, mid, tg_now()),
                                    "payment_method.deleted", NULL, tg_audit_details(mid));
        if (rc == TG_STORE_NOTFOUND) {
            tg_call_error(c, TG_E_NOT_FOUND, NULL, "No payment method found with id '%s'.", mid);
        } else if (rc != 0) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "object", "organization.billing.payment_method.deleted");
            cJSON_AddStringToObject(o, "id", mid);
            cJSON_AddBoolToObject(o, "deleted", 1);
            tg_call_json(c, 200, o);
        }
        return;
    }
    if (tg_call_is(c, "POST")) { /* {"default": true}: make it the default method */
        cJSON *j = tg_call_body_json(c);
        if (!j)
            return;
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(j, "default");
        int ok = cJSON_IsTrue(def);
        cJSON_Delete(j);
        if (!ok) {
            tg_call_error(c, TG_E_INVALID_VALUE, "default",
                          "Only {\"default\": true} can be changed: it makes this the default "
                          "payment method.");
            return;
        }
        int rc = tg_audit_begin(c) < 0
                     ? -1
                     : tg_audit_end(c, st->payments->pay_method_set_default(st, c->org_id, mid),
                                    "payment_method.updated", NULL, tg_audit_details(mid));
        if (rc != 0 && rc != TG_STORE_NOTFOUND) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
            return;
        }
    }
    if (st->payments->pay_method_list(st, c->org_id, &rows, &n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    for (i = 0; i < n && strcmp(rows[i].id, mid); i++)
        ;
    if (i == n)
        tg_call_error(c, TG_E_NOT_FOUND, NULL, "No payment method found with id '%s'.", mid);
    else
        tg_call_json(c, 200, method_object(&rows[i]));
    free(rows);
}

/* ---- top-ups ---- */

static void create_top_up(tg_call_t *c)
{
    cJSON *j = tg_call_body_json(c);
    char mid[TG_ID_MAX] = "";
    int64_t cents = 1000; /* $10 unless asked otherwise */

    if (!j)
        return;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "amount");
    if (a && json_int(a, 1, TG_PAY_MAX_CENTS, &cents) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "amount",
                      "Invalid 'amount': expected an integer number of cents from %d to %lld.",
                      TG_PAY_MIN_CENTS, (long long)TG_PAY_MAX_CENTS);
    } else if (cents < TG_PAY_MIN_CENTS) {
        tg_call_error(c, TG_E_INVALID_VALUE, "amount",
                      "Invalid 'amount': the minimum top-up is $5.00 (%d cents).",
                      TG_PAY_MIN_CENTS);
    } else if (text_field(c, j, "payment_method_id", "payment_method_id", 0, mid,
                          sizeof(mid)) < 0) {
        /* answered */
    } else if (tg_pay_top_up(c->org_id, mid, cents, c->w->base, on_top_up_done, c) < 0) {
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
    }
    cJSON_Delete(j);
}

/* …/top_ups (GET, POST) and …/top_ups/{id} (GET) */
void tg_api_top_ups(tg_call_t *c, const tg_route_args_t *a)
{
    tg_store_t *st = c->w->store;
    const char *id = a->id;
    size_t idlen = a->idlen;
    if (!id && tg_call_is(c, "POST")) {
        create_top_up(c);
    } else if (!id) {
        tg_payment_row_t *rows = NULL;
        size_t n = 0;
        if (st->payments->payment_list(st, c->org_id, &rows, &n) < 0) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
            return;
        }
        cJSON *items = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(items, payment_object(&rows[i]));
        free(rows);
        tg_call_list(c, items);
    } else {
        tg_payment_row_t p;
        char pid[TG_ID_MAX];
        int rc = TG_STORE_NOTFOUND;
        if (idlen < sizeof(pid)) {
            snprintf(pid, sizeof(pid), "%.*s", (int)idlen, id);
            rc = st->payments->payment_get(st, pid, &p);
        }
        if (rc == 0 && strcmp(p.org_id, c->org_id) == 0)
            tg_call_json(c, 200, payment_object(&p));
        else if (rc == 0 || rc == TG_STORE_NOTFOUND)
            tg_call_error(c, TG_E_NOT_FOUND, NULL, "No payment found with id '%.*s'.",
                          (int)(idlen > 64 ? 64 : idlen), id);
        else
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
    }
}

/* ---- auto-recharge ---- */

static void auto_recharge_answer(tg_call_t *c, const tg_auto_recharge_row_t *r)
{
    int64_t sum = 0, pending = 0;
    tg_store_t *st = c->w->store;
    if (st->payments->payment_sum(st, c->org_id, "auto_recharge", tg_month_start(tg_now()), &sum,
                             &pending) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization.billing.auto_recharge");
    cJSON_AddBoolToObject(o, "enabled", r->enabled);
    if (r->recharge_to) {
        cJSON_AddNumberToObject(o, "threshold_amount", (double)r->threshold);
        cJSON_AddNumberToObject(o, "recharge_to_amount", (double)r->recharge_to);
    } else {
        cJSON_AddNullToObject(o, "threshold_amount");
        cJSON_AddNullToObject(o, "recharge_to_amount");
    }
    if (r->monthly_limit)
        cJSON_AddNumberToObject(o, "monthly_limit", (double)r->monthly_limit);
    else
        cJSON_AddNullToObject(o, "monthly_limit");
    cJSON_AddStringToObject(o, "currency", "usd");
    cJSON_AddStringToObject(o, "status", !r->enabled ? "disabled" : r->paused_at ? "paused"
                                                                                 : "active");
    add_opt_str(o, "paused_reason", r->paused_at ? r->paused_reason : NULL);
    tg_json_opt_time(o, "paused_at", r->paused_at);
    cJSON_AddNumberToObject(o, "recharged_this_month", (double)sum);
    tg_json_opt_time(o, "updated_at", r->updated_at);
    tg_call_json(c, 200, o);
}

/* …/auto_recharge: GET, or POST the settings */
void tg_api_auto_recharge(tg_call_t *c, const tg_route_args_t *a)
{
    tg_auto_recharge_row_t r;
    tg_pay_auto_recharge_get(c->org_id, &r);
    if (tg_call_is(c, "GET")) {
        auto_recharge_answer(c, &r);
        return;
    }
    cJSON *j = tg_call_body_json(c);
    if (!j)
        return;
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(j, "enabled");
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(j, "threshold_amount");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(j, "recharge_to_amount");
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(j, "monthly_limit");
    int err = 1;
    if (!en) {
        tg_call_error(c, TG_E_MISSING_PARAM, "enabled", "Missing required parameter: "
                                                        "'enabled'.");
    } else if (!cJSON_IsBool(en)) {
        tg_call_error(c, TG_E_INVALID_TYPE, "enabled", "Invalid type for 'enabled': expected a "
                                                       "boolean.");
    } else if (th && json_int(th, 0, TG_PAY_MAX_CENTS, &r.threshold) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "threshold_amount",
                      "Invalid 'threshold_amount': expected a non-negative integer number of "
                      "cents.");
    } else if (to && json_int(to, 1, TG_PAY_MAX_CENTS, &r.recharge_to) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "recharge_to_amount",
                      "Invalid 'recharge_to_amount': expected a positive integer number of "
                      "cents.");
    } else if (ml && !cJSON_IsNull(ml) &&
               json_int(ml, TG_PAY_MIN_CENTS, TG_PAY_MAX_CENTS * 100, &r.monthly_limit) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "monthly_limit",
                      "Invalid 'monthly_limit': expected null or an integer number of cents of "
                      "at least %d.",
                      TG_PAY_MIN_CENTS);
    } else {
        err = 0;
        if (ml && cJSON_IsNull(ml))
            r.monthly_limit = 0;
        r.enabled = cJSON_IsTrue(en);
    }
    cJSON_Delete(j);
    if (err)
        return;
    if (r.enabled) {
        if (!r.recharge_to) {
            tg_call_error(c, TG_E_MISSING_PARAM, th ? "recharge_to_amount" : "threshold_amount",
                          "Missing required parameter: '%s'.",
                          th ? "recharge_to_amount" : "threshold_amount");
            return;
        }
        if (r.recharge_to <= r.threshold) {
            tg_call_error(c, TG_E_INVALID_VALUE, "recharge_to_amount",
                          "Invalid 'recharge_to_amount': it must be above 'threshold_amount'.");
            return;
        }
        tg_pay_method_row_t *rows = NULL;
        size_t n = 0;
        int has_default = 0;
        if (c->w->store->payments->pay_method_list(c->w->store, c->org_id, &rows, &n) < 0) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
            return;
        }
        for (size_t i = 0; i < n; i++)
            has_default |= rows[i].is_default;
        free(rows);
        if (!has_default) {
            tg_call_error(c, TG_E_INVALID_VALUE, "enabled",
                          "Add a payment method before enabling auto-recharge.");
            return;
        }
    } else if (r.recharge_to && r.recharge_to <= r.threshold) {
        tg_call_error(c, TG_E_INVALID_VALUE, "recharge_to_amount",
                      "Invalid 'recharge_to_amount': it must be above 'threshold_amount'.");
        return;
    }
    snprintf(r.org_id, sizeof(r.org_id), "%s", c->org_id);
    cJSON *ev = tg_audit_details(NULL), *chg = cJSON_AddObjectToObject(ev, "changes_requested");
    cJSON_AddBoolToObject(chg, "enabled", r.enabled);
    cJSON_AddNumberToObject(chg, "threshold_amount", (double)r.threshold);
    cJSON_AddNumberToObject(chg, "recharge_to_amount", (double)r.recharge_to);
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, tg_pay_auto_recharge_save(c->w->store, &r), "auto_recharge.updated", NULL,
                     ev) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    tg_pay_auto_recharge_get(c->org_id, &r);
    auto_recharge_answer(c, &r);
}

/* ---- invoices ---- */

/* Text into HTML (element content and quoted attribute values alike). */
static void sb_esc(tg_strbuf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': tg_strbuf_lit(b, "&amp;"); break;
        case '<': tg_strbuf_lit(b, "&lt;"); break;
        case '>': tg_strbuf_lit(b, "&gt;"); break;
        case '"': tg_strbuf_lit(b, "&quot;"); break;
        case '\'': tg_strbuf_lit(b, "&#39;"); break;
        default: tg_strbuf_add(b, s, 1);
        }
    }
}

/* cents → "$1,234.56" */
static void money(int64_t cents, char *out, size_t cap)
{
    char digits[32], grouped[48];
    int64_t d = cents / 100;
    int n = snprintf(digits, sizeof(digits), "%lld", (long long)d), k = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            grouped[k++] = ',';
        grouped[k++] = digits[i];
    }
    grouped[k] = '\0';
    snprintf(out, cap, "$%s.%02lld", grouped, (long long)(cents % 100));
}

static void date(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m-%d", &tm);
}

static void line(tg_strbuf_t *b, const char *s)
{
    if (s && *s) {
        sb_esc(b, s);
        tg_strbuf_lit(b, "<br>");
    }
}

static void invoice_html(tg_call_t *c, const tg_invoice_row_t *v)
{
    tg_strbuf_t b = {0};
    tg_payer_t p;
    char amount[80], day[32];
    const tg_org_row_t *org = tg_call_org(c, c->org_id);

    tg_pay_payer_from_json(v->payer, &p);
    money(v->amount, amount, sizeof(amount));
    date(v->created_at, day, sizeof(day));
    tg_strbuf_lit(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Invoice ");
    sb_esc(&b, v->number);
    tg_strbuf_lit(&b, "</title><style>"
               "body{font:14px/1.5 system-ui,sans-serif;color:#111;max-width:760px;margin:40px "
               "auto;padding:0 24px}h1{font-size:28px;margin:0 0 4px}h2{font-size:13px;"
               "text-transform:uppercase;color:#666;margin:0 0 4px}.meta,.parties{display:flex;"
               "justify-content:space-between;gap:24px;margin:24px 0}table{width:100%;"
               "border-collapse:collapse;margin:24px 0}th,td{padding:8px;text-align:left;"
               "border-bottom:1px solid #ddd}td.n,th.n{text-align:right}tfoot td{font-weight:"
               "600;border:0}.paid{color:#0a7d32;font-weight:600}@media print{body{margin:0}}"
               "</style></head><body>\n<h1>Invoice</h1>\n<div class=\"meta\"><div>Invoice number: "
               "<strong>");
    sb_esc(&b, v->number);
    tg_strbuf_lit(&b, "</strong><br>Date of issue: ");
    sb_esc(&b, day);
    tg_strbuf_lit(&b, "<br>Date paid: ");
    sb_esc(&b, day);
    tg_strbuf_lit(&b, "</div><div class=\"paid\">PAID</div></div>\n<div class=\"parties\"><div><h2>From"
               "</h2>");
    line(&b, v->seller);
    tg_strbuf_lit(&b, "</div><div><h2>Bill to</h2>");
    line(&b, p.name);
    line(&b, p.line1);
    line(&b, p.line2);
    if (p.postal_code[0] || p.city[0]) {
        char pc[256];
        snprintf(pc, sizeof(pc), "%s%s%s", p.postal_code, p.postal_code[0] ? " " : "", p.city);
        line(&b, pc);
    }
    line(&b, p.state);
    line(&b, p.country);
    if (p.tax_id[0]) {
        tg_strbuf_lit(&b, "Tax ID: ");
        line(&b, p.tax_id);
    }
    line(&b, p.email);
    if (org) {
        tg_strbuf_lit(&b, "Organization: ");
        sb_esc(&b, org->name);
        tg_strbuf_lit(&b, " (");
        sb_esc(&b, org->id);
        tg_strbuf_lit(&b, ")<br>");
    }
    tg_strbuf_lit(&b, "</div></div>\n<table><thead><tr><th>Description</th><th class=\"n\">Qty</th>"
               "<th class=\"n\">Unit price</th><th class=\"n\">Amount</th></tr></thead><tbody>"
               "<tr><td>");
    sb_esc(&b, v->description);
    tg_strbuf_lit(&b, "</td><td class=\"n\">1</td><td class=\"n\">");
    sb_esc(&b, amount);
    tg_strbuf_lit(&b, "</td><td class=\"n\">");
    sb_esc(&b, amount);
    tg_strbuf_lit(&b, "</td></tr></tbody><tfoot><tr><td colspan=\"3\" class=\"n\">Total (USD)</td>"
               "<td class=\"n\">");
    sb_esc(&b, amount);
    tg_strbuf_lit(&b, "</td></tr><tr><td colspan=\"3\" class=\"n\">Amount paid</td><td class=\"n\">");
    sb_esc(&b, amount);
    tg_strbuf_lit(&b, "</td></tr><tr><td colspan=\"3\" class=\"n\">Amount due</td><td class=\"n\">"
               "$0.00</td></tr></tfoot></table>\n<p>Paid with ");
    sb_esc(&b, v->brand);
    tg_strbuf_lit(&b, " ending in ");
    sb_esc(&b, v->last4);
    tg_strbuf_lit(&b, " on ");
    sb_esc(&b, day);
    tg_strbuf_lit(&b, " (payment ");
    sb_esc(&b, v->payment_id);
    tg_strbuf_lit(&b, "). Prepaid credit for API usage, valid for 12 months.</p>\n</body></html>\n");
    if (b.oom) {
        tg_strbuf_free(&b);
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        return;
    }
    tg_call_headers(c);
    /* no script can run in it, whatever a payer's name contains */
    tg_http_add_header(c->req, "content-security-policy",
                       "default-src 'none'; style-src 'unsafe-inline'");
    tg_http_add_header(c->req, "x-content-type-options", "nosniff");
    c->status = 200;
    tg_http_respond(c->req, 200, "text/html; charset=utf-8", b.p, b.len);
    tg_strbuf_free(&b);
    tg_call_free(c);
}

/* …/invoices and …/invoices/{id} (by id inv_… or number TG-…; ?format=html for one) */
void tg_api_invoices(tg_call_t *c, const tg_route_args_t *a)
{
    tg_store_t *st = c->w->store;
    tg_invoice_row_t *rows = NULL;
    size_t n = 0, i, idlen = a->idlen;
    const char *id = a->id;
    char fmt[16];

    const char *f = tg_call_query(c, "format", fmt, sizeof(fmt));
    if (f && strcmp(f, "json") && (!id || strcmp(f, "html"))) {
        tg_call_error(c, TG_E_INVALID_VALUE, "format",
                      "Invalid 'format': expected 'json' or (for one invoice) 'html'.");
        return;
    }
    if (st->payments->invoice_list(st, c->org_id, &rows, &n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    if (!id) {
        cJSON *items = cJSON_CreateArray();
        for (i = 0; i < n; i++)
            cJSON_AddItemToArray(items, invoice_object(&rows[i]));
        free(rows);
        tg_call_list(c, items);
        return;
    }
    /* by id (inv_…) or by number (TG-…) */
    for (i = 0; i < n; i++)
        if (tg_span_is(id, idlen, rows[i].id) || tg_span_is(id, idlen, rows[i].number))
            break;
    if (i == n)
        tg_call_error(c, TG_E_NOT_FOUND, NULL, "No invoice found with id '%.*s'.",
                      (int)(idlen > 64 ? 64 : idlen), id);
    else if (f && !strcmp(f, "html"))
        invoice_html(c, &rows[i]);
    else
        tg_call_json(c, 200, invoice_object(&rows[i]));
    free(rows);
}

/* ---- the payment provider's webhook ---- */

/* POST /v1/billing/webhooks/{id}: no bearer key; the body is signed by the provider {id} */
void tg_api_payments_webhook(tg_call_t *c, const tg_route_args_t *a)
{
    const char *provider = a->id;
    size_t len = a->idlen;
    const char *name = tg_pay_provider_name();
    const char *header = tg_pay_webhook_header();
    size_t blen;
    const char *body = tg_http_body(c->req, &blen);

    if (!name || !header || !tg_span_is(provider, len, name)) {
        tg_call_unknown_url(c);
        return;
    }
    if (tg_pay_webhook(name, tg_http_header(c->req, header), body, blen, c->w->base,
                       on_webhook_done, c) < 0)
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
}
