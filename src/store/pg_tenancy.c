/* PostgreSQL backend, tenancy: organisations, projects, keys, providers, models, projects'
 * rate limits (store/tenancy.h).
 *
 * The SQL of sqlite_tenancy.c, translated: `seq` where SQLite orders by rowid, text ordered
 * with COLLATE "C" (SQLite's BINARY: byte order, whatever the database's locale), INSERT OR
 * REPLACE as an upsert that moves the row to the end of the insertion order, as SQLite's
 * delete-and-insert does. */
#include "store/pg_int.h"

#include <string.h>

/* ---- organisations ---- */

static int pg_org_insert(tg_store_t *b, const tg_org_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->name);
    tg_pg__text(&a, r->tier);
    tg_pg__int(&a, r->is_operator);
    tg_pg__int(&a, r->created_at);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO organizations (id,name,tier,is_operator,created_at)"
                      " VALUES ($1,$2,$3,$4,$5)",
                      &a, NULL);
}

static void fill_org(const PGresult *res, int i, void *out)
{
    tg_org_row_t *r = out;
    tg_pg__col_text(res, i, 0, r->id, sizeof(r->id));
    tg_pg__col_text(res, i, 1, r->name, sizeof(r->name));
    tg_pg__col_text(res, i, 2, r->tier, sizeof(r->tier));
    r->is_operator = (int)tg_pg__col_int(res, i, 3);
    r->created_at = tg_pg__col_int(res, i, 4);
    r->suspended = (int)tg_pg__col_int(res, i, 5);
    r->tier_locked = (int)tg_pg__col_int(res, i, 6);
}

static int pg_org_list(tg_store_t *b, tg_org_row_t **rows, size_t *n)
{
    return tg_pg__collect((pg_t *)b,
                          "SELECT id,name,tier,is_operator,created_at,suspended,tier_locked"
                          " FROM organizations ORDER BY created_at, id COLLATE \"C\"",
                          NULL, sizeof(tg_org_row_t), fill_org, (void **)rows, n);
}

static int pg_org_rename(tg_store_t *b, const char *id, const char *name)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, name);
    tg_pg__text(&a, id);
    return tg_pg__change((pg_t *)b, "UPDATE organizations SET name=$1 WHERE id=$2", &a);
}

/* An unknown organisation is no error (as with SQLite). */
static int pg_org_set_tier(tg_store_t *b, const char *org_id, const char *tier)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, tier);
    tg_pg__text(&a, org_id);
    return tg_pg__cmd((pg_t *)b, "UPDATE organizations SET tier=$1 WHERE id=$2", &a, NULL);
}

static int pg_org_update(tg_store_t *b, const char *org_id, const char *name, const char *tier,
                         int suspended)
{
    tg_pg_args_t a = {0};
    tg_pg__opt_text(&a, name);
    tg_pg__opt_text(&a, tier);
    tg_pg__int(&a, suspended);
    tg_pg__text(&a, org_id);
    return tg_pg__change((pg_t *)b,
                         "UPDATE organizations SET name=COALESCE($1,name), tier=COALESCE($2,tier),"
                         " tier_locked=CASE WHEN $2::text IS NULL THEN tier_locked ELSE 1 END,"
                         " suspended=CASE WHEN $3::int < 0 THEN suspended ELSE $3::int END"
                         " WHERE id=$4",
                         &a);
}

static void fill_version(const PGresult *r, int row, void *out)
{
    *(int64_t *)out = tg_pg__col_int(r, row, 0);
}

static int pg_catalog_version(tg_store_t *b, int64_t *version)
{
    *version = 0;
    int rc = tg_pg__get_one((pg_t *)b, "SELECT version FROM catalog_changes WHERE id=1", NULL,
                            fill_version, version);
    return rc == TG_STORE_NOTFOUND ? 0 : rc;
}

