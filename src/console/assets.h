/* The console's files (web/dist), embedded into the binary at build time by tools/embed.c. */
#ifndef TG_CONSOLE_ASSETS_H
#define TG_CONSOLE_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path; /* "/index.html", "/assets/app-XXXX.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} tg_asset_t;

/* The file at `path` (exact match), or NULL. */
const tg_asset_t *tg_asset_find(const char *path, size_t len);

#endif
