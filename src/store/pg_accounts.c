/* PostgreSQL backend, accounts: console users, sessions and invitations (store/accounts.h).
 *
 * The SQL of sqlite_accounts.c, translated; text ordered with COLLATE "C" (SQLite's BINARY:
 * byte order, whatever the database's locale). */
#include "store/pg_int.h"

#include <string.h>

#define USER_COLS "u.id,u.organization_id,u.email,u.password_hash,u.role,u.created_at"
#define INVITE_COLS "id,organization_id,email,role,token_hash,invited_at,expires_at,accepted_at"

/* ---- users ---- */

static int pg_user_insert(tg_store_t *b, const tg_user_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->org_id);
    tg_pg__text(&a, r->email);
    tg_pg__text(&a, r->password_hash);
    tg_pg__text(&a, r->role);
    tg_pg__int(&a, r->created_at);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO users (id,organization_id,email,password_hash,role,created_at)"
                      " VALUES ($1,$2,$3,$4,$5,$6)",
                      &a, NULL);
}

/* Zeroes the whole row first: tg_pg__get_one fills the caller's row in place, and SQLite's
 * get_one hands back a zeroed row. */
static void fill_user(const PGresult *res, int i, void *out)
{
    tg_user_row_t *r = out;
    memset(r, 0, sizeof(*r));
    tg_pg__col_text(res, i, 0, r->id, sizeof(r->id));
    tg_pg__col_text(res, i, 1, r->org_id, sizeof(r->org_id));
    tg_pg__col_text(res, i, 2, r->email, sizeof(r->email));
    tg_pg__col_text(res, i, 3, r->password_hash, sizeof(r->password_hash));
    tg_pg__col_text(res, i, 4, r->role, sizeof(r->role));
    r->created_at = tg_pg__col_int(res, i, 5);
}

static int pg_user_get(tg_store_t *b, const char *id, tg_user_row_t *out)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, id);
    return tg_pg__get_one((pg_t *)b, "SELECT " USER_COLS " FROM users u WHERE u.id=$1", &a,
                          fill_user, out);
}

static int pg_user_by_email(tg_store_t *b, const char *email, tg_user_row_t *out)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, email);
    return tg_pg__get_one((pg_t *)b, "SELECT " USER_COLS " FROM users u WHERE u.email=$1", &a,
                          fill_user, out);
}

static int pg_user_list(tg_store_t *b, const char *org_id, tg_user_row_t **rows, size_t *n)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, org_id);
    return tg_pg__collect((pg_t *)b,
                          "SELECT " USER_COLS " FROM users u WHERE u.organization_id=$1"
                          " ORDER BY u.created_at, u.id COLLATE \"C\"",
                          &a, sizeof(**rows), fill_user, (void **)rows, n);
}

static int pg_user_set_role(tg_store_t *b, const char *id, const char *role)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, role);
    tg_pg__text(&a, id);
    return tg_pg__change((pg_t *)b, "UPDATE users SET role=$1 WHERE id=$2", &a);
}

static int pg_user_set_password(tg_store_t *b, const char *id, const char *hash,
                                const char *keep_hash)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, hash);
    tg_pg__text(&a, id);
    int rc = tg_pg__change((pg_t *)b, "UPDATE users SET password_hash=$1 WHERE id=$2", &a);
    if (rc == TG_STORE_NOTFOUND)
        return rc;
    if (rc != 0)
        return -1;
    tg_pg_args_t d = {0};
    tg_pg__text(&d, id);
    tg_pg__opt_text(&d, keep_hash); /* NULL or "": every session goes */
    return tg_pg__cmd((pg_t *)b,
                      "DELETE FROM sessions WHERE user_id=$1 AND token_hash IS DISTINCT FROM $2",
                      &d, NULL);
}

static int pg_user_delete(tg_store_t *b, const char *id)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, id);
    if (tg_pg__change((pg_t *)b, "DELETE FROM sessions WHERE user_id=$1", &a) == -1)
        return -1;
    tg_pg_args_t d = {0};
    tg_pg__text(&d, id);
    return tg_pg__change((pg_t *)b, "DELETE FROM users WHERE id=$1", &d);
}

/* ---- sessions ---- */

static int pg_session_insert(tg_store_t *b, const tg_session_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->token_hash);
    tg_pg__text(&a, r->user_id);
    tg_pg__int(&a, r->created_at);
    tg_pg__int(&a, r->expires_at);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO sessions (token_hash,user_id,created_at,expires_at)"
                      " VALUES ($1,$2,$3,$4)",
                      &a, NULL);
}

