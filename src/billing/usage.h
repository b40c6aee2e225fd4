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

/* How a request's cost was paid: amounts taken from credit grants, and what no grant
 * covered (overdraft). Committed in the same transaction as the usage record. */
#define TG_CHARGE_MAX 32 /* grants named one by one; beyond, see `tail` */
typedef struct {
    struct {
        char grant_id[TG_ID_MAX];
        int64_t amount;
    } from[TG_CHARGE_MAX];
    int n;
    /* a charge spanning more than TG_CHARGE_MAX grants: the rest, taken from the following
     * grants in consumption order (the store applies the same order) */
    int64_t tail;
    int64_t overdraft;
} tg_charges_t;

int tg_usage_start(const char *db_url);
/* Copies the row and the charges (NULL: none). cb may be NULL (fire and forget). The usage
 * record, its per-minute aggregate and its charges commit together or not at all. */
void tg_usage_submit(const tg_usage_row_t *row, const tg_charges_t *charges,
                     struct event_base *base, tg_usage_done_cb cb, void *arg);
/* Writes a charges record to the store (inside the caller's transaction): what the writer
 * does for every new usage record. */
int tg_usage_apply_charges(tg_store_t *st, const char *org_id, const tg_charges_t *ch,
                           int64_t now);
/* Marks a key as used now (every authenticated request does). */
void tg_usage_touch_key(const char *key_id);
/* Commits what is queued, then stops the thread. */
void tg_usage_stop(void);

/* Counters for /metrics. */
typedef struct {
    unsigned long long committed, batches, failures;
} tg_usage_stats_t;
void tg_usage_stats(tg_usage_stats_t *out);

#endif
