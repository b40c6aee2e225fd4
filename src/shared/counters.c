/* The shared counters' C side: each step is one script (scripts.lua) run on Redis. */
#include "shared/shared_int.h"

#include "billing/ledger.h"
#include "core/log.h"
#include "core/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX (TG_ID_MAX + TG_NAME_MAX + 16)

typedef struct {
    char a[KEY_MAX], g[KEY_MAX], gr[KEY_MAX], rv[16], ir[64], sw[64], ro[KEY_MAX], rp[KEY_MAX];
    char ready[16];
    char num[20][24];
    const char *argv[30];
} args_t;

static const char *num(args_t *x, int i, int64_t v)
{
    snprintf(x->num[i], sizeof(x->num[i]), "%" PRId64, v);
    return x->num[i];
}

/* KEYS (8) and ARGV 1..18 common to admit and settle (see scripts.lua). */
static void keys(args_t *x, const tg_shared_hold_t *h)
{
    tg_shared__key(x->a, sizeof(x->a), "a:", h->org_id, NULL);
    tg_shared__key(x->g, sizeof(x->g), "g:", h->org_id, NULL);
    tg_shared__key(x->gr, sizeof(x->gr), "gr:", h->org_id, NULL);
    tg_shared__key(x->rv, sizeof(x->rv), "rv", NULL, NULL);
    tg_shared__key(x->ir, sizeof(x->ir), "ir:", tg_shared_instance(), NULL);
    char scope[TG_ID_MAX + 1];
    snprintf(scope, sizeof(scope), "%s\n", h->org_id);
    tg_shared__key(x->ro, sizeof(x->ro), "rl:", scope, h->model);
    snprintf(scope, sizeof(scope), "%s\n", h->project_id);
    tg_shared__key(x->rp, sizeof(x->rp), "rl:", scope, h->model);
    tg_shared__key(x->sw, sizeof(x->sw), "sw:", tg_shared_instance(), NULL);
    tg_shared__key(x->ready, sizeof(x->ready), "ready", NULL, NULL);
    const char *k[9] = {x->a, x->g, x->gr, x->rv, x->ir, x->ro, x->rp, x->sw, x->ready};
    memcpy(x->argv, k, sizeof(k));
    for (int i = 0; i < 4; i++) {
        x->argv[9 + 8 + i] = num(x, 8 + i, h->lo.v[i]);
        x->argv[9 + 12 + i] = num(x, 12 + i, h->lp.v[i]);
    }
}

static int64_t reply_int(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}

/* ---- admission ---- */

typedef struct {
    tg_shared_conn_t *sc;
    tg_shared_hold_t *h;
    tg_shared_admit_cb cb;
    void *arg;
} admit_t;

static void queue_op(tg_shared_conn_t *sc, const tg_shared_hold_t *h, const char *mode,
                     int64_t cost, int64_t tokens);

static void on_admit(void *arg, redisReply *r)
{
    admit_t *a = arg;
    tg_shared_verdict_t v;
    memset(&v, 0, sizeof(v));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
        if (r && r->type == REDIS_REPLY_ERROR)
            tg_error("redis: admit: %s", r->str);
        /* the reservation may have been made: give it back when Redis is there again */
        if (!r)
            queue_op(a->sc, a->h, "release", 0, 0);
        v.rc = TG_SHARED_DOWN;
    } else {
        int64_t e[8] = {0};
        for (size_t i = 0; i < r->elements && i < 8; i++)
            e[i] = reply_int(r->element[i]);
        v.rc = (int)e[0];
        if (v.rc == 0) {
            v.rl_state.have = (int)e[1];
            v.rl_state.limit_requests = e[2];
            v.rl_state.remaining_requests = e[3];
            v.rl_state.reset_requests_ms = e[4];
            v.rl_state.limit_tokens = e[5];
            v.rl_state.remaining_tokens = e[6];
            v.rl_state.reset_tokens_ms = e[7];
        } else if (v.rc == TG_SHARED_RL) {
            v.rl.which = (int)e[1];
            v.rl.project = (int)e[2];
            v.rl.limit = e[3];
            v.rl.used = e[4];
            v.rl.requested = e[5];
            v.rl.retry_after_ms = e[6];
            v.rl.too_large = (int)e[7];
        } else if (v.rc == TG_SHARED_MONEY) {
            v.money_err = (int)e[1];
            v.left = e[2];
        } else {
            v.rc = TG_SHARED_DOWN;
        }
    }
    a->cb(a->arg, &v);
    free(a);
}

