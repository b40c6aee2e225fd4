/* Settlement of one request that reached a provider: the usage it is charged for, the
 * charge (never above the reservation), the rate limits corrected, and the usage record
 * queued. What an upstream reports beyond what was reserved — or reports as nonsense — is a
 * discrepancy: recorded on the usage record (unbilled), logged with the request id and
 * counted for /metrics, never charged and never undefined behaviour. */
#include "gate/gate_int.h"

#include "core/log.h"
#include "pricing/pricing.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic unsigned long long disc_count[TG_DISC__N];
static _Atomic unsigned long long unbilled_total;

const char *tg_disc_name(int kind)
{
    static const char *names[TG_DISC__N] = {"none", "over_reservation", "absurd", "malformed",
                                            "missing"};
    return kind >= 0 && kind < TG_DISC__N ? names[kind] : "unknown";
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The counts a request is charged for: the upstream's where usable, else Tollgate's own
 * (never above the reservation); cut at what any upstream can bill. *disc says why not
 * the upstream's as reported. */
static tg_counts_t charged_counts(const tg_ticket_t *t, const tg_model_row_t *m,
                                  const tg_counts_t *reported, const tg_counts_t *own,
                                  int answered, int *disc)
{
    tg_counts_t c = {0};
    *disc = TG_DISC_NONE;
    if (reported && reported->present && reported->valid) {
        c = *reported;
    } else {
        if (reported && reported->present)
            *disc = TG_DISC_MALFORMED;
        else if (answered)
            *disc = TG_DISC_MISSING;
        if (own) { /* an estimate of ours: within the reservation by construction */
            c = *own;
            c.input = c.input < t->input_tokens ? c.input : t->input_tokens;
            c.output = c.output < t->output_tokens ? c.output : t->output_tokens;
        }
    }
    /* counts are in [0, TG_TOKENS_MAX] here: no sum below overflows */
    c.input = min64(max64(c.input, 0), TG_TOKENS_MAX);
    c.output = min64(max64(c.output, 0), TG_TOKENS_MAX);
    c.cached = min64(max64(c.cached, 0), c.input);
    /* What any upstream can bill at most: the context window (or the input bound, if larger
     * or the model has none) plus the output cap. Beyond it, the counts are absurd: they are
     * kept only up to that bound. */
    int64_t in_max = max64(m->context_window, t->input_tokens);
    if (c.input + c.output > in_max + t->output_tokens) {
        *disc = TG_DISC_ABSURD;
        c.input = min64(c.input, in_max);
        c.cached = min64(c.cached, c.input);
        c.output = min64(c.output, in_max + t->output_tokens - c.input);
    }
    return c;
}

/* Fills the record's money, counts and logs a discrepancy, and queues the record. */
static int finish(tg_usage_row_t *u, const tg_counts_t *c, int64_t worst, int64_t cost,
                  int64_t charged, int disc, tg_charges_t *charges, struct event_base *base,
                  tg_usage_done_cb cb, void *arg)
{
    int64_t unbilled = cost - charged;
    if (unbilled > 0 && disc == TG_DISC_NONE)
        disc = TG_DISC_OVER;
    u->input_tokens = c->input;
    u->cached_input_tokens = c->cached;
    u->output_tokens = c->output;
    u->cost_nanousd = charged;
    u->unbilled_nanousd = unbilled;
    if (disc != TG_DISC_NONE) {
        atomic_fetch_add(&disc_count[disc], 1);
        atomic_fetch_add(&unbilled_total, (unsigned long long)unbilled);
        if (disc == TG_DISC_MALFORMED || disc == TG_DISC_MISSING)
            tg_warn("upstream discrepancy (%s) on %s: provider %s, model %s %s; charged %lld "
                    "nano-dollars from Tollgate's own count (input %lld, output %lld)",
                    tg_disc_name(disc), u->request_id, u->provider_id, u->model,
                    disc == TG_DISC_MISSING ? "answered without usage"
                                            : "sent usage that is not a count of tokens",
                    (long long)charged, (long long)c->input, (long long)c->output);
        else
            tg_warn("upstream discrepancy (%s) on %s: provider %s, model %s reported input %lld "
                    "(cached %lld), output %lld; reserved %lld nano-dollars, charged %lld, "
                    "unbilled %lld", tg_disc_name(disc), u->request_id, u->provider_id, u->model,
                    (long long)c->input, (long long)c->cached, (long long)c->output,
                    (long long)worst, (long long)charged, (long long)unbilled);
    }
    tg_usage_submit(u, charges, base, cb, arg);
    return disc;
}

/* A settlement waiting for the shared counters. */
typedef struct {
    tg_usage_row_t u;
    tg_usage_row_t *out; /* the caller's record: gets the settled fields too */
    tg_counts_t c;
    int64_t worst, cost;
    int disc, exempt;
    struct event_base *base;
    tg_usage_done_cb cb;
    void *arg;
} pending_t;

static void on_shared_settled(void *arg, tg_shared_settled_t *s)
{
    pending_t *p = arg;
    if (s->reached && s->charged > 0)
        tg_ledger_notify(p->u.org_id, p->u.project_id, s->available, s->org_spend,
                         s->project_spend, s->month, p->exempt);
    finish(&p->u, &p->c, p->worst, p->cost, s->charged, p->disc, &s->charges, p->base, p->cb,
           p->arg);
    *p->out = p->u; /* before cb, which runs later on this loop */
    free(p);
}

int tg_settle(tg_ticket_t *t, const tg_model_row_t *m, const tg_counts_t *reported,
              const tg_counts_t *own, int answered, tg_usage_row_t *u, struct event_base *base,
              tg_usage_done_cb cb, void *arg)
{
    int disc;
    tg_counts_t c = charged_counts(t, m, reported, own, answered, &disc);
    int64_t cost = tg_price_cost(m, c.input, c.cached, c.output);

    if (t->shared) {
        pending_t *p = malloc(sizeof(*p));
        if (p) {
            *p = (pending_t){*u, u, c, t->worst, cost, disc, t->hold.exempt, base, cb, arg};
            t->active = 0;
            atomic_fetch_sub(&tg_gate__outstanding, 1);
            tg_shared_settle(t->sc, &t->hold, cost, c.input + c.output, on_shared_settled, p);
            return disc;
        }
        /* out of memory: recorded now as overdraft; Redis only gets the reservation back
         * (the charge reaches it at its next rebuild) */
        tg_shared_release(t->sc, &t->hold);
        tg_shared_settled_t none;
        memset(&none, 0, sizeof(none));
        none.charged = cost < t->worst ? cost : t->worst;
        none.charges.overdraft = t->hold.exempt ? 0 : none.charged;
        t->active = 0;
        atomic_fetch_sub(&tg_gate__outstanding, 1);
        return finish(u, &c, t->worst, cost, none.charged, disc, &none.charges, base, cb, arg);
    }
    tg_charges_t charges;
    int64_t charged = tg_ledger_settle(&t->resv, u->org_id, u->project_id, cost, &charges);
    tg_rl_settle(&t->rl, c.input + c.output); /* capped at what was taken */
    t->active = 0;
    atomic_fetch_sub(&tg_gate__outstanding, 1);
    return finish(u, &c, t->worst, cost, charged, disc, &charges, base, cb, arg);
}

void tg_gate_stats(tg_gate_stats_t *out)
{
    for (int i = 0; i < TG_DISC__N; i++)
        out->discrepancies[i] = atomic_load(&disc_count[i]);
    out->unbilled_nanos = atomic_load(&unbilled_total);
    out->refusals_worst_case = atomic_load(&tg_gate__worst_case_refusals);
    out->outstanding = atomic_load(&tg_gate__outstanding);
}
