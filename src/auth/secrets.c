/* Secrets at rest (auth/secrets.h): the master key, sealing, and bringing a database's stored
 * secrets under one key at start and on rotation. */
#include "auth/secrets.h"

#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREFIX "v1:"
#define PREFIX_LEN 3
#define ID_LEN 8
#define HEAD_LEN (PREFIX_LEN + ID_LEN + 1) /* "v1:" KEYID ":" */
#define BOX_OVERHEAD (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)

static tg_master_key_t process_key;
static int have_process_key;

/* ---- the key ---- */

static void key_id(tg_master_key_t *k)
{
    static const char label[] = "tollgate master key id";
    unsigned char h[crypto_generichash_BYTES_MIN];
    crypto_generichash(h, sizeof(h), k->key, sizeof(k->key), (const unsigned char *)label,
                       sizeof(label) - 1);
    sodium_bin2hex(k->id, sizeof(k->id), h, ID_LEN / 2);
}

void tg_master_key_wipe(tg_master_key_t *k)
{
    sodium_memzero(k->key, sizeof(k->key));
}

/* base64 of exactly 32 bytes, white space around it allowed. */
static int from_base64(const char *text, size_t len, tg_master_key_t *out)
{
    size_t got = 0;
    const char *end = NULL;
    while (len && strchr(" \t\r\n", text[len - 1]))
        len--;
    while (len && strchr(" \t\r\n", *text))
        text++, len--;
    if (!len)
        return -1;
    int variant = text[len - 1] == '=' ? sodium_base64_VARIANT_ORIGINAL
                                       : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    if (sodium_base642bin(out->key, sizeof(out->key), text, len, NULL, &got, &end, variant) != 0 ||
        got != sizeof(out->key) || end != text + len) {
        sodium_memzero(out->key, sizeof(out->key));
        return -1;
    }
    key_id(out);
    return 0;
}

int tg_master_key_parse(const unsigned char *text, size_t len, tg_master_key_t *out)
{
    if (len == TG_MASTER_KEY_BYTES) { /* the raw key files of older releases */
        memcpy(out->key, text, len);
        key_id(out);
        return 0;
    }
    return from_base64((const char *)text, len, out);
}

int tg_master_key_read(const char *path, tg_master_key_t *out, char *err, size_t cap)
{
    unsigned char buf[256];
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "cannot read the master key file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        snprintf(err, cap, "the master key file %s is not a regular file", path);
        return -1;
    }
    if (sb.st_mode & 077) {
        close(fd);
        snprintf(err, cap, "the master key file %s is open to group or others (mode %04o); "
                 "`chmod 600 %s` and keep it that way", path, (unsigned)(sb.st_mode & 07777),
                 path);
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    int rc = n > 0 && n < (ssize_t)sizeof(buf) ? tg_master_key_parse(buf, (size_t)n, out) : -1;
    sodium_memzero(buf, sizeof(buf));
    if (rc < 0) {
        snprintf(err, cap, "the master key file %s does not hold a master key (base64 of 32 "
                 "bytes)", path);
        return -1;
    }
    snprintf(out->source, sizeof(out->source), "%s", path);
    return 0;
}

