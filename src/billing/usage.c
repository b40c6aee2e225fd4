#include "billing/usage.h"

#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <time.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tg_usage_row_t row;
    tg_charges_t charges;
    struct event_base *base;
    tg_usage_done_cb cb;
    void *arg;
} item_t;

typedef struct {
    char id[TG_ID_MAX];
    int64_t at;
} touch_t;

typedef struct {
    item_t *items;
    size_t n, cap;
    touch_t *touches;
    size_t nt, capt;
} batch_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static batch_t pending;
static int stopping, running;
static pthread_t thread;
static tg_store_t *store;
static tg_usage_stats_t stats;
/* The store's health, as the writer sees it: when the current streak of failed commits (or
 * pings) began, in tg_mono_ns; 0 while commits succeed. */
static _Atomic uint64_t failing_since;

#define PING_EVERY_MS 1000 /* an idle writer checks the store this often */
#define TOUCH_WAKE 4096    /* key touches waiting that wake the writer before PING_EVERY_MS */
#define GATHER_MAX 256     /* records that end a gathering early */
/* How long the writer gathers records under load before a commit: 2 ms for PostgreSQL
 * (measured in bench/run.sh's several-instances series: half the database's CPU per request),
 * none for SQLite (a commit is a local fsync, and the batch grows while it runs). */
static unsigned long gather_ns;
static size_t last_batch;
#define LOG_EVERY_NS (30ull * 1000000000ull) /* a failure streak is logged this often */
#define GRACE_NS (1000000000ull) /* a failure this recent does not count yet */

/* Records the outcome of one commit or ping: logs the start and end of a failure streak,
 * and the streak every LOG_EVERY_NS, not every attempt. */
static void health(int ok, size_t pending_records)
{
    static uint64_t last_log;
    uint64_t now = tg_mono_ns(), since = atomic_load(&failing_since);
    if (ok) {
        if (since) {
            tg_info("usage: the database answers again after %llu ms",
                    (unsigned long long)((now - since) / 1000000));
            atomic_store(&failing_since, 0);
        }
        return;
    }
    if (!since) {
        atomic_store(&failing_since, now);
        last_log = now;
        tg_error("usage: the database is unavailable (%zu records waiting); new inference "
                 "requests are refused with 503 until it answers again", pending_records);
    } else if (now - last_log >= LOG_EVERY_NS) {
        last_log = now;
        tg_error("usage: the database is still unavailable after %llu s (%zu records waiting)",
                 (unsigned long long)((now - since) / 1000000000ull), pending_records);
    }
}

int tg_usage_ok(void)
{
    uint64_t since = atomic_load(&failing_since);
    return since == 0 || tg_mono_ns() - since < GRACE_NS;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 256;
    void *na = realloc(*arr, nc * elem);
    if (!na)
        return -1;
    *arr = na;
    *cap = nc;
    return 0;
}

void tg_charges_dispose(tg_charges_t *ch)
{
    free(ch->more);
    ch->more = NULL;
    ch->n = ch->n < TG_CHARGE_INLINE ? ch->n : TG_CHARGE_INLINE;
    ch->cap_more = 0;
}

void tg_usage_submit(const tg_usage_row_t *row, tg_charges_t *charges,
                     struct event_base *base, tg_usage_done_cb cb, void *arg)
{
    pthread_mutex_lock(&mu);
    while (grow((void **)&pending.items, &pending.cap, pending.n, sizeof(item_t)) < 0) {
        pthread_mutex_unlock(&mu); /* out of memory: wait for the writer to free some */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&mu);
    }
    item_t *it = &pending.items[pending.n++];
    it->row = *row;
    if (charges) {
        it->charges = *charges; /* takes `more` */
        memset(charges, 0, sizeof(*charges));
    } else
        memset(&it->charges, 0, sizeof(it->charges));
    it->base = base;
    it->cb = cb;
    it->arg = arg;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

void tg_usage_touch_key(const char *key_id)
{
    int64_t now = tg_now();
    pthread_mutex_lock(&mu);
    /* The same key as the last touch (one busy key): the time moves, the array does not grow. */
    if (pending.nt && !strcmp(pending.touches[pending.nt - 1].id, key_id))
        pending.touches[pending.nt - 1].at = now;
    else if (grow((void **)&pending.touches, &pending.capt, pending.nt, sizeof(touch_t)) == 0) {
        touch_t *t = &pending.touches[pending.nt++];
        snprintf(t->id, sizeof(t->id), "%s", key_id);
        t->at = now;
        /* A touch rides with the next batch of records, or waits at most PING_EVERY_MS: it
         * never costs a transaction of its own per request. */
        if (pending.nt >= TOUCH_WAKE)
            pthread_cond_signal(&cv);
    }
    pthread_mutex_unlock(&mu);
}

typedef struct {
    tg_usage_done_cb cb;
    void *arg;
} done_t;

static void done_trampoline(evutil_socket_t fd, short what, void *p)
{
    done_t d = *(done_t *)p;
    free(p);
    d.cb(d.arg);
}

