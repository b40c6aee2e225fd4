/* The audit log's store (part of store.h's vtables): events appended in the transaction of
 * the change they record, read newest first. */
#ifndef TG_STORE_H
#error "include store/store.h"
#endif

#define TG_AUDIT_ACTOR_MAX 1024
#define TG_AUDIT_DETAILS_MAX 2048

typedef struct {
    int64_t seq; /* the store's order of insertion (set by the store) */
    char id[TG_ID_MAX];
    char org_id[TG_ID_MAX];
    char type[64];
    int64_t effective_at;
    char actor_id[TG_ID_MAX];   /* the admin key's id, or the console user's */
    char project_id[TG_ID_MAX]; /* "" when the event is about no project */
    char actor[TG_AUDIT_ACTOR_MAX];     /* the `actor` object, as JSON */
    char details[TG_AUDIT_DETAILS_MAX]; /* the object named like the type, as JSON */
} tg_audit_row_t;

struct tg_store_audit {
    int (*audit_insert)(tg_store_t *st, const tg_audit_row_t *r);
    /* Up to max events of org_id with from <= effective_at < to and seq < before_seq (0: no
     * bound), newest first. */
    int (*audit_page)(tg_store_t *st, const char *org_id, int64_t from, int64_t to,
                      int64_t before_seq, size_t max, tg_audit_row_t **rows, size_t *n);
    /* The seq of event id of org_id, or TG_STORE_NOTFOUND. */
    int (*audit_seq)(tg_store_t *st, const char *org_id, const char *id, int64_t *seq);
};
