#include "providers/pool.h"

#include "core/log.h"
#include "core/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per provider: its breaker, its rests and its counters. */
typedef struct health {
    struct health *next;
    char id[TG_ID_MAX];
    int consecutive;
    int open;               /* the breaker tripped; open_until says until when */
    int64_t open_until;     /* ms, tg_mono */
    int probing;            /* a request holds the probe */
    int64_t probe_since;
    int64_t rest_until;     /* the whole provider (a retry-after on a 5xx or a lone key) */
    int64_t key_rest[TG_UPSTREAM_KEYS_MAX];
    unsigned next_key;
    char last_error[200];
    int64_t last_error_at;
    uint64_t outcomes[TG_OUT__N];
} health_t;

/* Per (model, provider): the smooth weighted round robin's current weight. */
typedef struct wrr {
    struct wrr *next;
    char key[TG_NAME_MAX + TG_ID_MAX + 1];
    int64_t current;
} wrr_t;

#define BUCKETS 256
#define PROBE_LOST_MS 120000 /* a probe that never reported (a lost request) */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static health_t *health[BUCKETS];
static wrr_t *wrrs[BUCKETS];
static int max_failures = 5;
static int64_t cooldown_ms = 30000;

void tg_pool_config(int failures, int64_t cooldown)
{
    pthread_mutex_lock(&mu);
    if (failures > 0)
        max_failures = failures;
    if (cooldown > 0)
        cooldown_ms = cooldown;
    pthread_mutex_unlock(&mu);
}

static int64_t now_ms(void) { return (int64_t)(tg_mono_ns() / 1000000); }

static unsigned hash(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 16777619u;
    for (; b && *b; b++)
        h = (h ^ (unsigned char)*b) * 16777619u;
    return h % BUCKETS;
}

/* The entry of a provider (made on first use; entries live until exit). NULL: no memory. */
static health_t *health_of(const char *id)
{
    unsigned b = hash(id, NULL);
    for (health_t *h = health[b]; h; h = h->next)
        if (!strcmp(h->id, id))
            return h;
    health_t *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    snprintf(h->id, sizeof(h->id), "%s", id);
    h->next = health[b];
    health[b] = h;
    return h;
}

static wrr_t *wrr_of(const char *model, const char *id)
{
    char key[sizeof(((wrr_t *)0)->key)];
    snprintf(key, sizeof(key), "%s\x1f%s", model, id);
    unsigned b = hash(key, NULL);
    for (wrr_t *w = wrrs[b]; w; w = w->next)
        if (!strcmp(w->key, key))
            return w;
    wrr_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    memcpy(w->key, key, sizeof(key));
    w->next = wrrs[b];
    wrrs[b] = w;
    return w;
}

/* A key of target i this request may use now, or -1 (*until: when a resting one wakes). */
static int usable_key(const tg_target_t *t, const health_t *h, uint8_t tried, int64_t now,
                      int64_t *until)
{
    int n = t->provider->nkeys ? t->provider->nkeys : 1;
    for (int j = 0; j < n; j++) {
        int k = (int)((h->next_key + (unsigned)j) % (unsigned)n);
        if (tried & (1u << k))
            continue;
        if (h->key_rest[k] > now) {
            if (!*until || h->key_rest[k] < *until)
                *until = h->key_rest[k];
            continue;
        }
        return k;
    }
    return -1;
}

/* 1 if target i may take an attempt now (claiming nothing); *key the key it would use. */
static int available(const tg_target_t *t, health_t *h, const tg_tries_t *tries, int i,
                     int64_t now, int *key, int64_t *until)
{
    if (tries->failed & (1u << i))
        return 0;
    int64_t wake = 0;
    if (h->open && now < h->open_until)
        wake = h->open_until;
    else if (h->open && h->probing && now - h->probe_since < PROBE_LOST_MS)
        wake = now + 1; /* someone else is probing: not this request */
    else if (h->rest_until > now)
        wake = h->rest_until;
    if (wake) {
        if (!*until || wake < *until)
            *until = wake;
        return 0;
    }
    return (*key = usable_key(&t[i], h, tries->keys_tried[i], now, until)) >= 0;
}