int tg_shared_admit(tg_shared_conn_t *sc, tg_shared_hold_t *h, int64_t tier_cap,
                    tg_shared_admit_cb cb, void *arg)
{
    args_t x;
    admit_t *a = malloc(sizeof(*a));
    if (!a)
        return -1;
    *a = (admit_t){sc, h, cb, arg};
    tg_random_id(h->resv_id, "r", 24);
    if (h->amount < 0)
        h->amount = 0;
    if (h->amount > TG_SHARED_MAX_NANOS)
        h->amount = TG_SHARED_MAX_NANOS; /* refused: no credit is that large */
    keys(&x, h);
    const char **v = x.argv + 9;
    v[0] = h->resv_id;
    v[1] = h->project_id;
    v[2] = num(&x, 2, h->amount);
    v[3] = h->exempt ? "1" : "0";
    v[4] = num(&x, 4, tier_cap > TG_SHARED_MAX_NANOS ? TG_SHARED_MAX_NANOS : tier_cap);
    v[5] = num(&x, 5, tg_month_start(tg_now()));
    v[6] = h->org_id;
    v[7] = num(&x, 7, h->tokens);
    if (tg_shared__eval(sc, SCRIPT_ADMIT, 9, 9 + 16, x.argv, on_admit, a) < 0) {
        free(a);
        return -1;
    }
    return 0;
}

/* ---- settlement ---- */

typedef struct op {
    struct op *next;
    tg_shared_hold_t h;
    char mode[12];
    int64_t cost, tokens;
    int force;
    char epoch[40]; /* a retry: the Redis it was meant for ("" for a first attempt) */
    /* a settlement waiting for its answer */
    tg_shared_conn_t *sc;
    tg_shared_settle_cb cb;
    void *arg;
} op_t;

typedef struct {
    op_t *head, *tail;
    long n;
    int busy; /* the head is being sent */
} queue_t;

#define QUEUE_MAX 100000

static int send_op(tg_shared_conn_t *sc, op_t *o, tg_shared_reply_cb cb)
{
    args_t x;
    keys(&x, &o->h);
    const char **v = x.argv + 9;
    v[0] = o->h.resv_id;
    v[1] = o->h.project_id;
    v[2] = num(&x, 2, o->cost);
    v[3] = o->h.exempt ? "1" : "0";
    v[4] = o->mode;
    v[5] = num(&x, 5, tg_month_start(tg_now()));
    v[6] = o->h.org_id;
    v[7] = num(&x, 7, o->tokens);
    v[16] = num(&x, 16, o->h.tokens);
    v[17] = num(&x, 17, o->h.amount);
    v[18] = o->force ? "1" : "0";
    v[19] = o->epoch;
    if (!sc) { /* synchronous */
        redisReply *r = tg_shared__call(SCRIPT_SETTLE, 9, 9 + 20, x.argv);
        int ok = r && r->type == REDIS_REPLY_ARRAY;
        if (r)
            freeReplyObject(r);
        return ok ? 0 : -1;
    }
    return tg_shared__eval(sc, SCRIPT_SETTLE, 9, 9 + 20, x.argv, cb, o);
}

static void queue_op(tg_shared_conn_t *sc, const tg_shared_hold_t *h, const char *mode,
                     int64_t cost, int64_t tokens)
{
    queue_t **qp = (queue_t **)tg_shared__retry_slot(sc), *q = *qp;
    if (!q && !(q = *qp = calloc(1, sizeof(*q)))) {
        tg_error("redis: out of memory queueing settlement of %s (%" PRId64 " nano-dollars)",
                 h->resv_id, cost);
        return;
    }
    op_t *o = calloc(1, sizeof(*o));
    if (!o || q->n >= QUEUE_MAX) {
        tg_error("redis: %s; settlement of %s (%" PRId64 " nano-dollars) is in the store "
                 "only until Redis is rebuilt", o ? "too many settlements waiting" :
                 "out of memory", h->resv_id, cost);
        free(o);
        return;
    }
    o->h = *h;
    snprintf(o->mode, sizeof(o->mode), "%s", mode);
    o->cost = cost;
    o->tokens = tokens;
    tg_shared__epoch(o->epoch);
    if (q->tail)
        q->tail->next = o;
    else
        q->head = o;
    q->tail = o;
    q->n++;
}

