/* auth/secrets: the master key (files, variables), sealing in the v1 form, and bringing a
 * database's stored secrets under one key at start and on rotation — against SQLite, and
 * against PostgreSQL with TG_TEST_PG_URL (make test-pg). */
#include "auth/secrets.h"
#include "core/log.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "db_fixture.h"

/* base64 of 32 bytes 0x00..0x1f, and of 32 bytes 0xff */
#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_B "//////////////////////////////////////////8="

static tg_master_key_t key_of(const char *b64)
{
    tg_master_key_t k;
    memset(&k, 0, sizeof(k));
    assert_int_equal(tg_master_key_parse((const unsigned char *)b64, strlen(b64), &k), 0);
    snprintf(k.source, sizeof(k.source), "test");
    return k;
}

static void quiet(int on)
{
    static int saved;
    if (on) {
        saved = tg_log_level;
        tg_log_level = TG_LOG_ERROR + 1;
    } else {
        tg_log_level = saved;
    }
}

/* ---- sealing ---- */

static void test_seal_format_and_roundtrip(void **state)
{
    tg_master_key_t a = key_of(KEY_A);
    const char *plain = "sk-upstream-0123456789abcdefghijklmnopqrstuvwxyz\nsk-second";
    size_t len = strlen(plain);
    unsigned char s1[512], s2[512];
    char out[512];
    int n = tg_secret_seal_with(&a, plain, len, s1, sizeof(s1));
    assert_int_equal(n, (int)tg_secret_sealed_len(len));
    assert_memory_equal(s1, "v1:", 3);
    assert_memory_equal(s1 + 3, a.id, 8);
    assert_int_equal(s1[11], ':');
    assert_int_equal(strlen(a.id), 8);
    for (int i = 0; i < n; i++) /* text: base64 after the head */
        assert_true(s1[i] >= 0x20 && s1[i] < 0x7f);
    assert_null(memmem(s1, (size_t)n, "sk-upstream", 11));
    memset(out, 'Z', sizeof(out));
    assert_int_equal(tg_secret_open_with(&a, s1, (size_t)n, out, sizeof(out)), (int)len);
    assert_string_equal(out, plain);
    /* a fresh nonce each time */
    assert_int_equal(tg_secret_seal_with(&a, plain, len, s2, sizeof(s2)), n);
    assert_memory_not_equal(s1, s2, (size_t)n);
    /* the empty secret */
    n = tg_secret_seal_with(&a, "", 0, s1, sizeof(s1));
    assert_int_equal(tg_secret_open_with(&a, s1, (size_t)n, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* too small a buffer: -1, nothing written past it */
    assert_int_equal(tg_secret_seal_with(&a, plain, len, s1, tg_secret_sealed_len(len) - 1), -1);
}

static void test_open_refuses(void **state)
{
    tg_master_key_t a = key_of(KEY_A), b = key_of(KEY_B);
    assert_string_not_equal(a.id, b.id);
    unsigned char s[256], copy[256];
    char out[256];
    int n = tg_secret_seal_with(&a, "upstream-key", 12, s, sizeof(s));
    /* under another key */
    assert_int_equal(tg_secret_open_with(&b, s, (size_t)n, out, sizeof(out)), -1);
    /* another key with the same id in the head (the id forged): the MAC still refuses */
    memcpy(copy, s, (size_t)n);
    memcpy(copy + 3, b.id, 8);
    assert_int_equal(tg_secret_open_with(&b, copy, (size_t)n, out, sizeof(out)), -1);
    /* any character changed */
    for (int i = 0; i < n; i++) {
        memcpy(copy, s, (size_t)n);
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        if (tg_secret_open_with(&a, copy, (size_t)n, out, sizeof(out)) != -1)
            fail_msg("changed character %d still opened", i);
    }
    /* truncated, or too small an output (plain 12 needs 13) */
    assert_int_equal(tg_secret_open_with(&a, s, (size_t)n - 4, out, sizeof(out)), -1);
    assert_int_equal(tg_secret_open_with(&a, s, 12, out, sizeof(out)), -1);
    assert_int_equal(tg_secret_open_with(&a, s, (size_t)n, out, 12), -1);
    assert_int_equal(tg_secret_open_with(&a, s, (size_t)n, out, 13), 12);
    /* the process key: none yet, then a */
    tg_secret_use(&a);
    assert_int_equal(tg_secret_open(s, (size_t)n, out, sizeof(out)), 12);
    assert_string_equal(out, "upstream-key");
}

static void test_key_parse(void **state)
{
    tg_master_key_t k;
    assert_int_equal(tg_master_key_parse((const unsigned char *)" " KEY_A "\n", strlen(KEY_A) + 2, &k), 0);
    for (int i = 0; i < 32; i++)
        assert_int_equal(k.key[i], i);
    /* without padding */
    assert_int_equal(tg_master_key_parse((const unsigned char *)KEY_A, strlen(KEY_A) - 1, &k), 0);
    /* 32 raw bytes (an older release's file) */
    unsigned char raw[32];
    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)i;
    tg_master_key_t r;
    assert_int_equal(tg_master_key_parse(raw, 32, &r), 0);
    assert_string_equal(r.id, k.id);
    /* too short, too long, not base64 */
    const char *bad[] = {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", /* 31 bytes */
                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==", /* 34 */
                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8*", "", "\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(tg_master_key_parse((const unsigned char *)bad[i], strlen(bad[i]), &k), -1);
}

static void test_key_env(void **state)
{
    tg_master_key_t k;
    char err[512];
    unsetenv(TG_MASTER_KEY_ENV);
    unsetenv(TG_LEGACY_KEY_ENV);
    assert_int_equal(tg_master_key_given(NULL, TG_MASTER_KEY_ENV, &k, err, sizeof(err)), 1);
    setenv(TG_MASTER_KEY_ENV, KEY_A, 1);
    assert_int_equal(tg_master_key_given(NULL, TG_MASTER_KEY_ENV, &k, err, sizeof(err)), 0);
    assert_string_equal(k.source, TG_MASTER_KEY_ENV);
    assert_string_equal(k.id, key_of(KEY_A).id);
    setenv(TG_MASTER_KEY_ENV, "not base64!", 1);
    assert_int_equal(tg_master_key_given(NULL, TG_MASTER_KEY_ENV, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "TOLLGATE_MASTER_KEY must be the base64 of 32 bytes"));
    /* 32 characters are not a raw key in a variable */
    setenv(TG_MASTER_KEY_ENV, "0123456789abcdef0123456789abcdef", 1);
    assert_int_equal(tg_master_key_given(NULL, TG_MASTER_KEY_ENV, &k, err, sizeof(err)), -1);
    unsetenv(TG_MASTER_KEY_ENV);
    /* the older variable, hex */
    setenv(TG_LEGACY_KEY_ENV, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 1);
    assert_int_equal(tg_master_key_given(NULL, TG_MASTER_KEY_ENV, &k, err, sizeof(err)), 0);
    assert_string_equal(k.id, key_of(KEY_A).id);
    setenv(TG_LEGACY_KEY_ENV, "abcd", 1);
    assert_int_equal(tg_master_key_given(NULL, TG_MASTER_KEY_ENV, &k, err, sizeof(err)), -1);
    /* only for the master key, not for rotate's new one */
    assert_int_equal(tg_master_key_given(NULL, TG_NEW_MASTER_KEY_ENV, &k, err, sizeof(err)), 1);
    unsetenv(TG_LEGACY_KEY_ENV);
}

static void test_key_files(void **state)
{
    char dir[] = "/tmp/tg-mk-XXXXXX", path[128], err[512];
    struct stat sb;
    tg_master_key_t k, r;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.key", dir);
    assert_int_equal(tg_master_key_read(path, &k, err, sizeof(err)), -1); /* missing */
    assert_non_null(strstr(err, "cannot read the master key file"));
    assert_int_equal(tg_master_key_create(path, &k, err, sizeof(err)), 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 45); /* base64 and a newline */
    assert_int_equal(tg_master_key_read(path, &r, err, sizeof(err)), 0);
    assert_string_equal(r.id, k.id);
    assert_memory_equal(r.key, k.key, 32);
    /* never replaced */
    assert_int_equal(tg_master_key_create(path, &r, err, sizeof(err)), -1);
    assert_int_equal(tg_master_key_read(path, &r, err, sizeof(err)), 0);
    assert_memory_equal(r.key, k.key, 32);
    /* open to group or others: refused */
    chmod(path, 0640);
    assert_int_equal(tg_master_key_read(path, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "open to group or others (mode 0640)"));
    chmod(path, 0604);
    assert_int_equal(tg_master_key_read(path, &r, err, sizeof(err)), -1);
    chmod(path, 0400);
    assert_int_equal(tg_master_key_read(path, &r, err, sizeof(err)), 0);
    unlink(path);
    /* not a key */
    FILE *f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    chmod(path, 0600);
    assert_int_equal(tg_master_key_read(path, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not hold a master key"));
    unlink(path);
    /* a directory */
    assert_int_equal(tg_master_key_read(dir, &r, err, sizeof(err)), -1);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- a database's secrets ---- */

static int fx_setup(void **state)
{
    unsetenv(TG_MASTER_KEY_ENV);
    unsetenv(TG_LEGACY_KEY_ENV);
    return tg_test_db_setup(state, "secrets");
}

static int fx_teardown(void **state)
{
    unsetenv(TG_MASTER_KEY_ENV);
    return tg_test_db_teardown(state);
}

static void put_provider(tg_store_t *st, const char *id, const void *secret, size_t len)
{
    tg_provider_row_t p;
    memset(&p, 0, sizeof(p));
    snprintf(p.id, sizeof(p.id), "%s", id);
    snprintf(p.org_id, sizeof(p.org_id), "org_a");
    snprintf(p.name, sizeof(p.name), "%s", id);
    snprintf(p.type, sizeof(p.type), "openai");
    snprintf(p.base_url, sizeof(p.base_url), "https://x.example.com/v1");
    memcpy(p.secret, secret, len);
    p.secret_len = len;
    snprintf(p.models, sizeof(p.models), "[]");
    p.weight = 1;
    p.enabled = 1;
    assert_int_equal(st->tenancy->provider_upsert(st, &p), 0);
}

static void put_alert(tg_store_t *st, const char *id, const void *secret, size_t len)
{
    tg_alert_row_t a;
    memset(&a, 0, sizeof(a));
    snprintf(a.id, sizeof(a.id), "%s", id);
    snprintf(a.org_id, sizeof(a.org_id), "org_a");
    a.threshold_cents = 100;
    snprintf(a.channel, sizeof(a.channel), "{\"type\":\"webhook\",\"url\":\"http://x\"}");
    memcpy(a.secret, secret, len);
    a.secret_len = len;
    assert_int_equal(st->money->alert_insert(st, &a), 0);
}

/* A value sealed as older releases did: nonce | mac | ciphertext, raw. */
static size_t legacy_seal(const tg_master_key_t *k, const char *plain, unsigned char *out)
{
    size_t len = strlen(plain);
    randombytes_buf(out, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, len,
                          out, k->key);
    return crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
}

/* The stored value of provider or alert `id`, opened with k ("" if it does not open). */
static void stored(tg_store_t *st, int kind, const char *id, const tg_master_key_t *k, char *out,
                   size_t cap, unsigned char *raw, size_t *rawlen)
{
    tg_secret_row_t *rows;
    size_t n;
    out[0] = '\0';
    assert_int_equal(st->secrets->list(st, &rows, &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].kind != kind || strcmp(rows[i].id, id))
            continue;
        if (raw) {
            memcpy(raw, rows[i].value, rows[i].len);
            *rawlen = rows[i].len;
        }
        if (tg_secret_open_with(k, rows[i].value, rows[i].len, out, cap) < 0)
            out[0] = '\0';
    }
    free(rows);
}

static void test_start_seals_plain_and_older(void **state)
{
    tg_test_db_t *d = *state;
    tg_store_t *st = d->st;
    tg_master_key_t a = key_of(KEY_A);
    unsigned char old[256];
    char out[4700], err[1024], kid[TG_MASTER_KEY_ID_MAX];

    put_provider(st, "prov_plain", "sk-plain-1\nsk-plain-2", 21);
    put_provider(st, "prov_old", old, legacy_seal(&a, "sk-older", old));
    put_alert(st, "alert_plain", "whsec_plain", 11);
    put_alert(st, "alert_old", old, legacy_seal(&a, "whsec_older", old));
    setenv(TG_MASTER_KEY_ENV, KEY_A, 1);
    quiet(1);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), 0);
    quiet(0);

    unsigned char raw[4700];
    size_t rawlen;
    stored(st, TG_SECRET_PROVIDER, "prov_plain", &a, out, sizeof(out), raw, &rawlen);
    assert_string_equal(out, "sk-plain-1\nsk-plain-2");
    assert_memory_equal(raw, "v1:", 3);
    assert_null(memmem(raw, rawlen, "sk-plain", 8));
    stored(st, TG_SECRET_PROVIDER, "prov_old", &a, out, sizeof(out), NULL, NULL);
    assert_string_equal(out, "sk-older");
    stored(st, TG_SECRET_ALERT, "alert_plain", &a, out, sizeof(out), NULL, NULL);
    assert_string_equal(out, "whsec_plain");
    stored(st, TG_SECRET_ALERT, "alert_old", &a, out, sizeof(out), NULL, NULL);
    assert_string_equal(out, "whsec_older");
    assert_int_equal(st->secrets->key_id_get(st, kid), 0);
    assert_string_equal(kid, a.id);
    /* the process key is a now: the catalog and the alerts open with it */
    unsigned char s[256];
    int n = tg_secret_seal("x", 1, s, sizeof(s));
    assert_int_equal(tg_secret_open_with(&a, s, (size_t)n, out, sizeof(out)), 1);

    /* again: nothing to do, the same values */
    unsigned char before[4700];
    size_t blen;
    stored(st, TG_SECRET_PROVIDER, "prov_plain", &a, out, sizeof(out), before, &blen);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), 0);
    stored(st, TG_SECRET_PROVIDER, "prov_plain", &a, out, sizeof(out), raw, &rawlen);
    assert_int_equal(rawlen, blen);
    assert_memory_equal(raw, before, blen);
}

