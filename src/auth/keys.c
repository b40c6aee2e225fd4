#include "auth/keys.h"

#include "core/log.h"
#include "core/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
