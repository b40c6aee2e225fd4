/* Admission of one request: the tier gate, the rate limits and the worst-case reservation,
 * in that order (SPEC.md §3). Either everything is held (a ticket) or nothing is (a
 * refusal), except that a request refused on money still counts as a request against the
 * RPM/RPD limits, as OpenAI counts it. */
#include "gate/gate_int.h"

#include "limits/tiers.h"
#include "pricing/pricing.h"

#include <stdatomic.h>
#include <string.h>

_Atomic unsigned long long tg_gate__worst_case_refusals;

int tg_admit(const tg_catalog_t *cat, const tg_admit_req_t *q, tg_ticket_t *t,
             tg_refusal_t *why)
{
    const tg_model_row_t *m = q->model;
    const tg_org_row_t *org = q->org;
    int customer = !org->is_operator; /* the operator's organisation: no credit, no tier */

    memset(t, 0, sizeof(*t));
    memset(why, 0, sizeof(*why));
    if (customer && !tg_tiers_allows(org->tier, m->id, &why->needed_tier)) {
        why->err = TG_E_BELOW_USAGE_TIER;
        return -1;
    }
    /* The worst case: the input bound and the whole output cap for each choice. */
    int64_t out_cap = q->out_cap;
    if (out_cap < 0 || (m->max_output_tokens > 0 && out_cap > m->max_output_tokens))
        out_cap = m->max_output_tokens;
    int64_t n = q->n > 0 ? q->n : 1;
    t->input_tokens = q->input_tokens > 0 ? q->input_tokens : 0;
    t->output_tokens = out_cap * n; /* ≤ 2^31 × 128: no overflow */
    t->worst = tg_price_cost(m, t->input_tokens, 0, t->output_tokens);

    /* rate limits: the tier's defaults for the organisation; for the project the tighter
     * of those and the project's own limits (set through the Admin API) */
    tg_rl_limits_t lo = {{0}}, lp;
    if (customer)
        tg_tiers_limits(org->tier, m, &lo);
    tg_catalog_project_limits(cat, q->project_id, m->id, &lo, &lp);
    if (tg_rl_acquire(org->id, q->project_id, m->id, &lo, &lp,
                      t->input_tokens + t->output_tokens, &t->rl, &t->rl_state, &why->rl) < 0) {
        why->err = why->rl.which == TG_RL_RPM || why->rl.which == TG_RL_RPD
                       ? TG_E_RATE_LIMIT_REQUESTS
                       : TG_E_RATE_LIMIT_TOKENS;
        return -1;
    }
    int64_t tier_cap = customer ? tg_cents_to_nanos(tg_tiers_monthly_cap(org->tier)) : 0;
    tg_err_t err = tg_ledger_reserve(org, q->project_id, t->worst, tier_cap, &t->resv, &why->left);
    if (err != TG_OK) {
        tg_rl_settle(&t->rl, 0); /* the request counts; its tokens do not */
        why->err = err;
        why->worst = t->worst;
        if (why->left > 0)
            atomic_fetch_add(&tg_gate__worst_case_refusals, 1);
        return -1;
    }
    t->active = 1;
    return 0;
}

void tg_admit_release(tg_ticket_t *t)
{
    tg_charges_t none;
    if (!t->active)
        return;
    tg_rl_settle(&t->rl, 0);
    tg_ledger_settle(&t->resv, NULL, NULL, 0, &none);
    t->active = 0;
}