static void test_start_wrong_key_changes_nothing(void **state)
{
    tg_test_db_t *d = *state;
    tg_store_t *st = d->st;
    tg_master_key_t a = key_of(KEY_A);
    unsigned char old[256], raw[4700];
    size_t rawlen;
    char out[4700], err[1024], kid[TG_MASTER_KEY_ID_MAX];

    /* an older release's value, opened with the wrong key: refused, plain rows stay plain */
    put_provider(st, "prov_old", old, legacy_seal(&a, "sk-older", old));
    put_provider(st, "prov_plain", "sk-plain", 8);
    setenv(TG_MASTER_KEY_ENV, KEY_B, 1);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not open the upstream API keys of provider prov_old"));
    assert_null(strchr(err, '\n'));
    stored(st, TG_SECRET_PROVIDER, "prov_plain", &a, out, sizeof(out), raw, &rawlen);
    assert_int_equal(rawlen, 8);
    assert_memory_equal(raw, "sk-plain", 8);
    assert_int_equal(st->secrets->key_id_get(st, kid), 0);
    assert_string_equal(kid, "");

    /* with the right key, then the wrong one: refused by the recorded id */
    setenv(TG_MASTER_KEY_ENV, KEY_A, 1);
    quiet(1);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), 0);
    quiet(0);
    setenv(TG_MASTER_KEY_ENV, KEY_B, 1);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), -1);
    char want[256];
    snprintf(want, sizeof(want), "the master key from TOLLGATE_MASTER_KEY (id %s) is not the key "
             "that sealed the secrets in", key_of(KEY_B).id);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, a.id));

    /* a sealed value altered in place: refused, not served as garbage */
    stored(st, TG_SECRET_PROVIDER, "prov_plain", &a, out, sizeof(out), raw, &rawlen);
    raw[rawlen - 5] = raw[rawlen - 5] == 'A' ? 'B' : 'A';
    put_provider(st, "prov_plain", raw, rawlen);
    setenv(TG_MASTER_KEY_ENV, KEY_A, 1);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "the stored value was altered"));
}

