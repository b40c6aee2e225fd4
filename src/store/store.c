#include "store/store.h"

#include "core/log.h"

#include <stdio.h>
#include <string.h>

const char *tg_store_sqlite_path(const char *url, char *buf, size_t len)
{
    if (strncmp(url, "sqlite:", 7) == 0)
        url += 7;
    else if (strstr(url, "://"))
        return NULL;
    if (strncmp(url, "//", 2) == 0) /* sqlite:///abs/path */
        url += 2;
    snprintf(buf, len, "%s", url);
    return buf;
}

void tg_store_redact_url(const char *url, char *out, size_t cap)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (!colon) {
        snprintf(out, cap, "%s", url);
        return;
    }
    snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
}

int tg_store_is_pg(const char *url)
{
    return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

int tg_store_open(const char *url, tg_store_t **out)
{
    char path[4096];
    if (tg_store_is_pg(url))
        return tg_store_pg_open(url, out);
    if (!tg_store_sqlite_path(url, path, sizeof(path)) || !*path) {
        tg_error("unsupported database URL (use sqlite:PATH or postgres://…)");
        return -1;
    }
    return tg_store_sqlite_open(path, out);
}

void tg_store_close(tg_store_t *st)
{
    if (st)
        st->ops->close(st);
}
