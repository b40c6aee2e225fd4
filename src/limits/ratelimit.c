#include "limits/ratelimit.h"

#include "core/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 64
#define MINUTE_NS 60000000000LL
#define DAY_NS (86400LL * 1000000000LL)

int64_t tg_rl_now_override;

typedef struct {
    uint64_t hash; /* 0: empty */
    uint64_t gen;
    char scope[48];
    char model[128];
    int64_t tat[TG_RL__N]; /* theoretical arrival time (ns); <= now: bucket full */
    int64_t lim[TG_RL__N]; /* the limits of the last admission (for settle) */
} slot_t;

typedef struct {
    pthread_mutex_t mu;
    slot_t *slots;
    size_t cap, used;
    uint64_t gen;
} stripe_t;

static stripe_t stripes[STRIPES];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_stripes(void)
{
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&stripes[i].mu, NULL);
}

static int64_t now_ns(void)
{
    return tg_rl_now_override ? tg_rl_now_override : (int64_t)tg_mono_ns();
}

static const int64_t windows[TG_RL__N] = {MINUTE_NS, DAY_NS, MINUTE_NS, DAY_NS};

static uint64_t hash_key(const char *scope, const char *model)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = scope; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = model; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h ? h : 1;
}

static int idle(const slot_t *s, int64_t now)
{
    for (int k = 0; k < TG_RL__N; k++)
        if (s->tat[k] > now)
            return 0;
    return 1;
}

/* Doubles the stripe, dropping idle slots (they hold no information). */
static int grow(stripe_t *st, int64_t now)
{
    size_t ncap = st->cap ? st->cap * 2 : 64;
    slot_t *ns = calloc(ncap, sizeof(slot_t));
    if (!ns)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < st->cap; i++) {
        slot_t *s = &st->slots[i];
        if (!s->hash || idle(s, now))
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].hash)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
        used++;
    }
    free(st->slots);
    st->slots = ns;
    st->cap = ncap;
    st->used = used;
    return 0;
}

/* The slot of (scope, model) in its stripe (locked), created if needed. */
static slot_t *lookup(stripe_t *st, uint64_t h, const char *scope, const char *model,
                      int64_t now)
{
    if (st->cap) {
        for (size_t i = h & (st->cap - 1);; i = (i + 1) & (st->cap - 1)) {
            slot_t *s = &st->slots[i];
            if (!s->hash)
                break;
            if (s->hash == h && !strcmp(s->scope, scope) && !strcmp(s->model, model))
                return s;
        }
    }
    if ((st->used + 1) * 4 > st->cap * 3 && grow(st, now) < 0)
        return NULL;
    size_t i = h & (st->cap - 1);
    while (st->slots[i].hash)
        i = (i + 1) & (st->cap - 1);
    slot_t *s = &st->slots[i];
    memset(s, 0, sizeof(*s));
    s->hash = h;
    s->gen = ++st->gen;
    snprintf(s->scope, sizeof(s->scope), "%s", scope);
    snprintf(s->model, sizeof(s->model), "%s", model);
    st->used++;
    return s;
}

/* ceil(n × window / limit) in ns: the time `n` units occupy in the bucket. */
static int64_t cost_ns(int64_t n, int64_t window, int64_t limit)
{
    if (n <= 0)
        return 0;
    __int128 c = ((__int128)n * window + limit - 1) / limit;
    return c > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)c;
}

static int64_t remaining(int64_t tat, int64_t now, int64_t window, int64_t limit)
{
    int64_t busy = tat > now ? tat - now : 0;
    if (busy >= window)
        return 0;
    return (int64_t)((__int128)(window - busy) * limit / window);
}

typedef struct {
    stripe_t *st;
    slot_t *slot;
    const tg_rl_limits_t *lim;
    const char *id;
    uint64_t hash;
    int is_project;
    int64_t new_tat[TG_RL__N];
} scope_t;

static int any_limit(const tg_rl_limits_t *l)
{
    for (int k = 0; l && k < TG_RL__N; k++)
        if (l->v[k] > 0)
            return 1;
    return 0;
}