int tg_pool_pick(const char *model, const tg_target_t *targets, int n, tg_tries_t *tries,
                 tg_pick_t *out, int64_t *wait_ms)
{
    int64_t now = now_ms(), until = 0;
    int cand[TG_POOL_TARGETS_MAX], keys[TG_POOL_TARGETS_MAX], nc = 0, best_prio = 0;
    health_t *hs[TG_POOL_TARGETS_MAX];

    if (n > TG_POOL_TARGETS_MAX)
        n = TG_POOL_TARGETS_MAX;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n; i++) {
        health_t *h = hs[i] = health_of(targets[i].provider->row.id);
        int k;
        if (!h || !available(targets, h, tries, i, now, &k, &until))
            continue;
        int prio = targets[i].provider->row.priority;
        if (nc && prio > best_prio)
            continue;
        if (!nc || prio < best_prio) {
            nc = 0;
            best_prio = prio;
        }
        keys[i] = k;
        cand[nc++] = i;
    }
    if (!nc) {
        pthread_mutex_unlock(&mu);
        *wait_ms = until ? until - now : 0;
        return -1;
    }
    /* smooth weighted round robin among the best priority */
    int pick = cand[0];
    if (nc > 1) {
        int64_t total = 0, best = 0;
        wrr_t *w[TG_POOL_TARGETS_MAX];
        int chosen = -1;
        for (int c = 0; c < nc; c++) {
            int i = cand[c];
            int64_t weight = targets[i].provider->row.weight;
            w[c] = wrr_of(model, targets[i].provider->row.id);
            if (!w[c])
                continue;
            w[c]->current += weight;
            total += weight;
            if (chosen < 0 || w[c]->current > best) {
                best = w[c]->current;
                chosen = c;
            }
        }
        if (chosen >= 0) {
            pick = cand[chosen];
            w[chosen]->current -= total;
        }
    }
    health_t *h = hs[pick];
    int nk = targets[pick].provider->nkeys ? targets[pick].provider->nkeys : 1;
    h->next_key = (unsigned)(keys[pick] + 1) % (unsigned)nk;
    if (h->open) { /* its cool-down is over: this request is the probe */
        h->probing = 1;
        h->probe_since = now;
        tries->probe = pick + 1;
    }
    pthread_mutex_unlock(&mu);
    tries->keys_tried[pick] |= (uint8_t)(1u << keys[pick]);
    tries->attempts++;
    out->target = pick;
    out->key = keys[pick];
    return 0;
}

