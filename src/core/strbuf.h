/* A growable NUL-terminated byte string for building bodies (HTML, form encoding). An
 * allocation failure sets `oom` and makes every later append a no-op: check it once at the
 * end. Zero-initialise to start; tg_strbuf_free() releases. */
#ifndef TG_CORE_STRBUF_H
#define TG_CORE_STRBUF_H

#include <stddef.h>

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} tg_strbuf_t;

void tg_strbuf_add(tg_strbuf_t *b, const char *s, size_t n);
void tg_strbuf_lit(tg_strbuf_t *b, const char *s); /* a C string */
/* printf-style; one piece of at most 1023 bytes (longer is cut: for labels and lines) */
void tg_strbuf_printf(tg_strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tg_strbuf_free(tg_strbuf_t *b); /* wipes the bytes, then frees */

#endif
