/* Admission of one request: the tier gate, the rate limits and the worst-case reservation,
 * in that order (SPEC.md §3). Either everything is held (a ticket) or nothing is (a
 * refusal), except that a request refused on money still counts as a request against the
 * RPM/RPD limits, as OpenAI counts it. */
#include "gate/gate_int.h"

#include "limits/tiers.h"
#include "pricing/pricing.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

_Atomic unsigned long long tg_gate__worst_case_refusals;
_Atomic long long tg_gate__outstanding;

static tg_err_t quota_err(int money_err)
{
    switch (money_err) {
    case 1: return TG_E_CREDIT_EXHAUSTED;
    case 2: return TG_E_USAGE_LIMIT;
    case 3: return TG_E_ORG_SPEND_LIMIT;
    default: return TG_E_PROJECT_SPEND_LIMIT;
    }
}

static tg_err_t rl_err(const tg_rl_refusal_t *rl)
{
    return rl->which == TG_RL_RPM || rl->which == TG_RL_RPD ? TG_E_RATE_LIMIT_REQUESTS
                                                            : TG_E_RATE_LIMIT_TOKENS;
}

/* The shared counters' answer (several instances). */
static void on_verdict(void *arg, const tg_shared_verdict_t *v)
{
    tg_ticket_t *t = arg;
    tg_refusal_t *why = t->why;
    int rc = -1;
    switch (v->rc) {
    case 0:
        t->rl_state = v->rl_state;
        t->active = 1;
        atomic_fetch_add(&tg_gate__outstanding, 1);
        rc = 0;
        break;
    case TG_SHARED_RL:
        why->rl = v->rl;
        why->err = rl_err(&v->rl);
        break;
    case TG_SHARED_MONEY:
        why->err = quota_err(v->money_err);
        why->worst = t->worst;
        why->left = v->left;
        if (why->left > 0)
            atomic_fetch_add(&tg_gate__worst_case_refusals, 1);
        break;
    default:
        why->err = TG_E_UNAVAILABLE;
        break;
    }
    t->cb(t->cb_arg, rc);
}

int tg_admit(const tg_catalog_t *cat, const tg_admit_req_t *q, tg_shared_conn_t *sc,
             tg_ticket_t *t, tg_refusal_t *why, tg_admit_cb cb, void *arg)
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
    int64_t tier_cap = customer ? tg_cents_to_nanos(tg_tiers_monthly_cap(org->tier)) : 0;
    if (sc) { /* several instances: one step in Redis */
        tg_shared_hold_t *h = &t->hold;
        t->shared = 1;
        t->sc = sc;
        t->why = why;
        t->cb = cb;
        t->cb_arg = arg;
        snprintf(h->org_id, sizeof(h->org_id), "%s", org->id);
        snprintf(h->project_id, sizeof(h->project_id), "%s", q->project_id);
        snprintf(h->model, sizeof(h->model), "%s", m->id);
        h->exempt = !customer;
        h->amount = t->worst;
        h->tokens = t->input_tokens + t->output_tokens;
        h->lo = lo;
        h->lp = lp;
        if (tg_shared_admit(sc, h, tier_cap, on_verdict, t) < 0) {
            why->err = TG_E_UNAVAILABLE;
            return -1;
        }
        return 1;
    }
    if (tg_rl_acquire(org->id, q->project_id, m->id, &lo, &lp,
                      t->input_tokens + t->output_tokens, &t->rl, &t->rl_state, &why->rl) < 0) {
        why->err = rl_err(&why->rl);
        return -1;
    }
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
    atomic_fetch_add(&tg_gate__outstanding, 1);
    return 0;
}

void tg_admit_release(tg_ticket_t *t)
{
    tg_charges_t none;
    if (!t->active)
        return;
    if (t->shared) {
        tg_shared_release(t->sc, &t->hold);
        t->active = 0;
        atomic_fetch_sub(&tg_gate__outstanding, 1);
        return;
    }
    tg_rl_settle(&t->rl, 0);
    tg_ledger_settle(&t->resv, NULL, NULL, 0, &none);
    t->active = 0;
    atomic_fetch_sub(&tg_gate__outstanding, 1);
}
