/* The usage recorder: one writer thread that commits usage records in batches (group
 * commit: one transaction — one fsync — for everything queued since the last one) and then
 * tells each submitter, on the submitter's own event loop, that its record is durable. The
 * API layer sends the end of a response only after that callback, so a client never sees an
 * answer whose usage could be lost in a crash. last_used_at of keys is updated here too,
 * coalesced per batch, so the request path never writes a key row. */
#ifndef TG_BILLING_USAGE_H
#define TG_BILLING_USAGE_H

#include "store/store.h"

struct event_base;

/* Runs on `base`'s thread once the record is committed. */
typedef void (*tg_usage_done_cb)(void *arg);

/* How a request's cost was paid: amounts taken from credit grants, in the ledger's order,
 * and what no grant covered (overdraft). Committed in the same transaction as the usage
 * record. The first TG_CHARGE_INLINE charges live in the record; more (a charge spread over
 * many small grants) in `more`, which the record owns: tg_usage_submit takes it, otherwise
 * tg_charges_dispose frees it. */
#define TG_CHARGE_INLINE 4
typedef struct {
    char grant_id[TG_ID_MAX];
    int64_t amount;
} tg_charge_t;
typedef struct {
    tg_charge_t first[TG_CHARGE_INLINE];
    tg_charge_t *more; /* owned; charges TG_CHARGE_INLINE .. n-1 */
    int n, cap_more;
    int64_t overdraft;
} tg_charges_t;

/* The i-th charge (0 <= i < n). */
static inline const tg_charge_t *tg_charges_at(const tg_charges_t *ch, int i)
{
    return i < TG_CHARGE_INLINE ? &ch->first[i] : &ch->more[i - TG_CHARGE_INLINE];
}
void tg_charges_dispose(tg_charges_t *ch); /* frees `more`; the record stays readable as empty */

int tg_usage_start(const char *db_url);
/* Copies the row and takes the charges (NULL: none; *charges is left empty). cb may be NULL
 * (fire and forget). The usage record, its per-minute aggregate and its charges commit
 * together or not at all. */
void tg_usage_submit(const tg_usage_row_t *row, tg_charges_t *charges,
                     struct event_base *base, tg_usage_done_cb cb, void *arg);
/* Writes a charges record to the store (inside the caller's transaction): what the writer
 * does for every new usage record. */
int tg_usage_apply_charges(tg_store_t *st, const char *org_id, const tg_charges_t *ch);
/* Marks a key as used now (every authenticated request does). */
void tg_usage_touch_key(const char *key_id);
/* 0 while the store has been failing for more than a second (commits or, when idle, a ping
 * every second): usage cannot be recorded, so no new metered request may start. */
int tg_usage_ok(void);
/* Commits what is queued, then stops the thread. */
void tg_usage_stop(void);

/* Counters for /metrics. */
/* The writer's counters for /metrics. Histograms are per bucket (not cumulative): batch
 * sizes by TG_USAGE_BATCH_BOUNDS records, commit times by TG_USAGE_COMMIT_BOUNDS seconds, the
 * last bucket of each being the rest. */
#define TG_USAGE_BATCH_BOUNDS {1, 2, 4, 8, 16, 32, 64, 128, 256, 512}
#define TG_USAGE_COMMIT_BOUNDS {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
typedef struct {
    unsigned long long committed, batches, failures;
    unsigned long long queued; /* records waiting for the next batch now */
    uint64_t batch_size[11], commit_time[12];
    uint64_t commit_us; /* the sum of commit times */
} tg_usage_stats_t;
void tg_usage_stats(tg_usage_stats_t *out);

#endif
