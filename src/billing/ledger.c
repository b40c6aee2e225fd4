#include "billing/ledger.h"

#include "core/log.h"
#include "core/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    tg_grant_row_t row;
    int rank; /* on equal expiry: promotional/operator (0) before purchased (1) */
} grant_t;

typedef struct {
    char id[TG_ID_MAX];
    int64_t spend, reserved, limit; /* limit in nano-dollars (saturating), 0: none */
    int64_t limit_cents;            /* as set */
} project_t;

typedef struct tg_account {
    struct tg_account *next; /* in its hash chain */
    pthread_mutex_t mu;      /* everything below */
    char id[TG_ID_MAX];
    int64_t month;                  /* month of spend/projects[].spend */
    int64_t spend, reserved, limit; /* this month; limit 0: none */
    int64_t limit_cents;
    int64_t overdraft;
    int64_t overdraft_claimed; /* overdraft that grants being written will pay */
    int64_t granted;           /* Σ amount of the grants, and of those being written */
    int exempt; /* the operator's organisation: spend is counted, no credit is used */
    grant_t *grants;
    size_t ngrants, capg;
    project_t *projects;
    size_t nprojects, capp;
} account_t;

/* Accounts: NCHAINS hash chains; chain i is guarded by stripe i % NSTRIPES. An account,
 * once added, stays at the same address until tg_ledger_shutdown. */
