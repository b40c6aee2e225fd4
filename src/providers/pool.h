/* Provider pools: which provider and which of its keys serves the next attempt of a request,
 * and the health that decides it (SPEC.md §3, Routing).
 *
 * A model's targets are the enabled providers that serve it, in the catalog's order. An
 * attempt goes to the lowest `priority` among the targets available now, and among equals by
 * `weight`, smooth weighted round robin (nginx's: shares are exact over any window of the
 * weights' sum). Available: not failed already in this request, its circuit breaker closed
 * (or half-open and this request is the one probe), not resting after a `retry-after`, and
 * with a key this request has not tried that is not resting either. Keys of a provider are
 * taken in turn; a key the upstream refused (401/403) rests TG_POOL_AUTH_REST_MS, one that
 * was rate limited (429) rests for the upstream's retry-after (else TG_POOL_LIMIT_REST_MS).
 *
 * The breaker counts a provider's consecutive failures (connect errors, timeouts before the
 * first byte, 5xx, answers that are not OpenAI's): at `failures` it opens for `cooldown_ms`;
 * then one request probes it; success closes it, failure opens it again. Any answer from
 * the provider (2xx, a 4xx, even a 429) is a success for the breaker.
 *
 * State is per process and keyed by provider id, so it survives catalog reloads; one mutex
 * guards it (a pick is a few comparisons). Nothing here sees the HTTP call. */
#ifndef TG_PROVIDERS_POOL_H
#define TG_PROVIDERS_POOL_H

#include "providers/provider.h"

#include <stdint.h>

#define TG_POOL_TARGETS_MAX 32        /* providers one model can have */
#define TG_POOL_AUTH_REST_MS 60000    /* a key the upstream refused */
#define TG_POOL_LIMIT_REST_MS 5000    /* a rate-limited key without retry-after */
#define TG_POOL_REST_MAX_MS 600000    /* the longest retry-after honoured */

/* A provider as the request path uses it: its row, its adapter and its decrypted keys
 * (never logged or returned). */
typedef struct {
    tg_provider_row_t row;
    const tg_adapter_t *adapter;
    char keys[TG_UPSTREAM_KEYS_MAX][TG_UPSTREAM_KEY_MAX];
    int nkeys;
} tg_provider_t;

/* One way to serve a model: a provider and the model's name there. */
typedef struct {
    const tg_provider_t *provider;
    char upstream_model[TG_NAME_MAX];
} tg_target_t;

/* One request's tries so far (zeroed before the first pick). */
typedef struct {
    uint32_t failed;                          /* bit i: target i failed; no key helps */
    uint8_t keys_tried[TG_POOL_TARGETS_MAX]; /* per target, bit k: key k tried */
    int attempts;
    int probe; /* 1 + the target whose half-open breaker this request probes, else 0 */
} tg_tries_t;

typedef struct {
    int target, key; /* key: an index of the provider's keys (0 when it has none) */
} tg_pick_t;

typedef enum {
    TG_OUT_OK,      /* an answer (2xx) */
    TG_OUT_CLIENT,  /* a client error passed through: the provider is fine */
    TG_OUT_AUTH,    /* the key was refused */
    TG_OUT_LIMITED, /* 429 */
    TG_OUT_FAILED,  /* connect error, timeout before the first byte, 5xx, not OpenAI's */
    TG_OUT__N
} tg_outcome_t;

/* Breaker settings (serve --breaker-failures, --breaker-cooldown-ms). */
void tg_pool_config(int failures, int64_t cooldown_ms);

/* The next attempt for `model` over targets[0..n): 0 with *out, or -1 when none is available
 * now (*wait_ms then says when the first one may be, 0 when none will in this request). */
int tg_pool_pick(const char *model, const tg_target_t *targets, int n, tg_tries_t *tries,
                 tg_pick_t *out, int64_t *wait_ms);
/* The attempt's outcome. retry_after_ms: the upstream's retry-after (0 none); error: what
 * the operator should read in last_error (NULL for OK / CLIENT). */
void tg_pool_report(const tg_target_t *targets, const tg_pick_t *p, tg_tries_t *tries,
                    tg_outcome_t o, int64_t retry_after_ms, const char *error);
/* The request ended without reporting its last pick (the client left): a probe it held is
 * given back. */
void tg_pool_abandon(const tg_target_t *targets, tg_tries_t *tries);

/* A provider's health, for GET /v1/organization/providers and /metrics. status: "healthy",
 * "failing" (failures below the threshold), "open" (skipped until its cool-down ends),
 * "half_open" (the next request probes it) or "disabled". */
typedef struct {
    const char *status;
    char last_error[200];
    int64_t last_error_at; /* unix seconds, 0 never */
    int consecutive_failures;
    uint64_t outcomes[TG_OUT__N];
} tg_health_view_t;
void tg_pool_health(const char *provider_id, int enabled, tg_health_view_t *out);
/* Calls fn for every provider the pool has seen. */
void tg_pool_each(void (*fn)(void *arg, const char *provider_id, const tg_health_view_t *h),
                  void *arg);
const char *tg_pool_outcome_name(tg_outcome_t o);

#endif
