/* Usage tiers (SPEC.md §5): the shipped, editable table data/tiers.json — qualification,
 * monthly usage limit and default rate limits per model type and per model. */
#ifndef TG_LIMITS_TIERS_H
#define TG_LIMITS_TIERS_H

#include "limits/ratelimit.h"
#include "store/store.h"

typedef struct tg_tiers tg_tiers_t;

/* Loads the table (at start); 0 or -1 with a message logged. */
int tg_tiers_load(const char *path);
/* Reads the table again (SIGHUP): 1 if it changed (published: requests from now on use it),
 * 0 if unchanged, -1 with a message logged if unreadable (the table in force stays). */
int tg_tiers_reload(const char *path);
void tg_tiers_free(void);
/* The default limits of `tier` for a model (its own row, else its type's); zeros when the
 * tier is unknown or the table is not loaded (no limit). */
void tg_tiers_limits(const char *tier, const tg_model_row_t *m, tg_rl_limits_t *out);

/* The monthly usage limit of a tier in cents (0: none or unknown). */
int64_t tg_tiers_monthly_cap(const char *tier);
/* 1 if `tier` may use model `m` (model_min_tier), else 0; *needed gets the tier's name. */
int tg_tiers_allows(const char *tier, const char *model, const char **needed);
/* The tier an organisation qualifies for with `paid_cents` paid in all and its first payment
 * `days` ago (the highest whose qualification it meets); "free" with no payment. */
const char *tg_tiers_qualify(int64_t paid_cents, int64_t days);
/* Moves an organisation up to the tier its payments qualify it for (never down; the
 * operator's organisation is left alone) and rebuilds the catalog when it changed. Run after
 * each successful payment and at start (for promotions that only waited for days to pass).
 * Returns 1 if promoted, 0 if not, -1 on error. */
int tg_tiers_promote(tg_store_t *st, const tg_org_row_t *org);
/* Position of a tier in the table (free = 0), -1 if unknown. */
int tg_tiers_rank(const char *tier);
/* The tier after `tier` (NULL at the top) and its qualification. */
const char *tg_tiers_next(const char *tier, int64_t *paid_cents, int64_t *days);
/* Display name ("Tier 1") of a tier id. */
const char *tg_tiers_name(const char *tier);

#endif
