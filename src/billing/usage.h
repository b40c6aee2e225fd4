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

int tg_usage_start(const char *db_url);
/* Copies the row. cb may be NULL (fire and forget). */
void tg_usage_submit(const tg_usage_row_t *row, struct event_base *base, tg_usage_done_cb cb,
                     void *arg);
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
