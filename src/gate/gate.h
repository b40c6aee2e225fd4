/* The gate: what a request may cost at most, whether it may go, and what it is charged once
 * it has gone. The whole face of src/gate/. The gate never sees the HTTP call: it takes
 * plain values (organisation, project, model, token counts, the request's JSON nodes) and
 * returns plain values (a bound, a ticket, a refusal, a settlement); only api/ turns them
 * into OpenAI's wire.
 *
 *   bound.c   the input bound: an upper bound of the prompt tokens the upstream can bill
 *   admit.c   tier gate, rate limits, worst-case cost, reservation → a ticket or a refusal
 *   settle.c  a ticket + the reported usage → the charge (never above the reservation), the
 *             rate limits corrected, the usage record queued; discrepancies counted
 *
 * The promise (SPEC.md §3, §5): a hard limit is never exceeded, whatever the upstream
 * reports. It holds by construction: the ledger refuses a reservation that does not fit
 * (billing/ledger.h), and settlement never charges more than the reservation. The bounds
 * make the reservation honest for any upstream, so that the cap is a safety net and not the
 * rule. */
#ifndef TG_GATE_H
#define TG_GATE_H

#include "billing/ledger.h"
#include "billing/usage.h"
#include "catalog/catalog.h"
#include "core/errors.h"
#include "limits/ratelimit.h"
#include "providers/provider.h"
#include "shared/shared.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <stdint.h>

struct event_base;
typedef struct tg_tok tg_tok_t;

/* ---- bound.c ---- */

/* Overheads for a model without a tokenizer of ours (chat templates of Llama, Qwen,
 * DeepSeek, Mistral…): per message (role markers, separators), once per request (the
 * template's header, a default system prompt), and for tool definitions (the template's
 * instructions around them). Generous on purpose; the bound is capped at the context
 * window anyway. */
#define TG_BOUND_PER_MESSAGE 8
#define TG_BOUND_PER_REQUEST 64
#define TG_BOUND_TOOLS 256

typedef struct {
    int64_t tokens;      /* the bound: never below what the upstream can bill for the input */
    int64_t text_tokens; /* the exact text count (tokenizer known), for the context check;
                          * -1 when the model has no tokenizer of ours */
    int64_t images;      /* image parts seen */
    /* tg_bound_text on an array of inputs: the largest one's count (tokens with a tokenizer,
     * else bytes) and its index; max_item -1 otherwise */
    int64_t max_item;
    int max_item_index;
} tg_bound_t;

/* Why a bound could not be made (returned by the tg_bound_* functions, with *param set to
 * the JSON path of the part concerned, in a static or caller-owned buffer). */
enum {
    TG_BOUND_OK = 0,
    TG_BOUND_ENOMEM = -1,
    TG_BOUND_EUNBOUNDED = -2, /* an audio or file part, and the model has no context window */
};

/* Chat Completions: messages (an array, validated), tools (or legacy functions; may be NULL)
 * and response_format (may be NULL). tok: the model's tokenizer, NULL when it has none. */
int tg_bound_chat(const tg_model_row_t *m, const tg_tok_t *tok, const cJSON *messages,
                  const cJSON *tools, const cJSON *response_format, tg_bound_t *out);
/* The Responses API: input (a string or an array of items), instructions, tools and
 * text.format (each may be NULL). What only the context window bounds: a previous response,
 * a conversation or a stored prompt the request continues (`continues` set), files, audio,
 * reasoning items and item references. text_tokens stays -1 (the upstream judges its
 * window). */
int tg_bound_responses(const tg_model_row_t *m, const tg_tok_t *tok, const cJSON *input,
                       const cJSON *instructions, const cJSON *tools, const cJSON *format,
                       int continues, tg_bound_t *out);
/* A completions prompt or an embeddings input: a string, an array of strings, or token
 * arrays. Counts each string; an array of token ids counts its length. */
int tg_bound_text(const tg_model_row_t *m, const tg_tok_t *tok, const cJSON *input,
                  tg_bound_t *out);

/* ---- admit.c ---- */

typedef struct {
    const tg_org_row_t *org;
    const char *project_id;
    const tg_model_row_t *model;
    int64_t input_tokens; /* the bound */
    int64_t out_cap;      /* output tokens asked for per choice; -1: the model's maximum */
    int64_t n;            /* choices billed (n, or best_of) */
} tg_admit_req_t;

