/* Secrets at rest: the master key, and the sealing of the secrets the database must be able to
 * read back — a provider's upstream API keys, a spend alert's webhook signing secret
 * (store/secrets.h lists them all). Tollgate's own API keys, sessions and passwords are only
 * ever stored as hashes and are not concerned.
 *
 * A sealed value is text: "v1:" KEYID ":" base64(nonce | ciphertext), where the ciphertext is
 * libsodium's crypto_secretbox_easy (XSalsa20-Poly1305) of the plain text under the master key
 * with a random 24-byte nonce of its own, and KEYID (8 hex characters) names the master key —
 * a hash of it, which reveals nothing of the key. The database also records the id of the key
 * that sealed its secrets (table master_key), so a server given another key refuses to start
 * instead of failing later, and `tollgate rotate-master-key` can move every value to a new key
 * in one transaction. See docs/operations.md. */
#ifndef TG_AUTH_SECRETS_H
#define TG_AUTH_SECRETS_H

#include "store/store.h"

#include <stddef.h>

#define TG_MASTER_KEY_BYTES 32
#define TG_MASTER_KEY_ENV "TOLLGATE_MASTER_KEY"         /* base64 of 32 bytes */
#define TG_NEW_MASTER_KEY_ENV "TOLLGATE_NEW_MASTER_KEY" /* rotate-master-key's new key */
#define TG_LEGACY_KEY_ENV "TOLLGATE_SECRET_KEY"         /* 64 hex characters (older releases) */

typedef struct {
    unsigned char key[TG_MASTER_KEY_BYTES];
    char id[TG_MASTER_KEY_ID_MAX]; /* 8 hex characters */
    char source[4200];             /* where it came from, for messages: a path or a variable */
} tg_master_key_t;

/* The length of the sealed form of `len` plain bytes. */
size_t tg_secret_sealed_len(size_t len);

/* A key from its text: base64 of 32 bytes (surrounding white space allowed), or exactly 32 raw
 * bytes (the key files of older releases). 0 or -1. Sets id, not source. */
int tg_master_key_parse(const unsigned char *text, size_t len, tg_master_key_t *out);
/* Reads a key file, which must be a regular file that neither group nor others may read or
 * write (mode 0600 or 0400). 0, or -1 with a one-line reason in err. */
int tg_master_key_read(const char *path, tg_master_key_t *out, char *err, size_t cap);
/* Creates path (it must not exist; mode 0600) holding a new random key as base64 and a
 * newline, synced to disk. 0, or -1 with a reason in err. */
int tg_master_key_create(const char *path, tg_master_key_t *out, char *err, size_t cap);
/* The key given explicitly: the file (may be NULL), else the variable env_name (base64), else,
 * when env_name is TG_MASTER_KEY_ENV, TG_LEGACY_KEY_ENV (hex). 0, 1 when none is given, or -1
 * with a reason in err. */
int tg_master_key_given(const char *file, const char *env_name, tg_master_key_t *out, char *err,
                        size_t cap);
void tg_master_key_wipe(tg_master_key_t *k);

/* Seals plain into out (text, not NUL-terminated) under k; returns its length, or -1 when cap
 * is too small (tg_secret_sealed_len). */
int tg_secret_seal_with(const tg_master_key_t *k, const char *plain, size_t len,
                        unsigned char *out, size_t cap);
/* Opens a sealed value into out (NUL-terminated; cap needs the plain length + 1); returns the
 * plain length, or -1: not a sealed value, sealed under another key, altered, or too long. */
int tg_secret_open_with(const tg_master_key_t *k, const unsigned char *sealed, size_t len,
                        char *out, size_t cap);
/* The same with the process's master key (tg_secrets_start), for the Admin API (sealing what
 * it stores), the catalog and the alerts (opening). -1 before a key was installed. */
int tg_secret_seal(const char *plain, size_t len, unsigned char *out, size_t cap);
int tg_secret_open(const unsigned char *sealed, size_t len, char *out, size_t cap);
/* Installs k as the process's master key (tests; tg_secrets_start does it). */
void tg_secret_use(const tg_master_key_t *k);

/* Start-up of serve and init, after the schema migrations: finds the master key — key_file
 * (--master-key-file), else TOLLGATE_MASTER_KEY, else TOLLGATE_SECRET_KEY, else, for SQLite,
 * PATH.key beside the database (PATH.secret of older releases is taken over into it; created
 * when the database holds no secret and no key id yet) — and checks it against the database:
 * the recorded key id and every stored secret must match and open. In one transaction, it
 * seals plain-text values and re-seals values of older releases (raw nonce|ciphertext), and
 * records the key's id. Then installs the key for the process. 0, or -1 with a one-line
 * reason in err (nothing is changed then). */
int tg_secrets_start(tg_store_t *st, const char *db_url, const char *key_file, char *err,
                     size_t cap);
/* Re-seals every stored secret from old to new in one transaction and records new's id.
 * *count: the values re-sealed. 0, or -1 with a reason in err (nothing changed). */
int tg_secrets_rotate(tg_store_t *st, const char *db_url, const tg_master_key_t *old,
                      const tg_master_key_t *nk, size_t *count, char *err, size_t cap);

#endif
