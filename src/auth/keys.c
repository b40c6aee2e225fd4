#include "auth/keys.h"

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

static unsigned char master[crypto_secretbox_KEYBYTES];
static int have_master;

void tg_key_generate(const char *prefix, char out[TG_KEY_SECRET_MAX])
{
    /* 44 base62 characters: 261 bits, alphanumeric so a double-click selects all of it */
    tg_random_id(out, prefix, 44);
}

void tg_key_hash(const char *secret, size_t len, unsigned char out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)secret, len, NULL, 0);
}

static size_t prefix_len(const char *secret)
{
    static const char *prefixes[] = {"sk-admin-", "sk-proj-", "sk-svcacct-", "sk-"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(secret, prefixes[i], strlen(prefixes[i])) == 0)
            return strlen(prefixes[i]);
    return 0;
}

void tg_key_redact(const char *secret, char out[64])
{
    size_t len = strlen(secret), plen = prefix_len(secret);
    if (len < plen + 8) {
        snprintf(out, 64, "sk-…");
        return;
    }
    snprintf(out, 64, "%.*s%.3s…%s", (int)plen, secret, secret + plen, secret + len - 4);
}

void tg_key_redact_error(const char *secret, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    if (len <= 12) { /* too short to show anything safely */
        for (size_t i = 0; i < len && o + 1 < cap; i++)
            out[o++] = '*';
        out[o] = '\0';
        return;
    }
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        char ch = (i < 8 || i >= len - 4) ? secret[i] : '*';
        if ((unsigned char)ch < 0x20 || (unsigned char)ch >= 0x7f)
            ch = '?';
        out[o++] = ch;
        if (i == 8 && len > 60) { /* keep messages bounded: collapse long middles */
            while (o + 1 < cap && o < 8 + 40)
                out[o++] = '*';
            i = len - 5;
        }
    }
    out[o] = '\0';
}

int tg_secret_load_master(const char *db_path, int create)
{
    const char *env = getenv("TOLLGATE_SECRET_KEY");
    char path[4096];
    int fd;

    if (env) {
        if (strlen(env) != 64 ||
            sodium_hex2bin(master, sizeof(master), env, 64, NULL, NULL, NULL) != 0) {
            tg_error("TOLLGATE_SECRET_KEY must be 64 hex characters");
            return -1;
        }
        have_master = 1;
        return 0;
    }
    snprintf(path, sizeof(path), "%s.secret", db_path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, master, sizeof(master));
        close(fd);
        if (n != (ssize_t)sizeof(master)) {
            tg_error("%s: bad secret key file", path);
            return -1;
        }
        have_master = 1;
        return 0;
    }
    if (!create || errno != ENOENT) {
        tg_error("cannot read the secret key file %s: %s", path, strerror(errno));
        return -1;
    }
    crypto_secretbox_keygen(master);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, master, sizeof(master)) != (ssize_t)sizeof(master) || fsync(fd)) {
        tg_error("cannot write the secret key file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    have_master = 1;
    return 0;
}

int tg_secret_seal(const char *plain, size_t len, unsigned char *out, size_t cap)
{
    size_t need = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
    if (!have_master || need > cap)
        return -1;
    randombytes_buf(out, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, len,
                          out, master);
    return (int)need;
}

int tg_secret_open(const unsigned char *sealed, size_t len, char *out, size_t cap)
{
    size_t hdr = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
    if (!have_master || len < hdr || len - hdr + 1 > cap)
        return -1;
    if (crypto_secretbox_open_easy((unsigned char *)out, sealed + crypto_secretbox_NONCEBYTES,
                                   len - crypto_secretbox_NONCEBYTES, sealed, master) != 0)
        return -1;
    out[len - hdr] = '\0';
    return (int)(len - hdr);
}