static void on_retry(void *arg, redisReply *r)
{
    op_t *o = arg;
    tg_shared_conn_t *sc = o->sc;
    queue_t *q = *(queue_t **)tg_shared__retry_slot(sc);
    q->busy = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (r && r->type == REDIS_REPLY_ERROR)
            tg_error("redis: settle (retry): %s", r->str);
        return; /* stays at the head: tried again on the next tick */
    }
    q->head = o->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    free(o);
    if (q->head)
        tg_shared__retry(sc);
}

void tg_shared__retry(tg_shared_conn_t *sc)
{
    queue_t *q = *(queue_t **)tg_shared__retry_slot(sc);
    if (!q || q->busy || !q->head)
        return;
    q->head->sc = sc;
    if (send_op(sc, q->head, on_retry) == 0)
        q->busy = 1;
}

void tg_shared__retry_free(tg_shared_conn_t *sc)
{
    queue_t **qp = (queue_t **)tg_shared__retry_slot(sc), *q = *qp;
    long lost = 0;
    if (!q)
        return;
    while (q->head) {
        op_t *o = q->head;
        q->head = o->next;
        if (send_op(NULL, o, NULL) < 0)
            lost++;
        free(o);
    }
    if (lost)
        tg_error("redis: %ld settlements could not be applied to Redis; the store has them, "
                 "and Redis is corrected when it is rebuilt", lost);
    free(q);
    *qp = NULL;
}

static void settled_now(const tg_shared_hold_t *h, int64_t cost, tg_shared_settle_cb cb,
                        void *arg)
{
    tg_shared_settled_t s;
    memset(&s, 0, sizeof(s));
    s.charged = cost < h->amount ? cost : h->amount;
    if (s.charged < 0)
        s.charged = 0;
    s.charges.overdraft = h->exempt ? 0 : s.charged;
    cb(arg, &s);
}

static void on_settle(void *arg, redisReply *r)
{
    op_t *o = arg;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 6) {
        if (r && r->type == REDIS_REPLY_ERROR)
            tg_error("redis: settle: %s", r->str);
        /* recorded as overdraft; Redis gets the same when it answers again (or nothing, if
         * this one was applied and only its answer was lost: the reservation is gone) */
        int64_t charged = o->cost < o->h.amount ? o->cost : o->h.amount;
        queue_op(o->sc, &o->h, "overdraft", charged, o->tokens);
        settled_now(&o->h, o->cost, o->cb, o->arg);
        free(o);
        return;
    }
    tg_shared_settled_t s;
    memset(&s, 0, sizeof(s));
    s.reached = 1;
    s.charged = reply_int(r->element[0]);
    s.charges.overdraft = reply_int(r->element[1]);
    s.available = reply_int(r->element[2]);
    s.org_spend = reply_int(r->element[3]);
    s.project_spend = reply_int(r->element[4]);
    s.month = reply_int(r->element[5]);
    for (size_t i = 6; i + 1 < r->elements; i += 2) {
        int64_t amount = reply_int(r->element[i + 1]);
        const char *grant = r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : "";
        if (tg_charges_add(&s.charges, grant, amount) < 0)
            s.charges.overdraft += amount; /* out of memory: the store records it as owed */
    }
    o->cb(o->arg, &s);
    free(o);
}

void tg_shared_settle(tg_shared_conn_t *sc, const tg_shared_hold_t *h, int64_t cost,
                      int64_t actual_tokens, tg_shared_settle_cb cb, void *arg)
{
    op_t *o = calloc(1, sizeof(*o));
    if (cost < 0)
        cost = 0;
    if (!o) {
        queue_op(sc, h, "overdraft", cost < h->amount ? cost : h->amount, actual_tokens);
        settled_now(h, cost, cb, arg);
        return;
    }
    o->h = *h;
    snprintf(o->mode, sizeof(o->mode), "charge");
    o->cost = cost;
    o->tokens = actual_tokens;
    o->force = 1; /* the lease may have run out: charge anyway */
    o->sc = sc;
    o->cb = cb;
    o->arg = arg;
    if (send_op(sc, o, on_settle) < 0) {
        queue_op(sc, h, "overdraft", cost < h->amount ? cost : h->amount, actual_tokens);
        settled_now(h, cost, cb, arg);
        free(o);
    }
}

void tg_shared_release(tg_shared_conn_t *sc, const tg_shared_hold_t *h)
{
    /* through the queue: a release must not be lost with its answer */
    queue_op(sc, h, "release", 0, 0);
    tg_shared__retry(sc);
}