/* Writes k to a new file path (mode 0600): base64 and a newline. */
static int write_key(const char *path, const tg_master_key_t *k, char *err, size_t cap)
{
    char text[sodium_base64_ENCODED_LEN(TG_MASTER_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL) + 1];
    sodium_bin2base64(text, sizeof(text) - 1, k->key, sizeof(k->key),
                      sodium_base64_VARIANT_ORIGINAL);
    size_t len = strlen(text);
    text[len++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int ok = fd >= 0 && fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len &&
             fsync(fd) == 0;
    int e = errno;
    sodium_memzero(text, sizeof(text));
    if (fd >= 0)
        close(fd);
    if (!ok) {
        snprintf(err, cap, "cannot create the master key file %s: %s", path, strerror(e));
        if (fd >= 0)
            unlink(path);
        return -1;
    }
    tg_fsync_dir(path);
    return 0;
}

int tg_master_key_create(const char *path, tg_master_key_t *out, char *err, size_t cap)
{
    crypto_secretbox_keygen(out->key);
    key_id(out);
    if (write_key(path, out, err, cap) < 0) {
        tg_master_key_wipe(out);
        return -1;
    }
    snprintf(out->source, sizeof(out->source), "%s", path);
    return 0;
}

int tg_master_key_given(const char *file, const char *env_name, tg_master_key_t *out, char *err,
                        size_t cap)
{
    if (file)
        return tg_master_key_read(file, out, err, cap);
    const char *env = getenv(env_name);
    if (env && *env) {
        if (from_base64(env, strlen(env), out) < 0) {
            snprintf(err, cap, "%s must be the base64 of 32 bytes (e.g. `head -c 32 "
                     "/dev/urandom | base64`)", env_name);
            return -1;
        }
        snprintf(out->source, sizeof(out->source), "%s", env_name);
        return 0;
    }
    if (strcmp(env_name, TG_MASTER_KEY_ENV) != 0)
        return 1;
    env = getenv(TG_LEGACY_KEY_ENV);
    if (!env || !*env)
        return 1;
    if (strlen(env) != 2 * TG_MASTER_KEY_BYTES ||
        sodium_hex2bin(out->key, sizeof(out->key), env, strlen(env), NULL, NULL, NULL) != 0) {
        snprintf(err, cap, "%s must be 64 hex characters (or use %s, base64)", TG_LEGACY_KEY_ENV,
                 TG_MASTER_KEY_ENV);
        return -1;
    }
    key_id(out);
    snprintf(out->source, sizeof(out->source), "%s", TG_LEGACY_KEY_ENV);
    return 0;
}

/* ---- sealing ---- */

size_t tg_secret_sealed_len(size_t len)
{
    return HEAD_LEN + sodium_base64_ENCODED_LEN(BOX_OVERHEAD + len, sodium_base64_VARIANT_ORIGINAL) -
           1;
}

int tg_secret_seal_with(const tg_master_key_t *k, const char *plain, size_t len,
                        unsigned char *out, size_t cap)
{
    size_t need = tg_secret_sealed_len(len);
    if (need > cap || need > INT32_MAX)
        return -1;
    unsigned char *box = malloc(BOX_OVERHEAD + len);
    if (!box)
        return -1;
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, len,
                          box, k->key);
    /* sodium_bin2base64 writes a NUL: encode into the space from HEAD_LEN, which holds it */
    char *b64 = malloc(need - HEAD_LEN + 1);
    if (!b64) {
        free(box);
        return -1;
    }
    sodium_bin2base64(b64, need - HEAD_LEN + 1, box, BOX_OVERHEAD + len,
                      sodium_base64_VARIANT_ORIGINAL);
    memcpy(out, PREFIX, PREFIX_LEN);
    memcpy(out + PREFIX_LEN, k->id, ID_LEN);
    out[HEAD_LEN - 1] = ':';
    memcpy(out + HEAD_LEN, b64, need - HEAD_LEN);
    free(b64);
    free(box);
    return (int)need;
}

static int is_v1(const unsigned char *v, size_t len)
{
    return len > HEAD_LEN && memcmp(v, PREFIX, PREFIX_LEN) == 0 && v[HEAD_LEN - 1] == ':';
}

/* nonce | mac | ciphertext (raw) → out. */
static int open_box(const unsigned char *key, const unsigned char *box, size_t n, char *out,
                    size_t cap)
{
    if (n < BOX_OVERHEAD || n - BOX_OVERHEAD + 1 > cap)
        return -1;
    if (crypto_secretbox_open_easy((unsigned char *)out, box + crypto_secretbox_NONCEBYTES,
                                   n - crypto_secretbox_NONCEBYTES, box, key) != 0)
        return -1;
    out[n - BOX_OVERHEAD] = '\0';
    return (int)(n - BOX_OVERHEAD);
}

