/* SQLite backend, accounts: console users, sessions and invitations (store/accounts.h). */
#include "store/sqlite_int.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER_COLS "u.id,u.organization_id,u.email,u.password_hash,u.role,u.created_at"

/* ---- users ---- */

static int sq_user_insert(tg_store_t *b, const tg_user_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "INSERT INTO users VALUES (?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->org_id);
    tg_sq__bind_text(st, 3, r->email);
    tg_sq__bind_text(st, 4, r->password_hash);
    tg_sq__bind_text(st, 5, r->role);
    sqlite3_bind_int64(st, 6, r->created_at);
    return tg_sq__run(s, st);
}

static void fill_user(sqlite3_stmt *st, void *p)
{
    tg_user_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    tg_sq__col_text(st, 1, r->org_id, sizeof(r->org_id));
    tg_sq__col_text(st, 2, r->email, sizeof(r->email));
    tg_sq__col_text(st, 3, r->password_hash, sizeof(r->password_hash));
    tg_sq__col_text(st, 4, r->role, sizeof(r->role));
    r->created_at = sqlite3_column_int64(st, 5);
}

static int sq_user_get(tg_store_t *b, const char *id, tg_user_row_t *out)
{
    return tg_sq__get_one((sq_t *)b, "SELECT " USER_COLS " FROM users u WHERE u.id=?", id, 0,
                          sizeof(*out), fill_user, out);
}

static int sq_user_by_email(tg_store_t *b, const char *email, tg_user_row_t *out)
{
    return tg_sq__get_one((sq_t *)b, "SELECT " USER_COLS " FROM users u WHERE u.email=?", email, 0,
                          sizeof(*out), fill_user, out);
}

static int sq_user_list(tg_store_t *b, const char *org_id, tg_user_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT " USER_COLS " FROM users u WHERE u.organization_id=? "
                                      "ORDER BY u.created_at, u.id");
    if (st)
        tg_sq__bind_text(st, 1, org_id);
    return tg_sq__collect(s, st, sizeof(**rows), fill_user, (void **)rows, n);
}

static int sq_user_set_role(tg_store_t *b, const char *id, const char *role)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "UPDATE users SET role=? WHERE id=?");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, role);
    tg_sq__bind_text(st, 2, id);
    int rc = tg_sq__run(s, st);
    return rc == 0 && sqlite3_changes(s->db) == 0 ? TG_STORE_NOTFOUND : rc;
}

static int sq_user_set_password(tg_store_t *b, const char *id, const char *hash,
                                const char *keep_hash)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "UPDATE users SET password_hash=? WHERE id=?");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, hash);
    tg_sq__bind_text(st, 2, id);
    int rc = tg_sq__run(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return TG_STORE_NOTFOUND;
    if (rc != 0 ||
        !(st = tg_sq__prep(s, "DELETE FROM sessions WHERE user_id=? AND token_hash IS NOT ?")))
        return -1;
    tg_sq__bind_text(st, 1, id);
    tg_sq__bind_opt_text(st, 2, keep_hash);
    return tg_sq__run(s, st);
}

static int sq_user_delete(tg_store_t *b, const char *id)
{
    sq_t *s = (sq_t *)b;
    int rc = tg_sq__delete_by_id(s, "DELETE FROM sessions WHERE user_id=?", id);
    if (rc == -1)
        return -1;
    return tg_sq__delete_by_id(s, "DELETE FROM users WHERE id=?", id);
}

static int sq_session_insert(tg_store_t *b, const tg_session_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "INSERT INTO sessions VALUES (?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->token_hash);
    tg_sq__bind_text(st, 2, r->user_id);
    sqlite3_bind_int64(st, 3, r->created_at);
    sqlite3_bind_int64(st, 4, r->expires_at);
    return tg_sq__run(s, st);
}

