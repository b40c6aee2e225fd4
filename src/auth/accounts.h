/* Console accounts: email and password rules, Argon2id password hashes (libsodium's
 * crypto_pwhash_str, run on a small thread pool so no event loop waits on it), session and
 * invitation tokens (256 random bits; only their BLAKE2b hash is stored), the CSRF token of a
 * session, and login throttling. */
#ifndef TG_AUTH_ACCOUNTS_H
#define TG_AUTH_ACCOUNTS_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

#define TG_PW_MIN 8
#define TG_PW_MAX 128
#define TG_TOKEN_MAX 64   /* a session or invitation token: 43 base62 characters + NUL */
#define TG_TOKEN_HASH 65  /* hex BLAKE2b-256 + NUL */
#define TG_SESSION_TTL (14 * 86400)
#define TG_INVITE_TTL (7 * 86400)

/* Lower-cases and checks an email address (one '@', a dot in the domain, no spaces or
 * control characters, at most 254 bytes). Returns 0, or -1 if it is not an address. */
int tg_email_normalize(const char *in, char *out, size_t cap);
/* 0 if the password's length is within TG_PW_MIN..TG_PW_MAX bytes. */
int tg_password_ok(const char *pw, size_t len);
/* Synchronous Argon2id (tollgate init). out: crypto_pwhash_STRBYTES. */
int tg_password_hash(const char *pw, size_t len, char *out);

/* Starts and stops the hashing pool (tollgate serve). */
int tg_accounts_start(int threads);
void tg_accounts_stop(void);

/* Asynchronous hashing and verification: `done(arg, result)` runs on `base`'s loop;
 * result is 0 (hashed / the password matches), 1 (does not match) or -1 (error). The
 * password is copied and wiped after use. hash: NULL to verify against a dummy hash (so an
 * unknown email takes as long as a wrong password). Returns -1 when the pool is saturated
 * (answer 503) or not started. */
typedef void (*tg_pw_done_cb)(void *arg, int result, const char *new_hash);
int tg_password_hash_async(struct event_base *base, const char *pw, size_t len,
                           tg_pw_done_cb done, void *arg);
int tg_password_verify_async(struct event_base *base, const char *hash, const char *pw,
                             size_t len, tg_pw_done_cb done, void *arg);

/* A new random token and its stored hash. */
void tg_token_new(char token[TG_TOKEN_MAX], char hash[TG_TOKEN_HASH]);
void tg_token_hash(const char *token, size_t len, char hash[TG_TOKEN_HASH]);
/* The CSRF token of a session token (derived, so nothing more is stored). */
void tg_session_csrf(const char *token, size_t len, char out[TG_TOKEN_HASH]);

/* Login throttling per email: after 5 failures within 15 minutes, refused until the window
 * ends. tg_login_throttled returns the seconds to wait (0: may try). */
int64_t tg_login_throttled(const char *email, int64_t now);
void tg_login_failed(const char *email, int64_t now);
void tg_login_succeeded(const char *email);

#endif
