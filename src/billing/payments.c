/* The payments module: a pool of payment threads that run provider calls (which block),
 * record payments, grant purchased credit and write invoices; and auto-recharge.
 *
 * A payment is recorded as `pending` before the provider is asked (its id is the provider's
 * idempotency key), then becomes `succeeded` — in one transaction with its invoice and its
 * purchased credit grant — or `failed`. A webhook can settle a pending payment later; the
 * transition to `succeeded` happens once (a conditional update inside the transaction), so
 * an answer and a webhook for the same charge never grant twice. */
#include "billing/payments.h"

#include "billing/ledger.h"
#include "catalog/catalog.h"
#include "core/log.h"
#include "shared/shared.h"
#include "core/util.h"
#include "limits/tiers.h"

#include <event2/event.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum { JOB_METHOD, JOB_TOP_UP, JOB_RECHARGE, JOB_WEBHOOK } job_kind_t;

typedef struct job {
    struct job *next;
    job_kind_t kind;
    struct event_base *base;
    tg_pay_done_cb cb;
    void *arg;
    char org_id[TG_ID_MAX];
    char method_id[TG_ID_MAX];
    int64_t cents;
    tg_pay_method_in_t in; /* JOB_METHOD: wiped after use */
    char provider[32];     /* JOB_WEBHOOK */
    char *signature, *body;
    size_t len;
} job_t;

typedef struct {
    tg_auto_recharge_row_t row;
    int in_flight;       /* a recharge is queued, running or pending at the provider */
    int64_t limit_month; /* the month whose limit was reached (0: none) */
} ar_t;

static pthread_mutex_t qmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcv = PTHREAD_COND_INITIALIZER;
static job_t *qhead, *qtail;
static int stopping, running;
static pthread_t *threads;
static tg_store_t **stores;
static int nthreads;
static tg_pay_provider_t *provider;
static char seller[TG_NAME_MAX] = "Tollgate";

static __thread tg_catalog_t *tl_cat; /* a payment thread's catalog snapshot */

/* Auto-recharge settings by organisation, sorted by org id (looked up on every settle). */
static pthread_mutex_t armu = PTHREAD_MUTEX_INITIALIZER;
static ar_t *ars;
static size_t nars, capars;

/* ---- jobs ---- */

static void job_free(job_t *j)
{
    if (!j)
        return;
    if (j->body) {
        sodium_memzero(j->body, j->len);
        free(j->body);
    }
    free(j->signature);
    sodium_memzero(j, sizeof(*j));
    free(j);
}

static int enqueue(job_t *j)
{
    pthread_mutex_lock(&qmu);
    if (stopping || !running) {
        pthread_mutex_unlock(&qmu);
        return -1;
    }
    j->next = NULL;
    if (qtail)
        qtail->next = j;
    else
        qhead = j;
    qtail = j;
    pthread_cond_signal(&qcv);
    pthread_mutex_unlock(&qmu);
    return 0;
}

typedef struct {
    tg_pay_done_cb cb;
    void *arg;
    tg_pay_result_t res;
} delivery_t;

static void deliver_cb(evutil_socket_t fd, short what, void *p)
{
    delivery_t *d = p;
    d->cb(d->arg, &d->res);
    sodium_memzero(d, sizeof(*d));
    free(d);
}

/* Hands res to the submitter's loop (exactly once). */
static void deliver(job_t *j, const tg_pay_result_t *res)
{
    struct timeval zero = {0, 0};
    if (!j->cb)
        return;
    delivery_t *d = malloc(sizeof(*d));
    if (!d) {
        tg_error("payments: out of memory answering a request; it stays open");
        return;
    }
    d->cb = j->cb;
    d->arg = j->arg;
    d->res = *res;
    if (event_base_once(j->base, -1, EV_TIMEOUT, deliver_cb, d, &zero) < 0) {
        tg_error("payments: cannot schedule an answer; the request stays open");
        free(d);
    }
}

/* ---- auto-recharge table (armu held) ---- */

