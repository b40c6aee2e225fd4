/* PostgreSQL backend, secrets: the stored secrets as opaque bytes and the master key's id
 * (store/secrets.h). */
#include "store/pg_int.h"

#include <stdio.h>
#include <string.h>

static void fill_secret(const PGresult *res, int i, void *p)
{
    tg_secret_row_t *r = p;
    r->kind = (int)tg_pg__col_int(res, i, 0);
    tg_pg__col_text(res, i, 1, r->id, sizeof(r->id));
    r->len = tg_pg__col_blob(res, i, 2, r->value, sizeof(r->value));
    if (!r->len && !tg_pg__col_null(res, i, 2))
        r->too_long = 1; /* length(secret) > 0 was asked for: 0 means it did not fit */
}

static int pg_secret_list(tg_store_t *b, tg_secret_row_t **rows, size_t *n)
{
    return tg_pg__collect((pg_t *)b,
                          "SELECT 1, id, secret FROM providers WHERE length(secret) > 0"
                          " UNION ALL SELECT 2, id, secret FROM spend_alerts"
                          " WHERE length(secret) > 0 ORDER BY 1, 2",
                          NULL, sizeof(tg_secret_row_t), fill_secret, (void **)rows, n);
}

static int pg_secret_set(tg_store_t *b, const tg_secret_row_t *r)
{
    const char *sql = r->kind == TG_SECRET_PROVIDER ? "UPDATE providers SET secret=$1 WHERE id=$2"
                      : r->kind == TG_SECRET_ALERT
                          ? "UPDATE spend_alerts SET secret=$1 WHERE id=$2"
                          : NULL;
    tg_pg_args_t a = {0};
    if (!sql)
        return -1;
    tg_pg__blob(&a, r->value, r->len);
    tg_pg__text(&a, r->id);
    return tg_pg__change((pg_t *)b, sql, &a);
}

static void fill_key_id(const PGresult *res, int i, void *p)
{
    tg_pg__col_text(res, i, 0, p, TG_MASTER_KEY_ID_MAX);
}

static int pg_key_id_get(tg_store_t *b, char out[TG_MASTER_KEY_ID_MAX])
{
    out[0] = '\0';
    int rc = tg_pg__get_one((pg_t *)b, "SELECT key_id FROM master_key WHERE id=1", NULL,
                            fill_key_id, out);
    return rc == TG_STORE_NOTFOUND ? 0 : rc;
}

static int pg_key_id_set(tg_store_t *b, const char *key_id, int64_t at)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, key_id);
    tg_pg__int(&a, at);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO master_key (id, key_id, updated_at) VALUES (1, $1, $2)"
                      " ON CONFLICT (id) DO UPDATE SET key_id=EXCLUDED.key_id,"
                      " updated_at=EXCLUDED.updated_at",
                      &a, NULL);
}

static int pg_forget(tg_store_t *b)
{
    return 0;
}

const struct tg_store_secrets tg_pg__secrets = {
    .list = pg_secret_list,
    .set = pg_secret_set,
    .key_id_get = pg_key_id_get,
    .key_id_set = pg_key_id_set,
    .forget = pg_forget,
};
