/* Pure helpers of the payments module: card checks (Luhn, brand, expiry, CVC), the payer as
 * JSON, invoice numbers and the error an API answer gives for a failure code. */
#include "billing/payments.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int tg_pay_luhn(const char *d, size_t n)
{
    int sum = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = d[n - 1 - i];
        if (ch < '0' || ch > '9')
            return 0;
        int v = ch - '0';
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

/* The first k digits as a number (k ≤ n). */
static int prefix(const char *d, size_t n, size_t k)
{
    int v = 0;
    for (size_t i = 0; i < k && i < n; i++)
        v = v * 10 + (d[i] - '0');
    return v;
}

const char *tg_pay_card_brand(const char *d, size_t n)
{
    if (n < 4)
        return "unknown";
    int p1 = prefix(d, n, 1), p2 = prefix(d, n, 2), p3 = prefix(d, n, 3),
        p4 = prefix(d, n, 4), p6 = n >= 6 ? prefix(d, n, 6) : 0;
    if (p2 == 34 || p2 == 37)
        return "amex";
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
        return "mastercard";
    if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) ||
        (p6 >= 622126 && p6 <= 622925))
        return "discover";
    if (p2 == 62)
        return "unionpay";
    if (p4 >= 3528 && p4 <= 3589)
        return "jcb";
    if (p2 == 36 || p2 == 38 || p2 == 39 || (p3 >= 300 && p3 <= 305))
        return "diners";
    if (p1 == 4)
        return "visa";
    return "unknown";
}

tg_err_t tg_pay_card_check(const tg_pay_card_t *card, int64_t now, const char **param,
                           const char **msg)
{
    size_t n = strnlen(card->number, sizeof(card->number));
    size_t nc = strnlen(card->cvc, sizeof(card->cvc));
    time_t t = (time_t)now;
    struct tm tm;

    if (n < 12 || n > 19 || !tg_pay_luhn(card->number, n)) {
        *param = "card.number";
        *msg = "Your card number is incorrect.";
        return TG_E_INVALID_VALUE;
    }
    if (card->exp_month < 1 || card->exp_month > 12) {
        *param = "card.exp_month";
        *msg = "Your card's expiration month is invalid.";
        return TG_E_INVALID_VALUE;
    }
    gmtime_r(&t, &tm);
    int year = tm.tm_year + 1900, month = tm.tm_mon + 1;
    if (card->exp_year < year || card->exp_year > year + 50) {
        *param = "card.exp_year";
        *msg = card->exp_year < year ? "Your card has expired."
                                     : "Your card's expiration year is invalid.";
        return TG_E_INVALID_VALUE;
    }
    if (card->exp_year == year && card->exp_month < month) { /* valid through its month */
        *param = "card.exp_month";
        *msg = "Your card has expired.";
        return TG_E_INVALID_VALUE;
    }
    int digits = nc >= 3 && nc <= 4;
    for (size_t i = 0; digits && i < nc; i++)
        digits = card->cvc[i] >= '0' && card->cvc[i] <= '9';
    if (!digits) {
        *param = "card.cvc";
        *msg = "Your card's security code is invalid: it has 3 or 4 digits.";
        return TG_E_INVALID_VALUE;
    }
    return TG_OK;
}

void tg_pay_invoice_number(const char *org_id, int64_t seq, char *out, size_t cap)
{
    const char *s = strncmp(org_id, "org-", 4) == 0 ? org_id + 4 : org_id;
    snprintf(out, cap, "TG-%.8s-%04lld", s, (long long)seq);
}

tg_err_t tg_pay_failure_err(const char *code)
{
    if (!code || !*code)
        return TG_E_PAYMENT_FAILED;
    if (!strcmp(code, "card_declined"))
        return TG_E_CARD_DECLINED;
    if (!strcmp(code, "insufficient_funds"))
        return TG_E_INSUFFICIENT_FUNDS;
    if (!strcmp(code, "expired_card"))
        return TG_E_EXPIRED_CARD;
    if (!strcmp(code, "provider_unavailable") || !strcmp(code, "provider_error"))
        return TG_E_PAYMENT_PROVIDER_FAILED;
    return TG_E_PAYMENT_FAILED;
}

/* ---- the payer as JSON ---- */

static void add_opt(cJSON *o, const char *name, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

int tg_pay_payer_to_json(const tg_payer_t *p, char *out, size_t cap)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return -1;
    cJSON_AddStringToObject(o, "type", p->type);
    cJSON_AddStringToObject(o, "name", p->name);
    add_opt(o, "email", p->email);
    if (p->line1[0] || p->city[0] || p->postal_code[0] || p->country[0]) {
        cJSON *a = cJSON_AddObjectToObject(o, "address");
        add_opt(a, "line1", p->line1);
        add_opt(a, "line2", p->line2);
        add_opt(a, "city", p->city);
        add_opt(a, "postal_code", p->postal_code);
        add_opt(a, "state", p->state);
        add_opt(a, "country", p->country);
    } else {
        cJSON_AddNullToObject(o, "address");
    }
    add_opt(o, "tax_id", p->tax_id);
    int ok = cJSON_PrintPreallocated(o, out, (int)cap, 0);
    cJSON_Delete(o);
    return ok ? 0 : -1;
}

static void get(const cJSON *o, const char *name, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsString(v))
        snprintf(out, cap, "%s", v->valuestring);
    else
        out[0] = '\0';
}

int tg_pay_payer_from_json(const char *json, tg_payer_t *p)
{
    memset(p, 0, sizeof(*p));
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return -1;
    }
    get(o, "type", p->type, sizeof(p->type));
    get(o, "name", p->name, sizeof(p->name));
    get(o, "email", p->email, sizeof(p->email));
    get(o, "tax_id", p->tax_id, sizeof(p->tax_id));
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "address");
    if (cJSON_IsObject(a)) {
        get(a, "line1", p->line1, sizeof(p->line1));
        get(a, "line2", p->line2, sizeof(p->line2));
        get(a, "city", p->city, sizeof(p->city));
        get(a, "postal_code", p->postal_code, sizeof(p->postal_code));
        get(a, "state", p->state, sizeof(p->state));
        get(a, "country", p->country, sizeof(p->country));
    }
    cJSON_Delete(o);
    return 0;
}
