#include "core/strbuf.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg_strbuf_add(tg_strbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 512;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void tg_strbuf_lit(tg_strbuf_t *b, const char *s) { tg_strbuf_add(b, s, strlen(s)); }

void tg_strbuf_printf(tg_strbuf_t *b, const char *fmt, ...)
{
    char t[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof(t), fmt, ap);
    va_end(ap);
    if (n > 0)
        tg_strbuf_add(b, t, (size_t)n < sizeof(t) ? (size_t)n : sizeof(t) - 1);
}

void tg_strbuf_free(tg_strbuf_t *b)
{
    if (b->p) /* bodies may hold secrets (payment tokens): wipe before freeing */
        sodium_memzero(b->p, b->cap);
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
