/* SQLite backend, tenancy: organisations, projects, keys, providers, models, projects' rate limits
 * (store/tenancy.h). */
#include "store/sqlite_int.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- organisations ---- */

static int sq_org_insert(tg_store_t *b, const tg_org_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(
        s, "INSERT INTO organizations (id,name,tier,is_operator,created_at) VALUES (?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->name);
    tg_sq__bind_text(st, 3, r->tier);
    sqlite3_bind_int(st, 4, r->is_operator);
    sqlite3_bind_int64(st, 5, r->created_at);
    return tg_sq__run(s, st);
}

static void fill_org(sqlite3_stmt *st, void *p)
{
    tg_org_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    tg_sq__col_text(st, 1, r->name, sizeof(r->name));
    tg_sq__col_text(st, 2, r->tier, sizeof(r->tier));
    r->is_operator = sqlite3_column_int(st, 3);
    r->created_at = sqlite3_column_int64(st, 4);
    r->suspended = sqlite3_column_int(st, 5);
    r->tier_locked = sqlite3_column_int(st, 6);
}

static int sq_org_list(tg_store_t *b, tg_org_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return tg_sq__collect(
        s,
        tg_sq__prep(s, "SELECT id,name,tier,is_operator,created_at,suspended,tier_locked"
                       " FROM organizations ORDER BY created_at, id"),
        sizeof(tg_org_row_t), fill_org, (void **)rows, n);
}

/* ---- projects ---- */

static int sq_project_upsert(tg_store_t *b, const tg_project_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "INSERT INTO projects VALUES (?,?,?,?,?) ON CONFLICT(id) DO UPDATE"
                       " SET name=excluded.name, archived_at=excluded.archived_at");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->org_id);
    tg_sq__bind_text(st, 3, r->name);
    sqlite3_bind_int64(st, 4, r->created_at);
    tg_sq__bind_opt_int(st, 5, r->archived_at);
    return tg_sq__run(s, st);
}

static void fill_project(sqlite3_stmt *st, void *p)
{
    tg_project_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    tg_sq__col_text(st, 1, r->org_id, sizeof(r->org_id));
    tg_sq__col_text(st, 2, r->name, sizeof(r->name));
    r->created_at = sqlite3_column_int64(st, 3);
    r->archived_at = sqlite3_column_int64(st, 4);
}

static int sq_project_list(tg_store_t *b, const char *org_id, tg_project_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT id,organization_id,name,created_at,archived_at FROM"
                                      " projects WHERE ?1 IS NULL OR organization_id=?1"
                                      " ORDER BY created_at, rowid");
    if (st)
        tg_sq__bind_opt_text(st, 1, org_id);
    return tg_sq__collect(s, st, sizeof(tg_project_row_t), fill_project, (void **)rows, n);
}

/* ---- keys ---- */

static int sq_key_insert(tg_store_t *b, const tg_key_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "INSERT INTO api_keys VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    sqlite3_bind_int(st, 2, r->kind);
    tg_sq__bind_text(st, 3, r->org_id);
    tg_sq__bind_opt_text(st, 4, r->project_id);
    tg_sq__bind_text(st, 5, r->name);
    sqlite3_bind_blob(st, 6, r->hash, sizeof(r->hash), SQLITE_TRANSIENT);
    tg_sq__bind_text(st, 7, r->redacted);
    tg_sq__bind_text(st, 8, r->permissions);
    tg_sq__bind_opt_text(st, 9, r->allowed_models);
    sqlite3_bind_int64(st, 10, r->created_at);
    tg_sq__bind_opt_int(st, 11, r->expires_at);
    tg_sq__bind_opt_int(st, 12, r->last_used_at);
    tg_sq__bind_opt_int(st, 13, r->revoked_at);
    return tg_sq__run(s, st);
}

static int sq_key_revoke(tg_store_t *b, const char *id, int64_t at)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, at);
    tg_sq__bind_text(st, 2, id);
    int rc = tg_sq__run(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return TG_STORE_NOTFOUND;
    return rc;
}

static void fill_key(sqlite3_stmt *st, void *p)
{
    tg_key_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    r->kind = sqlite3_column_int(st, 1);
    tg_sq__col_text(st, 2, r->org_id, sizeof(r->org_id));
    tg_sq__col_text(st, 3, r->project_id, sizeof(r->project_id));
    tg_sq__col_text(st, 4, r->name, sizeof(r->name));
    if (sqlite3_column_bytes(st, 5) == (int)sizeof(r->hash))
        memcpy(r->hash, sqlite3_column_blob(st, 5), sizeof(r->hash));
    tg_sq__col_text(st, 6, r->redacted, sizeof(r->redacted));
    tg_sq__col_text(st, 7, r->permissions, sizeof(r->permissions));
    tg_sq__col_text(st, 8, r->allowed_models, sizeof(r->allowed_models));
    r->created_at = sqlite3_column_int64(st, 9);
    r->expires_at = sqlite3_column_int64(st, 10);
    r->last_used_at = sqlite3_column_int64(st, 11);
    r->revoked_at = sqlite3_column_int64(st, 12);
}

