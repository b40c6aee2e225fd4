/* Provider types: how a request for a provider is addressed and authenticated.
 *   openai             base URL defaults to https://api.openai.com/v1, Bearer auth
 *   openai_compatible  any base URL (vLLM, llama.cpp server, Ollama, DeepSeek…), Bearer auth
 *                      when a key is set
 * (azure is declared in SPEC.md but not built yet: the Admin API refuses it.) */
#ifndef TG_PROVIDERS_PROVIDER_H
#define TG_PROVIDERS_PROVIDER_H

#include "store/store.h"

#include <stddef.h>

#define TG_OPENAI_BASE_URL "https://api.openai.com/v1"

/* 1 if `type` is a provider type this build can forward to. */
int tg_provider_type_ok(const char *type);
const char *tg_provider_default_base(const char *type); /* NULL: none, base_url required */
/* Writes the URL for `path` ("chat/completions") and the auth header line ("" for none). */
void tg_provider_request(const tg_provider_row_t *p, const char *api_key, const char *path,
                         char *url, size_t url_cap, char *auth, size_t auth_cap);

#endif