/* Why a request was refused before it left. */
typedef struct {
    tg_err_t err; /* TG_E_BELOW_USAGE_TIER, TG_E_RATE_LIMIT_*, a quota error, TG_E_UNAVAILABLE */
    const char *needed_tier; /* BELOW_USAGE_TIER: the tier the model needs */
    tg_rl_refusal_t rl;      /* RATE_LIMIT_*: which limit */
    int64_t worst;           /* quota: this request's worst case (nano-dollars) */
    int64_t left;            /* quota: what was left under the limit (≤ 0: reached) */
} tg_refusal_t;

typedef void (*tg_admit_cb)(void *arg, int rc);

/* What an admitted request holds until it settles. */
typedef struct {
    int64_t input_tokens;  /* the input bound */
    int64_t output_tokens; /* output cap × n */
    int64_t worst;         /* nano-dollars reserved */
    tg_reservation_t resv; /* one instance: the ledger's */
    tg_rl_ticket_t rl;
    tg_rl_state_t rl_state; /* for the x-ratelimit-* headers */
    int active;
    /* several instances (shared counters): what Redis holds, and the pending admission */
    int shared;
    tg_shared_hold_t hold;
    tg_shared_conn_t *sc;
    tg_refusal_t *why;
    tg_admit_cb cb;
    void *cb_arg;
} tg_ticket_t;

/* Admits a request: the tier gate (customer organisations), the rate limits (the tier's
 * defaults for the organisation; for the project the tighter of those and its own), and
 * the reservation of the worst case (input bound + output cap × n at the model's prices)
 * against credit, the tier's monthly cap and the hard limits. A request refused on money
 * still counts against RPM/RPD; otherwise a refusal holds nothing.
 *
 * One instance (sc NULL): decided now: returns 0 with *t held, or -1 with *why. Several
 * instances (sc, the loop's connection to the shared counters): returns 1, and cb(arg, 0 or
 * -1) runs later on sc's loop, with *t or *why filled (both must live until then); or -1
 * now (the tier gate, or the shared counters unreachable: TG_E_UNAVAILABLE). */
int tg_admit(const tg_catalog_t *cat, const tg_admit_req_t *q, tg_shared_conn_t *sc,
             tg_ticket_t *t, tg_refusal_t *why, tg_admit_cb cb, void *arg);
/* Gives everything back for a request that never reached a provider. */
void tg_admit_release(tg_ticket_t *t);

/* ---- settle.c ---- */

/* Token counts (tg_counts_t, tg_count_from_json) come from providers/provider.h: what an
 * upstream reported, read by its adapter. */

enum {
    TG_DISC_NONE = 0,
    TG_DISC_OVER,      /* the reported usage costs more than the reservation */
    TG_DISC_ABSURD,    /* counts beyond the context window plus the output cap */
    TG_DISC_MALFORMED, /* negative, fractional, non-numeric counts: Tollgate's own count used */
    TG_DISC_MISSING,   /* a complete answer without usage: Tollgate's own count used */
    TG_DISC__N
};

/* Settles an admitted request that reached a provider. reported: the upstream's usage
 * (NULL or not present: none); own: Tollgate's own count (the input bound's text count and
 * the output relayed or answered), used when the upstream reported nothing usable, and never
 * above the reservation. answered: the upstream answered in full (2xx), so it owed usage. Fills the money and
 * token fields of *u (tokens, cost_nanousd, unbilled_nanousd; the rest is the caller's),
 * settles the ledger and the rate limits, and queues the record (cb runs on base's thread
 * once it is durable). With the shared counters the fields are filled later, before cb
 * runs: *u must stay valid until then. Returns the discrepancy kind (TG_DISC_*), already logged and
 * counted. */
int tg_settle(tg_ticket_t *t, const tg_model_row_t *m, const tg_counts_t *reported,
              const tg_counts_t *own, int answered, tg_usage_row_t *u, struct event_base *base,
              tg_usage_done_cb cb, void *arg);
/* With the shared counters, the charge is made in Redis: the record is queued when Redis
 * answered (or could not: then the whole charge is recorded as overdraft), still on base's
 * thread, and cb runs once it is durable, as above. */

/* Counters for /metrics. */
typedef struct {
    unsigned long long discrepancies[TG_DISC__N];
    unsigned long long unbilled_nanos; /* Σ unbilled */
    unsigned long long refusals_worst_case; /* quota refusals of requests whose worst case
                                             * did not fit although the limit was not reached */
    long long outstanding; /* reservations held now (admitted, not yet settled) */
} tg_gate_stats_t;
void tg_gate_stats(tg_gate_stats_t *out);
const char *tg_disc_name(int kind);

#endif
