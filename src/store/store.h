/* Durable state behind a small vtable: SQLite now (store_sqlite.c), PostgreSQL later.
 * A tg_store_t is one connection, used by one thread at a time; each thread opens its own.
 * List calls return arrays allocated with malloc (the caller frees them with free()).
 * All functions return 0 on success, TG_STORE_NOTFOUND, TG_STORE_CONFLICT or -1 (logged). */
#ifndef TG_STORE_H
#define TG_STORE_H

#include <stddef.h>
#include <stdint.h>

#define TG_STORE_NOTFOUND (-2)
#define TG_STORE_CONFLICT (-3)

#define TG_ID_MAX 48
#define TG_NAME_MAX 256
#define TG_URL_MAX 1024
#define TG_JSON_MAX 4096
#define TG_SECRET_BLOB_MAX 512

typedef struct {
    char id[TG_ID_MAX];
    char name[TG_NAME_MAX];
    char tier[16];
    int is_operator;
    int64_t created_at;
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
    unsigned char secret[TG_SECRET_BLOB_MAX]; /* the upstream key, encrypted (auth/secretbox) */
    size_t secret_len;
    char models[TG_JSON_MAX]; /* JSON array of {"model","upstream_model"} */
    int weight, priority;
    int64_t created_at;
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
} tg_usage_row_t;

typedef struct {
    char id[TG_ID_MAX];
    char org_id[TG_ID_MAX];
    char email[TG_NAME_MAX];
    char password_hash[256];
    char role[16];
    int64_t created_at;
} tg_user_row_t;

/* A console session: only the hash of its cookie's token is stored. */
typedef struct {
    char token_hash[65]; /* hex BLAKE2b-256 */
    char user_id[TG_ID_MAX];
    int64_t created_at, expires_at;
} tg_session_row_t;

/* An invitation to join an organisation; the link's token is stored as a hash. */
typedef struct {
    char id[TG_ID_MAX];
    char org_id[TG_ID_MAX];
    char email[TG_NAME_MAX];
    char role[16];
    char token_hash[65];
    int64_t invited_at, expires_at, accepted_at; /* accepted_at 0: not yet */
} tg_invite_row_t;

typedef struct {
    char id[TG_ID_MAX];
    char org_id[TG_ID_MAX];
    char kind[16]; /* operator, promotional, purchased */
    int64_t amount, consumed; /* nano-dollars */
    int64_t granted_at, expires_at; /* expires_at 0: never */
    char description[TG_NAME_MAX];
    char reference[TG_ID_MAX]; /* the payment, for purchased credit */
} tg_grant_row_t;

/* A (scope, amount) pair: overdrafts (scope = org), spend limits in cents (scope = org or
 * project id), month spend in nano-dollars (scope = project id). */
typedef struct {
    char org_id[TG_ID_MAX];
    char scope_id[TG_ID_MAX];
    int64_t amount;
} tg_org_amount_t;

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

/* A spend alert (soft limit): notify once per month when spend reaches the threshold. */
typedef struct {
    char id[TG_ID_MAX];
    char org_id[TG_ID_MAX];
    char project_id[TG_ID_MAX]; /* "" for the organisation's own alerts */
    int64_t threshold_cents;
    char channel[TG_JSON_MAX]; /* JSON: {"type":"webhook","url"} or {"type":"email",…} */
    unsigned char secret[128]; /* the webhook signing secret, sealed */
    size_t secret_len;
    int64_t created_at;
} tg_alert_row_t;

/* Payments (migration 4): saved payment methods (brand, last four and expiry only; never a
 * card number), payments, invoices and auto-recharge settings. Amounts in cents. */
typedef struct {
    char id[TG_ID_MAX]; /* pm_… */
    char org_id[TG_ID_MAX];
    char provider[16];
    char provider_ref[TG_NAME_MAX]; /* the provider's reusable method (test: a test token) */
    char customer_ref[TG_NAME_MAX]; /* the provider's customer, "" if none */
    char brand[16];
    char last4[8];
    int exp_month, exp_year;
    char payer[TG_JSON_MAX]; /* JSON object */
    int is_default;
    int64_t created_at;
    int64_t deleted_at; /* 0: live */
} tg_pay_method_row_t;

typedef struct {
    char id[TG_ID_MAX]; /* pay_… */
    char org_id[TG_ID_MAX];
    char method_id[TG_ID_MAX];
    char kind[16];   /* top_up, auto_recharge */
    char status[16]; /* pending, succeeded, failed */
    int64_t amount;  /* cents */
    char currency[8];
    char provider[16];
    char provider_ref[TG_NAME_MAX];
    char failure_code[32];
    char failure_message[TG_NAME_MAX];
    char brand[16];
    char last4[8];
    char payer[TG_JSON_MAX]; /* as it was when the payment was made */
    char grant_id[TG_ID_MAX];
    char invoice_id[TG_ID_MAX];
    int64_t created_at, updated_at;
} tg_payment_row_t;

