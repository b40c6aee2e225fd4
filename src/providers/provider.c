#include "providers/provider.h"

#include <stdio.h>
#include <string.h>

int tg_provider_type_ok(const char *type)
{
    return strcmp(type, "openai") == 0 || strcmp(type, "openai_compatible") == 0;
}

const char *tg_provider_default_base(const char *type)
{
    return strcmp(type, "openai") == 0 ? TG_OPENAI_BASE_URL : NULL;
}

void tg_provider_request(const tg_provider_row_t *p, const char *api_key, const char *path,
                         char *url, size_t url_cap, char *auth, size_t auth_cap)
{
    snprintf(url, url_cap, "%s/%s", p->base_url, path);
    if (api_key && *api_key)
        snprintf(auth, auth_cap, "Authorization: Bearer %s", api_key);
    else
        auth[0] = '\0';
}