static ar_t *ar_find(const char *org_id, size_t *pos)
{
    size_t lo = 0, hi = nars;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ars[mid].row.org_id, org_id);
        if (c == 0)
            return &ars[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos)
        *pos = lo;
    return NULL;
}

static ar_t *ar_upsert(const tg_auto_recharge_row_t *row)
{
    size_t pos = 0;
    ar_t *a = ar_find(row->org_id, &pos);
    if (a) {
        a->row = *row;
        return a;
    }
    if (nars == capars) {
        size_t nc = capars ? capars * 2 : 16;
        ar_t *na = realloc(ars, nc * sizeof(*na));
        if (!na)
            return NULL;
        ars = na;
        capars = nc;
    }
    memmove(&ars[pos + 1], &ars[pos], (nars - pos) * sizeof(*ars));
    nars++;
    a = &ars[pos];
    memset(a, 0, sizeof(*a));
    a->row = *row;
    return a;
}

static void ar_clear_in_flight(const char *org_id)
{
    pthread_mutex_lock(&armu);
    ar_t *a = ar_find(org_id, NULL);
    if (a)
        a->in_flight = 0;
    pthread_mutex_unlock(&armu);
}

/* Stops auto-recharge of an organisation until its settings are saved again. */
static void ar_pause(tg_store_t *st, const char *org_id, const char *reason)
{
    tg_auto_recharge_row_t row;
    int have = 0;
    pthread_mutex_lock(&armu);
    ar_t *a = ar_find(org_id, NULL);
    if (a) {
        a->row.paused_at = tg_now();
        snprintf(a->row.paused_reason, sizeof(a->row.paused_reason), "%s", reason);
        a->in_flight = 0;
        row = a->row;
        have = 1;
    }
    pthread_mutex_unlock(&armu);
    if (have && st->payments->auto_recharge_set(st, &row) < 0)
        tg_error("payments: cannot record that auto-recharge of %s is paused", org_id);
}

static void recharge_hook(const char *org_id, const char *project_id, int64_t available,
                          int64_t org_spend, int64_t project_spend, int64_t month)
{
    int go = 0;
    pthread_mutex_lock(&armu);
    ar_t *a = nars ? ar_find(org_id, NULL) : NULL;
    if (a && a->row.enabled && !a->row.paused_at && !a->in_flight && a->limit_month != month &&
        available < a->row.threshold * TG_NANOS_PER_CENT) {
        a->in_flight = 1; /* at most one recharge per organisation at a time */
        go = 1;
    }
    pthread_mutex_unlock(&armu);
    if (!go)
        return;
    job_t *j = calloc(1, sizeof(*j));
    if (j) {
        j->kind = JOB_RECHARGE;
        snprintf(j->org_id, sizeof(j->org_id), "%s", org_id);
    }
    if (!j || enqueue(j) < 0) {
        free(j);
        ar_clear_in_flight(org_id);
    }
}

int tg_pay_auto_recharge_save(tg_store_t *st, const tg_auto_recharge_row_t *in)
{
    tg_auto_recharge_row_t row = *in;
    row.paused_at = 0; /* saving the settings resumes a paused auto-recharge */
    row.paused_reason[0] = '\0';
    row.updated_at = tg_now();
    if (st->payments->auto_recharge_set(st, &row) < 0)
        return -1;
    pthread_mutex_lock(&armu);
    ar_t *a = ar_upsert(&row);
    if (a)
        a->limit_month = 0;
    pthread_mutex_unlock(&armu);
    return a ? 0 : -1;
}

int tg_pay_auto_recharge_get(const char *org_id, tg_auto_recharge_row_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&armu);
    ar_t *a = ar_find(org_id, NULL);
    if (a)
        *out = a->row;
    pthread_mutex_unlock(&armu);
    if (!a)
        snprintf(out->org_id, sizeof(out->org_id), "%s", org_id);
    return 0;
}

/* ---- payment state ---- */

/* A payment raises what the organisation has paid: it may now qualify for a higher usage
 * tier (limits/tiers.h). */
