/* Money: credit grants, overdrafts, monthly hard limits and spend alerts. What is charged,
 * and from which grant, is decided by the ledger (billing/ledger.h); the store persists it.
 * One domain of the store: its rows and its operations. Include store/store.h, the face. */
#ifndef TG_STORE_MONEY_H
#define TG_STORE_MONEY_H

#ifndef TG_STORE_H
#error "include store/store.h"
#endif

typedef struct {
    char id[TG_ID_MAX];
    char org_id[TG_ID_MAX];
    char kind[16]; /* operator, promotional, purchased */
    int64_t amount, consumed; /* nano-dollars */
    int64_t granted_at, expires_at; /* expires_at 0: never */
    char description[TG_NAME_MAX];
    char reference[TG_ID_MAX]; /* the payment, for purchased credit */
} tg_grant_row_t;

/* A spend alert (soft limit): notify once per month when spend reaches the threshold. */
typedef struct {
    char id[TG_ID_MAX];
    char org_id[TG_ID_MAX];
    char project_id[TG_ID_MAX]; /* "" for the organisation's own alerts */
    int64_t threshold_cents;
    char channel[TG_JSON_MAX]; /* JSON: {"type":"webhook","url"} or {"type":"email",…} */
    unsigned char secret[256]; /* the webhook signing secret, sealed (auth/secrets.h) */
    size_t secret_len;
    int64_t created_at;
} tg_alert_row_t;

struct tg_store_money {
    int (*alert_insert)(tg_store_t *st, const tg_alert_row_t *row);
    int (*alert_delete)(tg_store_t *st, const char *id);
    int (*alert_list)(tg_store_t *st, tg_alert_row_t **rows, size_t *n);
    /* Records that an alert fired in `month`: 1 if this is the first time, 0 if it had. */
    int (*alert_fired)(tg_store_t *st, const char *alert_id, int64_t month, int64_t at,
                       int64_t spend);
    /* Alerts that fired in `month` (ids in scope_id). */
    int (*alert_firings)(tg_store_t *st, int64_t month, tg_org_amount_t **rows, size_t *n);
    int (*grant_insert)(tg_store_t *st, const tg_grant_row_t *row);
    int (*grant_list)(tg_store_t *st, const char *org_id, tg_grant_row_t **rows, size_t *n);
    int (*grant_consume)(tg_store_t *st, const char *grant_id, int64_t amount);
    int (*org_overdraft_add)(tg_store_t *st, const char *org_id, int64_t amount);
    int (*org_overdrafts)(tg_store_t *st, tg_org_amount_t **rows, size_t *n);
    /* cents > 0 sets the monthly hard limit of scope_id (an org or project id); 0 removes it */
    int (*spend_limit_set)(tg_store_t *st, const char *scope_id, const char *org_id,
                           int64_t cents, int64_t at);
    int (*spend_limit_list)(tg_store_t *st, tg_org_amount_t **rows, size_t *n);
};

#endif