static int pg_catalog_bump(tg_store_t *b)
{
    return tg_pg__cmd((pg_t *)b, "UPDATE catalog_changes SET version=version+1 WHERE id=1",
                      NULL, NULL);
}

/* ---- projects ---- */

static int pg_project_upsert(tg_store_t *b, const tg_project_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->org_id);
    tg_pg__text(&a, r->name);
    tg_pg__int(&a, r->created_at);
    tg_pg__opt_int(&a, r->archived_at);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO projects (id,organization_id,name,created_at,archived_at)"
                      " VALUES ($1,$2,$3,$4,$5) ON CONFLICT (id) DO UPDATE"
                      " SET name=EXCLUDED.name, archived_at=EXCLUDED.archived_at",
                      &a, NULL);
}

static void fill_project(const PGresult *res, int i, void *out)
{
    tg_project_row_t *r = out;
    tg_pg__col_text(res, i, 0, r->id, sizeof(r->id));
    tg_pg__col_text(res, i, 1, r->org_id, sizeof(r->org_id));
    tg_pg__col_text(res, i, 2, r->name, sizeof(r->name));
    r->created_at = tg_pg__col_int(res, i, 3);
    r->archived_at = tg_pg__col_int(res, i, 4);
}

static int pg_project_list(tg_store_t *b, const char *org_id, tg_project_row_t **rows, size_t *n)
{
    tg_pg_args_t a = {0};
    tg_pg__opt_text(&a, org_id);
    return tg_pg__collect((pg_t *)b,
                          "SELECT id,organization_id,name,created_at,archived_at FROM projects"
                          " WHERE $1::text IS NULL OR organization_id=$1"
                          " ORDER BY created_at, seq",
                          &a, sizeof(tg_project_row_t), fill_project, (void **)rows, n);
}

/* ---- keys ---- */

static int pg_key_insert(tg_store_t *b, const tg_key_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__int(&a, r->kind);
    tg_pg__text(&a, r->org_id);
    tg_pg__opt_text(&a, r->project_id);
    tg_pg__text(&a, r->name);
    tg_pg__blob(&a, r->hash, sizeof(r->hash)); /* out of memory: tg_pg__cmd refuses it */
    tg_pg__text(&a, r->redacted);
    tg_pg__text(&a, r->permissions);
    tg_pg__opt_text(&a, r->allowed_models);
    tg_pg__int(&a, r->created_at);
    tg_pg__opt_int(&a, r->expires_at);
    tg_pg__opt_int(&a, r->last_used_at);
    tg_pg__opt_int(&a, r->revoked_at);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO api_keys (id,kind,organization_id,project_id,name,key_hash,"
                      "redacted,permissions,allowed_models,created_at,expires_at,last_used_at,"
                      "revoked_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
                      &a, NULL);
}

static int pg_key_revoke(tg_store_t *b, const char *id, int64_t at)
{
    tg_pg_args_t a = {0};
    tg_pg__int(&a, at);
    tg_pg__text(&a, id);
    return tg_pg__change((pg_t *)b, "UPDATE api_keys SET revoked_at=$1 WHERE id=$2 AND revoked_at IS NULL", &a);
}

static void fill_key(const PGresult *res, int i, void *out)
{
    tg_key_row_t *r = out;
    unsigned char hash[sizeof(r->hash)];
    tg_pg__col_text(res, i, 0, r->id, sizeof(r->id));
    r->kind = (int)tg_pg__col_int(res, i, 1);
    tg_pg__col_text(res, i, 2, r->org_id, sizeof(r->org_id));
    tg_pg__col_text(res, i, 3, r->project_id, sizeof(r->project_id));
    tg_pg__col_text(res, i, 4, r->name, sizeof(r->name));
    /* a hash of any other length is left zero, as with SQLite */
    if (tg_pg__col_blob(res, i, 5, hash, sizeof(hash)) == sizeof(hash))
        memcpy(r->hash, hash, sizeof(hash));
    tg_pg__col_text(res, i, 6, r->redacted, sizeof(r->redacted));
    tg_pg__col_text(res, i, 7, r->permissions, sizeof(r->permissions));
    tg_pg__col_text(res, i, 8, r->allowed_models, sizeof(r->allowed_models));
    r->created_at = tg_pg__col_int(res, i, 9);
    r->expires_at = tg_pg__col_int(res, i, 10);
    r->last_used_at = tg_pg__col_int(res, i, 11);
    r->revoked_at = tg_pg__col_int(res, i, 12);
}