#define NCHAINS 4096
#define NSTRIPES 64
static account_t *chains[NCHAINS];
static pthread_mutex_t stripes[NSTRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;
static tg_ledger_hook_t hooks[2];

static void stripes_init(void)
{
    for (int i = 0; i < NSTRIPES; i++)
        pthread_mutex_init(&stripes[i], NULL);
}

static const tg_ledger_remote_t *remote;

void tg_ledger_set_remote(const tg_ledger_remote_t *r) { remote = r; }

void tg_ledger_set_hook(int index, tg_ledger_hook_t hook)
{
    if (index >= 0 && index < 2)
        hooks[index] = hook;
}

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

/* a + b for non-negative a, b, saturating at INT64_MAX */
static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
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

static uint32_t chain_of(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % NCHAINS;
}

/* Finds or adds the account of org_id; returns it unlocked. NULL only when out of memory. */
static account_t *account(const char *org_id)
{
    pthread_once(&stripes_once, stripes_init);
    uint32_t i = chain_of(org_id);
    pthread_mutex_t *s = &stripes[i % NSTRIPES];
    pthread_mutex_lock(s);
    account_t *a = chains[i];
    while (a && strcmp(a->id, org_id) != 0)
        a = a->next;
    if (!a && (a = calloc(1, sizeof(*a))) != NULL) {
        pthread_mutex_init(&a->mu, NULL);
        snprintf(a->id, sizeof(a->id), "%s", org_id);
        a->month = tg_month_start(tg_now());
        a->next = chains[i];
        chains[i] = a;
    }
    pthread_mutex_unlock(s);
    return a;
}

/* (a->mu held) */
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

/* The order in which grants pay: the one that expires first (no expiry last), free credit
 * before purchased on equal expiry, then the oldest. The only place this order is written. */
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

void tg_ledger_grant_order_key(const tg_grant_row_t *g, char *buf, size_t cap)
{
    /* the same order as grant_before, as text: expiry, rank, granted_at, id */
    snprintf(buf, cap, "%016lld|%d|%016lld|%s",
             (long long)(g->expires_at ? g->expires_at : 9999999999999999LL),
             strcmp(g->kind, "purchased") == 0, (long long)g->granted_at, g->id);
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

/* Σ remaining of unexpired grants − overdraft. Cannot overflow: Σ amount < 2^63. */
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

/* credit − reserved, saturating at INT64_MIN (both terms are bounded, but not their
 * difference). */
static int64_t available(const account_t *a, int64_t now)
{
    int64_t c = credit(a, now);
    return c < INT64_MIN + a->reserved ? INT64_MIN : c - a->reserved;
}

/* Appends one charge to ch; 0, or -1 when out of memory. */
int tg_charges_add(tg_charges_t *ch, const char *grant_id, int64_t amount)
{
    tg_charge_t *c;
    if (ch->n < TG_CHARGE_INLINE) {
        c = &ch->first[ch->n];
    } else {
        size_t k = (size_t)(ch->n - TG_CHARGE_INLINE), cap = (size_t)ch->cap_more;
        if (grow((void **)&ch->more, &cap, k, sizeof(tg_charge_t)) < 0)
            return -1;
        ch->cap_more = (int)cap;
        c = &ch->more[k];
    }
    snprintf(c->grant_id, sizeof(c->grant_id), "%s", grant_id);
    c->amount = amount;
    ch->n++;
    return 0;
}

int tg_ledger_load(tg_store_t *st)
{
    tg_grant_row_t *grants = NULL;
    tg_org_amount_t *rows = NULL;
    size_t n = 0;
    int64_t now = tg_now(), month = tg_month_start(now);
    int rc = -1;

    if (st->money->grant_list(st, NULL, &grants, &n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        account_t *a = account(grants[i].org_id);
        if (!a || add_grant(a, &grants[i]) < 0)
            goto out;
        a->granted = add_sat(a->granted, grants[i].amount);
    }
    free(grants);
    grants = NULL;
    if (st->money->org_overdrafts(st, &rows, &n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        account_t *a = account(rows[i].org_id);
        if (!a)
            goto out;
        a->overdraft = rows[i].amount;
    }
    free(rows);
    rows = NULL;
    if (st->money->spend_limit_list(st, &rows, &n) < 0)
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
    if (st->usage->month_spend(st, month, &rows, &n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        account_t *a = account(rows[i].org_id);
        project_t *p = a ? project(a, rows[i].scope_id) : NULL;
        if (!p)
            goto out;
        a->month = month;
        a->spend = add_sat(a->spend, rows[i].amount);
        p->spend = add_sat(p->spend, rows[i].amount);
    }
    rc = 0;
out:
    free(grants);
    free(rows);
    return rc;
}

/* Single-threaded: no request may be in flight. */
void tg_ledger_shutdown(void)
{
    for (size_t i = 0; i < NCHAINS; i++) {
        while (chains[i]) {
            account_t *a = chains[i];
            chains[i] = a->next;
            pthread_mutex_destroy(&a->mu);
            free(a->grants);
            free(a->projects);
            free(a);
        }
    }
}

tg_err_t tg_ledger_reserve(const tg_org_row_t *org, const char *project_id, int64_t amount,
                           int64_t tier_cap_nanos, tg_reservation_t *r, int64_t *left)
{
    int64_t now = tg_now(), room = 0;
    tg_err_t err = TG_OK;

    memset(r, 0, sizeof(*r));
    if (amount < 0)
        amount = 0;
    account_t *a = account(org->id);
    if (!a)
        return TG_E_UNAVAILABLE;
    pthread_mutex_lock(&a->mu);
    project_t *p = project(a, project_id);
    if (!p) {
        err = TG_E_UNAVAILABLE;
        goto out;
    }
    roll_month(a, now);
    /* The operator's own organisation pays its upstreams directly: no prepaid credit. */
    a->exempt = org->is_operator;
    int64_t held = add_sat(a->spend, a->reserved);
    if (!a->exempt && (room = available(a, now)) < amount)
        err = TG_E_CREDIT_EXHAUSTED;
    else if (!a->exempt && tier_cap_nanos && (room = tier_cap_nanos - held) < amount)
        err = TG_E_USAGE_LIMIT;
    else if (a->limit && (room = a->limit - held) < amount)
        err = TG_E_ORG_SPEND_LIMIT;
    else if (p->limit && (room = p->limit - add_sat(p->spend, p->reserved)) < amount)
        err = TG_E_PROJECT_SPEND_LIMIT;
    if (err == TG_OK) {
        a->reserved = add_sat(a->reserved, amount);
        p->reserved = add_sat(p->reserved, amount);
        r->acct = a;
        snprintf(r->project_id, sizeof(r->project_id), "%s", project_id);
        r->amount = amount;
        r->active = 1;
    }
out:
    pthread_mutex_unlock(&a->mu);
    if (left)
        *left = room;
    return err;
}

int64_t tg_ledger_settle(tg_reservation_t *r, const char *org_id, const char *project_id,
                         int64_t cost, tg_charges_t *ch)
{
    int64_t now = tg_now();

    memset(ch, 0, sizeof(*ch));
    if (cost < 0 || (r && !r->active)) /* a reservation settles (and charges) once */
        cost = 0;
    account_t *a = r && r->active ? r->acct : account(org_id);
    if (!a) /* out of memory: nothing is charged, nothing was held */
        return 0;
    pthread_mutex_lock(&a->mu);
    project_t *p = NULL;
    if (r && r->active) {
        /* the reservation's own project, whatever the caller says */
        p = project(a, r->project_id);
        a->reserved -= r->amount;
        if (p)
            p->reserved -= r->amount;
        if (cost > r->amount) /* a charge never exceeds its reservation */
            cost = r->amount;
        r->active = 0;
        project_id = r->project_id;
    } else {
        p = project(a, project_id);
    }
    roll_month(a, now);
    a->spend = add_sat(a->spend, cost);
    if (p)
        p->spend = add_sat(p->spend, cost);
    int64_t left = a->exempt ? 0 : cost;
    for (size_t i = 0; i < a->ngrants && left > 0; i++) {
        tg_grant_row_t *g = &a->grants[i].row;
        int64_t rem = g->amount - g->consumed;
        if (rem <= 0 || (g->expires_at && g->expires_at <= now))
            continue;
        int64_t take = rem < left ? rem : left;
        if (tg_charges_add(ch, g->id, take) < 0)
            break; /* out of memory: the rest is overdraft, which the store records as such */
        g->consumed += take;
        left -= take;
    }
    /* Cost that no grant covers (credit expired or ran out mid-request) becomes overdraft,
     * which the next grant pays first. */
    if (left > 0) {
        ch->overdraft = left;
        a->overdraft = add_sat(a->overdraft, left);
    }
    int64_t avail = available(a, now), org_spend = a->spend;
    int64_t project_spend = p ? p->spend : 0, month = a->month;
    int exempt = a->exempt;
    char org[TG_ID_MAX], proj[TG_ID_MAX];
    snprintf(org, sizeof(org), "%s", a->id);
    snprintf(proj, sizeof(proj), "%s", project_id);
    pthread_mutex_unlock(&a->mu);
    if (cost <= 0)
        return 0;
    tg_ledger_notify(org, proj, avail, org_spend, project_spend, month, exempt);
    return cost;
}

void tg_ledger_notify(const char *org_id, const char *project_id, int64_t available,
                      int64_t org_spend, int64_t project_spend, int64_t month, int exempt)
{
    if (hooks[0])
        hooks[0](org_id, project_id, available, org_spend, project_spend, month);
    if (hooks[1] && !exempt)
        hooks[1](org_id, project_id, available, org_spend, project_spend, month);
}

int tg_ledger_grant_write(tg_store_t *st, tg_grant_row_t *g)
{
    if (g->amount < 0)
        return -1;
    if (!g->id[0])
        tg_random_id(g->id, "grant_", 24);
    if (!g->granted_at)
        g->granted_at = tg_now();
    if (remote) { /* several instances: the overdraft is one number, shared */
        int64_t pay = remote->grant_claim(g->org_id, g->amount);
        if (pay < 0)
            return pay == -2 ? TG_LEDGER_ETOO_LARGE : -1;
        g->consumed = pay;
        int rc = st->money->grant_insert(st, g);
        if (rc == 0 && pay)
            rc = st->money->org_overdraft_add(st, g->org_id, -pay);
        if (rc != 0) {
            tg_ledger_grant_done(g, 0);
            return -1;
        }
        return 0;
    }
    account_t *a = account(g->org_id);
    if (!a)
        return -1;
    /* a new grant first pays what the organisation owes (overdraft): the debt is then gone
     * for good, and is never paid a second time when some grant expires. The payment is
     * claimed now, so that a concurrent grant does not pay it too, and leaves the overdraft
     * only when the grant is in memory (tg_ledger_grant_done): until then no request can
     * use credit that a rollback would take back. */
    pthread_mutex_lock(&a->mu);
    if (a->granted > INT64_MAX - g->amount) {
        pthread_mutex_unlock(&a->mu);
        return TG_LEDGER_ETOO_LARGE;
    }
    int64_t owed = a->overdraft - a->overdraft_claimed;
    int64_t pay = owed > 0 ? (owed < g->amount ? owed : g->amount) : 0;
    a->overdraft_claimed += pay;
    a->granted += g->amount;
    pthread_mutex_unlock(&a->mu);
    g->consumed = pay;
    int rc = st->money->grant_insert(st, g);
    if (rc == 0 && pay)
        rc = st->money->org_overdraft_add(st, g->org_id, -pay);
    if (rc != 0) {
        tg_ledger_grant_done(g, 0);
        return -1;
    }
    return 0;
}

void tg_ledger_grant_done(const tg_grant_row_t *g, int committed)
{
    if (remote) {
        for (int i = 0; i < 5; i++) {
            if (remote->grant_done(g, committed) == 0)
                return;
            usleep(200000);
        }
        /* the store has the grant; Redis is rebuilt from it as soon as it answers */
        tg_error("ledger: grant %s of %s could not reach the shared counters; they are "
                 "rebuilt from the store when they answer", g->id, g->org_id);
        remote->want_rebuild();
        return;
    }
    account_t *a = account(g->org_id);
    if (!a)
        return; /* cannot happen: tg_ledger_grant_write made it */
    pthread_mutex_lock(&a->mu);
    a->overdraft_claimed -= g->consumed;
    if (!committed) {
        a->granted -= g->amount;
    } else if (add_grant(a, g) == 0) {
        a->overdraft -= g->consumed;
    } else {
        /* out of memory: the grant is stored and counts after the next restart; the
         * overdraft it paid stays owed in memory until then (errs on the safe side) */
        tg_error("ledger: out of memory adding grant %s of %s", g->id, g->org_id);
    }
    pthread_mutex_unlock(&a->mu);
}

int tg_ledger_grant(tg_store_t *st, tg_grant_row_t *g)
{
    int rc = tg_ledger_grant_write(st, g);
    if (rc == 0)
        tg_ledger_grant_done(g, 1);
    return rc;
}

static int shared_balance(tg_store_t *st, const char *org_id, tg_balance_t *out,
                          tg_grant_row_t **rows, size_t *n)
{
    tg_remote_balance_t b;
    if (remote->balance(org_id, NULL, &b) < 0)
        return -1;
    out->available = b.available;
    out->reserved = b.reserved;
    out->granted = b.granted;
    out->used = add_sat(b.consumed, b.overdraft);
    out->overdraft = b.overdraft;
    if (!rows)
        return 0;
    if (st->money->grant_list(st, org_id, rows, n) < 0)
        return -1;
    for (size_t i = 0; i < *n; i++) { /* consumed as of now, not as last committed */
        int64_t rem = remote->grant_remaining(org_id, (*rows)[i].id);
        if (rem >= 0 && rem <= (*rows)[i].amount)
            (*rows)[i].consumed = (*rows)[i].amount - rem;
    }
    return 0;
}

int tg_ledger_balance(tg_store_t *st, const char *org_id, tg_balance_t *out,
                      tg_grant_row_t **rows, size_t *n)
{
    int64_t now = tg_now();
    memset(out, 0, sizeof(*out));
    if (remote)
        return shared_balance(st, org_id, out, rows, n);
    account_t *a = account(org_id);
    if (!a)
        return -1;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->ngrants; i++) {
        out->granted += a->grants[i].row.amount;
        out->used += a->grants[i].row.consumed;
    }
    out->used = add_sat(out->used, a->overdraft);
    out->overdraft = a->overdraft;
    out->reserved = a->reserved;
    out->available = available(a, now);
    if (rows) {
        *rows = malloc((a->ngrants ? a->ngrants : 1) * sizeof(tg_grant_row_t));
        *n = 0;
        if (*rows) {
            for (size_t i = 0; i < a->ngrants; i++)
                (*rows)[i] = a->grants[i].row;
            *n = a->ngrants;
        }
    }
    pthread_mutex_unlock(&a->mu);
    return 0;
}

int tg_ledger_set_limit(tg_store_t *st, const char *org_id, const char *scope_id, int64_t cents)
{
    if (st->money->spend_limit_set(st, scope_id, org_id, cents, tg_now()) < 0)
        return -1;
    if (remote && remote->set_limit(org_id, scope_id, tg_cents_to_nanos(cents)) < 0)
        return -1;
    account_t *a = account(org_id);
    if (!a)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&a->mu);
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
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int64_t tg_ledger_limit(const char *org_id, const char *scope_id)
{
    int64_t v = 0;
    tg_remote_balance_t b;
    if (remote) {
        int org = !strcmp(org_id, scope_id);
        if (remote->balance(org_id, org ? NULL : scope_id, &b) < 0)
            return 0;
        return (org ? b.org_limit : b.project_limit) / TG_NANOS_PER_CENT;
    }
    account_t *a = account(org_id);
    if (!a)
        return 0;
    pthread_mutex_lock(&a->mu);
    if (!strcmp(org_id, scope_id)) {
        v = a->limit_cents;
    } else {
        project_t *p = project(a, scope_id);
        v = p ? p->limit_cents : 0;
    }
    pthread_mutex_unlock(&a->mu);
    return v;
}

int64_t tg_ledger_month_spend(const char *org_id, const char *project_id)
{
    int64_t v = 0;
    tg_remote_balance_t b;
    if (remote) {
        if (remote->balance(org_id, project_id, &b) < 0)
            return 0;
        return project_id ? b.project_month : b.org_month;
    }
    account_t *a = account(org_id);
    if (!a)
        return 0;
    pthread_mutex_lock(&a->mu);
    roll_month(a, tg_now());
    if (!project_id) {
        v = add_sat(a->spend, a->reserved);
    } else {
        project_t *p = project(a, project_id);
        v = p ? add_sat(p->spend, p->reserved) : 0;
    }
    pthread_mutex_unlock(&a->mu);
    return v;
}