static int sq_key_list(tg_store_t *b, const char *org_id, tg_key_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "SELECT id,kind,organization_id,project_id,name,key_hash,redacted,"
                       "permissions,allowed_models,created_at,expires_at,last_used_at,"
                       "revoked_at FROM api_keys WHERE revoked_at IS NULL AND"
                       " (?1 IS NULL OR organization_id=?1) ORDER BY created_at, rowid");
    if (st)
        tg_sq__bind_opt_text(st, 1, org_id);
    return tg_sq__collect(s, st, sizeof(tg_key_row_t), fill_key, (void **)rows, n);
}

static int sq_key_touch(tg_store_t *b, const char *id, int64_t at)
{
    sq_t *s = (sq_t *)b;
    if (!s->key_touch &&
        !(s->key_touch = tg_sq__prep(s, "UPDATE api_keys SET last_used_at=?1 WHERE id=?2 AND"
                                        " (last_used_at IS NULL OR last_used_at < ?1)")))
        return -1;
    sqlite3_stmt *st = s->key_touch;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, at);
    tg_sq__bind_text(st, 2, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        tg_error("sqlite: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

/* ---- providers ---- */

static int sq_provider_upsert(tg_store_t *b, const tg_provider_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "INSERT OR REPLACE INTO providers (id,organization_id,name,type,"
                       "base_url,secret,models,weight,priority,created_at,api_version,"
                       "timeout_ms,enabled) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->org_id);
    tg_sq__bind_text(st, 3, r->name);
    tg_sq__bind_text(st, 4, r->type);
    tg_sq__bind_text(st, 5, r->base_url);
    if (r->secret_len)
        sqlite3_bind_blob(st, 6, r->secret, (int)r->secret_len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 6);
    tg_sq__bind_text(st, 7, r->models);
    sqlite3_bind_int(st, 8, r->weight);
    sqlite3_bind_int(st, 9, r->priority);
    sqlite3_bind_int64(st, 10, r->created_at);
    tg_sq__bind_text(st, 11, r->api_version);
    sqlite3_bind_int64(st, 12, r->timeout_ms);
    sqlite3_bind_int(st, 13, r->enabled);
    return tg_sq__run(s, st);
}

static int sq_provider_delete(tg_store_t *b, const char *id)
{
    return tg_sq__delete_by_id((sq_t *)b, "DELETE FROM providers WHERE id=?", id);
}

static void fill_provider(sqlite3_stmt *st, void *p)
{
    tg_provider_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    tg_sq__col_text(st, 1, r->org_id, sizeof(r->org_id));
    tg_sq__col_text(st, 2, r->name, sizeof(r->name));
    tg_sq__col_text(st, 3, r->type, sizeof(r->type));
    tg_sq__col_text(st, 4, r->base_url, sizeof(r->base_url));
    int n = sqlite3_column_bytes(st, 5);
    if (n > 0 && (size_t)n <= sizeof(r->secret)) {
        memcpy(r->secret, sqlite3_column_blob(st, 5), (size_t)n);
        r->secret_len = (size_t)n;
    }
    tg_sq__col_text(st, 6, r->models, sizeof(r->models));
    r->weight = sqlite3_column_int(st, 7);
    r->priority = sqlite3_column_int(st, 8);
    r->created_at = sqlite3_column_int64(st, 9);
    tg_sq__col_text(st, 10, r->api_version, sizeof(r->api_version));
    r->timeout_ms = sqlite3_column_int64(st, 11);
    r->enabled = sqlite3_column_int(st, 12);
}

static int sq_provider_list(tg_store_t *b, tg_provider_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return tg_sq__collect(
        s,
        tg_sq__prep(s, "SELECT id,organization_id,name,type,base_url,secret,models,weight,"
                       "priority,created_at,api_version,timeout_ms,enabled FROM providers"
                       " ORDER BY priority, created_at,"
                       " rowid"),
        sizeof(tg_provider_row_t), fill_provider, (void **)rows, n);
}

/* ---- models ---- */

static int sq_model_upsert(tg_store_t *b, const tg_model_row_t *r, int only_new)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(
        s, only_new ? "INSERT OR IGNORE INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                    : "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->type);
    tg_sq__bind_text(st, 3, r->owned_by);
    sqlite3_bind_int64(st, 4, r->created);
    sqlite3_bind_int64(st, 5, r->input_price);
    if (r->cached_input_price >= 0)
        sqlite3_bind_int64(st, 6, r->cached_input_price);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, r->output_price);
    sqlite3_bind_int64(st, 8, r->context_window);
    sqlite3_bind_int64(st, 9, r->max_output_tokens);
    tg_sq__bind_text(st, 10, r->tokenizer);
    sqlite3_bind_int64(st, 11, r->image_base_tokens);
    sqlite3_bind_int64(st, 12, r->image_tile_tokens);
    sqlite3_bind_int64(st, 13, r->image_max_tokens);
    return tg_sq__run(s, st);
}