static int pg_key_list(tg_store_t *b, const char *org_id, tg_key_row_t **rows, size_t *n)
{
    tg_pg_args_t a = {0};
    tg_pg__opt_text(&a, org_id);
    return tg_pg__collect((pg_t *)b,
                          "SELECT id,kind,organization_id,project_id,name,key_hash,redacted,"
                          "permissions,allowed_models,created_at,expires_at,last_used_at,"
                          "revoked_at FROM api_keys WHERE revoked_at IS NULL AND"
                          " ($1::text IS NULL OR organization_id=$1) ORDER BY created_at, seq",
                          &a, sizeof(tg_key_row_t), fill_key, (void **)rows, n);
}

/* Only moves last_used_at forward (flushes may arrive out of order); an unknown key is no
 * error. */
static int pg_key_touch(tg_store_t *b, const char *id, int64_t at)
{
    tg_pg_args_t a = {0};
    tg_pg__int(&a, at);
    tg_pg__text(&a, id);
    return tg_pg__cmd((pg_t *)b,
                      "UPDATE api_keys SET last_used_at=$1 WHERE id=$2 AND"
                      " (last_used_at IS NULL OR last_used_at < $1)",
                      &a, NULL);
}

/* ---- providers ---- */

/* SQLite's INSERT OR REPLACE: every column replaced, and a new seq (the replaced row goes
 * last among equals, as SQLite's new rowid puts it). */
static int pg_provider_upsert(tg_store_t *b, const tg_provider_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->org_id);
    tg_pg__text(&a, r->name);
    tg_pg__text(&a, r->type);
    tg_pg__text(&a, r->base_url);
    tg_pg__blob(&a, r->secret, r->secret_len); /* 0: NULL */
    tg_pg__text(&a, r->models);
    tg_pg__int(&a, r->weight);
    tg_pg__int(&a, r->priority);
    tg_pg__int(&a, r->created_at);
    tg_pg__text(&a, r->api_version);
    tg_pg__int(&a, r->timeout_ms);
    tg_pg__int(&a, r->enabled);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO providers (id,organization_id,name,type,base_url,secret,"
                      "models,weight,priority,created_at,api_version,timeout_ms,enabled)"
                      " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (id) DO UPDATE"
                      " SET organization_id=EXCLUDED.organization_id, name=EXCLUDED.name,"
                      " type=EXCLUDED.type, base_url=EXCLUDED.base_url,"
                      " secret=EXCLUDED.secret, models=EXCLUDED.models,"
                      " weight=EXCLUDED.weight, priority=EXCLUDED.priority,"
                      " created_at=EXCLUDED.created_at, api_version=EXCLUDED.api_version,"
                      " timeout_ms=EXCLUDED.timeout_ms, enabled=EXCLUDED.enabled, seq=DEFAULT",
                      &a, NULL);
}

static int pg_provider_delete(tg_store_t *b, const char *id)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, id);
    return tg_pg__change((pg_t *)b, "DELETE FROM providers WHERE id=$1", &a);
}

