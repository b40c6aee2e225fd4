#include "console/assets.h"

#include <string.h>

/* generated: $(BUILD)/gen/web_assets.c */
extern const tg_asset_t tg_web_assets[];
extern const size_t tg_web_nassets;

const tg_asset_t *tg_asset_find(const char *path, size_t len)
{
    for (size_t i = 0; i < tg_web_nassets; i++)
        if (strlen(tg_web_assets[i].path) == len && memcmp(tg_web_assets[i].path, path, len) == 0)
            return &tg_web_assets[i];
    return NULL;
}
