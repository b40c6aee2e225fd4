#include "limits/ratelimit.h"

#include "core/util.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 64
#define MINUTE_NS 60000000000LL
#define DAY_NS (86400LL * 1000000000LL)

int64_t tg_rl_now_override;

/* A bucket's state is its theoretical arrival time kept in units of (ns × limit), so that a
 * request of n units advances it by exactly n × W: L requests fill a window W exactly, with
 * no rounding, whatever L is. */
typedef __int128 tat_t;

typedef struct {
    uint64_t hash; /* 0: empty */
    uint64_t gen;  /* unique per slot within its stripe; kept when the stripe is rebuilt */
    char scope[TG_ID_MAX];
    char model[TG_NAME_MAX];
    tat_t tat[TG_RL__N]; /* scaled by lim[k]; <= now × lim: the bucket is full */
    int64_t lim[TG_RL__N]; /* the limit the tat is scaled by (0: none yet) */
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
        if (s->lim[k] > 0 && s->tat[k] > (tat_t)now * s->lim[k])
            return 0;
    return 1;
}

/* Rebuilds the stripe with `ncap` slots, dropping idle ones (they hold no information) but
 * the one whose hash is `keep` (a slot the current acquire has just made). */
static int rebuild(stripe_t *st, size_t ncap, int64_t now, uint64_t keep)
{
    slot_t *ns = calloc(ncap, sizeof(slot_t));
    if (!ns)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < st->cap; i++) {
        slot_t *s = &st->slots[i];
        if (!s->hash || (s->hash != keep && idle(s, now)))
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

static slot_t *find(stripe_t *st, uint64_t h, const char *scope, const char *model)
{
    for (size_t i = h & (st->cap - 1); st->cap; i = (i + 1) & (st->cap - 1)) {
        slot_t *s = &st->slots[i];
        if (!s->hash)
            return NULL;
        if (s->hash == h && !strcmp(s->scope, scope) && !strcmp(s->model, model))
            return s;
    }
    return NULL;
}

/* Makes sure (scope, model) has a slot (the stripe locked). Pointers into the stripe are
 * invalid afterwards: look slots up again with find(). */
static int ensure(stripe_t *st, uint64_t h, const char *scope, const char *model, int64_t now,
                  uint64_t keep)
{
    if (find(st, h, scope, model))
        return 0;
    if ((st->used + 1) * 4 > st->cap * 3) {
        /* drop idle slots first; grow only if the live ones still fill half */
        size_t live = 0;
        for (size_t i = 0; i < st->cap; i++)
            live += st->slots[i].hash &&
                    (st->slots[i].hash == keep || !idle(&st->slots[i], now));
        size_t ncap = st->cap ? st->cap : 64;
        while ((live + 1) * 2 > ncap)
            ncap *= 2;
        if (rebuild(st, ncap, now, keep) < 0)
            return -1;
    }
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
    return 0;
}

/* The bucket's tat for limit L (rescaled if the limit changed since the last admission). */
static tat_t tat_for(const slot_t *s, int k, int64_t L, int64_t now)
{
    tat_t floor_ = (tat_t)now * L;
    tat_t t = s->lim[k] == L ? s->tat[k] : s->lim[k] > 0 ? s->tat[k] / s->lim[k] * L : 0;
    return t > floor_ ? t : floor_;
}

static int64_t ceil_div(tat_t a, tat_t b)
{
    tat_t q = (a + b - 1) / b;
    return q > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)q; /* absurd usage must not wrap */
}

