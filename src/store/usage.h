/* Usage: one record per request that reached a provider, and the per-minute aggregates that
 * usage, costs and month spend are read from.
 * One domain of the store: its rows and its operations. Include store/store.h, the face. */
#ifndef TG_STORE_USAGE_H
#define TG_STORE_USAGE_H

#ifndef TG_STORE_H
#error "include store/store.h"
#endif

#define TG_RESPONSE_ID_MAX 128

typedef struct {
    char request_id[40];
    int64_t created_at;
    char org_id[TG_ID_MAX];
    char project_id[TG_ID_MAX];
    char api_key_id[TG_ID_MAX];
    char model[TG_NAME_MAX];
    char provider_id[TG_ID_MAX];
    char endpoint[32];
    int64_t input_tokens, cached_input_tokens, output_tokens;
    int status;
    int64_t latency_ms;
    int streamed, aborted;
    int64_t cost_nanousd;
    int64_t unbilled_nanousd; /* what the upstream reported above the reservation: not charged */
    char response_id[TG_RESPONSE_ID_MAX]; /* the Responses API's id of the answer, else "" */
} tg_usage_row_t;

/* One row of usage_agg: totals per minute × organisation × project × key × model × endpoint. */
typedef struct {
    char org_id[TG_ID_MAX];
    int64_t minute; /* unix seconds, a multiple of 60 */
    char project_id[TG_ID_MAX];
    char api_key_id[TG_ID_MAX];
    char model[TG_NAME_MAX];
    char endpoint[32];
    int64_t requests, input_tokens, cached_input_tokens, output_tokens, cost_nanousd;
} tg_usage_agg_t;

/* A query over usage_agg (usage_query): the rows of one organisation with minute in
 * [start, end), summed per bucket [start + k*width, start + (k+1)*width) and per the chosen
 * group columns. Each filter array with n > 0 keeps only rows whose column is one of its
 * values. */
#define TG_USAGE_BY_PROJECT 1u
#define TG_USAGE_BY_KEY 2u
#define TG_USAGE_BY_MODEL 4u
typedef struct {
    const char *org_id;
    int64_t start, end; /* unix seconds, end exclusive */
    int64_t width;      /* seconds, > 0 (60, 3600, 86400) */
    unsigned group_by;  /* TG_USAGE_BY_* */
    const char *const *endpoints; /* "chat.completions", "completions", "embeddings" */
    size_t n_endpoints;
    const char *const *project_ids;
    size_t n_project_ids;
    const char *const *api_key_ids;
    size_t n_api_key_ids;
    const char *const *models;
    size_t n_models;
} tg_usage_query_t;

/* One result row of usage_query: a bucket, its group (columns not grouped on are ""), sums.
 * Rows come ordered by bucket, then project, key and model. */
typedef struct {
    int64_t bucket_start;
    char project_id[TG_ID_MAX];
    char api_key_id[TG_ID_MAX];
    char model[TG_NAME_MAX];
    int64_t requests, input_tokens, cached_input_tokens, output_tokens, cost_nanousd;
} tg_usage_bucket_row_t;

struct tg_store_usage {
    /* Inserts a batch; a request id already present is skipped (idempotent). inserted
     * (NULL, or n bytes) tells which rows were new. */
    int (*usage_insert)(tg_store_t *st, const tg_usage_row_t *rows, size_t n,
                        unsigned char *inserted);
    int (*usage_count)(tg_store_t *st, int64_t *n);
    /* Adds to the aggregates (upsert); runs inside the usage writer's transaction. */
    int (*usage_agg_add)(tg_store_t *st, const tg_usage_agg_t *rows, size_t n);
    /* Cost per (organisation, project) since `since` (unix seconds), from the aggregates. */
    int (*month_spend)(tg_store_t *st, int64_t since, tg_org_amount_t **rows, size_t *n);
    /* Usage and costs: sums per bucket and group from the aggregates (see tg_usage_query_t). */
    int (*usage_query)(tg_store_t *st, const tg_usage_query_t *q, tg_usage_bucket_row_t **rows,
                       size_t *n);
    /* The provider that answered a Responses API request of org_id whose answer had id
     * response_id: 0 with provider_id, TG_STORE_NOTFOUND, or -1. */
    int (*response_provider)(tg_store_t *st, const char *org_id, const char *response_id,
                             char provider_id[TG_ID_MAX]);
};

#endif
