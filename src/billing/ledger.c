#include "billing/ledger.h"

#include "core/log.h"
#include "core/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    tg_grant_row_t row;
    int rank; /* on equal expiry: promotional/operator (0) before purchased (1) */
} grant_t;

typedef struct {
    char id[TG_ID_MAX];
    int64_t spend, reserved, limit; /* limit in nano-dollars (saturating), 0: none */
    int64_t limit_cents;            /* as set */
} project_t;

typedef struct {
    char id[TG_ID_MAX];
    int64_t month;                       /* month of spend/projects[].spend */
    int64_t spend, reserved, limit;      /* this month; limit 0: none */
    int64_t limit_cents;
    int64_t overdraft;
    int exempt; /* the operator's organisation: spend is counted, no credit is used */
    grant_t *grants;
    size_t ngrants, capg;
    project_t *projects;
    size_t nprojects, capp;
} account_t;

/* One lock for all accounts: a reservation is a few comparisons and additions under it. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static tg_ledger_hook_t hooks[2];

void tg_ledger_set_hook(int index, tg_ledger_hook_t hook)
{
    if (index >= 0 && index < 2)
        hooks[index] = hook;
}
static account_t *accounts;
static size_t naccounts, capa;

int64_t tg_month_start(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return (int64_t)timegm(&tm);
}

/* Cents to nano-dollars, saturating (a limit of 10^12 cents is 10^19 nanos > INT64_MAX). */
int64_t tg_cents_to_nanos(int64_t cents)
{
    return cents > INT64_MAX / TG_NANOS_PER_CENT ? INT64_MAX : cents * TG_NANOS_PER_CENT;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void *na = realloc(*arr, nc * elem);
    if (!na)
        return -1;
    memset((char *)na + *cap * elem, 0, (nc - *cap) * elem);
    *arr = na;
    *cap = nc;
    return 0;
}

