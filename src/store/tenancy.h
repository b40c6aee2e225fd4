/* Tenancy: organisations, projects, keys, providers, models and projects' own rate limits.
 * One domain of the store: its rows and its operations. Include store/store.h, the face. */
#ifndef TG_STORE_TENANCY_H
#define TG_STORE_TENANCY_H

#ifndef TG_STORE_H
#error "include store/store.h"
#endif

typedef struct {
    char id[TG_ID_MAX];
    char name[TG_NAME_MAX];
    char tier[16];
    int is_operator;
    int64_t created_at;
    int suspended;   /* its keys and sessions answer 401 account_deactivated */
    int tier_locked; /* the operator set the tier by hand: payments no longer move it */
} tg_org_row_t;

typedef struct {
    char id[TG_ID_MAX];
    char org_id[TG_ID_MAX];
    char name[TG_NAME_MAX];
    int64_t created_at;
    int64_t archived_at; /* 0: active */
} tg_project_row_t;

typedef enum { TG_KEY_ADMIN = 1, TG_KEY_PROJECT = 2 } tg_key_kind_t;

typedef struct {
    char id[TG_ID_MAX];
    int kind;
    char org_id[TG_ID_MAX];
    char project_id[TG_ID_MAX]; /* "" for admin keys */
    char name[TG_NAME_MAX];
    unsigned char hash[32];
    char redacted[64];
    char permissions[TG_JSON_MAX];    /* JSON: "all", "read_only" or {"restricted":{…}} */
    char allowed_models[TG_JSON_MAX]; /* JSON array, or "" for any */
    int64_t created_at;
    int64_t expires_at;   /* 0: never */
    int64_t last_used_at; /* 0: never */
    int64_t revoked_at;   /* 0: live */
} tg_key_row_t;

typedef struct {
    char id[TG_ID_MAX];
    char org_id[TG_ID_MAX];
    char name[TG_NAME_MAX];
    char type[32];
    char base_url[TG_URL_MAX];
    /* the upstream keys, newline-separated, sealed (auth/secrets.h) */
    unsigned char secret[TG_SECRET_BLOB_MAX];
    size_t secret_len;
    char models[TG_JSON_MAX]; /* JSON array of {"model","upstream_model"} */
    int weight, priority;
    int64_t created_at;
    char api_version[32]; /* azure: the api-version query ("" for the default) */
    int64_t timeout_ms;   /* wait this long for the first byte (0: the server's timeout) */
    int enabled;
} tg_provider_row_t;

typedef struct {
    char id[TG_NAME_MAX];
    char type[16]; /* chat, completion, embedding */
    char owned_by[64];
    int64_t created;
    /* nano-dollars per 1M tokens; cached_input_price < 0: no cached price */
    int64_t input_price, cached_input_price, output_price;
    int64_t context_window, max_output_tokens;
    char tokenizer[32]; /* "o200k_base", "cl100k_base", or "" (none of ours: JSON null) */
    /* prompt tokens of one image part (0: unknown): OpenAI's tile arithmetic (base + tiles ×
     * tile), and the most one image can cost (for images of unknown size) */
    int64_t image_base_tokens, image_tile_tokens, image_max_tokens;
} tg_model_row_t;

/* A project's own rate limits for one model (0: the tier's default applies). */
typedef struct {
    char project_id[TG_ID_MAX];
    char model[TG_NAME_MAX];
    int64_t v[4]; /* requests/min, requests/day, tokens/min, tokens/day */
} tg_rate_limit_row_t;

struct tg_store_tenancy {
    int (*org_insert)(tg_store_t *st, const tg_org_row_t *row);
    int (*org_list)(tg_store_t *st, tg_org_row_t **rows, size_t *n);
    int (*project_upsert)(tg_store_t *st, const tg_project_row_t *row);
    int (*project_list)(tg_store_t *st, const char *org_id, tg_project_row_t **rows, size_t *n);
    int (*key_insert)(tg_store_t *st, const tg_key_row_t *row);
    int (*key_revoke)(tg_store_t *st, const char *id, int64_t at);
    /* Live (not revoked) keys; org_id NULL: of every organisation. */
    int (*key_list)(tg_store_t *st, const char *org_id, tg_key_row_t **rows, size_t *n);
    int (*key_touch)(tg_store_t *st, const char *id, int64_t at);
    int (*provider_upsert)(tg_store_t *st, const tg_provider_row_t *row);
    int (*provider_delete)(tg_store_t *st, const char *id);
    int (*provider_list)(tg_store_t *st, tg_provider_row_t **rows, size_t *n);
    /* only_new: insert if absent, keep an existing row (the shipped table never overwrites
     * an operator's edit). */
    int (*model_upsert)(tg_store_t *st, const tg_model_row_t *row, int only_new);
    int (*model_list)(tg_store_t *st, tg_model_row_t **rows, size_t *n);
    int (*org_rename)(tg_store_t *st, const char *id, const char *name);
    int (*org_set_tier)(tg_store_t *st, const char *org_id, const char *tier);
    /* The operator's changes: any of name (NULL: unchanged), tier (NULL: unchanged; set, it
     * becomes sticky), suspended (-1: unchanged). TG_STORE_NOTFOUND for an unknown id. */
    int (*org_update)(tg_store_t *st, const char *org_id, const char *name, const char *tier,
                      int suspended);
    /* A counter raised by a change made outside a running server (tollgate org …): servers
     * poll it and re-read their catalog when it moves. */
    int (*catalog_version)(tg_store_t *st, int64_t *version);
    int (*catalog_bump)(tg_store_t *st);
    int (*rate_limit_set)(tg_store_t *st, const tg_rate_limit_row_t *row);
    int (*rate_limit_list)(tg_store_t *st, tg_rate_limit_row_t **rows, size_t *n);
};

#endif