static int pg_session_get(tg_store_t *b, const char *token_hash, int64_t now, tg_user_row_t *u)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, token_hash);
    tg_pg__int(&a, now);
    return tg_pg__get_one((pg_t *)b,
                          "SELECT " USER_COLS " FROM sessions s JOIN users u ON u.id=s.user_id"
                          " WHERE s.token_hash=$1 AND s.expires_at>$2",
                          &a, fill_user, u);
}

static int pg_session_delete(tg_store_t *b, const char *token_hash)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, token_hash);
    return tg_pg__change((pg_t *)b, "DELETE FROM sessions WHERE token_hash=$1", &a);
}

/* ---- invitations ---- */

static int pg_invite_insert(tg_store_t *b, const tg_invite_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->org_id);
    tg_pg__text(&a, r->email);
    tg_pg__text(&a, r->role);
    tg_pg__text(&a, r->token_hash);
    tg_pg__int(&a, r->invited_at);
    tg_pg__int(&a, r->expires_at);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO invites (id,organization_id,email,role,token_hash,invited_at,"
                      "expires_at,accepted_at) VALUES ($1,$2,$3,$4,$5,$6,$7,NULL)",
                      &a, NULL);
}

/* Zeroes the whole row first, as fill_user does. */
static void fill_invite(const PGresult *res, int i, void *out)
{
    tg_invite_row_t *r = out;
    memset(r, 0, sizeof(*r));
    tg_pg__col_text(res, i, 0, r->id, sizeof(r->id));
    tg_pg__col_text(res, i, 1, r->org_id, sizeof(r->org_id));
    tg_pg__col_text(res, i, 2, r->email, sizeof(r->email));
    tg_pg__col_text(res, i, 3, r->role, sizeof(r->role));
    tg_pg__col_text(res, i, 4, r->token_hash, sizeof(r->token_hash));
    r->invited_at = tg_pg__col_int(res, i, 5);
    r->expires_at = tg_pg__col_int(res, i, 6);
    r->accepted_at = tg_pg__col_int(res, i, 7);
}

static int pg_invite_list(tg_store_t *b, const char *org_id, tg_invite_row_t **rows, size_t *n)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, org_id);
    return tg_pg__collect((pg_t *)b,
                          "SELECT " INVITE_COLS " FROM invites WHERE organization_id=$1"
                          " ORDER BY invited_at, id COLLATE \"C\"",
                          &a, sizeof(**rows), fill_invite, (void **)rows, n);
}

static int pg_invite_get(tg_store_t *b, const char *id, tg_invite_row_t *out)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, id);
    return tg_pg__get_one((pg_t *)b, "SELECT " INVITE_COLS " FROM invites WHERE id=$1", &a,
                          fill_invite, out);
}

static int pg_invite_by_token(tg_store_t *b, const char *token_hash, tg_invite_row_t *out)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, token_hash);
    return tg_pg__get_one((pg_t *)b, "SELECT " INVITE_COLS " FROM invites WHERE token_hash=$1",
                          &a, fill_invite, out);
}

static int pg_invite_accept(tg_store_t *b, const char *id, int64_t at)
{
    tg_pg_args_t a = {0};
    tg_pg__int(&a, at);
    tg_pg__text(&a, id);
    return tg_pg__change((pg_t *)b, "UPDATE invites SET accepted_at=$1 WHERE id=$2 AND accepted_at IS NULL", &a);
}

static int pg_invite_delete(tg_store_t *b, const char *id)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, id);
    return tg_pg__change((pg_t *)b, "DELETE FROM invites WHERE id=$1", &a);
}

const struct tg_store_accounts tg_pg__accounts = {
    .user_insert = pg_user_insert,
    .user_get = pg_user_get,
    .user_by_email = pg_user_by_email,
    .user_list = pg_user_list,
    .user_set_role = pg_user_set_role,
    .user_set_password = pg_user_set_password,
    .user_delete = pg_user_delete,
    .session_insert = pg_session_insert,
    .session_get = pg_session_get,
    .session_delete = pg_session_delete,
    .invite_insert = pg_invite_insert,
    .invite_list = pg_invite_list,
    .invite_get = pg_invite_get,
    .invite_by_token = pg_invite_by_token,
    .invite_accept = pg_invite_accept,
    .invite_delete = pg_invite_delete,
};
