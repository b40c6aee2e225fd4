/* The OpenAI-compatible API: inference, Admin API and operations endpoints, wired to the
 * HTTP server as its handler. This header is the module's whole face. */
#ifndef TG_API_H
#define TG_API_H

#include "http/server.h"

#include <stddef.h>

enum { TG_SIGNUP_INVITE = 0, TG_SIGNUP_OPEN, TG_SIGNUP_CLOSED };

typedef struct {
    const char *db_url;
    int signup;                         /* TG_SIGNUP_*: who may create a console account */
    const char *payments_provider;      /* "test" or "stripe" (for the console) */
    const char *stripe_publishable_key; /* NULL unless given */
    int email_alerts;                   /* an SMTP server is configured */
    long upstream_timeout_ms; /* whole upstream request, streams included */
    size_t max_response_bytes; /* non-streamed upstream answers */
} tg_api_config_t;

/* Fills the handler, error and worker callbacks of an HTTP server configuration, and publishes
 * a copy of `cfg` (its strings too) as the running configuration. */
void tg_api_bind(tg_http_config_t *http, const tg_api_config_t *cfg);
/* Publishes a copy of `cfg` as the running configuration (any thread; a request reads the
 * snapshot current when it reads a setting). db_url, payments_provider and
 * stripe_publishable_key are kept from the first: they need a restart. */
void tg_api_reconfigure(const tg_api_config_t *cfg);
/* Frees the configurations (at exit, after the server has stopped). */
void tg_api_unbind(void);

/* Loads the BPE tokenizers (cl100k_base, o200k_base) from the data directory; once, before
 * serving. */
int tg_api_load_tokenizers(void);
void tg_api_free_tokenizers(void);

#endif
