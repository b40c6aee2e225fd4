/* The in-memory catalog: an immutable, refcounted snapshot of organisations, projects, live
 * keys, providers (with their adapters and decrypted upstream keys) and models. The request path reads
 * only this — never the database. Any change made through the Admin API rebuilds the
 * snapshot from the store and publishes it; workers pick the new one up on their next
 * request (tg_catalog_current) and old snapshots live until their last request ends. */
#ifndef TG_CATALOG_H
#define TG_CATALOG_H

#include "limits/ratelimit.h"
#include "providers/pool.h"
#include "store/store.h"

#include <stdint.h>

typedef struct {
    tg_key_row_t row;
    unsigned scopes;
    char **allowed; /* NULL: any model */
    size_t nallowed;
    const tg_org_row_t *org;
    const tg_project_row_t *project; /* NULL for admin keys */
} tg_cat_key_t;

/* A model's route: the enabled providers that serve it, by priority (providers/pool.h picks
 * among them per attempt). n == 0: no provider serves the model. */
typedef struct {
    const tg_target_t *targets;
    int n;
} tg_cat_route_t;

typedef struct tg_catalog tg_catalog_t;

/* Rebuilds the snapshot from `st` and publishes it, then tells the other instances (the
 * hook set by tg_catalog_on_change: with several instances, src/shared/ passes it on). */
int tg_catalog_reload(tg_store_t *st);
/* The same without telling anyone: for a change another instance made. */
int tg_catalog_refresh(tg_store_t *st);
void tg_catalog_on_change(void (*fn)(void));
/* Drops the published snapshot (at exit). */
void tg_catalog_shutdown(void);
/* The newest snapshot, cached in *slot (one slot per worker thread): cheap when unchanged. */
tg_catalog_t *tg_catalog_current(tg_catalog_t **slot);
tg_catalog_t *tg_catalog_ref(tg_catalog_t *c);
void tg_catalog_unref(tg_catalog_t *c); /* NULL-tolerant */

/* Lookups (borrow from the snapshot). */
const tg_cat_key_t *tg_catalog_key_by_secret(const tg_catalog_t *c, const char *secret,
                                             size_t len);
const tg_org_row_t *tg_catalog_org(const tg_catalog_t *c, const char *id);
const tg_project_row_t *tg_catalog_project(const tg_catalog_t *c, const char *id);
const tg_model_row_t *tg_catalog_model(const tg_catalog_t *c, const char *id, size_t len);
/* The route of a model (index i of tg_catalog_models), never NULL. */
const tg_cat_route_t *tg_catalog_route(const tg_catalog_t *c, const tg_model_row_t *m);
const tg_model_row_t *tg_catalog_models(const tg_catalog_t *c, size_t *n);
/* A provider by id (enabled or not); NULL when there is none. */
const tg_provider_t *tg_catalog_provider(const tg_catalog_t *c, const char *id);
int tg_catalog_key_allows(const tg_cat_key_t *k, const char *model);
/* The project's limits for a model: the tighter of `org` (the tier's defaults) and the
 * project's own rate limits (set through the Admin API). */
void tg_catalog_project_limits(const tg_catalog_t *c, const char *project_id, const char *model,
                               const tg_rl_limits_t *org, tg_rl_limits_t *out);

#endif
