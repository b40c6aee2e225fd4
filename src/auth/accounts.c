#include "auth/accounts.h"

#include "core/log.h"
#include "core/workq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPS crypto_pwhash_OPSLIMIT_INTERACTIVE
#define MEM crypto_pwhash_MEMLIMIT_INTERACTIVE

int tg_email_normalize(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in), at = 0, ats = 0;
    if (n < 3 || n > 254 || n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch <= ' ' || ch == 0x7f || ch == '<' || ch == '>' || ch == '"' || ch == ',')
            return -1;
        if (ch == '@') {
            at = i;
            ats++;
        }
        out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    out[n] = '\0';
    if (ats != 1 || at == 0 || at + 1 >= n)
        return -1;
    const char *dot = strchr(out + at + 1, '.');
    if (!dot || dot == out + at + 1 || dot[1] == '\0' || out[n - 1] == '.')
        return -1;
    return 0;
}

int tg_password_ok(const char *pw, size_t len)
{
    return len >= TG_PW_MIN && len <= TG_PW_MAX && !memchr(pw, 0, len) ? 0 : -1;
}

int tg_password_hash(const char *pw, size_t len, char *out)
{
    return crypto_pwhash_str(out, pw, len, OPS, MEM) == 0 ? 0 : -1;
}

/* ---- the hashing pool ---- */

static tg_workq_t *pool;
/* Verified in place of a missing user's hash, so an unknown email takes as long as a wrong
 * password (console.c refuses a match: there is no user). Argon2id of "tollgate-dummy" with the
 * parameters of OPS and MEM, written out so that `serve` does not spend ~0.1 s making it at
 * every start; tg_accounts_start makes a fresh one only if libsodium's parameters differ. */
static char dummy_hash[crypto_pwhash_STRBYTES] =
    "$argon2id$v=19$m=65536,t=2,p=1$GA8GVH9TXImqk3SFKFAiBg$Y8Cbi9KaGh1TxoLukb/Lo+lSN1Pidm+OuBYWJv+aCfk";

typedef struct {
    char pw[TG_PW_MAX + 1];
    size_t len;
    char hash[crypto_pwhash_STRBYTES];
    int verify, result;
    tg_pw_done_cb done;
    void *arg;
} pw_job_t;

int tg_accounts_start(int threads)
{
    if (crypto_pwhash_str_needs_rehash(dummy_hash, OPS, MEM) != 0 &&
        tg_password_hash("tollgate-dummy", 14, dummy_hash) < 0)
        return -1;
    /* at most 64 waiting: beyond that, sign-up and login answer 503 rather than queue
     * hashes (each takes ~64 MiB and tens of milliseconds) */
    pool = tg_workq_new(threads, 64);
    return pool ? 0 : -1;
}

void tg_accounts_stop(void)
{
    tg_workq_free(pool);
    pool = NULL;
}

static void pw_work(void *p)
{
    pw_job_t *j = p;
    if (j->verify)
        j->result = crypto_pwhash_str_verify(j->hash, j->pw, j->len) == 0 ? 0 : 1;
    else
        j->result = tg_password_hash(j->pw, j->len, j->hash);
    sodium_memzero(j->pw, sizeof(j->pw));
}

static void pw_done(void *p)
{
    pw_job_t *j = p;
    j->done(j->arg, j->result, j->verify ? NULL : j->hash);
    sodium_memzero(j, sizeof(*j));
    free(j);
}

static int submit(struct event_base *base, const char *hash, int verify, const char *pw,
                  size_t len, tg_pw_done_cb done, void *arg)
{
    if (!pool || len > TG_PW_MAX)
        return -1;
    pw_job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return -1;
    memcpy(j->pw, pw, len);
    j->len = len;
    j->verify = verify;
    j->done = done;
    j->arg = arg;
    if (verify)
        snprintf(j->hash, sizeof(j->hash), "%s", hash ? hash : dummy_hash);
    if (tg_workq_submit(pool, base, pw_work, pw_done, j) < 0) {
        sodium_memzero(j, sizeof(*j));
        free(j);
        return -1;
    }
    return 0;
}

int tg_password_hash_async(struct event_base *base, const char *pw, size_t len,
                           tg_pw_done_cb done, void *arg)
{
    return submit(base, NULL, 0, pw, len, done, arg);
}

int tg_password_verify_async(struct event_base *base, const char *hash, const char *pw,
                             size_t len, tg_pw_done_cb done, void *arg)
{
    return submit(base, hash, 1, pw, len, done, arg);
}

/* ---- tokens ---- */

void tg_token_new(char token[TG_TOKEN_MAX], char hash[TG_TOKEN_HASH])
{
    static const char b62[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t i = 0;
    while (i < 43) { /* 43 × log2(62) ≈ 256 bits; rejection sampling keeps it uniform */
        unsigned char b;
        randombytes_buf(&b, 1);
        if (b < 248)
            token[i++] = b62[b % 62];
    }
    token[i] = '\0';
    tg_token_hash(token, i, hash);
}

static void hex_hash(const unsigned char *key, size_t klen, const char *in, size_t len,
                     char out[TG_TOKEN_HASH])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)in, len, key, klen);
    sodium_bin2hex(out, TG_TOKEN_HASH, h, sizeof(h));
}

void tg_token_hash(const char *token, size_t len, char hash[TG_TOKEN_HASH])
{
    hex_hash(NULL, 0, token, len, hash);
}

void tg_session_csrf(const char *token, size_t len, char out[TG_TOKEN_HASH])
{
    static const unsigned char key[] = "tollgate csrf token v1";
    hex_hash(key, sizeof(key) - 1, token, len, out);
}

/* ---- login throttling ---- */

#define SLOTS 4096
#define MAX_FAILURES 5
#define WINDOW 900

typedef struct {
    uint64_t key;
    int failures;
    int64_t start;
} slot_t;

static slot_t slots[SLOTS];
static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char slot_key[crypto_shorthash_KEYBYTES];
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;

static void slot_init(void) { randombytes_buf(slot_key, sizeof(slot_key)); }

/* Keyed with a random key, so nobody can aim other emails at someone's slot. */
static slot_t *slot_of(const char *email, uint64_t *key)
{
    pthread_once(&slot_once, slot_init);
    crypto_shorthash((unsigned char *)key, (const unsigned char *)email, strlen(email),
                     slot_key);
    return &slots[*key % SLOTS];
}

int64_t tg_login_throttled(const char *email, int64_t now)
{
    uint64_t key;
    int64_t wait = 0;
    pthread_mutex_lock(&slots_mu);
    slot_t *s = slot_of(email, &key);
    if (s->key == key && s->failures >= MAX_FAILURES && now < s->start + WINDOW)
        wait = s->start + WINDOW - now;
    pthread_mutex_unlock(&slots_mu);
    return wait;
}

void tg_login_failed(const char *email, int64_t now)
{
    uint64_t key;
    pthread_mutex_lock(&slots_mu);
    slot_t *s = slot_of(email, &key);
    if (s->key != key || now >= s->start + WINDOW)
        *s = (slot_t){.key = key, .failures = 0, .start = now};
    s->failures++;
    pthread_mutex_unlock(&slots_mu);
}

void tg_login_succeeded(const char *email)
{
    uint64_t key;
    pthread_mutex_lock(&slots_mu);
    slot_t *s = slot_of(email, &key);
    if (s->key == key)
        memset(s, 0, sizeof(*s));
    pthread_mutex_unlock(&slots_mu);
}
