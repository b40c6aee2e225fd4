/* Money on the Admin API: the balance and credit grants (also the operator's grants to a
 * customer, through platform.c), and monthly hard spend limits. */
#include "api/api_int.h"

#include "auth/keys.h"
#include "auth/perms.h"
#include "auth/tenancy.h"
#include "billing/ledger.h"
#include "core/util.h"
#include "limits/tiers.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *grant_object(const tg_grant_row_t *g)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization.billing.credit_grant");
    cJSON_AddStringToObject(o, "id", g->id);
    cJSON_AddStringToObject(o, "kind", g->kind);
    cJSON_AddItemToObject(o, "amount", tg_json_nanos(g->amount));
    cJSON_AddItemToObject(o, "used", tg_json_nanos(g->consumed));
    cJSON_AddItemToObject(o, "remaining", tg_json_nanos(g->amount - g->consumed));
    cJSON_AddStringToObject(o, "currency", "usd");
    cJSON_AddNumberToObject(o, "granted_at", (double)g->granted_at);
    tg_json_opt_time(o, "expires_at", g->expires_at);
    cJSON_AddBoolToObject(o, "expired", g->expires_at && g->expires_at <= tg_now());
    cJSON_AddStringToObject(o, "description", g->description);
    return o;
}

void tg_api_balance(tg_call_t *c, const tg_route_args_t *a)
{
    tg_balance_t b;
    tg_grant_row_t *rows = NULL;
    size_t n = 0;
    if (tg_ledger_balance(c->w->store, c->org_id, &b, &rows, &n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization.billing.balance");
    cJSON_AddStringToObject(o, "currency", "usd");
    cJSON_AddItemToObject(o, "available", tg_json_nanos(b.available));
    cJSON_AddItemToObject(o, "reserved", tg_json_nanos(b.reserved));
    cJSON_AddItemToObject(o, "granted", tg_json_nanos(b.granted));
    cJSON_AddItemToObject(o, "used", tg_json_nanos(b.used));
    cJSON *arr = cJSON_AddArrayToObject(o, "grants");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, grant_object(&rows[i]));
    free(rows);
    tg_call_json(c, 200, o);
}

/* POST body of an operator's grant → grant row. Answers errors itself (-1). */
static int grant_body(tg_call_t *c, const char *org_id, tg_grant_row_t *g)
{
    cJSON *j = tg_call_body_json(c);
    int rc = -1;
    if (!j)
        return -1;
    memset(g, 0, sizeof(*g));
    snprintf(g->org_id, sizeof(g->org_id), "%s", org_id);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "amount");
    if (!v) {
        tg_call_error(c, TG_E_MISSING_PARAM, "amount", "Missing required parameter: 'amount'.");
        goto out;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e11 ||
        v->valuedouble != (double)(int64_t)v->valuedouble) {
        tg_call_error(c, TG_E_INVALID_VALUE, "amount",
                      "Invalid 'amount': expected a positive integer number of cents.");
        goto out;
    }
    g->amount = (int64_t)v->valuedouble * TG_NANOS_PER_CENT;
    v = cJSON_GetObjectItemCaseSensitive(j, "expires_at");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble <= (double)tg_now() || v->valuedouble > 4e10 ||
            v->valuedouble != (double)(int64_t)v->valuedouble) {
            tg_call_error(c, TG_E_INVALID_VALUE, "expires_at",
                          "Invalid 'expires_at': expected a unix time in the future.");
            goto out;
        }
        g->expires_at = (int64_t)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "description");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof(g->description)) {
            tg_call_error(c, TG_E_INVALID_VALUE, "description",
                          "Invalid 'description': expected a string of at most %zu bytes.",
                          sizeof(g->description) - 1);
            goto out;
        }
        snprintf(g->description, sizeof(g->description), "%s", v->valuestring);
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "kind");
    snprintf(g->kind, sizeof(g->kind), "operator");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v) ||
            (strcmp(v->valuestring, "operator") && strcmp(v->valuestring, "promotional"))) {
            tg_call_error(c, TG_E_INVALID_VALUE, "kind",
                          "Invalid 'kind': expected 'operator' or 'promotional' (purchased "
                          "credit comes from payments).");
            goto out;
        }
        snprintf(g->kind, sizeof(g->kind), "%s", v->valuestring);
    }
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