int tg_secret_open_with(const tg_master_key_t *k, const unsigned char *sealed, size_t len,
                        char *out, size_t cap)
{
    if (!is_v1(sealed, len) || memcmp(sealed + PREFIX_LEN, k->id, ID_LEN) != 0)
        return -1;
    size_t blen = len - HEAD_LEN, got = 0;
    unsigned char *box = malloc(blen);
    const char *end = NULL;
    int rc = -1;
    if (box &&
        sodium_base642bin(box, blen, (const char *)sealed + HEAD_LEN, blen, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        end == (const char *)sealed + len)
        rc = open_box(k->key, box, got, out, cap);
    free(box);
    return rc;
}

void tg_secret_use(const tg_master_key_t *k)
{
    process_key = *k;
    have_process_key = 1;
}

int tg_secret_seal(const char *plain, size_t len, unsigned char *out, size_t cap)
{
    return have_process_key ? tg_secret_seal_with(&process_key, plain, len, out, cap) : -1;
}

int tg_secret_open(const unsigned char *sealed, size_t len, char *out, size_t cap)
{
    return have_process_key ? tg_secret_open_with(&process_key, sealed, len, out, cap) : -1;
}

/* ---- the database's secrets ---- */

/* Plain text as an operator or an older tool would have stored it: printable ASCII and line
 * breaks. A value sealed by an older release is 40 or more random bytes, never that. */
static int printable(const unsigned char *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((v[i] < 0x20 || v[i] > 0x7e) && v[i] != '\n')
            return 0;
    return 1;
}

static const char *what(const tg_secret_row_t *r)
{
    return r->kind == TG_SECRET_PROVIDER ? "upstream API keys of provider"
                                         : "signing secret of spend alert";
}

/* The most a sealed value of this kind may take (the rows that carry it). */
static size_t room(int kind)
{
    return kind == TG_SECRET_ALERT ? sizeof(((tg_alert_row_t *)0)->secret) : TG_SECRET_BLOB_MAX;
}

static void wrong_key(const tg_master_key_t *k, const char *kid, const char *shown, char *err,
                      size_t cap)
{
    snprintf(err, cap, "the master key from %s (id %s) is not the key that sealed the secrets in "
             "%s (id %s); give that key with --master-key-file or %s",
             k->source, k->id, shown, kid, TG_MASTER_KEY_ENV);
}

typedef struct {
    size_t checked, plain, older, moved;
} counts_t;

/* Brings every stored secret under `to`: values sealed under `from` (in the v1 form or the raw
 * form of older releases) and plain text are sealed anew; values already under `to` are
 * checked. Inside the caller's transaction; -1 with err on the first value that cannot be
 * opened. */
static int reseal_all(tg_store_t *st, const tg_master_key_t *from, const tg_master_key_t *to,
                      const char *shown, counts_t *c, char *err, size_t cap)
{
    tg_secret_row_t *rows = NULL;
    size_t n = 0;
    char *plain = malloc(TG_SECRET_BLOB_MAX + 1);
    int rc = -1;

    if (!plain || st->secrets->list(st, &rows, &n) < 0) {
        snprintf(err, cap, "cannot read the stored secrets of %s", shown);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        tg_secret_row_t *r = &rows[i];
        int len;
        if (r->too_long) {
            snprintf(err, cap, "the %s %s in %s is too long to be a sealed value", what(r), r->id,
                     shown);
            goto out;
        }
        if (is_v1(r->value, r->len)) {
            char kid[ID_LEN + 1];
            memcpy(kid, r->value + PREFIX_LEN, ID_LEN);
            kid[ID_LEN] = '\0';
            const tg_master_key_t *k = !strcmp(kid, from->id) ? from
                                       : !strcmp(kid, to->id) ? to
                                                              : NULL;
            if (!k) {
                wrong_key(from, kid, shown, err, cap);
                goto out;
            }
            len = tg_secret_open_with(k, r->value, r->len, plain, TG_SECRET_BLOB_MAX + 1);
            if (len < 0) {
                snprintf(err, cap, "the %s %s in %s does not open with master key %s: the "
                         "stored value was altered", what(r), r->id, shown, k->id);
                goto out;
            }
            if (k == to) {
                c->checked++;
                continue;
            }
            c->moved++;
        } else if (printable(r->value, r->len)) {
            memcpy(plain, r->value, r->len);
            len = (int)r->len;
            c->plain++;
        } else {
            len = open_box(from->key, r->value, r->len, plain, TG_SECRET_BLOB_MAX + 1);
            if (len < 0) {
                snprintf(err, cap, "the master key from %s (id %s) does not open the %s %s in "
                         "%s (sealed by an older release); give the key it was sealed with "
                         "(--master-key-file, or %s)", from->source, from->id, what(r), r->id,
                         shown, TG_LEGACY_KEY_ENV);
                goto out;
            }
            c->older++;
        }
        int sealed = tg_secret_seal_with(to, plain, (size_t)len, r->value, room(r->kind));
        sodium_memzero(plain, (size_t)len);
        if (sealed < 0) {
            snprintf(err, cap, "the %s %s in %s is too long to seal", what(r), r->id, shown);
            goto out;
        }
        r->len = (size_t)sealed;
        if (st->secrets->set(st, r) < 0) {
            snprintf(err, cap, "cannot write the %s %s in %s", what(r), r->id, shown);
            goto out;
        }
    }
    rc = 0;
out:
    if (plain)
        sodium_memzero(plain, TG_SECRET_BLOB_MAX + 1);
    free(plain);
    if (rows)
        sodium_memzero(rows, n * sizeof(*rows));
    free(rows);
    return rc;
}

/* The whole pass in one transaction: the recorded id must be from's (or none), every value is
 * brought under `to`, and to's id is recorded. */
static int pass(tg_store_t *st, const tg_master_key_t *from, const tg_master_key_t *to,
                const char *shown, counts_t *c, char *err, size_t cap)
{
    char kid[TG_MASTER_KEY_ID_MAX];
    if (st->ops->begin(st) < 0) {
        snprintf(err, cap, "cannot start a transaction on %s", shown);
        return -1;
    }
    if (st->secrets->key_id_get(st, kid) < 0) {
        snprintf(err, cap, "cannot read the master key id recorded in %s", shown);
        goto fail;
    }
    if (kid[0] && strcmp(kid, from->id) != 0) {
        wrong_key(from, kid, shown, err, cap);
        goto fail;
    }
    if (reseal_all(st, from, to, shown, c, err, cap) < 0)
        goto fail;
    if (strcmp(kid, to->id) != 0 && st->secrets->key_id_set(st, to->id, tg_now()) < 0) {
        snprintf(err, cap, "cannot record the master key id in %s", shown);
        goto fail;
    }
    if (st->ops->commit(st) < 0) {
        snprintf(err, cap, "cannot commit the secrets to %s", shown);
        return -1;
    }
    /* what was replaced (plain text, or values under a key being retired) leaves the files */
    if (c->plain + c->older + c->moved && st->secrets->forget(st) < 0)
        tg_warn("secrets: the replaced values of %s may linger in its write-ahead log until the "
                "next checkpoint", shown);
    return 0;
fail:
    st->ops->rollback(st);
    return -1;
}

/* PATH.key beside a SQLite database: read, taken over from PATH.secret, or created for a
 * database that holds no secret yet. */
static int key_beside(tg_store_t *st, const char *path, const char *shown, tg_master_key_t *k,
                      char *err, size_t cap)
{
    char file[4200], legacy[4200], kid[TG_MASTER_KEY_ID_MAX];
    snprintf(file, sizeof(file), "%s.key", path);
    snprintf(legacy, sizeof(legacy), "%s.secret", path);
    if (access(file, F_OK) == 0)
        return tg_master_key_read(file, k, err, cap);
    if (access(legacy, F_OK) == 0) {
        char werr[512];
        if (tg_master_key_read(legacy, k, err, cap) < 0)
            return -1;
        if (write_key(file, k, werr, sizeof(werr)) == 0) {
            tg_info("master key: %s (an older release's key file) copied to %s; only %s is "
                    "read from now on", legacy, file, file);
            snprintf(k->source, sizeof(k->source), "%s", file);
        } else {
            tg_warn("master key: %s; still using %s", werr, legacy);
        }
        return 0;
    }
    tg_secret_row_t *rows = NULL;
    size_t n = 0;
    if (st->secrets->key_id_get(st, kid) < 0 || st->secrets->list(st, &rows, &n) < 0) {
        snprintf(err, cap, "cannot read the stored secrets of %s", shown);
        return -1;
    }
    sodium_memzero(rows, n * sizeof(*rows));
    free(rows);
    if (kid[0] || n) {
        snprintf(err, cap, "the master key file %s is missing, but the secrets in %s are sealed "
                 "with master key %s: put the key file back (from your backup) or give "
                 "--master-key-file or %s", file, shown, kid[0] ? kid : "(of an older release)",
                 TG_MASTER_KEY_ENV);
        return -1;
    }
    if (tg_master_key_create(file, k, err, cap) < 0)
        return -1;
    tg_info("master key: created %s (mode 0600); back it up, apart from the database backups",
            file);
    return 0;
}

int tg_secrets_start(tg_store_t *st, const char *db_url, const char *key_file, char *err,
                     size_t cap)
{
    tg_master_key_t k;
    char path[4096], shown[4096];
    counts_t c = {0};
    int rc = -1;

    memset(&k, 0, sizeof(k));
    tg_store_redact_url(db_url, shown, sizeof(shown));
    int given = tg_master_key_given(key_file, TG_MASTER_KEY_ENV, &k, err, cap);
    if (given < 0)
        goto out;
    if (given == 1) {
        if (tg_store_is_pg(db_url) || !tg_store_sqlite_path(db_url, path, sizeof(path))) {
            snprintf(err, cap, "with PostgreSQL, give the master key with --master-key-file FILE "
                     "or %s (base64 of 32 bytes), the same on every instance", TG_MASTER_KEY_ENV);
            goto out;
        }
        if (key_beside(st, path, shown, &k, err, cap) < 0)
            goto out;
    }
    if (pass(st, &k, &k, shown, &c, err, cap) < 0)
        goto out;
    if (c.plain || c.older)
        tg_info("secrets: sealed %zu plain-text and %zu older values under master key %s",
                c.plain, c.older, k.id);
    tg_secret_use(&k);
    rc = 0;
out:
    tg_master_key_wipe(&k);
    return rc;
}

int tg_secrets_rotate(tg_store_t *st, const char *db_url, const tg_master_key_t *old,
                      const tg_master_key_t *nk, size_t *count, char *err, size_t cap)
{
    counts_t c = {0};
    char shown[4096];
    tg_store_redact_url(db_url, shown, sizeof(shown));
    if (!strcmp(old->id, nk->id)) {
        snprintf(err, cap, "the new master key is the old one (id %s)", old->id);
        return -1;
    }
    if (pass(st, old, nk, shown, &c, err, cap) < 0)
        return -1;
    *count = c.plain + c.older + c.moved;
    return 0;
}