static void fill_provider(const PGresult *res, int i, void *out)
{
    tg_provider_row_t *r = out;
    tg_pg__col_text(res, i, 0, r->id, sizeof(r->id));
    tg_pg__col_text(res, i, 1, r->org_id, sizeof(r->org_id));
    tg_pg__col_text(res, i, 2, r->name, sizeof(r->name));
    tg_pg__col_text(res, i, 3, r->type, sizeof(r->type));
    tg_pg__col_text(res, i, 4, r->base_url, sizeof(r->base_url));
    r->secret_len = tg_pg__col_blob(res, i, 5, r->secret, sizeof(r->secret));
    tg_pg__col_text(res, i, 6, r->models, sizeof(r->models));
    r->weight = (int)tg_pg__col_int(res, i, 7);
    r->priority = (int)tg_pg__col_int(res, i, 8);
    r->created_at = tg_pg__col_int(res, i, 9);
    tg_pg__col_text(res, i, 10, r->api_version, sizeof(r->api_version));
    r->timeout_ms = tg_pg__col_int(res, i, 11);
    r->enabled = (int)tg_pg__col_int(res, i, 12);
}

static int pg_provider_list(tg_store_t *b, tg_provider_row_t **rows, size_t *n)
{
    return tg_pg__collect((pg_t *)b,
                          "SELECT id,organization_id,name,type,base_url,secret,models,weight,"
                          "priority,created_at,api_version,timeout_ms,enabled FROM providers"
                          " ORDER BY priority, created_at, seq",
                          NULL, sizeof(tg_provider_row_t), fill_provider, (void **)rows, n);
}

/* ---- models ---- */

#define MODEL_INSERT                                                                              \
    "INSERT INTO models (id,type,owned_by,created,input_price,cached_input_price,output_price,"   \
    "context_window,max_output_tokens,tokenizer,image_base_tokens,image_tile_tokens,"             \
    "image_max_tokens) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (id)"

/* SQLite's INSERT OR IGNORE (only_new) or INSERT OR REPLACE (models have no seq). */
static int pg_model_upsert(tg_store_t *b, const tg_model_row_t *r, int only_new)
{
    static const char keep[] = MODEL_INSERT " DO NOTHING";
    static const char replace[] =
        MODEL_INSERT " DO UPDATE SET type=EXCLUDED.type, owned_by=EXCLUDED.owned_by,"
                     " created=EXCLUDED.created, input_price=EXCLUDED.input_price,"
                     " cached_input_price=EXCLUDED.cached_input_price,"
                     " output_price=EXCLUDED.output_price, context_window=EXCLUDED.context_window,"
                     " max_output_tokens=EXCLUDED.max_output_tokens, tokenizer=EXCLUDED.tokenizer,"
                     " image_base_tokens=EXCLUDED.image_base_tokens,"
                     " image_tile_tokens=EXCLUDED.image_tile_tokens,"
                     " image_max_tokens=EXCLUDED.image_max_tokens";
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->type);
    tg_pg__text(&a, r->owned_by);
    tg_pg__int(&a, r->created);
    tg_pg__int(&a, r->input_price);
    if (r->cached_input_price >= 0) /* 0 is a price (free); < 0: none */
        tg_pg__int(&a, r->cached_input_price);
    else
        tg_pg__text(&a, NULL);
    tg_pg__int(&a, r->output_price);
    tg_pg__int(&a, r->context_window);
    tg_pg__int(&a, r->max_output_tokens);
    tg_pg__text(&a, r->tokenizer);
    tg_pg__int(&a, r->image_base_tokens);
    tg_pg__int(&a, r->image_tile_tokens);
    tg_pg__int(&a, r->image_max_tokens);
    return tg_pg__cmd((pg_t *)b, only_new ? keep : replace, &a, NULL);
}

