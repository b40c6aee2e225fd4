/* Usage tiers (SPEC.md §5): the shipped, editable table data/tiers.json — qualification,
 * monthly usage limit and default rate limits per model type and per model. */
#ifndef TG_LIMITS_TIERS_H
#define TG_LIMITS_TIERS_H

#include "limits/ratelimit.h"
#include "store/store.h"

typedef struct tg_tiers tg_tiers_t;

/* Loads the table (once, at start); 0 or -1 with a message logged. */
int tg_tiers_load(const char *path);
void tg_tiers_free(void);
/* The default limits of `tier` for a model (its own row, else its type's); zeros when the
 * tier is unknown or the table is not loaded (no limit). */
void tg_tiers_limits(const char *tier, const tg_model_row_t *m, tg_rl_limits_t *out);

#endif
