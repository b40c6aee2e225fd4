/* Provider adapters: everything that differs between upstream vendors lives behind one small
 * table of functions, one file per adapter. The request path (api/inference.c) validates,
 * admits, picks a target (pool.h), asks the adapter for the URL, the key's header line and
 * the body, relays what comes back through the adapter's usage and stream handlers, and
 * settles. Adapters take and return plain values: they never see the HTTP call.
 *
 *   openai             OpenAI's API (base URL defaults to https://api.openai.com/v1), Bearer
 *   openai_compatible  any server that speaks OpenAI's wire format (vLLM, llama.cpp's server,
 *                      Ollama, DeepSeek…): any base URL, Bearer auth when a key is set
 *   azure              Azure OpenAI: {base}/openai/deployments/{deployment}/{path}
 *                      ?api-version=V, `api-key` header; the wire format is OpenAI's
 *
 * A new upstream type is one new file defining a tg_adapter_t, and one line in provider.c's
 * table. */
#ifndef TG_PROVIDERS_PROVIDER_H
#define TG_PROVIDERS_PROVIDER_H

#include "store/store.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define TG_OPENAI_BASE_URL "https://api.openai.com/v1"
#define TG_AZURE_API_VERSION "2024-10-21" /* when a provider names none */
#define TG_UPSTREAM_KEY_MAX 401           /* one upstream key: at most 400 characters */
#define TG_UPSTREAM_KEYS_MAX 8            /* keys per provider, rotated */

/* The endpoints a provider is asked for. */
typedef enum { TG_EP_CHAT, TG_EP_COMPLETIONS, TG_EP_EMBEDDINGS, TG_EP_RESPONSES } tg_ep_t;

/* Token counts as a party reported them. `valid` is 0 when any count was missing where
 * required, negative, not an integer or not a number: such counts are not used. Counts
 * are clamped to [0, TG_TOKENS_MAX] while parsing, so no later sum can overflow. */
#define TG_TOKENS_MAX (1LL << 40)
typedef struct {
    int present, valid;
    int64_t input, cached, output;
} tg_counts_t;

/* One count from a JSON value: 0 with *out, or -1 when v is not a non-negative integer
 * (too large values clamp to TG_TOKENS_MAX). Never undefined behaviour, whatever v is. */
int tg_count_from_json(const cJSON *v, int64_t *out);

/* A stream being relayed: what the adapter keeps between events. */
typedef struct {
    tg_ep_t ep;
    int client_usage;      /* the client asked for the usage chunk (chat, completions) */
    int saw_done;          /* the stream's proper end arrived ([DONE], response.completed) */
    tg_counts_t usage;     /* as the upstream reported it */
    int64_t relayed;       /* content events relayed */
    struct evbuffer *text; /* their text, still JSON-escaped, up to TG_RELAYED_MAX bytes */
    /* The stream's last event (Responses: response.completed), held back until the usage
     * record is durable; NULL or empty: the end is `data: [DONE]`, written then. */
    struct evbuffer *held;
    char response_id[TG_RESPONSE_ID_MAX]; /* the Responses API's id of the answer */
} tg_relay_t;
#define TG_RELAYED_MAX (4 * 1024 * 1024)

struct tg_tok;
/* Tokens of the relayed text with `tok` (the count of content events when it cannot be
 * counted). Frees nothing. */
int64_t tg_relay_tokens(tg_relay_t *r, const struct tg_tok *tok);
void tg_relay_dispose(tg_relay_t *r);

/* How an upstream's error answer is passed on. */
typedef enum {
    TG_UPERR_PASS,    /* an OpenAI-shaped client error: passed through with its status */
    TG_UPERR_AUTH,    /* the upstream refused the gateway's key (401/403) */
    TG_UPERR_LIMITED, /* 429: the key or the provider is rate limited */
    TG_UPERR_SERVER,  /* 5xx, or an answer that is not an OpenAI error */
} tg_uperr_t;

typedef struct tg_adapter {
    const char *type;
    const char *default_base; /* NULL: base_url is required */
    /* The URL of `path` ("chat/completions", "responses/ID", …) for a model by its upstream
     * name, and the header line that carries `key` ("" when key is empty). */
    void (*address)(const tg_provider_row_t *p, const char *upstream_model, const char *path,
                    char *url, size_t url_cap);
    void (*auth)(const char *key, char *line, size_t cap);
    /* The body for one attempt: the client's request `j` with the model's upstream name and,
     * for a stream, usage asked for. Returns a malloc'd string (its length in *len), or
     * NULL. `hint`: the client's body length (the rewrite adds little). j is left as the
     * client sent it, except for changes every attempt shares. */
    char *(*body)(cJSON *j, tg_ep_t ep, const char *upstream_model, int stream, size_t hint,
                  size_t *len);
    /* Reads a complete non-streamed answer into r (usage, response id). -1 when the body is
     * not a JSON object. */
    int (*answer)(tg_relay_t *r, const char *body, size_t n);
    /* One event of a stream (`event` is its `event:` name, "" for none; `data` may be
     * changed in place): reads usage, drops what the client did not ask for, and appends
     * what the client gets, in SSE framing, to `out`. */
    void (*event)(tg_relay_t *r, const char *event, size_t elen, char *data, size_t len,
                  struct evbuffer *out);
    /* Output tokens of a complete non-streamed answer that came without usage: the text it
     * carries, counted with `tok` (its bytes when tok is NULL). */
    int64_t (*answer_tokens)(tg_ep_t ep, const char *body, size_t n, const struct tg_tok *tok);
    /* Classifies an error answer (status >= 300). */
    tg_uperr_t (*error)(int status, const char *body, size_t n);
} tg_adapter_t;

/* The adapter of a provider type; NULL: not a type this build knows. */
const tg_adapter_t *tg_adapter_find(const char *type);
/* "openai, openai_compatible, azure": for error messages. */
const char *tg_adapter_names(void);

extern const tg_adapter_t tg_adapter_openai, tg_adapter_openai_compatible, tg_adapter_azure;

/* ---- openai.c: OpenAI's wire format, which the other adapters reuse ---- */
void tg_openai_address(const tg_provider_row_t *p, const char *upstream_model, const char *path,
                       char *url, size_t url_cap);
void tg_openai_auth(const char *key, char *line, size_t cap);
char *tg_openai_body(cJSON *j, tg_ep_t ep, const char *upstream_model, int stream, size_t hint,
                     size_t *len);
int tg_openai_answer(tg_relay_t *r, const char *body, size_t n);
void tg_openai_event(tg_relay_t *r, const char *event, size_t elen, char *data, size_t len,
                     struct evbuffer *out);
int64_t tg_openai_answer_tokens(tg_ep_t ep, const char *body, size_t n, const struct tg_tok *tok);
tg_uperr_t tg_openai_error(int status, const char *body, size_t n);
/* Removes `"usage":null` (with its comma) in place; returns the new length. */
size_t tg_openai_strip_null_usage(char *d, size_t len);

/* Splits a provider's decrypted key text (keys separated by newlines) into keys[]; returns
 * how many (at most TG_UPSTREAM_KEYS_MAX). */
int tg_provider_split_keys(const char *text, char keys[][TG_UPSTREAM_KEY_MAX]);

#endif
