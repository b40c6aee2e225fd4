/* The ledger: every organisation's credit, reservations and monthly spend, in memory,
 * rebuilt from the store at start and kept durable through the usage writer. It is the one
 * home of the money rules: which grant pays (the order), what becomes overdraft and who
 * pays it back, the calendar month, and the cap of a charge at its reservation. The store
 * only persists what the ledger decided.
 *
 *   available = Σ (amount − consumed) of unexpired grants − overdraft − reserved
 *   month spend (org, project) = Σ cost charged this calendar month (UTC) + reserved
 *
 * Before a request is forwarded, tg_ledger_reserve() takes its worst-case cost; it fails if
 * that does not fit the credit (non-operator organisations), the usage tier's monthly cap,
 * the organisation's monthly hard limit or the project's. The check and the reservation are
 * one step under the organisation's lock, so no number of concurrent requests can together
 * pass a limit. When the request ends, tg_ledger_settle() releases the reservation and
 * charges the real cost, **never more than the reservation**: it is taken from the
 * unexpired grants that expire first (promotional and operator credit before purchased on
 * equal dates, then the oldest); whatever no grant covers is overdraft, which the next
 * grant pays first. The charges travel with the usage record and commit in the same
 * transaction, so after a crash the store holds exactly the charges of the usage records it
 * holds.
 *
 * Invariants (checked by tests/unit/test_ledger.c and test_ledger_props.c):
 *   - every amount is an integer number of nano-dollars in [0, 2^63); Σ amount of an
 *     organisation's grants stays below 2^63 (a grant that would pass it is refused), so no
 *     sum in here overflows; spend and reservations saturate instead of wrapping;
 *   - a charge made through an active reservation is at most that reservation;
 *   - reserved is the sum of the active reservations, and is 0 when none is.
 *
 * Concurrency: accounts live in a fixed hash of 4096 chains under 64 striped locks; an
 * account is allocated once and never moves or is freed before tg_ledger_shutdown, and has
 * a lock of its own. A reservation keeps a pointer to its account. Every function may run
 * on any thread. */
#ifndef TG_BILLING_LEDGER_H
#define TG_BILLING_LEDGER_H

#include "billing/usage.h"
#include "core/errors.h"
#include "store/store.h"

#include <stdint.h>

#define TG_NANOS_PER_CENT 10000000LL

struct tg_account;

typedef struct {
    struct tg_account *acct; /* borrowed: accounts outlive every request */
    char project_id[TG_ID_MAX];
    int64_t amount; /* nano-dollars held */
    int active;
} tg_reservation_t;

/* Loads grants, overdrafts, limits and this month's spend. Call once before serving. */
int tg_ledger_load(tg_store_t *st);
void tg_ledger_shutdown(void);

/* Reserves `amount` for a request of (org, project). tier_cap_nanos: the usage tier's
 * monthly limit (0: none). Returns TG_OK, or TG_E_CREDIT_EXHAUSTED, TG_E_USAGE_LIMIT,
 * TG_E_ORG_SPEND_LIMIT, TG_E_PROJECT_SPEND_LIMIT with *left (if not NULL) set to what was
 * left under the refusing limit (≤ 0: the limit is reached; > 0: only this request's worst
 * case does not fit). Nothing is held after a refusal. */
tg_err_t tg_ledger_reserve(const tg_org_row_t *org, const char *project_id, int64_t amount,
                           int64_t tier_cap_nanos, tg_reservation_t *r, int64_t *left);
/* Releases r and charges `cost`, capped at r's amount (r NULL: an administrative charge, not
 * capped; r already settled: nothing is charged again). Fills `charges` (dispose with tg_charges_dispose
 * unless handed to tg_usage_submit). Returns what was charged. */
int64_t tg_ledger_settle(tg_reservation_t *r, const char *org_id, const char *project_id,
                         int64_t cost, tg_charges_t *charges);

/* Adds a grant in two steps around the caller's transaction. tg_ledger_grant_write fills id
 * and granted_at when empty, decides how much of the organisation's overdraft the grant
 * pays (set as its `consumed`) and writes the grant and that payment to the store; the
 * in-memory ledger changes only in tg_ledger_grant_done, called once after the commit
 * (committed 1) or the rollback (0). Returns 0, -1 (store error), or TG_LEDGER_ETOO_LARGE
 * when the organisation's grants would total 2^63 nano-dollars or more (nothing written). */