void tg_api_grant_credit(tg_call_t *c, const char *org_id)
{
    tg_grant_row_t g;
    if (grant_body(c, org_id, &g) < 0)
        return;
    tg_store_t *st = c->w->store;
    if (tg_audit_begin(c) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    int rc = tg_ledger_grant_write(st, &g);
    cJSON *ev = tg_audit_details(g.id), *evd = cJSON_AddObjectToObject(ev, "data");
    cJSON_AddStringToObject(evd, "organization_id", g.org_id);
    cJSON_AddItemToObject(evd, "amount", tg_json_nanos(g.amount)); /* dollars, exact */
    if (rc == 0 && tg_audit_write(c, NULL, "credit_grant.created", NULL, ev) < 0)
        rc = -1;
    else if (rc != 0)
        cJSON_Delete(ev);
    if (rc == 0 && st->ops->commit(st) == 0) {
        tg_ledger_grant_done(&g, 1);
    } else {
        st->ops->rollback(st);
        if (rc == 0)
            tg_ledger_grant_done(&g, 0);
        if (rc == TG_LEDGER_ETOO_LARGE)
            tg_call_error(c, TG_E_INVALID_VALUE, "amount",
                          "Invalid 'amount': the organization's credit grants would total more "
                          "than $9,223,372,036.85, the most Tollgate can hold.");
        else
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    tg_call_json(c, 200, grant_object(&g));
}

void tg_api_grants_list(tg_call_t *c, const tg_route_args_t *a)
{
    tg_balance_t b;
    tg_grant_row_t *rows = NULL;
    size_t n = 0;
    if (tg_ledger_balance(c->w->store, c->org_id, &b, &rows, &n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, grant_object(&rows[i]));
    free(rows);
    tg_call_list(c, items);
}

/* POST …/billing/credit_grants: the operator grants its own organisation credit (a
 * customer's comes through the platform call, or from payments) */
void tg_api_grant_own(tg_call_t *c, const tg_route_args_t *a) { tg_api_grant_credit(c, c->org_id); }

/* ---- usage tier ----
 *
 * Every amount of the object is in one unit: decimal dollars, printed exactly from the
 * integers (as the balance and the costs endpoint print them). Cents stay where a client sets
 * an amount (spend limits, top-ups), as OpenAI's spend limits take them. */

static cJSON *dollars_of_cents(int64_t cents) { return tg_json_nanos(tg_cents_to_nanos(cents)); }

void tg_api_usage_tier(tg_call_t *c, const tg_route_args_t *a)
{
    const tg_org_row_t *org = c->key->org;
    int64_t paid = 0, first = 0, need_paid = 0, need_days = 0;
    if (c->w->store->payments->org_payments(c->w->store, org->id, &paid, &first) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization.usage_tier");
    cJSON_AddStringToObject(o, "tier", org->tier);
    cJSON_AddStringToObject(o, "name", tg_tiers_name(org->tier));
    int64_t cap = org->is_operator ? 0 : tg_tiers_monthly_cap(org->tier);
    cJSON_AddStringToObject(o, "currency", "usd");
    if (cap)
        cJSON_AddItemToObject(o, "monthly_usage_limit", dollars_of_cents(cap));
    else
        cJSON_AddNullToObject(o, "monthly_usage_limit");
    cJSON_AddItemToObject(o, "month_usage", tg_json_nanos(tg_ledger_month_spend(org->id, NULL)));
    cJSON_AddItemToObject(o, "paid_to_date", dollars_of_cents(paid));
    tg_json_opt_time(o, "first_payment_at", first);
    const char *next = org->is_operator ? NULL : tg_tiers_next(org->tier, &need_paid, &need_days);
    if (next) {
        cJSON *n = cJSON_AddObjectToObject(o, "next_tier");
        cJSON_AddStringToObject(n, "tier", next);
        cJSON_AddStringToObject(n, "name", tg_tiers_name(next));
        cJSON_AddItemToObject(n, "paid_required", dollars_of_cents(need_paid));
        cJSON_AddNumberToObject(n, "days_since_first_payment_required", (double)need_days);
    } else {
        cJSON_AddNullToObject(o, "next_tier");
    }
    tg_call_json(c, 200, o);
}

/* ---- spend limits ---- */

int tg_api_monthly_threshold(tg_call_t *c, const cJSON *j, int64_t *cents)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "threshold_amount");
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(j, "currency");
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(j, "interval");
    if (!t) {
        tg_call_error(c, TG_E_MISSING_PARAM, "threshold_amount",
                      "Missing required parameter: 'threshold_amount'.");
    } else if (!cJSON_IsNumber(t) || t->valuedouble < 1 || t->valuedouble > 1e12 ||
               t->valuedouble != (double)(int64_t)t->valuedouble) {
        tg_call_error(c, TG_E_INVALID_VALUE, "threshold_amount",
                      "Invalid 'threshold_amount': expected a positive integer number of cents.");
    } else if (cur && (!cJSON_IsString(cur) || strcasecmp(cur->valuestring, "usd") != 0)) {
        tg_call_error(c, TG_E_INVALID_VALUE, "currency",
                      "Invalid 'currency': only 'USD' is supported.");
    } else if (iv && (!cJSON_IsString(iv) || strcmp(iv->valuestring, "month") != 0)) {
        tg_call_error(c, TG_E_INVALID_VALUE, "interval",
                      "Invalid 'interval': only 'month' is supported.");
    } else {
        *cents = (int64_t)t->valuedouble;
        return 0;
    }
    return -1;
}

static cJSON *limit_object(const char *object, int64_t cents, int64_t spend_nanos)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", object);
    if (cents)
        cJSON_AddNumberToObject(o, "threshold_amount", (double)cents);
    else
        cJSON_AddNullToObject(o, "threshold_amount"); /* no limit set */
    cJSON_AddStringToObject(o, "currency", "USD");
    cJSON_AddStringToObject(o, "interval", "month");
    cJSON *e = cJSON_AddObjectToObject(o, "enforcement");
    cJSON_AddStringToObject(e, "status", cents && spend_nanos >= tg_cents_to_nanos(cents)
                                             ? "enforcing"
                                             : "inactive");
    cJSON_AddItemToObject(o, "current_spend", tg_json_nanos(spend_nanos));
    return o;
}

/* GET, POST, DELETE …/spend_limit and …/projects/{project}/spend_limit */
static const char *limit_scope(const tg_call_t *c, const tg_route_args_t *a)
{
    return a->project ? a->project->id : c->org_id;
}

static const char *limit_object_name(const tg_route_args_t *a)
{
    return a->project ? "project.spend_limit" : "organization.spend_limit";
}

void tg_api_spend_limit_get(tg_call_t *c, const tg_route_args_t *a)
{
    /* without a limit: threshold_amount null, and still this month's spend (the console
     * shows every project's spend whether or not it has a budget) */
    int64_t cents = tg_ledger_limit(c->org_id, limit_scope(c, a));
    tg_call_json(c, 200, limit_object(limit_object_name(a), cents,
                                      tg_ledger_month_spend(c->org_id,
                                                            a->project ? a->project->id : NULL)));
}

void tg_api_spend_limit_set(tg_call_t *c, const tg_route_args_t *a)
{
    int64_t cents;
    cJSON *j = tg_call_body_json(c);
    if (!j)
        return;
    if (tg_api_monthly_threshold(c, j, &cents) == 0) {
        cJSON *ev = tg_audit_details(limit_scope(c, a));
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(ev, "changes_requested"),
                                "threshold_amount", (double)cents);
        if (tg_audit_begin(c) < 0 ||
            tg_audit_end(c, tg_ledger_set_limit(c->w->store, c->org_id, limit_scope(c, a), cents),
                         "spend_limit.updated", a->project ? a->project->id : NULL, ev) < 0)
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        else
            tg_call_json(c, 200,
                         limit_object(limit_object_name(a), cents,
                                      tg_ledger_month_spend(c->org_id,
                                                            a->project ? a->project->id : NULL)));
    }
    cJSON_Delete(j);
}

void tg_api_spend_limit_delete(tg_call_t *c, const tg_route_args_t *a)
{
    char obj[64];
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, tg_ledger_set_limit(c->w->store, c->org_id, limit_scope(c, a), 0),
                     "spend_limit.deleted", a->project ? a->project->id : NULL,
                     tg_audit_details(limit_scope(c, a))) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    snprintf(obj, sizeof(obj), "%s.deleted", limit_object_name(a));
    cJSON_AddStringToObject(o, "object", obj);
    cJSON_AddBoolToObject(o, "deleted", 1);
    tg_call_json(c, 200, o);
}