static void test_rotate(void **state)
{
    tg_test_db_t *d = *state;
    tg_store_t *st = d->st;
    tg_master_key_t a = key_of(KEY_A), b = key_of(KEY_B);
    unsigned char s[4700];
    char out[4700], err[1024], kid[TG_MASTER_KEY_ID_MAX];
    size_t count = 0;

    put_provider(st, "prov_1", s, (size_t)tg_secret_seal_with(&a, "sk-one", 6, s, sizeof(s)));
    put_provider(st, "prov_2", "sk-two", 6); /* plain: sealed on the way */
    put_alert(st, "alert_1", s, (size_t)tg_secret_seal_with(&a, "whsec_1", 7, s, sizeof(s)));
    assert_int_equal(st->secrets->key_id_set(st, a.id, 1), 0);

    /* the wrong old key: refused, nothing changed */
    assert_int_equal(tg_secrets_rotate(st, d->url, &b, &a, &count, err, sizeof(err)), -1);
    assert_int_equal(tg_secrets_rotate(st, d->url, &a, &a, &count, err, sizeof(err)), -1);
    assert_int_equal(tg_secrets_rotate(st, d->url, &a, &b, &count, err, sizeof(err)), 0);
    assert_int_equal(count, 3);
    stored(st, TG_SECRET_PROVIDER, "prov_1", &b, out, sizeof(out), NULL, NULL);
    assert_string_equal(out, "sk-one");
    stored(st, TG_SECRET_PROVIDER, "prov_2", &b, out, sizeof(out), NULL, NULL);
    assert_string_equal(out, "sk-two");
    stored(st, TG_SECRET_ALERT, "alert_1", &b, out, sizeof(out), NULL, NULL);
    assert_string_equal(out, "whsec_1");
    stored(st, TG_SECRET_PROVIDER, "prov_1", &a, out, sizeof(out), NULL, NULL);
    assert_string_equal(out, ""); /* the old key opens nothing */
    assert_int_equal(st->secrets->key_id_get(st, kid), 0);
    assert_string_equal(kid, b.id);
    /* start: the new key passes, the old one is refused */
    setenv(TG_MASTER_KEY_ENV, KEY_A, 1);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), -1);
    setenv(TG_MASTER_KEY_ENV, KEY_B, 1);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), 0);
}