static void fill_model(const PGresult *res, int i, void *out)
{
    tg_model_row_t *r = out;
    tg_pg__col_text(res, i, 0, r->id, sizeof(r->id));
    tg_pg__col_text(res, i, 1, r->type, sizeof(r->type));
    tg_pg__col_text(res, i, 2, r->owned_by, sizeof(r->owned_by));
    r->created = tg_pg__col_int(res, i, 3);
    r->input_price = tg_pg__col_int(res, i, 4);
    r->cached_input_price = tg_pg__col_null(res, i, 5) ? -1 : tg_pg__col_int(res, i, 5);
    r->output_price = tg_pg__col_int(res, i, 6);
    r->context_window = tg_pg__col_int(res, i, 7);
    r->max_output_tokens = tg_pg__col_int(res, i, 8);
    tg_pg__col_text(res, i, 9, r->tokenizer, sizeof(r->tokenizer));
    r->image_base_tokens = tg_pg__col_int(res, i, 10);
    r->image_tile_tokens = tg_pg__col_int(res, i, 11);
    r->image_max_tokens = tg_pg__col_int(res, i, 12);
}

static int pg_model_list(tg_store_t *b, tg_model_row_t **rows, size_t *n)
{
    return tg_pg__collect((pg_t *)b,
                          "SELECT id,type,owned_by,created,input_price,cached_input_price,"
                          "output_price,context_window,max_output_tokens,tokenizer,"
                          "image_base_tokens,image_tile_tokens,image_max_tokens FROM models"
                          " ORDER BY id COLLATE \"C\"",
                          NULL, sizeof(tg_model_row_t), fill_model, (void **)rows, n);
}

/* ---- projects' rate limits ---- */

static int pg_rate_limit_set(tg_store_t *b, const tg_rate_limit_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->project_id);
    tg_pg__text(&a, r->model);
    for (int k = 0; k < 4; k++)
        tg_pg__int(&a, r->v[k]);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO project_rate_limits (project_id,model,rpm,rpd,tpm,tpd)"
                      " VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (project_id, model) DO UPDATE"
                      " SET rpm=EXCLUDED.rpm, rpd=EXCLUDED.rpd, tpm=EXCLUDED.tpm,"
                      " tpd=EXCLUDED.tpd",
                      &a, NULL);
}

static void fill_rate_limit(const PGresult *res, int i, void *out)
{
    tg_rate_limit_row_t *r = out;
    tg_pg__col_text(res, i, 0, r->project_id, sizeof(r->project_id));
    tg_pg__col_text(res, i, 1, r->model, sizeof(r->model));
    for (int k = 0; k < 4; k++)
        r->v[k] = tg_pg__col_int(res, i, 2 + k);
}

/* SQLite lists these in rowid order, unspecified by its SQL; the table has no seq here, so
 * they come by key, for a stable order. */
static int pg_rate_limit_list(tg_store_t *b, tg_rate_limit_row_t **rows, size_t *n)
{
    return tg_pg__collect((pg_t *)b,
                          "SELECT project_id, model, rpm, rpd, tpm, tpd FROM project_rate_limits"
                          " ORDER BY project_id COLLATE \"C\", model COLLATE \"C\"",
                          NULL, sizeof(tg_rate_limit_row_t), fill_rate_limit, (void **)rows, n);
}

const struct tg_store_tenancy tg_pg__tenancy = {
    .org_insert = pg_org_insert,
    .org_list = pg_org_list,
    .project_upsert = pg_project_upsert,
    .project_list = pg_project_list,
    .key_insert = pg_key_insert,
    .key_revoke = pg_key_revoke,
    .key_list = pg_key_list,
    .key_touch = pg_key_touch,
    .provider_upsert = pg_provider_upsert,
    .provider_delete = pg_provider_delete,
    .provider_list = pg_provider_list,
    .model_upsert = pg_model_upsert,
    .model_list = pg_model_list,
    .org_rename = pg_org_rename,
    .org_set_tier = pg_org_set_tier,
    .org_update = pg_org_update,
    .catalog_version = pg_catalog_version,
    .catalog_bump = pg_catalog_bump,
    .rate_limit_set = pg_rate_limit_set,
    .rate_limit_list = pg_rate_limit_list,
};