/* ---- the Admin API's reads and writes ---- */

static int balance(const char *org_id, const char *project_id, tg_remote_balance_t *out)
{
    char a[KEY_MAX], g[KEY_MAX], gr[KEY_MAX], month[24];
    snprintf(month, sizeof(month), "%" PRId64, tg_month_start(tg_now()));
    const char *argv[5] = {tg_shared__key(a, sizeof(a), "a:", org_id, NULL),
                           tg_shared__key(g, sizeof(g), "g:", org_id, NULL),
                           tg_shared__key(gr, sizeof(gr), "gr:", org_id, NULL), month,
                           project_id ? project_id : ""};
    memset(out, 0, sizeof(*out));
    redisReply *r = tg_shared__call(SCRIPT_BALANCE, 3, 5, argv);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 9) {
        if (r)
            freeReplyObject(r);
        return -1;
    }
    int64_t *f[9] = {&out->available, &out->reserved, &out->granted, &out->consumed,
                     &out->overdraft, &out->org_month, &out->project_month, &out->org_limit,
                     &out->project_limit};
    for (int i = 0; i < 9; i++)
        *f[i] = reply_int(r->element[i]);
    freeReplyObject(r);
    return 0;
}

static int64_t grant_remaining(const char *org_id, const char *grant_id)
{
    char gr[KEY_MAX];
    const char *argv[3] = {"HGET", tg_shared__key(gr, sizeof(gr), "gr:", org_id, NULL),
                           grant_id};
    redisReply *r = tg_shared__call(-1, 0, 3, argv);
    int64_t v = r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

static int64_t grant_claim(const char *org_id, int64_t amount)
{
    char a[KEY_MAX], am[24], cap[24];
    snprintf(am, sizeof(am), "%" PRId64, amount);
    snprintf(cap, sizeof(cap), "%" PRId64, (int64_t)TG_SHARED_MAX_NANOS);
    const char *argv[3] = {tg_shared__key(a, sizeof(a), "a:", org_id, NULL), am, cap};
    redisReply *r = tg_shared__call(SCRIPT_GRANT_CLAIM, 1, 3, argv);
    int64_t v = r && r->type == REDIS_REPLY_INTEGER ? (r->integer < 0 ? -2 : r->integer) : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

static int grant_done(const tg_grant_row_t *g, int committed)
{
    char a[KEY_MAX], z[KEY_MAX], gr[KEY_MAX], am[24], pay[24], ex[24], member[160];
    snprintf(am, sizeof(am), "%" PRId64, g->amount);
    snprintf(pay, sizeof(pay), "%" PRId64, g->consumed);
    snprintf(ex, sizeof(ex), "%" PRId64, g->expires_at);
    tg_ledger_grant_order_key(g, member, sizeof(member));
    const char *argv[9] = {tg_shared__key(a, sizeof(a), "a:", g->org_id, NULL),
                           tg_shared__key(z, sizeof(z), "g:", g->org_id, NULL),
                           tg_shared__key(gr, sizeof(gr), "gr:", g->org_id, NULL),
                           g->id, am, pay, committed ? "1" : "0", member, ex};
    redisReply *r = tg_shared__call(SCRIPT_GRANT_DONE, 3, 9, argv);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

static int set_limit(const char *org_id, const char *scope_id, int64_t nanos)
{
    char a[KEY_MAX], field[TG_ID_MAX + 4], v[24];
    if (!strcmp(org_id, scope_id))
        snprintf(field, sizeof(field), "lim");
    else
        snprintf(field, sizeof(field), "l:%s", scope_id);
    snprintf(v, sizeof(v), "%" PRId64, nanos > TG_SHARED_MAX_NANOS ? (int64_t)TG_SHARED_MAX_NANOS : nanos);
    const char *argv[4] = {"HSET", tg_shared__key(a, sizeof(a), "a:", org_id, NULL), field, v};
    redisReply *r = tg_shared__call(-1, 0, 4, argv);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

const tg_ledger_remote_t tg_shared_ledger = {balance, grant_remaining, grant_claim, grant_done,
                                             set_limit, tg_shared_want_rebuild};

/* ---- rebuild ---- */

static int cmd(int argc, const char **argv)
{
    redisReply *r = tg_shared__call(-1, 0, argc, argv);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r && !ok)
        tg_error("redis: rebuild: %s", r->str);
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

static int hincr(const char *org, const char *field, int64_t v)
{
    char a[KEY_MAX], n[24];
    snprintf(n, sizeof(n), "%" PRId64, v);
    const char *argv[4] = {"HINCRBY", tg_shared__key(a, sizeof(a), "a:", org, NULL), field, n};
    return cmd(4, argv);
}

/* Deletes every key of a pattern (SCAN: never blocks Redis for long). */
static int wipe(const char *pattern)
{
    char cursor[32] = "0", pat[64];
    tg_shared__key(pat, sizeof(pat), pattern, NULL, NULL);
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", pat, "COUNT", "1000"};
        redisReply *r = tg_shared__call(-1, 0, 6, argv);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r)
                freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        redisReply *ks = r->element[1];
        for (size_t i = 0; i < ks->elements; i++) {
            const char *del[2] = {"DEL", ks->element[i]->str};
            if (cmd(2, del) < 0) {
                freeReplyObject(r);
                return -1;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

int tg_shared__rebuild(tg_store_t *st)
{
    tg_grant_row_t *grants = NULL;
    tg_org_amount_t *rows = NULL;
    size_t n = 0;
    int64_t now = tg_now(), month = tg_month_start(now);
    char a[KEY_MAX], k[KEY_MAX], f[TG_ID_MAX + 4], v[24], m[24], member[160], ordered[200];
    int rc = -1;

    if (wipe("a:*") < 0 || wipe("g:*") < 0 || wipe("gr:*") < 0 || wipe("ir:*") < 0 ||
        wipe("rv") < 0)
        return -1;
    if (st->money->grant_list(st, NULL, &grants, &n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const tg_grant_row_t *g = &grants[i];
        int64_t rem = g->amount - g->consumed;
        snprintf(v, sizeof(v), "%" PRId64, rem);
        const char *hs[4] = {"HSET", tg_shared__key(k, sizeof(k), "gr:", g->org_id, NULL),
                             g->id, v};
        if (hincr(g->org_id, "gr", g->amount) < 0 || hincr(g->org_id, "cons", g->consumed) < 0)
            goto out;
        if (g->expires_at && g->expires_at <= now)
            continue; /* expired: no longer credit */
        if (cmd(4, hs) < 0)
            goto out;
        if (rem <= 0)
            continue;
        /* as grant_done: the account's grant sequence before the id (the store lists grants
         * in the order they were made) */
        const char *hi[4] = {"HINCRBY", tg_shared__key(a, sizeof(a), "a:", g->org_id, NULL),
                             "seq", "1"};
        redisReply *sq = tg_shared__call(-1, 0, 4, hi);
        if (!sq || sq->type != REDIS_REPLY_INTEGER) {
            if (sq)
                freeReplyObject(sq);
            goto out;
        }
        tg_ledger_grant_order_key(g, member, sizeof(member));
        snprintf(ordered, sizeof(ordered), "%.36s%012lld|%s", member, (long long)sq->integer,
                 g->id);
        freeReplyObject(sq);
        const char *za[4] = {"ZADD", tg_shared__key(k, sizeof(k), "g:", g->org_id, NULL), "0",
                             ordered};
        if (cmd(4, za) < 0 || hincr(g->org_id, "cr", rem) < 0)
            goto out;
    }
    free(grants);
    grants = NULL;
    if (st->money->org_overdrafts(st, &rows, &n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (hincr(rows[i].org_id, "ovd", rows[i].amount) < 0)
            goto out;
    free(rows);
    rows = NULL;
    if (st->money->spend_limit_list(st, &rows, &n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int64_t nanos = tg_cents_to_nanos(rows[i].amount);
        if (set_limit(rows[i].org_id, rows[i].scope_id, nanos) < 0)
            goto out;
    }
    free(rows);
    rows = NULL;
    if (st->usage->month_spend(st, month, &rows, &n) < 0)
        goto out;
    snprintf(m, sizeof(m), "%" PRId64, month);
    for (size_t i = 0; i < n; i++) {
        snprintf(f, sizeof(f), "s:%s", rows[i].scope_id);
        const char *hs[4] = {"HSET", tg_shared__key(a, sizeof(a), "a:", rows[i].org_id, NULL),
                             "m", m};
        if (cmd(4, hs) < 0 || hincr(rows[i].org_id, "sp", rows[i].amount) < 0 ||
            hincr(rows[i].org_id, f, rows[i].amount) < 0)
            goto out;
    }
    rc = 0;
out:
    free(grants);
    free(rows);
    return rc;
}
