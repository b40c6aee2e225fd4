/* The ledger: every organisation's credit, reservations and monthly spend, in memory,
 * rebuilt from the store at start and kept durable through the usage writer.
 *
 *   available = Σ (amount − consumed) of unexpired grants − overdraft − reserved
 *   month spend (org, project) = Σ cost charged this calendar month (UTC) + reserved
 *
 * Before a request is forwarded, tg_ledger_reserve() takes its worst-case cost; it fails if
 * that does not fit the credit (non-operator organisations), the organisation's monthly hard
 * limit or the project's. The check and the reservation are one step under one lock, so no
 * number of concurrent requests can together pass a limit. When the request ends,
 * tg_ledger_settle() releases the reservation and charges the real cost: it is taken from
 * the unexpired grants that expire first (promotional and operator credit before purchased
 * on equal dates); whatever no grant covers is overdraft. The charges travel with the usage
 * record and commit in the same transaction, so after a crash the store holds exactly the
 * charges of the usage records it holds. */
#ifndef TG_BILLING_LEDGER_H
#define TG_BILLING_LEDGER_H

#include "billing/usage.h"
#include "core/errors.h"
#include "store/store.h"

#include <stdint.h>

#define TG_NANOS_PER_CENT 10000000LL

typedef struct {
    char org_id[TG_ID_MAX];
    char project_id[TG_ID_MAX];
    int64_t amount; /* nano-dollars held */
    int64_t month;  /* the month (start, unix seconds) it was taken in */
    int active;
} tg_reservation_t;

/* Loads grants, overdrafts, limits and this month's spend. Call once before serving. */
int tg_ledger_load(tg_store_t *st);
void tg_ledger_shutdown(void);

/* Reserves `amount` for a request of (org, project). tier_cap_nanos: the usage tier's
 * monthly limit (0: none). Returns TG_OK, or TG_E_CREDIT_EXHAUSTED, TG_E_USAGE_LIMIT,
 * TG_E_ORG_SPEND_LIMIT, TG_E_PROJECT_SPEND_LIMIT (nothing held). */
tg_err_t tg_ledger_reserve(const tg_org_row_t *org, const char *project_id, int64_t amount,
                           int64_t tier_cap_nanos, tg_reservation_t *r);
/* Releases r (if active) and charges `cost`; fills `charges` for the usage record. */
void tg_ledger_settle(tg_reservation_t *r, const char *org_id, const char *project_id,
                      int64_t cost, tg_charges_t *charges);

/* Adds a grant (to the store, then in memory); it first pays any overdraft. Fills id and
 * granted_at when empty. Makes two writes: run it inside a transaction (the caller's). */
int tg_ledger_grant(tg_store_t *st, tg_grant_row_t *g);

typedef struct {
    int64_t available, reserved, granted, used, overdraft;
} tg_balance_t;
/* The balance; grants (malloc'd, with `consumed` as of now) if rows is not NULL. */
int tg_ledger_balance(const char *org_id, tg_balance_t *out, tg_grant_row_t **rows, size_t *n);

/* Monthly hard limits in cents (0: none). */
int tg_ledger_set_limit(tg_store_t *st, const char *org_id, const char *scope_id, int64_t cents);
int64_t tg_ledger_limit(const char *org_id, const char *scope_id);
/* This month's spend (charged + reserved) of an organisation or one of its projects. */
int64_t tg_ledger_month_spend(const char *org_id, const char *project_id);

/* Called after every settle, outside the ledger's lock, with the organisation's available
 * credit and month spend (charged, without reservations) of the org and the project. At
 * most one hook per kind; set before serving. */
typedef void (*tg_ledger_hook_t)(const char *org_id, const char *project_id, int64_t available,
                                 int64_t org_spend, int64_t project_spend, int64_t month);
void tg_ledger_set_hook(int index, tg_ledger_hook_t hook); /* index 0: alerts, 1: recharge */

/* Cents to nano-dollars, saturating at INT64_MAX. */
int64_t tg_cents_to_nanos(int64_t cents);

/* The start of the calendar month (UTC) containing t. */
int64_t tg_month_start(int64_t t);

#endif