typedef struct {
    stripe_t *st;
    slot_t *slot;
    const tg_rl_limits_t *lim;
    const char *id;
    uint64_t hash;
    int is_project;
    tat_t new_tat[TG_RL__N];
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
    static const int kinds[2] = {TG_RL_RPM, TG_RL_TPM};
    int64_t best[2] = {-1, -1};
    for (int j = 0; j < n; j++) {
        for (int x = 0; x < 2; x++) {
            int k = kinds[x];
            int64_t L = sc[j].lim->v[k];
            if (L <= 0)
                continue;
            tat_t busy = sc[j].new_tat[k] - (tat_t)now * L; /* in ns × L */
            if (busy < 0)
                busy = 0;
            int64_t rem = (int64_t)(((tat_t)MINUTE_NS * L - busy) / MINUTE_NS);
            if (rem < 0)
                rem = 0;
            int64_t frac = (int64_t)((__int128)rem * 1000000 / L);
            if (best[x] >= 0 && frac >= best[x])
                continue;
            best[x] = frac;
            int64_t reset = (ceil_div(busy, L) + 999999) / 1000000;
            if (x == 0) {
                state->limit_requests = L;
                state->remaining_requests = rem;
                state->reset_requests_ms = reset;
            } else {
                state->limit_tokens = L;
                state->remaining_tokens = rem;
                state->reset_tokens_ms = reset;
            }
            state->have = 1;
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
    /* a request larger than a token limit can never pass: say so rather than "wait" */
    for (int j = 0; j < n; j++) {
        for (int k = TG_RL_TPM; k <= TG_RL_TPD; k++) {
            int64_t L = sc[j].lim->v[k];
            if (L > 0 && tokens > L) {
                why->which = k;
                why->project = sc[j].is_project;
                why->limit = L;
                why->requested = tokens;
                why->too_large = 1;
                return -1;
            }
        }
    }
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
    for (int j = 0; j < n; j++)
        if (ensure(sc[j].st, sc[j].hash, sc[j].id, model, now,
                   j == 1 && sc[1].st == sc[0].st ? sc[0].hash : 0) < 0) {
            n = j; /* out of memory: what has no slot is not limited */
            break;
        }
    for (int j = 0; j < n; j++) /* after every insert: a rebuild moves slots */
        sc[j].slot = find(sc[j].st, sc[j].hash, sc[j].id, model);
    /* decide every bucket, then commit all or nothing; a refusal names the bucket that
     * needs the longest wait, so that waiting retry-after is enough */
    int64_t worst_wait = -1;
    for (int j = 0; j < n; j++) {
        for (int k = 0; k < TG_RL__N; k++) {
            int64_t L = sc[j].lim->v[k], W = windows[k];
            int64_t units = (k == TG_RL_RPM || k == TG_RL_RPD) ? 1 : tokens;
            sc[j].new_tat[k] = sc[j].slot->tat[k];
            if (L <= 0)
                continue;
            tat_t t = tat_for(sc[j].slot, k, L, now);
            tat_t nt = t + (tat_t)units * W;
            tat_t over = nt - (tat_t)now * L - (tat_t)W * L;
            if (over > 0) {
                int64_t wait_ms = ceil_div(over, (tat_t)1000000 * L); /* ns × L → ms */
                if (wait_ms > worst_wait) {
                    worst_wait = wait_ms;
                    why->which = k;
                    why->project = sc[j].is_project;
                    why->limit = L;
                    why->requested = units;
                    tat_t busy = t - (tat_t)now * L;
                    why->used = ceil_div(busy, W);
                    if (why->used > L)
                        why->used = L;
                    why->retry_after_ms = wait_ms;
                }
                rc = -1;
                continue;
            }
            sc[j].new_tat[k] = nt;
        }
    }
    if (rc == 0) {
        for (int j = 0; j < n; j++) {
            memcpy(sc[j].slot->tat, sc[j].new_tat, sizeof(sc[j].new_tat));
            for (int k = 0; k < TG_RL__N; k++)
                if (sc[j].lim->v[k] > 0)
                    sc[j].slot->lim[k] = sc[j].lim->v[k];
            ticket->hash[j] = sc[j].hash;
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
    /* never corrected by more than was taken: usage an upstream over-reports is capped as a
     * charge is (SPEC.md §5) */
    if (actual_tokens > t->tokens)
        actual_tokens = t->tokens;
    if (actual_tokens < 0)
        actual_tokens = 0;
    int64_t delta = actual_tokens - t->tokens;
    if (delta == 0)
        return;
    for (int j = 0; j < 2; j++) {
        if (!t->hash[j])
            continue;
        stripe_t *st = &stripes[t->stripe[j]];
        pthread_mutex_lock(&st->mu);
        /* the slot by its hash and generation: it may have moved when the stripe was rebuilt;
         * if it was dropped (idle) there is nothing left to correct */
        for (size_t i = t->hash[j] & (st->cap - 1); st->cap; i = (i + 1) & (st->cap - 1)) {
            slot_t *s = &st->slots[i];
            if (!s->hash)
                break;
            if (s->hash == t->hash[j] && s->gen == t->gen[j]) {
                for (int k = TG_RL_TPM; k <= TG_RL_TPD; k++)
                    if (s->lim[k] > 0)
                        s->tat[k] += (tat_t)delta * windows[k];
                break;
            }
        }
        pthread_mutex_unlock(&st->mu);
    }
}

void tg_rl_duration(int64_t ms, char *out, size_t cap)
{
    if (ms < 0)
        ms = 0;
    if (ms == 0) { /* Go's time.Duration(0).String() */
        snprintf(out, cap, "0s");
        return;
    }
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
