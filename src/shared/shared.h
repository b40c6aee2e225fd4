/* Shared counters for several instances (SPEC.md §6): rate limits, reservations, credit and
 * monthly spend as one number for every `tollgate serve` that runs on the same PostgreSQL,
 * kept in Redis (`serve --redis redis://HOST:PORT[/N]`). The whole face of src/shared/.
 *
 *   redis.c     connections: one asynchronous connection per worker loop (hiredis with its
 *               libevent adapter: commands of one loop turn are pipelined), one synchronous
 *               connection for the Admin API and the control thread; timeouts, reconnection,
 *               health; the control thread's lease, sweep and invalidation (pub/sub)
 *   counters.c  the scripts' C side: admit, settle (and its retries), grants, balances,
 *               limits, and the rebuild of Redis from the store when Redis starts empty
 *   scripts.lua the atomic steps themselves (one script per step)
 *
 * The truth stays in the store: grants, overdrafts, limits and usage (with its charges) are
 * written there as with one instance; Redis holds the live numbers that must be one across
 * instances — what is reserved, what is left, what was spent this month, and the rate
 * limits' buckets — and is rebuilt from the store when it is found empty (SPEC.md §6).
 *
 * Leases: every instance renews its lease in Redis every second; a reservation belongs to
 * its instance; any instance gives back the reservations of an instance whose lease ran out
 * (TG_SHARED_LEASE_MS), so a killed instance leaves no money held.
 *
 * Failures: when Redis does not answer within TG_SHARED_TIMEOUT_MS, or is unreachable, a
 * request that needs it is refused (503), never served unmetered; a settlement that could
 * not reach Redis is recorded in the store as overdraft (exactly what was charged) and
 * applied to Redis when it is back (retried in order, never twice). */
#ifndef TG_SHARED_H
#define TG_SHARED_H

#include "billing/ledger.h"
#include "billing/usage.h"
#include "limits/ratelimit.h"
#include "store/store.h"

#include <stdint.h>

struct event_base;

#define TG_SHARED_TIMEOUT_MS 2000 /* a command without an answer: the connection is dropped */
#define TG_SHARED_LEASE_MS 20000  /* an instance silent this long has died */
/* Lua in Redis counts in doubles: every amount stays below 2^53 nano-dollars. */
#define TG_SHARED_MAX_NANOS (1LL << 53)

/* ---- redis.c ---- */

/* Parses redis://HOST[:PORT][/DB] (0, or -1 with a message in err). */
int tg_shared_config(const char *url, char *err, size_t cap);
int tg_shared_on(void); /* configured */
/* Connects, loads the scripts, rebuilds Redis from st when it is empty, and starts the
 * control thread (lease, sweep, invalidation). reload: re-reads what an instance caches
 * (the catalog), called on the control thread when another instance changed something. */
int tg_shared_start(tg_store_t *st, int (*reload)(tg_store_t *st));
/* Applies what is left to apply, gives back this instance's reservations, stops. */
void tg_shared_stop(void);
/* Redis answered within the last few seconds (for /readyz and for refusing requests). */
int tg_shared_ok(void);
/* Tells every other instance that something they cache changed (keys, prices, limits,
 * tiers, suspensions): they re-read it within TG_SHARED_TIMEOUT_MS. */
void tg_shared_publish(void);
/* A lock across instances, for the jobs that must run on one at a time (auto-recharge):
 * 1 taken, 0 held by another instance, -1 Redis down. It expires after ttl_ms. */
int tg_shared_lock(const char *kind, const char *id, int ttl_ms);
void tg_shared_unlock(const char *kind, const char *id);
/* This instance's id (random per start). */
const char *tg_shared_instance(void);

/* One asynchronous connection per worker loop. */
typedef struct tg_shared_conn tg_shared_conn_t;
tg_shared_conn_t *tg_shared_conn_new(struct event_base *base);
/* Ends the connection: pending callbacks run with a failure. */
void tg_shared_conn_free(tg_shared_conn_t *sc);

/* ---- counters.c ---- */

/* What admission holds in Redis; filled by tg_shared_admit, read by tg_shared_settle. */
typedef struct {
    char resv_id[28];
    char org_id[TG_ID_MAX], project_id[TG_ID_MAX], model[TG_NAME_MAX];
    int exempt;
    int64_t amount, tokens;
    tg_rl_limits_t lo, lp;
} tg_shared_hold_t;

/* The answer of an admission. */
typedef struct {
    int rc; /* 0 admitted; TG_SHARED_RL rate limit; TG_SHARED_MONEY; TG_SHARED_DOWN */
    tg_rl_state_t rl_state;
    tg_rl_refusal_t rl;
    int money_err; /* 1 credit, 2 the tier's cap, 3 the org's hard limit, 4 the project's */
    int64_t left;
} tg_shared_verdict_t;
enum { TG_SHARED_RL = 1, TG_SHARED_MONEY = 2, TG_SHARED_DOWN = 3 };

typedef void (*tg_shared_admit_cb)(void *arg, const tg_shared_verdict_t *v);
/* Rate limits and the reservation of h->amount in one step. Returns 0 with cb to come (on
 * sc's loop), or -1 when Redis is not reachable now (nothing held, cb never runs). */
int tg_shared_admit(tg_shared_conn_t *sc, tg_shared_hold_t *h, int64_t tier_cap,
                    tg_shared_admit_cb cb, void *arg);
/* Gives back a reservation that never reached a provider (no charge). */
void tg_shared_release(tg_shared_conn_t *sc, const tg_shared_hold_t *h);

/* What a settlement charged (cost capped at the reservation) and where from. */
typedef struct {
    int64_t charged;
    tg_charges_t charges;
    int64_t available, org_spend, project_spend, month; /* for the alert/recharge hooks */
    int reached; /* Redis answered (0: recorded as overdraft, applied later) */
} tg_shared_settled_t;
typedef void (*tg_shared_settle_cb)(void *arg, tg_shared_settled_t *s);
/* Releases h and charges cost (capped at h->amount) from the grants, in one step; the rate
 * limits get back what was reserved and not used. cb runs exactly once, on sc's loop (or
 * now, when Redis is not reachable: then the whole cost is overdraft in the record and is
 * applied to Redis later). cb owns s->charges. */
void tg_shared_settle(tg_shared_conn_t *sc, const tg_shared_hold_t *h, int64_t cost,
                      int64_t actual_tokens, tg_shared_settle_cb cb, void *arg);

/* The ledger's reads and writes for the Admin API and payments (synchronous; any thread):
 * the ledger's remote (billing/ledger.h), installed by `serve --redis`. */
extern const tg_ledger_remote_t tg_shared_ledger;

/* Something the store has could not reach Redis: rebuild Redis from the store as soon as
 * it answers. */
void tg_shared_want_rebuild(void);

/* Rebuilds Redis from the store when it is empty (called by the control thread). */
int tg_shared__rebuild(tg_store_t *st);

#endif