/* Fills the header state from the per-minute buckets closest to their limits. */
static void report(const scope_t *sc, int n, int64_t now, tg_rl_state_t *state)
{
    int64_t best_req = -1, best_tok = -1;
    for (int j = 0; j < n; j++) {
        int64_t L = sc[j].lim->v[TG_RL_RPM];
        if (L > 0) {
            int64_t rem = remaining(sc[j].new_tat[TG_RL_RPM], now, MINUTE_NS, L);
            if (best_req < 0 || rem * 1000 / L < best_req) {
                best_req = rem * 1000 / L;
                state->limit_requests = L;
                state->remaining_requests = rem;
                int64_t busy = sc[j].new_tat[TG_RL_RPM] - now;
                state->reset_requests_ms = busy > 0 ? (busy + 999999) / 1000000 : 0;
                state->have = 1;
            }
        }
        L = sc[j].lim->v[TG_RL_TPM];
        if (L > 0) {
            int64_t rem = remaining(sc[j].new_tat[TG_RL_TPM], now, MINUTE_NS, L);
            if (best_tok < 0 || rem * 1000 / L < best_tok) {
                best_tok = rem * 1000 / L;
                state->limit_tokens = L;
                state->remaining_tokens = rem;
                int64_t busy = sc[j].new_tat[TG_RL_TPM] - now;
                state->reset_tokens_ms = busy > 0 ? (busy + 999999) / 1000000 : 0;
                state->have = 1;
            }
        }
    }
}

int tg_rl_acquire(const char *org_id, const char *project_id, const char *model,
                  const tg_rl_limits_t *org, const tg_rl_limits_t *project, int64_t tokens,
                  tg_rl_ticket_t *ticket, tg_rl_state_t *state, tg_rl_refusal_t *why)
{
    const tg_rl_limits_t *lims[2] = {org, project};
    const char *ids[2] = {org_id, project_id};
    scope_t sc[2];
    int n = 0, rc = 0;
    int64_t now = now_ns();

    pthread_once(&once, init_stripes);
    memset(ticket, 0, sizeof(*ticket));
    memset(state, 0, sizeof(*state));
    memset(why, 0, sizeof(*why));
    if (tokens < 0)
        tokens = 0;
    for (int i = 0; i < 2; i++) {
        if (!any_limit(lims[i]) || !ids[i] || !*ids[i])
            continue;
        memset(&sc[n], 0, sizeof(sc[n]));
        sc[n].lim = lims[i];
        sc[n].id = ids[i];
        sc[n].is_project = i;
        sc[n].hash = hash_key(ids[i], model);
        sc[n].st = &stripes[sc[n].hash % STRIPES];
        n++;
    }
    if (n == 0)
        return 0;
    /* lock in stripe order (once when both share a stripe): no deadlock between workers */
    stripe_t *lo = sc[0].st, *hi = n == 2 ? sc[1].st : NULL;
    if (hi && hi < lo) {
        stripe_t *t = lo;
        lo = hi;
        hi = t;
    }
    pthread_mutex_lock(&lo->mu);
    if (hi && hi != lo)
        pthread_mutex_lock(&hi->mu);
    for (int j = 0; j < n; j++) {
        sc[j].slot = lookup(sc[j].st, sc[j].hash, sc[j].id, model, now);
        if (!sc[j].slot) { /* out of memory: let the request through unlimited */
            n = j;
            break;
        }
    }
    /* a request larger than a token limit can never pass: say so rather than "wait" */
    for (int j = 0; j < n && rc == 0; j++) {
        for (int k = TG_RL_TPM; k <= TG_RL_TPD; k++) {
            int64_t L = sc[j].lim->v[k];
            if (L > 0 && tokens > L) {
                why->which = k;
                why->project = sc[j].is_project;
                why->limit = L;
                why->requested = tokens;
                why->too_large = 1;
                rc = -1;
                break;
            }
        }
    }
    /* decide every bucket first, then commit: all or nothing */
    for (int j = 0; j < n && rc == 0; j++) {
        for (int k = 0; k < TG_RL__N; k++) {
            int64_t L = sc[j].lim->v[k], W = windows[k];
            int64_t units = (k == TG_RL_RPM || k == TG_RL_RPD) ? 1 : tokens;
            int64_t tat = sc[j].slot->tat[k] > now ? sc[j].slot->tat[k] : now;
            sc[j].new_tat[k] = sc[j].slot->tat[k];
            if (L <= 0)
                continue;
            int64_t nt = tat + cost_ns(units, W, L);
            if (units > L || nt - now > W) {
                why->which = k;
                why->project = sc[j].is_project;
                why->limit = L;
                why->requested = units;
                why->used = L - remaining(sc[j].slot->tat[k], now, W, L);
                why->too_large = units > L;
                why->retry_after_ms = why->too_large ? 0 : (nt - now - W + 999999) / 1000000;
                rc = -1;
                break;
            }
            sc[j].new_tat[k] = nt;
        }
    }
    if (rc == 0) {
        for (int j = 0; j < n; j++) {
            memcpy(sc[j].slot->tat, sc[j].new_tat, sizeof(sc[j].new_tat));
            memcpy(sc[j].slot->lim, sc[j].lim->v, sizeof(sc[j].slot->lim));
            ticket->slot[j] = (uint32_t)(sc[j].slot - sc[j].st->slots) + 1;
            ticket->stripe[j] = (uint8_t)(sc[j].st - stripes);
            ticket->gen[j] = sc[j].slot->gen;
        }
        report(sc, n, now, state);
        ticket->tokens = tokens;
        ticket->active = 1;
    }
    if (hi && hi != lo)
        pthread_mutex_unlock(&hi->mu);
    pthread_mutex_unlock(&lo->mu);
    return rc;
}