#define TG_LEDGER_ETOO_LARGE (-2)
int tg_ledger_grant_write(tg_store_t *st, tg_grant_row_t *g);
void tg_ledger_grant_done(const tg_grant_row_t *g, int committed);
/* Both steps in the caller's transaction, for callers that commit right after (the memory
 * changes before the commit: tests and tools only). */
int tg_ledger_grant(tg_store_t *st, tg_grant_row_t *g);

typedef struct {
    int64_t available, reserved, granted, used, overdraft;
} tg_balance_t;
/* The balance; grants (malloc'd, with `consumed` as of now) if rows is not NULL (read from
 * st with the shared counters). */
int tg_ledger_balance(tg_store_t *st, const char *org_id, tg_balance_t *out,
                      tg_grant_row_t **rows, size_t *n);

/* Monthly hard limits in cents (0: none). */
int tg_ledger_set_limit(tg_store_t *st, const char *org_id, const char *scope_id, int64_t cents);
int64_t tg_ledger_limit(const char *org_id, const char *scope_id);
/* This month's spend (charged + reserved) of an organisation or one of its projects. */
int64_t tg_ledger_month_spend(const char *org_id, const char *project_id);

/* Called after every settle, outside the ledger's locks, with the organisation's available
 * credit and month spend (charged, without reservations) of the org and the project. At
 * most one hook per kind; set before serving. */
typedef void (*tg_ledger_hook_t)(const char *org_id, const char *project_id, int64_t available,
                                 int64_t org_spend, int64_t project_spend, int64_t month);
void tg_ledger_set_hook(int index, tg_ledger_hook_t hook); /* index 0: alerts, 1: recharge */
/* Runs the hooks (the shared counters call it after a charge made in Redis). exempt: the
 * operator's organisation (no auto-recharge). */
void tg_ledger_notify(const char *org_id, const char *project_id, int64_t available,
                      int64_t org_spend, int64_t project_spend, int64_t month, int exempt);

/* The ledger's live numbers kept elsewhere: with several instances they are one number for
 * all of them, in Redis (src/shared/ implements this and `serve --redis` installs it). The
 * ledger's public functions then ask it instead of the memory above; reserve and settle are
 * not here (they are asynchronous: the gate calls src/shared/ for them). */
typedef struct {
    int64_t available, reserved, granted, consumed, overdraft;
    int64_t org_month, project_month; /* spend + reserved this month */
    int64_t org_limit, project_limit; /* hard limits, nano-dollars (0: none) */
} tg_remote_balance_t;
typedef struct {
    int (*balance)(const char *org_id, const char *project_id, tg_remote_balance_t *out);
    int64_t (*grant_remaining)(const char *org_id, const char *grant_id); /* -1: expired */
    /* the overdraft a new grant pays (≥ 0), -1 (unreachable) or -2 (over the cap) */
    int64_t (*grant_claim)(const char *org_id, int64_t amount);
    int (*grant_done)(const tg_grant_row_t *g, int committed);
    int (*set_limit)(const char *org_id, const char *scope_id, int64_t nanos);
    void (*want_rebuild)(void); /* the store has something the remote could not get */
} tg_ledger_remote_t;
/* Set once before serving (NULL: the ledger in memory). */
void tg_ledger_set_remote(const tg_ledger_remote_t *remote);

/* Appends one charge to ch; 0, or -1 when out of memory. */
int tg_charges_add(tg_charges_t *ch, const char *grant_id, int64_t amount);
/* The order in which grants pay (grant_before in ledger.c) as text that sorts the same way,
 * for the shared counters' sorted sets (src/shared/). */
void tg_ledger_grant_order_key(const tg_grant_row_t *g, char *buf, size_t cap);

/* Cents to nano-dollars, saturating at INT64_MAX. */
int64_t tg_cents_to_nanos(int64_t cents);

/* The start of the calendar month (UTC) containing t. */
int64_t tg_month_start(int64_t t);

#endif