static int cmp_touch(const void *a, const void *b)
{
    return strcmp(((const touch_t *)a)->id, ((const touch_t *)b)->id);
}

/* Applies each touched key's latest time once. */
static int apply_touches(batch_t *b)
{
    if (b->nt == 0)
        return 0;
    qsort(b->touches, b->nt, sizeof(touch_t), cmp_touch);
    for (size_t i = 0; i < b->nt; i++) {
        if (i + 1 < b->nt && strcmp(b->touches[i].id, b->touches[i + 1].id) == 0) {
            if (b->touches[i + 1].at < b->touches[i].at)
                b->touches[i + 1].at = b->touches[i].at;
            continue;
        }
        if (b->touches[i].id[0] && store->tenancy->key_touch(store, b->touches[i].id,
                                                         b->touches[i].at) < 0)
            return -1;
    }
    return 0;
}

/* Folds the batch into per-minute aggregate rows (a batch is mostly one or a few groups). */
static int aggregate(batch_t *b, const unsigned char *fresh, tg_usage_agg_t **out, size_t *nout)
{
    tg_usage_agg_t *agg = malloc((b->n ? b->n : 1) * sizeof(*agg));
    size_t n = 0;
    if (!agg)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        const tg_usage_row_t *r = &b->items[i].row;
        if (!fresh[i]) /* already recorded: counted and charged then */
            continue;
        int64_t minute = r->created_at - r->created_at % 60;
        /* look back at most 64 groups: a miss only costs an extra upsert of the same row */
        size_t k = n > 64 ? n - 64 : 0;
        for (; k < n; k++)
            if (agg[k].minute == minute && !strcmp(agg[k].org_id, r->org_id) &&
                !strcmp(agg[k].project_id, r->project_id) &&
                !strcmp(agg[k].api_key_id, r->api_key_id) && !strcmp(agg[k].model, r->model) &&
                !strcmp(agg[k].endpoint, r->endpoint))
                break;
        if (k == n) {
            memset(&agg[k], 0, sizeof(agg[k]));
            memcpy(agg[k].org_id, r->org_id, sizeof(agg[k].org_id));
            memcpy(agg[k].project_id, r->project_id, sizeof(agg[k].project_id));
            memcpy(agg[k].api_key_id, r->api_key_id, sizeof(agg[k].api_key_id));
            memcpy(agg[k].model, r->model, sizeof(agg[k].model));
            memcpy(agg[k].endpoint, r->endpoint, sizeof(agg[k].endpoint));
            agg[k].minute = minute;
            n++;
        }
        agg[k].requests++;
        agg[k].input_tokens += r->input_tokens;
        agg[k].cached_input_tokens += r->cached_input_tokens;
        agg[k].output_tokens += r->output_tokens;
        agg[k].cost_nanousd += r->cost_nanousd;
    }
    *out = agg;
    *nout = n;
    return 0;
}

int tg_usage_apply_charges(tg_store_t *st, const char *org_id, const tg_charges_t *ch)
{
    for (int k = 0; k < ch->n; k++) {
        const tg_charge_t *c = tg_charges_at(ch, k);
        if (st->money->grant_consume(st, c->grant_id, c->amount) < 0)
            return -1;
    }
    if (ch->overdraft && st->money->org_overdraft_add(st, org_id, ch->overdraft) < 0)
        return -1;
    return 0;
}

/* One sum per grant (or per organisation's overdraft) over a batch. */
typedef struct {
    const char *id; /* a grant id, or an organisation id for overdraft */
    int overdraft;
    int64_t amount;
} charge_sum_t;

static int cmp_charge_sum(const void *a, const void *b)
{
    const charge_sum_t *x = a, *y = b;
    if (x->overdraft != y->overdraft)
        return x->overdraft - y->overdraft;
    return strcmp(x->id, y->id);
}

/* The batch's charges, summed per grant and per organisation's overdraft first: a batch of
 * a thousand requests against one grant is one UPDATE, not a thousand (on PostgreSQL each
 * statement is a round trip). The sums commit in the same transaction as the records. */
static int apply_charges(batch_t *b, const unsigned char *fresh)
{
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < b->n; i++)
        if (fresh[i])
            cap += (size_t)b->items[i].charges.n + (b->items[i].charges.overdraft != 0);
    if (cap == 0)
        return 0;
    charge_sum_t *s = malloc(cap * sizeof(*s));
    if (!s)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        if (!fresh[i])
            continue;
        const tg_charges_t *ch = &b->items[i].charges;
        for (int k = 0; k < ch->n; k++) {
            const tg_charge_t *c = tg_charges_at(ch, k);
            s[n++] = (charge_sum_t){c->grant_id, 0, c->amount};
        }
        if (ch->overdraft)
            s[n++] = (charge_sum_t){b->items[i].row.org_id, 1, ch->overdraft};
    }
    qsort(s, n, sizeof(*s), cmp_charge_sum);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int64_t sum = s[i].amount;
        while (i + 1 < n && !cmp_charge_sum(&s[i], &s[i + 1]))
            sum += s[++i].amount;
        rc = s[i].overdraft ? store->money->org_overdraft_add(store, s[i].id, sum)
                            : store->money->grant_consume(store, s[i].id, sum);
    }
    free(s);
    return rc < 0 ? -1 : 0;
}