static int sq_session_get(tg_store_t *b, const char *token_hash, int64_t now, tg_user_row_t *u)
{
    return tg_sq__get_one((sq_t *)b,
                          "SELECT " USER_COLS " FROM sessions s JOIN users u ON u.id=s.user_id "
                          "WHERE s.token_hash=? AND s.expires_at>?",
                          token_hash, now, sizeof(*u), fill_user, u);
}

static int sq_session_delete(tg_store_t *b, const char *token_hash)
{
    return tg_sq__delete_by_id((sq_t *)b, "DELETE FROM sessions WHERE token_hash=?", token_hash);
}

static int sq_invite_insert(tg_store_t *b, const tg_invite_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "INSERT INTO invites VALUES (?,?,?,?,?,?,?,NULL)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->org_id);
    tg_sq__bind_text(st, 3, r->email);
    tg_sq__bind_text(st, 4, r->role);
    tg_sq__bind_text(st, 5, r->token_hash);
    sqlite3_bind_int64(st, 6, r->invited_at);
    sqlite3_bind_int64(st, 7, r->expires_at);
    return tg_sq__run(s, st);
}

static void fill_invite(sqlite3_stmt *st, void *p)
{
    tg_invite_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    tg_sq__col_text(st, 1, r->org_id, sizeof(r->org_id));
    tg_sq__col_text(st, 2, r->email, sizeof(r->email));
    tg_sq__col_text(st, 3, r->role, sizeof(r->role));
    tg_sq__col_text(st, 4, r->token_hash, sizeof(r->token_hash));
    r->invited_at = sqlite3_column_int64(st, 5);
    r->expires_at = sqlite3_column_int64(st, 6);
    r->accepted_at = sqlite3_column_int64(st, 7);
}

#define INVITE_COLS "id,organization_id,email,role,token_hash,invited_at,expires_at,accepted_at"

static int sq_invite_list(tg_store_t *b, const char *org_id, tg_invite_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT " INVITE_COLS " FROM invites WHERE organization_id=? "
                                      "ORDER BY invited_at, id");
    if (st)
        tg_sq__bind_text(st, 1, org_id);
    return tg_sq__collect(s, st, sizeof(**rows), fill_invite, (void **)rows, n);
}

static int sq_invite_get(tg_store_t *b, const char *id, tg_invite_row_t *out)
{
    return tg_sq__get_one((sq_t *)b, "SELECT " INVITE_COLS " FROM invites WHERE id=?", id, 0,
                          sizeof(*out), fill_invite, out);
}

static int sq_invite_by_token(tg_store_t *b, const char *token_hash, tg_invite_row_t *out)
{
    return tg_sq__get_one((sq_t *)b, "SELECT " INVITE_COLS " FROM invites WHERE token_hash=?",
                          token_hash, 0, sizeof(*out), fill_invite, out);
}

static int sq_invite_accept(tg_store_t *b, const char *id, int64_t at)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "UPDATE invites SET accepted_at=? WHERE id=? AND accepted_at IS NULL");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, at);
    tg_sq__bind_text(st, 2, id);
    int rc = tg_sq__run(s, st);
    return rc == 0 && sqlite3_changes(s->db) == 0 ? TG_STORE_NOTFOUND : rc;
}

static int sq_invite_delete(tg_store_t *b, const char *id)
{
    return tg_sq__delete_by_id((sq_t *)b, "DELETE FROM invites WHERE id=?", id);
}

const struct tg_store_accounts tg_sq__accounts = {
    .user_insert = sq_user_insert,
    .user_get = sq_user_get,
    .user_by_email = sq_user_by_email,
    .user_list = sq_user_list,
    .user_set_role = sq_user_set_role,
    .user_set_password = sq_user_set_password,
    .user_delete = sq_user_delete,
    .session_insert = sq_session_insert,
    .session_get = sq_session_get,
    .session_delete = sq_session_delete,
    .invite_insert = sq_invite_insert,
    .invite_list = sq_invite_list,
    .invite_get = sq_invite_get,
    .invite_by_token = sq_invite_by_token,
    .invite_accept = sq_invite_accept,
    .invite_delete = sq_invite_delete,
};