void tg_rl_settle(tg_rl_ticket_t *t, int64_t actual_tokens)
{
    if (!t->active)
        return;
    t->active = 0;
    int64_t delta = actual_tokens - t->tokens;
    if (delta == 0)
        return;
    for (int j = 0; j < 2; j++) {
        if (!t->slot[j])
            continue;
        stripe_t *st = &stripes[t->stripe[j]];
        pthread_mutex_lock(&st->mu);
        /* the slot may have moved (the stripe grew) or been reused: then the correction is
         * dropped, which only matters for a bucket that had gone idle anyway */
        if (t->slot[j] - 1 < st->cap) {
            slot_t *s = &st->slots[t->slot[j] - 1];
            if (s->hash && s->gen == t->gen[j]) {
                for (int k = TG_RL_TPM; k <= TG_RL_TPD; k++) {
                    int64_t L = s->lim[k];
                    if (L <= 0)
                        continue;
                    int64_t d = cost_ns(delta > 0 ? delta : -delta, windows[k], L);
                    s->tat[k] += delta > 0 ? d : -d;
                }
            }
        }
        pthread_mutex_unlock(&st->mu);
    }
}

void tg_rl_duration(int64_t ms, char *out, size_t cap)
{
    if (ms < 0)
        ms = 0;
    if (ms < 1000) {
        snprintf(out, cap, "%lldms", (long long)ms);
        return;
    }
    int64_t s = ms / 1000, frac = ms % 1000;
    int64_t h = s / 3600, m = (s / 60) % 60, sec = s % 60;
    char secbuf[32];
    if (frac) {
        char f[8];
        snprintf(f, sizeof(f), "%03lld", (long long)frac);
        for (int i = 2; i > 0 && f[i] == '0'; i--)
            f[i] = '\0';
        snprintf(secbuf, sizeof(secbuf), "%lld.%ss", (long long)sec, f);
    } else {
        snprintf(secbuf, sizeof(secbuf), "%llds", (long long)sec);
    }
    if (h)
        snprintf(out, cap, "%lldh%lldm%s", (long long)h, (long long)m, secbuf);
    else if (m)
        snprintf(out, cap, "%lldm%s", (long long)m, secbuf);
    else
        snprintf(out, cap, "%s", secbuf);
}