/* SQLite only: PATH.key beside the database. */
static void test_key_beside_sqlite(void **state)
{
    tg_test_db_t *d = *state;
    tg_store_t *st = d->st;
    char err[1024], file[256], legacy[256];
    struct stat sb;
    if (d->pg_db[0])
        skip();
    snprintf(file, sizeof(file), "%s.key", d->path);
    snprintf(legacy, sizeof(legacy), "%s.secret", d->path);

    /* PostgreSQL without a key: refused */
    assert_int_equal(tg_secrets_start(st, "postgres://u@h/db", NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "with PostgreSQL, give the master key"));

    /* an older release's PATH.secret: taken over into PATH.key, its values re-sealed */
    tg_master_key_t a = key_of(KEY_A);
    unsigned char old[256];
    put_provider(st, "prov_old", old, legacy_seal(&a, "sk-older", old));
    FILE *f = fopen(legacy, "wb");
    fwrite(a.key, 1, 32, f);
    fclose(f);
    chmod(legacy, 0600);
    quiet(1);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), 0);
    quiet(0);
    tg_master_key_t k;
    assert_int_equal(tg_master_key_read(file, &k, err, sizeof(err)), 0);
    assert_string_equal(k.id, a.id);
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char out[256];
    stored(st, TG_SECRET_PROVIDER, "prov_old", &a, out, sizeof(out), NULL, NULL);
    assert_string_equal(out, "sk-older");

    /* PATH.key lost: refused, never replaced by a new key */
    unlink(file);
    unlink(legacy);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is missing, but the secrets in"));
    assert_int_equal(stat(file, &sb), -1);
    /* world-readable: refused */
    f = fopen(file, "w");
    fputs(KEY_A "\n", f);
    fclose(f);
    chmod(file, 0644);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "open to group or others"));
    chmod(file, 0600);
    assert_int_equal(tg_secrets_start(st, d->url, NULL, err, sizeof(err)), 0);
    /* --master-key-file wins over the file beside the database */
    char other[256];
    snprintf(other, sizeof(other), "%s/other.key", d->dir);
    tg_master_key_t o;
    assert_int_equal(tg_master_key_create(other, &o, err, sizeof(err)), 0);
    assert_int_equal(tg_secrets_start(st, d->url, other, err, sizeof(err)), -1);
    assert_non_null(strstr(err, other));
    unlink(other);
}

static void test_key_created_for_a_new_database(void **state)
{
    tg_test_db_t *d = *state;
    char err[1024], file[256], kid[TG_MASTER_KEY_ID_MAX];
    struct stat sb;
    if (d->pg_db[0])
        skip();
    snprintf(file, sizeof(file), "%s.key", d->path);
    quiet(1);
    assert_int_equal(tg_secrets_start(d->st, d->url, NULL, err, sizeof(err)), 0);
    quiet(0);
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    tg_master_key_t k;
    assert_int_equal(tg_master_key_read(file, &k, err, sizeof(err)), 0);
    assert_int_equal(d->st->secrets->key_id_get(d->st, kid), 0);
    assert_string_equal(kid, k.id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_format_and_roundtrip),
        cmocka_unit_test(test_open_refuses),
        cmocka_unit_test(test_key_parse),
        cmocka_unit_test(test_key_env),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test_setup_teardown(test_start_seals_plain_and_older, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_start_wrong_key_changes_nothing, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rotate, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_key_beside_sqlite, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_key_created_for_a_new_database, fx_setup,
                                        fx_teardown),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("secrets", tests, NULL, NULL);
}