/* Finds or adds (mu held). NULL only when out of memory. */
static account_t *account(const char *org_id)
{
    for (size_t i = 0; i < naccounts; i++)
        if (!strcmp(accounts[i].id, org_id))
            return &accounts[i];
    if (grow((void **)&accounts, &capa, naccounts, sizeof(account_t)) < 0)
        return NULL;
    account_t *a = &accounts[naccounts++];
    memset(a, 0, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%s", org_id);
    a->month = tg_month_start(tg_now());
    return a;
}

static project_t *project(account_t *a, const char *project_id)
{
    for (size_t i = 0; i < a->nprojects; i++)
        if (!strcmp(a->projects[i].id, project_id))
            return &a->projects[i];
    if (grow((void **)&a->projects, &a->capp, a->nprojects, sizeof(project_t)) < 0)
        return NULL;
    project_t *p = &a->projects[a->nprojects++];
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", project_id);
    return p;
}

/* A new calendar month starts with no spend (reservations carry over: they are live). */
static void roll_month(account_t *a, int64_t now)
{
    int64_t m = tg_month_start(now);
    if (m == a->month)
        return;
    a->month = m;
    a->spend = 0;
    for (size_t i = 0; i < a->nprojects; i++)
        a->projects[i].spend = 0;
}

static int grant_before(const grant_t *x, const grant_t *y)
{
    int64_t ex = x->row.expires_at ? x->row.expires_at : INT64_MAX;
    int64_t ey = y->row.expires_at ? y->row.expires_at : INT64_MAX;
    if (ex != ey)
        return ex < ey;
    if (x->rank != y->rank)
        return x->rank < y->rank;
    return x->row.granted_at < y->row.granted_at;
}

/* Keeps grants in consumption order (insertion sort: grants are few and rarely added). */
static int add_grant(account_t *a, const tg_grant_row_t *row)
{
    if (grow((void **)&a->grants, &a->capg, a->ngrants, sizeof(grant_t)) < 0)
        return -1;
    grant_t g = {.row = *row, .rank = strcmp(row->kind, "purchased") == 0};
    size_t i = a->ngrants++;
    while (i > 0 && grant_before(&g, &a->grants[i - 1])) {
        a->grants[i] = a->grants[i - 1];
        i--;
    }
    a->grants[i] = g;
    return 0;
}

static int64_t credit(const account_t *a, int64_t now)
{
    int64_t sum = 0;
    for (size_t i = 0; i < a->ngrants; i++) {
        const tg_grant_row_t *g = &a->grants[i].row;
        if (!g->expires_at || g->expires_at > now)
            sum += g->amount - g->consumed;
    }
    return sum - a->overdraft;
}

int tg_ledger_load(tg_store_t *st)
{
    tg_grant_row_t *grants = NULL;
    tg_org_amount_t *rows = NULL;
    size_t n = 0;
    int64_t now = tg_now(), month = tg_month_start(now);
    int rc = -1;

    pthread_mutex_lock(&mu);
    if (st->ops->grant_list(st, NULL, &grants, &n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        account_t *a = account(grants[i].org_id);
        if (!a || add_grant(a, &grants[i]) < 0)
            goto out;
    }
    free(grants);
    grants = NULL;
    if (st->ops->org_overdrafts(st, &rows, &n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        account_t *a = account(rows[i].org_id);
        if (!a)
            goto out;
        a->overdraft = rows[i].amount;
    }
    free(rows);
    rows = NULL;
    if (st->ops->spend_limit_list(st, &rows, &n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        account_t *a = account(rows[i].org_id);
        if (!a)
            goto out;
        int64_t nanos = tg_cents_to_nanos(rows[i].amount);
        if (!strcmp(rows[i].scope_id, rows[i].org_id)) {
            a->limit = nanos;
            a->limit_cents = rows[i].amount;
        } else {
            project_t *p = project(a, rows[i].scope_id);
            if (!p)
                goto out;
            p->limit = nanos;
            p->limit_cents = rows[i].amount;
        }
    }
    free(rows);
    rows = NULL;
    if (st->ops->month_spend(st, month, &rows, &n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        account_t *a = account(rows[i].org_id);
        project_t *p = a ? project(a, rows[i].scope_id) : NULL;
        if (!p)
            goto out;
        a->month = month;
        a->spend += rows[i].amount;
        p->spend += rows[i].amount;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&mu);
    free(grants);
    free(rows);
    return rc;
}

void tg_ledger_shutdown(void)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < naccounts; i++) {
        free(accounts[i].grants);
        free(accounts[i].projects);
    }
    free(accounts);
    accounts = NULL;
    naccounts = capa = 0;
    pthread_mutex_unlock(&mu);
}

tg_err_t tg_ledger_reserve(const tg_org_row_t *org, const char *project_id, int64_t amount,
                           int64_t tier_cap_nanos, tg_reservation_t *r)
{
    int64_t now = tg_now();
    tg_err_t err = TG_OK;

    memset(r, 0, sizeof(*r));
    if (amount < 0)
        amount = 0;
    pthread_mutex_lock(&mu);
    account_t *a = account(org->id);
    project_t *p = a ? project(a, project_id) : NULL;
    if (!p) {
        err = TG_E_UNAVAILABLE;
        goto out;
    }
    roll_month(a, now);
    /* The operator's own organisation pays its upstreams directly: no prepaid credit. */
    a->exempt = org->is_operator;
    if (!a->exempt && credit(a, now) - a->reserved < amount)
        err = TG_E_CREDIT_EXHAUSTED;
    else if (!a->exempt && tier_cap_nanos && a->spend + a->reserved + amount > tier_cap_nanos)
        err = TG_E_USAGE_LIMIT;
    else if (a->limit && a->limit - a->spend - a->reserved < amount)
        err = TG_E_ORG_SPEND_LIMIT;
    else if (p->limit && p->limit - p->spend - p->reserved < amount)
        err = TG_E_PROJECT_SPEND_LIMIT;
    if (err == TG_OK) {
        a->reserved += amount;
        p->reserved += amount;
        snprintf(r->org_id, sizeof(r->org_id), "%s", org->id);
        snprintf(r->project_id, sizeof(r->project_id), "%s", project_id);
        r->amount = amount;
        r->month = a->month;
        r->active = 1;
    }
out:
    pthread_mutex_unlock(&mu);
    return err;
}

void tg_ledger_settle(tg_reservation_t *r, const char *org_id, const char *project_id,
                      int64_t cost, tg_charges_t *ch)
{
    int64_t now = tg_now();

    memset(ch, 0, sizeof(*ch));
    pthread_mutex_lock(&mu);
    account_t *a = account(org_id);
    project_t *p = a ? project(a, project_id) : NULL;
    if (!p) { /* out of memory: the usage record still carries the cost */
        pthread_mutex_unlock(&mu);
        return;
    }
    if (r && r->active) {
        a->reserved -= r->amount;
        p->reserved -= r->amount;
        r->active = 0;
    }
    roll_month(a, now);
    a->spend += cost;
    p->spend += cost;
    int64_t left = a->exempt ? 0 : cost;
    for (size_t i = 0; i < a->ngrants && left > 0; i++) {
        tg_grant_row_t *g = &a->grants[i].row;
        int64_t rem = g->amount - g->consumed;
        if (rem <= 0 || (g->expires_at && g->expires_at <= now))
            continue;
        int64_t take = rem < left ? rem : left;
        g->consumed += take;
        left -= take;
        if (ch->n == TG_CHARGE_MAX) {
            ch->tail += take;
            continue;
        }
        snprintf(ch->from[ch->n].grant_id, sizeof(ch->from[ch->n].grant_id), "%s", g->id);
        ch->from[ch->n].amount = take;
        ch->n++;
    }
    /* Cost that no grant covers (credit expired or ran out mid-request) becomes overdraft,
     * which the next grant pays first. */
    if (left > 0) {
        ch->overdraft = left;
        a->overdraft += left;
    }
    int64_t available = credit(a, now) - a->reserved, org_spend = a->spend;
    int64_t project_spend = p->spend, month = a->month;
    int exempt = a->exempt;
    pthread_mutex_unlock(&mu);
    if (cost <= 0)
        return;
    if (hooks[0])
        hooks[0](org_id, project_id, available, org_spend, project_spend, month);
    if (hooks[1] && !exempt)
        hooks[1](org_id, project_id, available, org_spend, project_spend, month);
}

int tg_ledger_grant(tg_store_t *st, tg_grant_row_t *g)
{
    if (!g->id[0])
        tg_random_id(g->id, "grant_", 24);
    if (!g->granted_at)
        g->granted_at = tg_now();
    /* a new grant first pays what the organisation owes (overdraft): the debt is then gone
     * for good, and is never paid a second time when some grant expires */
    pthread_mutex_lock(&mu);
    account_t *a = account(g->org_id);
    int64_t pay = a && a->overdraft > 0 ? (a->overdraft < g->amount ? a->overdraft : g->amount) : 0;
    if (a)
        a->overdraft -= pay; /* taken now so that a concurrent grant does not pay it too */
    pthread_mutex_unlock(&mu);
    g->consumed = pay;
    int rc = st->ops->grant_insert(st, g);
    if (rc == 0 && pay)
        rc = st->ops->org_overdraft_add(st, g->org_id, -pay);
    pthread_mutex_lock(&mu);
    if (rc != 0) {
        if (a)
            a->overdraft += pay;
        pthread_mutex_unlock(&mu);
        return -1;
    }
    rc = a ? add_grant(a, g) : -1;
    pthread_mutex_unlock(&mu);
    return rc;
}

int tg_ledger_balance(const char *org_id, tg_balance_t *out, tg_grant_row_t **rows, size_t *n)
{
    int64_t now = tg_now();
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&mu);
    account_t *a = account(org_id);
    if (!a) {
        pthread_mutex_unlock(&mu);
        return -1;
    }
    for (size_t i = 0; i < a->ngrants; i++) {
        out->granted += a->grants[i].row.amount;
        out->used += a->grants[i].row.consumed;
    }
    out->used += a->overdraft;
    out->overdraft = a->overdraft;
    out->reserved = a->reserved;
    out->available = credit(a, now) - a->reserved;
    if (rows) {
        *rows = malloc((a->ngrants ? a->ngrants : 1) * sizeof(tg_grant_row_t));
        *n = 0;
        if (*rows) {
            for (size_t i = 0; i < a->ngrants; i++)
                (*rows)[i] = a->grants[i].row;
            *n = a->ngrants;
        }
    }
    pthread_mutex_unlock(&mu);
    return 0;
}

int tg_ledger_set_limit(tg_store_t *st, const char *org_id, const char *scope_id, int64_t cents)
{
    if (st->ops->spend_limit_set(st, scope_id, org_id, cents, tg_now()) < 0)
        return -1;
    pthread_mutex_lock(&mu);
    account_t *a = account(org_id);
    int rc = -1;
    if (a) {
        if (!strcmp(org_id, scope_id)) {
            a->limit = tg_cents_to_nanos(cents);
            a->limit_cents = cents;
            rc = 0;
        } else {
            project_t *p = project(a, scope_id);
            if (p) {
                p->limit = tg_cents_to_nanos(cents);
                p->limit_cents = cents;
                rc = 0;
            }
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

int64_t tg_ledger_limit(const char *org_id, const char *scope_id)
{
    int64_t v = 0;
    pthread_mutex_lock(&mu);
    account_t *a = account(org_id);
    if (a && !strcmp(org_id, scope_id)) {
        v = a->limit_cents;
    } else if (a) {
        project_t *p = project(a, scope_id);
        v = p ? p->limit_cents : 0;
    }
    pthread_mutex_unlock(&mu);
    return v;
}

int64_t tg_ledger_month_spend(const char *org_id, const char *project_id)
{
    int64_t v = 0;
    pthread_mutex_lock(&mu);
    account_t *a = account(org_id);
    if (a) {
        roll_month(a, tg_now());
        if (!project_id) {
            v = a->spend + a->reserved;
        } else {
            project_t *p = project(a, project_id);
            v = p ? p->spend + p->reserved : 0;
        }
    }
    pthread_mutex_unlock(&mu);
    return v;
}
