/* Azure OpenAI: OpenAI's wire format at {base}/openai/deployments/{deployment}/{path}
 * ?api-version=V with the key in an `api-key` header. A provider's models map a model to
 * its deployment through `upstream_model`; `api_version` is the provider's (else
 * TG_AZURE_API_VERSION). */
#include "providers/provider.h"

#include <stdio.h>
#include <string.h>

static void azure_address(const tg_provider_row_t *p, const char *upstream_model,
                          const char *path, char *url, size_t url_cap)
{
    const char *v = p->api_version[0] ? p->api_version : TG_AZURE_API_VERSION;
    if (strncmp(path, "responses", 9) == 0) /* the Responses API: one root, model in the body */
        snprintf(url, url_cap, "%s/openai/%s?api-version=%s", p->base_url, path, v);
    else
        snprintf(url, url_cap, "%s/openai/deployments/%s/%s?api-version=%s", p->base_url,
                 upstream_model, path, v);
}

static void azure_auth(const char *key, char *line, size_t cap)
{
    if (key && *key)
        snprintf(line, cap, "api-key: %s", key);
    else
        line[0] = '\0';
}

const tg_adapter_t tg_adapter_azure = {
    "azure", NULL, azure_address, azure_auth, tg_openai_body,
    tg_openai_answer, tg_openai_event, tg_openai_answer_tokens, tg_openai_error,
};
