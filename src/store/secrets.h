/* Secrets: every value the database holds that must be read back (not only compared), as the
 * store sees them — opaque bytes, sealed by auth/secrets.c — and the id of the master key
 * that sealed them. Used at start (to check the master key and bring older rows to the
 * current format) and by `tollgate rotate-master-key`. One domain of the store: include
 * store/store.h, the face. */
#ifndef TG_STORE_SECRETS_H
#define TG_STORE_SECRETS_H

#ifndef TG_STORE_H
#error "include store/store.h"
#endif

typedef enum {
    TG_SECRET_PROVIDER = 1, /* providers.secret: a provider's upstream API keys */
    TG_SECRET_ALERT = 2,    /* spend_alerts.secret: an alert's webhook signing secret */
} tg_secret_kind_t;

typedef struct {
    int kind; /* tg_secret_kind_t */
    char id[TG_ID_MAX];
    unsigned char value[TG_SECRET_BLOB_MAX];
    size_t len;
    int too_long; /* the stored value is longer than value: len is 0 */
} tg_secret_row_t;

#define TG_MASTER_KEY_ID_MAX 16

struct tg_store_secrets {
    /* Every stored secret (NULL or empty ones left out), providers first. */
    int (*list)(tg_store_t *st, tg_secret_row_t **rows, size_t *n);
    /* Replaces one value; TG_STORE_NOTFOUND when the row is gone. */
    int (*set)(tg_store_t *st, const tg_secret_row_t *row);
    /* The id of the master key the secrets are sealed with ("" when none is recorded). */
    int (*key_id_get)(tg_store_t *st, char out[TG_MASTER_KEY_ID_MAX]);
    int (*key_id_set)(tg_store_t *st, const char *key_id, int64_t at);
    /* After values were replaced (set, committed): leaves no older copy of them in the
     * database's files where the backend allows it. SQLite: set zeroes the space a replaced
     * value leaves (secure_delete), and this checkpoints and truncates the WAL. PostgreSQL:
     * nothing (old row versions stay in the table files until VACUUM; docs/operations.md). */
    int (*forget)(tg_store_t *st);
};

#endif
