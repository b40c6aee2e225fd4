/* Console accounts (migration 6): users, sessions and invitations; emails are stored
 * lower-cased.
 * One domain of the store: its rows and its operations. Include store/store.h, the face. */
#ifndef TG_STORE_ACCOUNTS_H
#define TG_STORE_ACCOUNTS_H

#ifndef TG_STORE_H
#error "include store/store.h"
#endif

typedef struct {
    char id[TG_ID_MAX];
    char org_id[TG_ID_MAX];
    char email[TG_NAME_MAX];
    char password_hash[256];
    char role[16];
    int64_t created_at;
} tg_user_row_t;

/* A console session: only the hash of its cookie's token is stored. */
typedef struct {
    char token_hash[65]; /* hex BLAKE2b-256 */
    char user_id[TG_ID_MAX];
    int64_t created_at, expires_at;
} tg_session_row_t;

/* An invitation to join an organisation; the link's token is stored as a hash. */
typedef struct {
    char id[TG_ID_MAX];
    char org_id[TG_ID_MAX];
    char email[TG_NAME_MAX];
    char role[16];
    char token_hash[65];
    int64_t invited_at, expires_at, accepted_at; /* accepted_at 0: not yet */
} tg_invite_row_t;

struct tg_store_accounts {
    /* console accounts (migration 6); emails are stored lower-cased */
    int (*user_insert)(tg_store_t *st, const tg_user_row_t *row);
    int (*user_get)(tg_store_t *st, const char *id, tg_user_row_t *out);
    int (*user_by_email)(tg_store_t *st, const char *email, tg_user_row_t *out);
    int (*user_list)(tg_store_t *st, const char *org_id, tg_user_row_t **rows, size_t *n);
    int (*user_set_role)(tg_store_t *st, const char *id, const char *role);
    /* A new password hash; ends the user's sessions except the one of keep_hash (or all). */
    int (*user_set_password)(tg_store_t *st, const char *id, const char *hash,
                             const char *keep_hash);
    /* Deletes the user and its sessions. */
    int (*user_delete)(tg_store_t *st, const char *id);
    int (*session_insert)(tg_store_t *st, const tg_session_row_t *row);
    /* The live (unexpired at `now`) session of a token hash, and its user. */
    int (*session_get)(tg_store_t *st, const char *token_hash, int64_t now, tg_user_row_t *user);
    int (*session_delete)(tg_store_t *st, const char *token_hash);
    int (*invite_insert)(tg_store_t *st, const tg_invite_row_t *row);
    int (*invite_list)(tg_store_t *st, const char *org_id, tg_invite_row_t **rows, size_t *n);
    int (*invite_get)(tg_store_t *st, const char *id, tg_invite_row_t *out);
    int (*invite_by_token)(tg_store_t *st, const char *token_hash, tg_invite_row_t *out);
    /* Marks a pending invitation accepted; TG_STORE_NOTFOUND if it was not pending. */
    int (*invite_accept)(tg_store_t *st, const char *id, int64_t at);
    int (*invite_delete)(tg_store_t *st, const char *id);
};

#endif