typedef struct {
    char id[TG_ID_MAX]; /* inv_… */
    char org_id[TG_ID_MAX];
    int64_t seq; /* 1, 2, … per organisation */
    char number[64];
    char payment_id[TG_ID_MAX];
    int64_t amount; /* cents */
    char currency[8];
    char description[TG_NAME_MAX]; /* the line item */
    char payer[TG_JSON_MAX];
    char seller[TG_NAME_MAX];
    char brand[16];
    char last4[8];
    int64_t created_at;
} tg_invoice_row_t;

typedef struct {
    char org_id[TG_ID_MAX];
    int enabled;
    int64_t threshold, recharge_to, monthly_limit; /* cents; monthly_limit 0: none */
    int64_t paused_at;                             /* 0: not paused */
    char paused_reason[TG_NAME_MAX];
    int64_t updated_at;
} tg_auto_recharge_row_t;

/* A project's own rate limits for one model (0: the tier's default applies). */
typedef struct {
    char project_id[TG_ID_MAX];
    char model[TG_NAME_MAX];
    int64_t v[4]; /* requests/min, requests/day, tokens/min, tokens/day */
} tg_rate_limit_row_t;

typedef struct tg_store tg_store_t;

typedef struct {
    const char *name;
    void (*close)(tg_store_t *st);
    int (*migrate)(tg_store_t *st);
    int (*begin)(tg_store_t *st);
    int (*commit)(tg_store_t *st);
    int (*rollback)(tg_store_t *st);

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

    /* Inserts a batch; a request id already present is skipped (idempotent). inserted
     * (NULL, or n bytes) tells which rows were new. */
    int (*usage_insert)(tg_store_t *st, const tg_usage_row_t *rows, size_t n,
                        unsigned char *inserted);
    int (*usage_count)(tg_store_t *st, int64_t *n);

    /* console accounts (migration 6); emails are stored lower-cased */
    int (*user_insert)(tg_store_t *st, const tg_user_row_t *row);
    int (*user_get)(tg_store_t *st, const char *id, tg_user_row_t *out);
    int (*user_by_email)(tg_store_t *st, const char *email, tg_user_row_t *out);
    int (*user_list)(tg_store_t *st, const char *org_id, tg_user_row_t **rows, size_t *n);
    int (*user_set_role)(tg_store_t *st, const char *id, const char *role);
    /* A new password hash; ends the user's sessions except the one of keep_hash (or all). */
    int (*user_set_password)(tg_store_t *st, const char *id, const char *hash,
                             const char *keep_hash);
    /* Deletes the user and its sessions. */
    int (*user_delete)(tg_store_t *st, const char *id);
    int (*session_insert)(tg_store_t *st, const tg_session_row_t *row);
    /* The live (unexpired at `now`) session of a token hash, and its user. */
    int (*session_get)(tg_store_t *st, const char *token_hash, int64_t now, tg_user_row_t *user);
    int (*session_delete)(tg_store_t *st, const char *token_hash);
    int (*invite_insert)(tg_store_t *st, const tg_invite_row_t *row);
    int (*invite_list)(tg_store_t *st, const char *org_id, tg_invite_row_t **rows, size_t *n);
    int (*invite_get)(tg_store_t *st, const char *id, tg_invite_row_t *out);
    int (*invite_by_token)(tg_store_t *st, const char *token_hash, tg_invite_row_t *out);
    /* Marks a pending invitation accepted; TG_STORE_NOTFOUND if it was not pending. */
    int (*invite_accept)(tg_store_t *st, const char *id, int64_t at);
    int (*invite_delete)(tg_store_t *st, const char *id);
    int (*org_rename)(tg_store_t *st, const char *id, const char *name);

    /* spend alerts */
    int (*alert_insert)(tg_store_t *st, const tg_alert_row_t *row);
    int (*alert_delete)(tg_store_t *st, const char *id);
    int (*alert_list)(tg_store_t *st, tg_alert_row_t **rows, size_t *n);
    /* Records that an alert fired in `month`: 1 if this is the first time, 0 if it had. */
    int (*alert_fired)(tg_store_t *st, const char *alert_id, int64_t month, int64_t at,
                       int64_t spend);
    /* Alerts that fired in `month` (ids in scope_id). */
    int (*alert_firings)(tg_store_t *st, int64_t month, tg_org_amount_t **rows, size_t *n);

    /* usage tiers: what an organisation has paid (succeeded payments, cents) and when it
     * first paid (0: never), and its tier */
    int (*org_payments)(tg_store_t *st, const char *org_id, int64_t *paid_cents,
                        int64_t *first_at);
    int (*org_set_tier)(tg_store_t *st, const char *org_id, const char *tier);

    /* projects' own rate limits */
    int (*rate_limit_set)(tg_store_t *st, const tg_rate_limit_row_t *row);
    int (*rate_limit_list)(tg_store_t *st, tg_rate_limit_row_t **rows, size_t *n);

    /* money */
    int (*grant_insert)(tg_store_t *st, const tg_grant_row_t *row);
    int (*grant_list)(tg_store_t *st, const char *org_id, tg_grant_row_t **rows, size_t *n);
    int (*grant_consume)(tg_store_t *st, const char *grant_id, int64_t amount);
    int (*org_overdraft_add)(tg_store_t *st, const char *org_id, int64_t amount);
    int (*org_overdrafts)(tg_store_t *st, tg_org_amount_t **rows, size_t *n);
    /* cents > 0 sets the monthly hard limit of scope_id (an org or project id); 0 removes it */
    int (*spend_limit_set)(tg_store_t *st, const char *scope_id, const char *org_id,
                           int64_t cents, int64_t at);
    int (*spend_limit_list)(tg_store_t *st, tg_org_amount_t **rows, size_t *n);
    /* Adds to the aggregates (upsert); runs inside the usage writer's transaction. */
    int (*usage_agg_add)(tg_store_t *st, const tg_usage_agg_t *rows, size_t n);
    /* Cost per (organisation, project) since `since` (unix seconds), from the aggregates. */
    int (*month_spend)(tg_store_t *st, int64_t since, tg_org_amount_t **rows, size_t *n);
    /* Usage and costs: sums per bucket and group from the aggregates (see tg_usage_query_t). */
    int (*usage_query)(tg_store_t *st, const tg_usage_query_t *q, tg_usage_bucket_row_t **rows,
                       size_t *n);
    /* payments (migration 4) */
    int (*pay_method_insert)(tg_store_t *st, const tg_pay_method_row_t *row);
    /* Live methods of an organisation, oldest first. */
    int (*pay_method_list)(tg_store_t *st, const char *org_id, tg_pay_method_row_t **rows,
                           size_t *n);
    /* Makes id the organisation's only default method; TG_STORE_NOTFOUND unless it is live. */
    int (*pay_method_set_default)(tg_store_t *st, const char *org_id, const char *id);
    /* Soft delete; a deleted default passes to the newest live method. */
    int (*pay_method_delete)(tg_store_t *st, const char *org_id, const char *id, int64_t at);
    int (*payment_insert)(tg_store_t *st, const tg_payment_row_t *row);
    int (*payment_get)(tg_store_t *st, const char *id, tg_payment_row_t *out);
    /* Writes status, provider_ref, failure, grant_id, invoice_id and updated_at of row->id if
     * its status is still from_status; TG_STORE_NOTFOUND otherwise. */
    int (*payment_update)(tg_store_t *st, const tg_payment_row_t *row, const char *from_status);
    /* An organisation's payments, newest first. */
    int (*payment_list)(tg_store_t *st, const char *org_id, tg_payment_row_t **rows, size_t *n);
    /* Σ amount of the organisation's payments of `kind` created at or after `since` that
     * succeeded or are pending, and how many of them are pending. */
    int (*payment_sum)(tg_store_t *st, const char *org_id, const char *kind, int64_t since,
                       int64_t *cents, int64_t *pending);
    /* The organisation's next invoice number (use inside the inserting transaction). */
    int (*invoice_next_seq)(tg_store_t *st, const char *org_id, int64_t *seq);
    int (*invoice_insert)(tg_store_t *st, const tg_invoice_row_t *row);
    /* An organisation's invoices, newest first. */
    int (*invoice_list)(tg_store_t *st, const char *org_id, tg_invoice_row_t **rows, size_t *n);
    int (*auto_recharge_set)(tg_store_t *st, const tg_auto_recharge_row_t *row);
    int (*auto_recharge_list)(tg_store_t *st, tg_auto_recharge_row_t **rows, size_t *n);
} tg_store_ops_t;

struct tg_store {
    const tg_store_ops_t *ops;
};

/* Opens a connection for `url` ("sqlite:PATH", or a bare path). */
int tg_store_open(const char *url, tg_store_t **out);
/* NULL-tolerant. */
void tg_store_close(tg_store_t *st);
/* The path of a sqlite: URL (into buf), or NULL for other schemes. */
const char *tg_store_sqlite_path(const char *url, char *buf, size_t len);

int tg_store_sqlite_open(const char *path, tg_store_t **out);

#endif