static int commit_batch(batch_t *b)
{
    tg_usage_row_t *rows = malloc((b->n ? b->n : 1) * sizeof(*rows));
    if (!rows)
        return -1;
    for (size_t i = 0; i < b->n; i++)
        rows[i] = b->items[i].row;
    tg_usage_agg_t *agg = NULL;
    size_t nagg = 0;
    unsigned char *fresh = calloc(b->n ? b->n : 1, 1);
    int rc = fresh ? store->ops->begin(store) : -1, began = rc == 0;
    /* Only rows that are new count: a request id seen before was aggregated and charged
     * with its first record (idempotent by request id). */
    if (rc == 0)
        rc = store->usage->usage_insert(store, rows, b->n, fresh);
    if (rc == 0)
        rc = aggregate(b, fresh, &agg, &nagg);
    if (rc == 0)
        rc = store->usage->usage_agg_add(store, agg, nagg);
    if (rc == 0)
        rc = apply_charges(b, fresh);
    if (rc == 0)
        rc = apply_touches(b);
    if (rc == 0)
        rc = store->ops->commit(store);
    if (rc != 0 && began)
        store->ops->rollback(store); /* also after a failed COMMIT */
    free(fresh);
    free(agg);
    free(rows);
    return rc;
}

static void *writer_main(void *unused)
{
    batch_t work = {0};
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!pending.n && pending.nt < TOUCH_WAKE && !stopping) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += PING_EVERY_MS / 1000;
            if (pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT && !pending.n &&
                !stopping) {
                if (pending.nt) /* touches alone waited a whole period: write them */
                    break;
                pthread_mutex_unlock(&mu); /* idle: is the store still there? */
                health(store->ops->ping(store) == 0, 0);
                pthread_mutex_lock(&mu);
            }
        }
        if (!pending.n && !pending.nt && stopping)
            break;
        /* A database across the network, under load (the last batch was not alone): gather a
         * little longer, as PostgreSQL's commit_delay does. Each transaction costs round trips
         * and the server's CPU per statement, not per row; a lone request never waits. */
        if (gather_ns && last_batch > 1 && pending.n < GATHER_MAX && !stopping) {
            pthread_mutex_unlock(&mu);
            struct timespec ts = {0, (long)gather_ns};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&mu);
        }
        last_batch = pending.n;
        batch_t tmp = work; /* swap buffers: submitters keep appending while we commit */
        work = pending;
        pending = tmp;
        pending.n = pending.nt = 0;
        pthread_mutex_unlock(&mu);

        unsigned delay_ms = 10;
        int rc;
        uint64_t t0 = tg_mono_ns();
        while ((rc = commit_batch(&work)) < 0) {
            pthread_mutex_lock(&mu);
            stats.failures++;
            pthread_mutex_unlock(&mu);
            health(0, work.n);
            struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
            if (delay_ms < 2000)
                delay_ms *= 2;
        }
        health(1, 0);
        uint64_t took = tg_mono_ns() - t0;
        for (size_t i = 0; i < work.n; i++) {
            item_t *it = &work.items[i];
            tg_charges_dispose(&it->charges);
            if (!it->cb)
                continue;
            done_t *d = malloc(sizeof(*d));
            struct timeval zero = {0, 0};
            if (!d)
                continue;
            d->cb = it->cb;
            d->arg = it->arg;
            if (event_base_once(it->base, -1, EV_TIMEOUT, done_trampoline, d, &zero) < 0)
                free(d);
        }
        pthread_mutex_lock(&mu);
        stats.committed += work.n;
        stats.batches++;
        static const double sizes[] = TG_USAGE_BATCH_BOUNDS, secs[] = TG_USAGE_COMMIT_BOUNDS;
        size_t b = 0;
        while (b < sizeof(sizes) / sizeof(sizes[0]) && (double)work.n > sizes[b])
            b++;
        stats.batch_size[b]++;
        for (b = 0; b < sizeof(secs) / sizeof(secs[0]) && (double)took / 1e9 > secs[b]; b++)
            ;
        stats.commit_time[b]++;
        stats.commit_us += took / 1000;
        work.n = work.nt = 0;
    }
    pthread_mutex_unlock(&mu);
    free(work.items);
    free(work.touches);
    return NULL;
}

int tg_usage_start(const char *db_url)
{
    if (tg_store_open(db_url, &store) < 0)
        return -1;
    gather_ns = tg_store_is_pg(db_url) ? 2000000ul : 0;
    running = 1;
    return pthread_create(&thread, NULL, writer_main, NULL) == 0 ? 0 : -1;
}

void tg_usage_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    tg_store_close(store);
    running = 0;
}

void tg_usage_stats(tg_usage_stats_t *out)
{
    pthread_mutex_lock(&mu);
    *out = stats;
    out->queued = pending.n;
    pthread_mutex_unlock(&mu);
}