static void promote(tg_store_t *st, const char *org_id)
{
    tg_catalog_t *cat = tg_catalog_current(&tl_cat);
    const tg_org_row_t *o = cat ? tg_catalog_org(cat, org_id) : NULL;
    if (!o)
        return;
    tg_org_row_t row = *o;
    if (tg_tiers_promote(st, &row) < 0)
        tg_error("payments: cannot update the usage tier of %s", org_id);
}

/* pending|failed → succeeded, with its invoice and its purchased credit, in one transaction.
 * *p is updated to the stored row; *changed tells whether this call made the transition. */
static int succeed(tg_store_t *st, const char *payment_id, const char *provider_ref,
                   tg_payment_row_t *p, int *changed)
{
    tg_payment_row_t cur;
    tg_invoice_row_t inv;
    tg_grant_row_t g;
    int64_t now = tg_now();
    char from[16];

    *changed = 0;
    if (st->ops->begin(st) < 0)
        return -1;
    if (st->payments->payment_get(st, payment_id, &cur) != 0)
        goto fail;
    if (!strcmp(cur.status, "succeeded")) { /* already: by the answer or an earlier webhook */
        st->ops->rollback(st);
        *p = cur;
        return 0;
    }
    snprintf(from, sizeof(from), "%s", cur.status);
    memset(&inv, 0, sizeof(inv));
    memset(&g, 0, sizeof(g));
    tg_random_id(inv.id, "inv_", 24);
    tg_random_id(g.id, "grant_", 24);
    snprintf(cur.status, sizeof(cur.status), "succeeded");
    if (provider_ref && *provider_ref)
        snprintf(cur.provider_ref, sizeof(cur.provider_ref), "%s", provider_ref);
    cur.failure_code[0] = cur.failure_message[0] = '\0';
    snprintf(cur.grant_id, sizeof(cur.grant_id), "%s", g.id);
    snprintf(cur.invoice_id, sizeof(cur.invoice_id), "%s", inv.id);
    cur.updated_at = now;
    if (st->payments->payment_update(st, &cur, from) != 0)
        goto fail;
    snprintf(inv.org_id, sizeof(inv.org_id), "%s", cur.org_id);
    if (st->payments->invoice_next_seq(st, cur.org_id, &inv.seq) < 0)
        goto fail;
    tg_pay_invoice_number(cur.org_id, inv.seq, inv.number, sizeof(inv.number));
    snprintf(inv.payment_id, sizeof(inv.payment_id), "%s", cur.id);
    inv.amount = cur.amount;
    snprintf(inv.currency, sizeof(inv.currency), "%s", cur.currency);
    snprintf(inv.description, sizeof(inv.description), "Prepaid API credit");
    snprintf(inv.payer, sizeof(inv.payer), "%s", cur.payer);
    snprintf(inv.seller, sizeof(inv.seller), "%s", seller);
    snprintf(inv.brand, sizeof(inv.brand), "%s", cur.brand);
    snprintf(inv.last4, sizeof(inv.last4), "%s", cur.last4);
    inv.created_at = now;
    if (st->payments->invoice_insert(st, &inv) != 0)
        goto fail;
    snprintf(g.org_id, sizeof(g.org_id), "%s", cur.org_id);
    snprintf(g.kind, sizeof(g.kind), "purchased");
    g.amount = cur.amount * TG_NANOS_PER_CENT;
    g.granted_at = now;
    g.expires_at = now + (int64_t)TG_PAY_GRANT_DAYS * 86400;
    snprintf(g.description, sizeof(g.description), "%s (invoice %s)",
             strcmp(cur.kind, "auto_recharge") ? "Top-up" : "Auto-recharge", inv.number);
    snprintf(g.reference, sizeof(g.reference), "%s", cur.id);
    /* the grant enters the ledger's memory only once the transaction is committed */
    if (tg_ledger_grant_write(st, &g) != 0)
        goto fail;
    for (int i = 0; st->ops->commit(st) < 0; i++) {
        if (i == 5) {
            st->ops->rollback(st);
            tg_ledger_grant_done(&g, 0);
            tg_error("payments: payment %s: the commit failed; the payment stays pending",
                     cur.id);
            return -1;
        }
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    tg_ledger_grant_done(&g, 1);
    *p = cur;
    *changed = 1;
    tg_info("payments: %s %s of %lld cents for %s succeeded (invoice %s)", cur.kind, cur.id,
            (long long)cur.amount, cur.org_id, inv.number);
    promote(st, cur.org_id);
    return 0;
fail:
    st->ops->rollback(st);
    tg_error("payments: cannot record the success of payment %s", payment_id);
    return -1;
}

/* pending → failed (or pending with news). */
static int update_pending(tg_store_t *st, tg_payment_row_t *p, const char *status,
                          const tg_pay_charge_t *ch)
{
    snprintf(p->status, sizeof(p->status), "%s", status);
    if (ch->provider_ref[0])
        snprintf(p->provider_ref, sizeof(p->provider_ref), "%s", ch->provider_ref);
    snprintf(p->failure_code, sizeof(p->failure_code), "%s", ch->failure_code);
    snprintf(p->failure_message, sizeof(p->failure_message), "%s", ch->failure_message);
    p->updated_at = tg_now();
    int rc = st->payments->payment_update(st, p, "pending");
    if (rc == TG_STORE_NOTFOUND) /* settled meanwhile (a webhook): report what is stored */
        return st->payments->payment_get(st, p->id, p) == 0 ? 1 : -1;
    return rc;
}

/* Charges `cents` to the method (the default one if method_id is empty) and records the
 * payment. res->has_payment once a payment row exists. */
static void charge_flow(tg_store_t *st, const char *org_id, const char *method_id, int64_t cents,
                        const char *kind, tg_pay_result_t *res)
{
    tg_pay_method_row_t *ms = NULL, m;
    size_t n = 0, i;
    tg_payment_row_t p;
    tg_pay_charge_t ch;

    if (st->payments->pay_method_list(st, org_id, &ms, &n) < 0) {
        res->err = TG_E_INTERNAL;
        return;
    }
    for (i = 0; i < n; i++)
        if (method_id && *method_id ? !strcmp(ms[i].id, method_id) : ms[i].is_default)
            break;
    if (i == n) {
        free(ms);
        res->err = TG_E_INVALID_VALUE;
        snprintf(res->param, sizeof(res->param), "payment_method_id");
        if (method_id && *method_id)
            snprintf(res->msg, sizeof(res->msg), "No such payment method: '%s'.", method_id);
        else
            snprintf(res->msg, sizeof(res->msg),
                     "The organization has no default payment method. Add one with POST "
                     "/v1/organization/billing/payment_methods.");
        return;
    }
    m = ms[i];
    free(ms);

    memset(&p, 0, sizeof(p));
    tg_random_id(p.id, "pay_", 24);
    snprintf(p.org_id, sizeof(p.org_id), "%s", org_id);
    snprintf(p.method_id, sizeof(p.method_id), "%s", m.id);
    snprintf(p.kind, sizeof(p.kind), "%s", kind);
    snprintf(p.status, sizeof(p.status), "pending");
    p.amount = cents;
    snprintf(p.currency, sizeof(p.currency), "usd");
    snprintf(p.provider, sizeof(p.provider), "%s", provider->ops->name);
    snprintf(p.brand, sizeof(p.brand), "%s", m.brand);
    snprintf(p.last4, sizeof(p.last4), "%s", m.last4);
    snprintf(p.payer, sizeof(p.payer), "%s", m.payer);
    p.created_at = p.updated_at = tg_now();
    if (st->payments->payment_insert(st, &p) != 0) { /* recorded before anything is charged */
        res->err = TG_E_INTERNAL;
        return;
    }
    provider->ops->charge(provider, &m, &p, &ch);
    if (ch.status == TG_PAY_SUCCEEDED) {
        int changed;
        if (succeed(st, p.id, ch.provider_ref, &p, &changed) < 0) {
            res->err = TG_E_INTERNAL;
            snprintf(res->msg, sizeof(res->msg),
                     "The payment %s succeeded but could not be recorded; it will be settled "
                     "by the provider's webhook or by the operator.",
                     p.id);
            res->payment = p;
            res->has_payment = 1;
            return;
        }
    } else {
        if (update_pending(st, &p, ch.status == TG_PAY_FAILED ? "failed" : "pending", &ch) < 0)
            tg_error("payments: cannot record the outcome of payment %s", p.id);
        if (ch.status == TG_PAY_FAILED)
            tg_warn("payments: %s %s of %lld cents for %s failed: %s", kind, p.id,
                    (long long)cents, org_id, p.failure_code);
    }
    res->payment = p;
    res->has_payment = 1;
    if (!strcmp(p.status, "failed")) {
        res->err = tg_pay_failure_err(p.failure_code);
        snprintf(res->msg, sizeof(res->msg), "%s The payment %s was recorded as failed.",
                 p.failure_message[0] ? p.failure_message
                                      : tg_err_info(res->err)->message,
                 p.id);
    } else {
        res->err = TG_OK;
    }
}

/* ---- the jobs ---- */

static void run_method(tg_store_t *st, job_t *j)
{
    tg_pay_result_t res;
    tg_pay_method_row_t m, *ms = NULL;
    size_t n = 0;

    memset(&res, 0, sizeof(res));
    memset(&m, 0, sizeof(m));
    tg_random_id(m.id, "pm_", 24);
    res.err = provider->ops->method_create(provider, &j->in, m.id, &m, res.param,
                                           sizeof(res.param), res.msg, sizeof(res.msg));
    sodium_memzero(&j->in.card, sizeof(j->in.card));
    if (res.err != TG_OK)
        goto out;
    snprintf(m.org_id, sizeof(m.org_id), "%s", j->in.org_id);
    snprintf(m.provider, sizeof(m.provider), "%s", provider->ops->name);
    m.created_at = tg_now();
    if (tg_pay_payer_to_json(&j->in.payer, m.payer, sizeof(m.payer)) < 0) {
        res.err = TG_E_INTERNAL;
        goto out;
    }
    res.err = TG_E_INTERNAL;
    if (st->ops->begin(st) < 0)
        goto out;
    int rc = st->payments->pay_method_list(st, m.org_id, &ms, &n);
    int has_default = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        has_default |= ms[i].is_default;
    free(ms);
    m.is_default = j->in.make_default || !has_default;
    if (rc == 0)
        rc = st->payments->pay_method_insert(st, &m);
    if (rc == 0 && m.is_default)
        rc = st->payments->pay_method_set_default(st, m.org_id, m.id);
    if (rc == 0)
        rc = st->ops->commit(st);
    if (rc != 0) {
        st->ops->rollback(st);
        goto out;
    }
    res.err = TG_OK;
    res.method = m;
    tg_info("payments: %s added payment method %s (%s …%s)", m.org_id, m.id, m.brand, m.last4);
out:
    deliver(j, &res);
}

static void run_top_up(tg_store_t *st, job_t *j)
{
    tg_pay_result_t res;
    memset(&res, 0, sizeof(res));
    charge_flow(st, j->org_id, j->method_id, j->cents, "top_up", &res);
    deliver(j, &res);
}

/* After an auto-recharge payment ended (here or by webhook). */
static void recharge_done(tg_store_t *st, const tg_payment_row_t *p)
{
    if (!strcmp(p->status, "failed")) {
        tg_warn("payments: ALERT auto-recharge %s of %lld cents for %s failed (%s); "
                "auto-recharge is paused until its settings are saved again",
                p->id, (long long)p->amount, p->org_id, p->failure_code);
        ar_pause(st, p->org_id, p->failure_code[0] ? p->failure_code : "payment_failed");
    } else if (!strcmp(p->status, "succeeded")) {
        ar_clear_in_flight(p->org_id);
    } /* pending: stays in flight until the webhook settles it */
}

static void recharge(tg_store_t *st, job_t *j);

/* With several instances, each sees the balance fall below the threshold: one recharges at a
 * time (a lock in Redis), and the next one finds the balance recharged. */
static void run_recharge(tg_store_t *st, job_t *j)
{
    int locked = 0;
    if (tg_shared_on() && (locked = tg_shared_lock("recharge:", j->org_id, 120000)) != 1) {
        ar_clear_in_flight(j->org_id);
        return;
    }
    recharge(st, j);
    if (locked)
        tg_shared_unlock("recharge:", j->org_id);
}

static void recharge(tg_store_t *st, job_t *j)
{
    tg_auto_recharge_row_t row;
    tg_balance_t b;
    int64_t now = tg_now(), month = tg_month_start(now), sum = 0, pending = 0;
    int found;

    pthread_mutex_lock(&armu);
    ar_t *a = ar_find(j->org_id, NULL);
    found = a != NULL;
    if (a)
        row = a->row;
    pthread_mutex_unlock(&armu);
    if (!found || !row.enabled || row.paused_at)
        goto done;
    /* the balance now, not when the hook ran: a recharge may have landed meanwhile */
    if (tg_ledger_balance(NULL, j->org_id, &b, NULL, NULL) < 0 ||
        b.available >= row.threshold * TG_NANOS_PER_CENT)
        goto done;
    int64_t need = row.recharge_to * TG_NANOS_PER_CENT - b.available;
    int64_t cents = (need + TG_NANOS_PER_CENT - 1) / TG_NANOS_PER_CENT; /* up, whole cents */
    if (cents < TG_PAY_MIN_CENTS)
        cents = TG_PAY_MIN_CENTS;
    if (cents > TG_PAY_MAX_CENTS)
        cents = TG_PAY_MAX_CENTS;
    if (st->payments->payment_sum(st, j->org_id, "auto_recharge", month, &sum, &pending) < 0)
        goto done;
    if (pending) /* one is still waiting for the provider */
        goto done;
    if (row.monthly_limit && sum + cents > row.monthly_limit) {
        int64_t left = row.monthly_limit - sum;
        if (left < TG_PAY_MIN_CENTS) {
            tg_warn("payments: ALERT auto-recharge for %s: the monthly limit of %lld cents is "
                    "reached (%lld cents recharged this month); no recharge until next month "
                    "or a higher limit",
                    j->org_id, (long long)row.monthly_limit, (long long)sum);
            pthread_mutex_lock(&armu);
            a = ar_find(j->org_id, NULL);
            if (a)
                a->limit_month = month;
            pthread_mutex_unlock(&armu);
            goto done;
        }
        cents = left; /* as much as the limit allows */
    }
    tg_pay_result_t res;
    memset(&res, 0, sizeof(res));
    charge_flow(st, j->org_id, NULL, cents, "auto_recharge", &res);
    if (!res.has_payment) {
        tg_warn("payments: ALERT auto-recharge for %s cannot charge: %s; paused until its "
                "settings are saved again",
                j->org_id, res.msg[0] ? res.msg : tg_err_info(res.err)->message);
        ar_pause(st, j->org_id, res.err == TG_E_INVALID_VALUE ? "no_payment_method" : "error");
        return;
    }
    recharge_done(st, &res.payment);
    return;
done:
    ar_clear_in_flight(j->org_id);
}

static void run_webhook(tg_store_t *st, job_t *j)
{
    tg_pay_result_t res;
    tg_pay_event_t ev;
    tg_payment_row_t p;

    memset(&res, 0, sizeof(res));
    if (!provider->ops->webhook || strcmp(j->provider, provider->ops->name)) {
        res.err = TG_E_UNKNOWN_URL;
        goto out;
    }
    res.err = provider->ops->webhook(provider, j->signature, j->body ? j->body : "", j->len,
                                     tg_now(), &ev);
    if (res.err != TG_OK || ev.kind == TG_PAY_EV_OTHER)
        goto out;
    if (!ev.payment_id[0] || st->payments->payment_get(st, ev.payment_id, &p) != 0) {
        tg_info("payments: webhook %s for a payment Tollgate does not know; ignored", ev.type);
        goto out;
    }
    if ((p.provider_ref[0] && ev.provider_ref[0] && strcmp(p.provider_ref, ev.provider_ref)) ||
        ev.amount != p.amount || strcmp(ev.currency, p.currency)) {
        tg_error("payments: webhook %s for payment %s does not match it (charge, amount or "
                 "currency); ignored",
                 ev.type, p.id);
        goto out;
    }
    if (ev.kind == TG_PAY_EV_SUCCEEDED) {
        int changed = 0;
        if (succeed(st, p.id, ev.provider_ref, &p, &changed) < 0) {
            res.err = TG_E_INTERNAL; /* the provider retries the webhook */
            goto out;
        }
        if (changed && !strcmp(p.kind, "auto_recharge"))
            recharge_done(st, &p);
    } else if (ev.kind == TG_PAY_EV_FAILED && !strcmp(p.status, "pending")) {
        tg_pay_charge_t ch;
        memset(&ch, 0, sizeof(ch));
        snprintf(ch.provider_ref, sizeof(ch.provider_ref), "%s", ev.provider_ref);
        snprintf(ch.failure_code, sizeof(ch.failure_code), "%s", ev.failure_code);
        snprintf(ch.failure_message, sizeof(ch.failure_message), "%s", ev.failure_message);
        int rc = update_pending(st, &p, "failed", &ch);
        if (rc < 0) {
            res.err = TG_E_INTERNAL;
            goto out;
        }
        if (rc == 0) {
            tg_warn("payments: %s %s for %s failed (webhook): %s", p.kind, p.id, p.org_id,
                    p.failure_code);
            if (!strcmp(p.kind, "auto_recharge"))
                recharge_done(st, &p);
        }
    }
out:
    deliver(j, &res);
}

static void *pay_main(void *arg)
{
    tg_store_t *st = arg;
    pthread_mutex_lock(&qmu);
    for (;;) {
        while (!qhead && !stopping)
            pthread_cond_wait(&qcv, &qmu);
        if (stopping)
            break;
        job_t *j = qhead;
        qhead = j->next;
        if (!qhead)
            qtail = NULL;
        pthread_mutex_unlock(&qmu);
        switch (j->kind) {
        case JOB_METHOD: run_method(st, j); break;
        case JOB_TOP_UP: run_top_up(st, j); break;
        case JOB_RECHARGE: run_recharge(st, j); break;
        case JOB_WEBHOOK: run_webhook(st, j); break;
        }
        job_free(j);
        pthread_mutex_lock(&qmu);
    }
    pthread_mutex_unlock(&qmu);
    if (provider->ops->thread_exit)
        provider->ops->thread_exit(provider);
    tg_catalog_unref(tl_cat);
    tl_cat = NULL;
    return NULL;
}

/* ---- submitting ---- */

static job_t *job_new(job_kind_t kind, struct event_base *base, tg_pay_done_cb cb, void *arg)
{
    job_t *j = calloc(1, sizeof(*j));
    if (j) {
        j->kind = kind;
        j->base = base;
        j->cb = cb;
        j->arg = arg;
    }
    return j;
}

int tg_pay_method_add(const tg_pay_method_in_t *in, struct event_base *base, tg_pay_done_cb cb,
                      void *arg)
{
    job_t *j = job_new(JOB_METHOD, base, cb, arg);
    if (!j)
        return -1;
    j->in = *in;
    if (enqueue(j) < 0) {
        job_free(j);
        return -1;
    }
    return 0;
}

int tg_pay_top_up(const char *org_id, const char *method_id, int64_t cents,
                  struct event_base *base, tg_pay_done_cb cb, void *arg)
{
    job_t *j = job_new(JOB_TOP_UP, base, cb, arg);
    if (!j)
        return -1;
    snprintf(j->org_id, sizeof(j->org_id), "%s", org_id);
    snprintf(j->method_id, sizeof(j->method_id), "%s", method_id ? method_id : "");
    j->cents = cents;
    if (enqueue(j) < 0) {
        job_free(j);
        return -1;
    }
    return 0;
}

int tg_pay_webhook(const char *prov, const char *signature, const char *body, size_t len,
                   struct event_base *base, tg_pay_done_cb cb, void *arg)
{
    job_t *j = job_new(JOB_WEBHOOK, base, cb, arg);
    if (!j)
        return -1;
    snprintf(j->provider, sizeof(j->provider), "%s", prov);
    j->signature = strdup(signature ? signature : "");
    j->body = malloc(len + 1);
    if (!j->signature || !j->body) {
        job_free(j);
        return -1;
    }
    memcpy(j->body, body, len);
    j->body[len] = '\0';
    j->len = len;
    if (enqueue(j) < 0) {
        job_free(j);
        return -1;
    }
    return 0;
}

/* ---- lifecycle ---- */

const char *tg_pay_provider_name(void) { return provider ? provider->ops->name : NULL; }

const char *tg_pay_webhook_header(void)
{
    return provider && provider->ops->webhook ? provider->ops->webhook_header : NULL;
}

static int load(tg_store_t *st)
{
    tg_auto_recharge_row_t *rows = NULL;
    tg_org_row_t *orgs = NULL;
    size_t n = 0;
    if (st->payments->auto_recharge_list(st, &rows, &n) < 0)
        return -1;
    pthread_mutex_lock(&armu);
    for (size_t i = 0; i < n; i++)
        if (!ar_upsert(&rows[i])) {
            pthread_mutex_unlock(&armu);
            free(rows);
            return -1;
        }
    pthread_mutex_unlock(&armu);
    free(rows);
    if (st->tenancy->org_list(st, &orgs, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (orgs[i].is_operator)
            snprintf(seller, sizeof(seller), "%s", orgs[i].name);
    free(orgs);
    return 0;
}

int tg_pay_start(const char *db_url, const tg_pay_config_t *cfg)
{
    const char *name = cfg->provider ? cfg->provider : "test";
    if (!strcmp(name, "test")) {
        provider = tg_pay_test_new();
    } else if (!strcmp(name, "stripe")) {
        provider = tg_pay_stripe_new(cfg->stripe_url, cfg->stripe_key,
                                     cfg->stripe_webhook_secret);
    } else {
        tg_error("payments: unknown provider '%s' (test or stripe)", name);
        return -1;
    }
    if (!provider) {
        tg_error("payments: cannot set up the %s provider", name);
        return -1;
    }
    nthreads = cfg->threads > 0 ? cfg->threads : 2;
    stores = calloc((size_t)nthreads, sizeof(*stores));
    threads = calloc((size_t)nthreads, sizeof(*threads));
    if (!stores || !threads)
        goto fail;
    for (int i = 0; i < nthreads; i++)
        if (tg_store_open(db_url, &stores[i]) < 0)
            goto fail;
    if (load(stores[0]) < 0)
        goto fail;
    stopping = 0;
    running = 1;
    tg_ledger_set_hook(1, recharge_hook);
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&threads[i], NULL, pay_main, stores[i]) != 0) {
            nthreads = i;
            tg_pay_stop();
            return -1;
        }
    return 0;
fail:
    for (int i = 0; stores && i < nthreads; i++)
        tg_store_close(stores[i]);
    free(stores);
    free(threads);
    stores = NULL;
    threads = NULL;
    provider->ops->free(provider);
    provider = NULL;
    return -1;
}

void tg_pay_stop(void)
{
    if (!running)
        return;
    tg_ledger_set_hook(1, NULL);
    pthread_mutex_lock(&qmu);
    stopping = 1;
    pthread_cond_broadcast(&qcv);
    pthread_mutex_unlock(&qmu);
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_lock(&qmu);
    while (qhead) { /* never started: nothing was charged */
        job_t *j = qhead;
        qhead = j->next;
        job_free(j);
    }
    qtail = NULL;
    running = 0;
    pthread_mutex_unlock(&qmu);
    for (int i = 0; i < nthreads; i++)
        tg_store_close(stores[i]);
    free(stores);
    free(threads);
    stores = NULL;
    threads = NULL;
    provider->ops->free(provider);
    provider = NULL;
    pthread_mutex_lock(&armu);
    free(ars);
    ars = NULL;
    nars = capars = 0;
    pthread_mutex_unlock(&armu);
}