void tg_pool_report(const tg_target_t *targets, const tg_pick_t *p, tg_tries_t *tries,
                    tg_outcome_t o, int64_t retry_after_ms, const char *error)
{
    int64_t now = now_ms();
    int probe = tries->probe == p->target + 1;
    enum { SAME, OPENED, CLOSED, KEY_REFUSED } change = SAME;
    int failures = 0;
    if (retry_after_ms > TG_POOL_REST_MAX_MS)
        retry_after_ms = TG_POOL_REST_MAX_MS;
    pthread_mutex_lock(&mu);
    health_t *h = health_of(targets[p->target].provider->row.id);
    if (!h) {
        pthread_mutex_unlock(&mu);
        return;
    }
    h->outcomes[o]++;
    if (probe) {
        h->probing = 0;
        tries->probe = 0;
    }
    if (error) {
        snprintf(h->last_error, sizeof(h->last_error), "%s", error);
        h->last_error_at = tg_now();
    }
    if (o != TG_OUT_FAILED && h->open)
        change = CLOSED;
    switch (o) {
    case TG_OUT_OK:
    case TG_OUT_CLIENT:
        h->consecutive = 0;
        h->open = 0;
        break;
    case TG_OUT_AUTH:
    case TG_OUT_LIMITED: /* the provider answered: alive; the key rests */
        if (o == TG_OUT_AUTH && h->key_rest[p->key] <= now)
            change = change == SAME ? KEY_REFUSED : change;
        h->consecutive = 0;
        h->open = 0;
        h->key_rest[p->key] = now + (o == TG_OUT_AUTH ? TG_POOL_AUTH_REST_MS
                                     : retry_after_ms > 0 ? retry_after_ms
                                                          : TG_POOL_LIMIT_REST_MS);
        break;
    case TG_OUT_FAILED:
    default:
        h->consecutive++;
        if (retry_after_ms > 0)
            h->rest_until = now + retry_after_ms;
        if (probe || h->consecutive >= max_failures) {
            if (!h->open || probe)
                change = OPENED;
            h->open = 1;
            h->open_until = now + cooldown_ms;
        }
        tries->failed |= 1u << p->target;
        break;
    }
    failures = h->consecutive;
    pthread_mutex_unlock(&mu);
    /* the log says what changed a provider's state, once, not every failed request */
    const char *id = targets[p->target].provider->row.id;
    if (change == OPENED)
        tg_warn("provider %s: circuit open after %d consecutive failure%s (%s); skipped for "
                "%lld ms, then probed", id, failures, failures == 1 ? "" : "s",
                error ? error : "", (long long)cooldown_ms);
    else if (change == CLOSED)
        tg_info("provider %s: answering again; circuit closed", id);
    else if (change == KEY_REFUSED)
        tg_warn("provider %s: its key #%d was refused (%s); it rests %d s", id, p->key + 1,
                error ? error : "", TG_POOL_AUTH_REST_MS / 1000);
}

void tg_pool_abandon(const tg_target_t *targets, tg_tries_t *tries)
{
    if (!tries->probe)
        return;
    pthread_mutex_lock(&mu);
    health_t *h = health_of(targets[tries->probe - 1].provider->row.id);
    if (h)
        h->probing = 0;
    pthread_mutex_unlock(&mu);
    tries->probe = 0;
}

static void view(const health_t *h, int enabled, int64_t now, tg_health_view_t *out)
{
    memset(out, 0, sizeof(*out));
    out->status = !enabled ? "disabled"
                  : h && h->open && now < h->open_until ? "open"
                  : h && h->open ? "half_open"
                  : h && h->consecutive ? "failing"
                                        : "healthy";
    if (!h)
        return;
    snprintf(out->last_error, sizeof(out->last_error), "%s", h->last_error);
    out->last_error_at = h->last_error_at;
    out->consecutive_failures = h->consecutive;
    memcpy(out->outcomes, h->outcomes, sizeof(out->outcomes));
}

void tg_pool_health(const char *provider_id, int enabled, tg_health_view_t *out)
{
    pthread_mutex_lock(&mu);
    const health_t *h = NULL;
    for (h = health[hash(provider_id, NULL)]; h && strcmp(h->id, provider_id); h = h->next)
        ;
    view(h, enabled, now_ms(), out);
    pthread_mutex_unlock(&mu);
}

void tg_pool_each(void (*fn)(void *arg, const char *provider_id, const tg_health_view_t *h),
                  void *arg)
{
    pthread_mutex_lock(&mu);
    int64_t now = now_ms();
    for (int b = 0; b < BUCKETS; b++)
        for (const health_t *h = health[b]; h; h = h->next) {
            tg_health_view_t v;
            view(h, 1, now, &v);
            fn(arg, h->id, &v);
        }
    pthread_mutex_unlock(&mu);
}

const char *tg_pool_outcome_name(tg_outcome_t o)
{
    static const char *const names[TG_OUT__N] = {"ok", "client_error", "auth_error",
                                                 "rate_limited", "failed"};
    return (unsigned)o < TG_OUT__N ? names[o] : "unknown";
}