static void fill_model(sqlite3_stmt *st, void *p)
{
    tg_model_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    tg_sq__col_text(st, 1, r->type, sizeof(r->type));
    tg_sq__col_text(st, 2, r->owned_by, sizeof(r->owned_by));
    r->created = sqlite3_column_int64(st, 3);
    r->input_price = sqlite3_column_int64(st, 4);
    r->cached_input_price =
        sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 5);
    r->output_price = sqlite3_column_int64(st, 6);
    r->context_window = sqlite3_column_int64(st, 7);
    r->max_output_tokens = sqlite3_column_int64(st, 8);
    tg_sq__col_text(st, 9, r->tokenizer, sizeof(r->tokenizer));
    r->image_base_tokens = sqlite3_column_int64(st, 10);
    r->image_tile_tokens = sqlite3_column_int64(st, 11);
    r->image_max_tokens = sqlite3_column_int64(st, 12);
}

static int sq_model_list(tg_store_t *b, tg_model_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return tg_sq__collect(
        s,
        tg_sq__prep(s, "SELECT id,type,owned_by,created,input_price,cached_input_price,"
                       "output_price,context_window,max_output_tokens,tokenizer,"
                       "image_base_tokens,image_tile_tokens,image_max_tokens FROM models"
                       " ORDER BY id"),
        sizeof(tg_model_row_t), fill_model, (void **)rows, n);
}

static int sq_org_set_tier(tg_store_t *b, const char *org_id, const char *tier)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "UPDATE organizations SET tier=? WHERE id=?");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, tier);
    tg_sq__bind_text(st, 2, org_id);
    return tg_sq__run(s, st);
}

static int sq_org_update(tg_store_t *b, const char *org_id, const char *name, const char *tier,
                         int suspended)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(
        s, "UPDATE organizations SET name=COALESCE(?1,name), tier=COALESCE(?2,tier),"
           " tier_locked=CASE WHEN ?2 IS NULL THEN tier_locked ELSE 1 END,"
           " suspended=CASE WHEN ?3 < 0 THEN suspended ELSE ?3 END WHERE id=?4");
    if (!st)
        return -1;
    if (name)
        tg_sq__bind_text(st, 1, name);
    if (tier)
        tg_sq__bind_text(st, 2, tier);
    sqlite3_bind_int(st, 3, suspended);
    tg_sq__bind_text(st, 4, org_id);
    int rc = tg_sq__run(s, st);
    return rc < 0 ? rc : sqlite3_changes(s->db) ? 0 : TG_STORE_NOTFOUND;
}

static int sq_catalog_version(tg_store_t *b, int64_t *version)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT version FROM catalog_changes WHERE id=1");
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    *version = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int sq_catalog_bump(tg_store_t *b)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "UPDATE catalog_changes SET version=version+1 WHERE id=1");
    return st ? tg_sq__run(s, st) : -1;
}

/* ---- projects' rate limits ---- */

static int sq_rate_limit_set(tg_store_t *b, const tg_rate_limit_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "INSERT OR REPLACE INTO project_rate_limits VALUES (?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->project_id);
    tg_sq__bind_text(st, 2, r->model);
    for (int k = 0; k < 4; k++)
        sqlite3_bind_int64(st, 3 + k, r->v[k]);
    return tg_sq__run(s, st);
}

static void fill_rate_limit(sqlite3_stmt *st, void *p)
{
    tg_rate_limit_row_t *r = p;
    tg_sq__col_text(st, 0, r->project_id, sizeof(r->project_id));
    tg_sq__col_text(st, 1, r->model, sizeof(r->model));
    for (int k = 0; k < 4; k++)
        r->v[k] = sqlite3_column_int64(st, 2 + k);
}

static int sq_rate_limit_list(tg_store_t *b, tg_rate_limit_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return tg_sq__collect(s,
                          tg_sq__prep(s, "SELECT project_id, model, rpm, rpd, tpm, tpd FROM"
                                         " project_rate_limits"),
                          sizeof(tg_rate_limit_row_t), fill_rate_limit, (void **)rows, n);
}

static int sq_org_rename(tg_store_t *b, const char *id, const char *name)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "UPDATE organizations SET name=? WHERE id=?");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, name);
    tg_sq__bind_text(st, 2, id);
    int rc = tg_sq__run(s, st);
    return rc == 0 && sqlite3_changes(s->db) == 0 ? TG_STORE_NOTFOUND : rc;
}

const struct tg_store_tenancy tg_sq__tenancy = {
    .org_insert = sq_org_insert,
    .org_list = sq_org_list,
    .project_upsert = sq_project_upsert,
    .project_list = sq_project_list,
    .key_insert = sq_key_insert,
    .key_revoke = sq_key_revoke,
    .key_list = sq_key_list,
    .key_touch = sq_key_touch,
    .provider_upsert = sq_provider_upsert,
    .provider_delete = sq_provider_delete,
    .provider_list = sq_provider_list,
    .model_upsert = sq_model_upsert,
    .model_list = sq_model_list,
    .org_rename = sq_org_rename,
    .org_set_tier = sq_org_set_tier,
    .org_update = sq_org_update,
    .catalog_version = sq_catalog_version,
    .catalog_bump = sq_catalog_bump,
    .rate_limit_set = sq_rate_limit_set,
    .rate_limit_list = sq_rate_limit_list,
};
