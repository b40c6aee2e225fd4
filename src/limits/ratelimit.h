/* Rate limits: requests and tokens per minute and per day (RPM, RPD, TPM, TPD), per
 * organisation × model and per project × model; the tighter of the two applies.
 *
 * Each limit is a GCRA bucket (the "generic cell rate algorithm", a token bucket kept as one
 * timestamp): a limit L per window W admits a burst of L and refills continuously at L/W.
 * All arithmetic is in integers (ns scaled by the limit: exact); a decision is one short
 * critical section on at most two
 * of 64 lock stripes, with no allocation once a (scope, model) pair has its slot. Token
 * limits take the request's reservation (input estimate + output cap × n) at admission and
 * are corrected by the real usage when it is known (tg_rl_settle).
 *
 * Memory: one slot (4 buckets) per (scope, model) pair seen within its longest window; an
 * idle slot (all buckets full again) is reused, so memory follows the active pairs, not the
 * number of keys or models that exist. */
#ifndef TG_LIMITS_RATELIMIT_H
#define TG_LIMITS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

enum { TG_RL_RPM, TG_RL_RPD, TG_RL_TPM, TG_RL_TPD, TG_RL__N };

typedef struct {
    int64_t v[TG_RL__N]; /* 0: no limit */
} tg_rl_limits_t;

/* What the response headers report: the request and token limits per minute of the scope
 * that is closer to its limit. reset_*: time until the bucket is full again (ms). */
typedef struct {
    int64_t limit_requests, remaining_requests, reset_requests_ms;
    int64_t limit_tokens, remaining_tokens, reset_tokens_ms;
    int have; /* 0: no per-minute limit applies */
} tg_rl_state_t;

/* Why a request was refused. */
typedef struct {
    int which;          /* TG_RL_RPM … TG_RL_TPD */
    int project;        /* the project's limit (1) or the organisation's (0) */
    int64_t limit, used, requested;
    int64_t retry_after_ms;
    int too_large; /* the request alone exceeds the limit: waiting will not help */
} tg_rl_refusal_t;

/* Held by a request between acquire and settle. */
typedef struct {
    uint64_t hash[2]; /* the (scope, model) slot's hash; 0: none */
    uint8_t stripe[2];
    uint64_t gen[2]; /* the slot's generation: a reused slot is not corrected */
    int64_t tokens;
    int active;
} tg_rl_ticket_t;

/* Takes 1 request and `tokens` tokens from the org's and the project's buckets for `model`,
 * all or nothing. Returns 0, or -1 with *why filled (nothing taken). */
int tg_rl_acquire(const char *org_id, const char *project_id, const char *model,
                  const tg_rl_limits_t *org, const tg_rl_limits_t *project, int64_t tokens,
                  tg_rl_ticket_t *ticket, tg_rl_state_t *state, tg_rl_refusal_t *why);
/* Corrects the token buckets by (actual − reserved), actual capped at what was reserved: the
 * correction only ever gives tokens back. */
void tg_rl_settle(tg_rl_ticket_t *ticket, int64_t actual_tokens);

/* Go-style duration as OpenAI prints it: "1s", "6m0s", "20ms", "1m30s", "2h0m0s". */
void tg_rl_duration(int64_t ms, char *out, size_t cap);

/* For tests: the clock (monotonic ns); 0 = the real one. */
extern int64_t tg_rl_now_override;

#endif
