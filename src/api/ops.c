/* Operations: /healthz, /readyz and /metrics (Prometheus text format). */
#include "api/api_int.h"

#include "billing/usage.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "gate/gate.h"
#include "providers/pool.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- models asked for that no provider serves ---- */

#define UNSERVED_MAX 64
#define UNSERVED_LOG_EVERY 60 /* s: the log says it once a minute per model */
#define UNSERVED_SHOWN 600    /* s: /readyz names a model asked for this recently */

static pthread_mutex_t unserved_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char model[TG_NAME_MAX];
    int64_t seen, logged;
} unserved[UNSERVED_MAX];

void tg_api_note_unserved(const char *model)
{
    int64_t now = tg_now();
    int log = 0, slot = -1, oldest = 0;
    pthread_mutex_lock(&unserved_mu);
    for (int i = 0; i < UNSERVED_MAX && slot < 0; i++)
        if (!strcmp(unserved[i].model, model))
            slot = i;
    for (int i = 0; slot < 0 && i < UNSERVED_MAX; i++)
        if (unserved[i].seen < unserved[oldest].seen)
            oldest = i;
    if (slot < 0) { /* the table is small: the least recent model makes room */
        slot = oldest;
        snprintf(unserved[slot].model, sizeof(unserved[slot].model), "%s", model);
        unserved[slot].logged = 0;
    }
    unserved[slot].seen = now;
    if (now - unserved[slot].logged >= UNSERVED_LOG_EVERY) {
        unserved[slot].logged = now;
        log = 1;
    }
    pthread_mutex_unlock(&unserved_mu);
    if (log)
        tg_warn("no provider serves %s: requests for it get 404 model_not_found (add one with "
                "POST /v1/organization/providers, or enable one that lists it)", model);
}

void tg_api_health(tg_call_t *c, const tg_route_args_t *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", c->cat ? "ok" : "starting");
    tg_call_json(c, c->cat ? 200 : 503, o);
}

/* Ready: the catalog is loaded, the database answers (usage can be recorded) and, with
 * several instances, so does Redis; otherwise 503 naming what is missing. `warnings` names
 * what does not make the instance unready but leaves requests unanswered: no provider at
 * all, or models asked for recently that no provider serves. */
void tg_api_ready(tg_call_t *c, const tg_route_args_t *a)
{
    cJSON *o = cJSON_CreateObject(), *down = NULL, *warn = NULL;
    int db = tg_usage_ok(), redis = !tg_shared_on() || tg_shared_ok();
    if (tg_http_draining(c->req)) { /* SIGTERM: a load balancer should stop sending */
        cJSON_AddStringToObject(o, "status", "draining");
        tg_call_json(c, 503, o);
        return;
    }
    int ok = c->cat && db && redis;
    cJSON_AddStringToObject(o, "status", ok ? "ok" : c->cat ? "unavailable" : "starting");
    if (!db || !redis)
        down = cJSON_AddArrayToObject(o, "unavailable");
    if (!db)
        cJSON_AddItemToArray(down, cJSON_CreateString("database"));
    if (!redis)
        cJSON_AddItemToArray(down, cJSON_CreateString("redis"));
    if (c->cat) {
        size_t n, served = 0;
        const tg_model_row_t *ms = tg_catalog_models(c->cat, &n);
        for (size_t i = 0; i < n; i++)
            served += tg_catalog_route(c->cat, &ms[i])->n > 0;
        warn = cJSON_CreateArray();
        if (!served)
            cJSON_AddItemToArray(warn, cJSON_CreateString(
                "no provider serves any model: add one with POST /v1/organization/providers"));
        int64_t now = tg_now();
        pthread_mutex_lock(&unserved_mu);
        for (int i = 0; served && i < UNSERVED_MAX; i++) {
            const tg_model_row_t *m = unserved[i].model[0] && now - unserved[i].seen < UNSERVED_SHOWN
                                          ? tg_catalog_model(c->cat, unserved[i].model,
                                                             strlen(unserved[i].model))
                                          : NULL;
            char t[TG_NAME_MAX + 32];
            if (m && !tg_catalog_route(c->cat, m)->n) {
                snprintf(t, sizeof(t), "no provider serves %s", m->id);
                cJSON_AddItemToArray(warn, cJSON_CreateString(t));
            }
        }
        pthread_mutex_unlock(&unserved_mu);
        if (cJSON_GetArraySize(warn))
            cJSON_AddItemToObject(o, "warnings", warn);
        else
            cJSON_Delete(warn);
    }
    tg_call_json(c, ok ? 200 : 503, o);
}

/* Providers' health and attempts (provider ids are the operator's, few, and no tenant's). */
static void provider_metrics(void *arg, const char *id, const tg_health_view_t *h)
{
    tg_strbuf_t *b = arg;
    tg_strbuf_printf(b, "tollgate_provider_up{provider=\"%s\"} %d\n", id,
         strcmp(h->status, "open") != 0);
    tg_strbuf_printf(b, "tollgate_provider_consecutive_failures{provider=\"%s\"} %d\n", id,
         h->consecutive_failures);
    for (int o = 0; o < TG_OUT__N; o++)
        tg_strbuf_printf(b, "tollgate_upstream_requests_total{provider=\"%s\",outcome=\"%s\"} %llu\n", id,
             tg_pool_outcome_name((tg_outcome_t)o), (unsigned long long)h->outcomes[o]);
}

#ifndef TG_VERSION
#define TG_VERSION "dev"
#endif

void tg_api_metrics(tg_call_t *c, const tg_route_args_t *a)
{
    static const double sizes[] = TG_USAGE_BATCH_BOUNDS, secs[] = TG_USAGE_COMMIT_BOUNDS;
    tg_usage_stats_t u;
    tg_gate_stats_t g;
    tg_strbuf_t b = {0};
    tg_usage_stats(&u);
    tg_gate_stats(&g);

    tg_strbuf_printf(&b, "# HELP tollgate_build_info The running build\n"
                         "# TYPE tollgate_build_info gauge\n"
                         "tollgate_build_info{version=\"%s\"} 1\n", TG_VERSION);
    tg_observe_scrape(&b);
    tg_strbuf_printf(&b, "# HELP tollgate_reservations_outstanding Admitted requests holding a "
                         "reservation of credit and limits now\n"
                         "# TYPE tollgate_reservations_outstanding gauge\n"
                         "tollgate_reservations_outstanding %lld\n", g.outstanding);
    tg_strbuf_printf(&b, "# HELP tollgate_usage_queue_records Usage records waiting for the "
                         "writer's next batch\n"
                         "# TYPE tollgate_usage_queue_records gauge\n"
                         "tollgate_usage_queue_records %llu\n"
                         "# TYPE tollgate_usage_records_committed_total counter\n"
                         "tollgate_usage_records_committed_total %llu\n"
                         "# TYPE tollgate_usage_batches_total counter\n"
                         "tollgate_usage_batches_total %llu\n"
                         "# TYPE tollgate_usage_commit_failures_total counter\n"
                         "tollgate_usage_commit_failures_total %llu\n",
                     u.queued, u.committed, u.batches, u.failures);
    tg_strbuf_lit(&b, "# HELP tollgate_usage_batch_records Records per committed batch (group "
                      "commit)\n# TYPE tollgate_usage_batch_records histogram\n");
    tg_observe_hist(&b, "tollgate_usage_batch_records", "", sizes,
                    sizeof(sizes) / sizeof(sizes[0]), u.batch_size, (double)u.committed);
    tg_strbuf_lit(&b, "# HELP tollgate_usage_commit_seconds Time to make a batch durable "
                      "(retries included)\n# TYPE tollgate_usage_commit_seconds histogram\n");
    tg_observe_hist(&b, "tollgate_usage_commit_seconds", "", secs,
                    sizeof(secs) / sizeof(secs[0]), u.commit_time, (double)u.commit_us / 1e6);
    tg_strbuf_printf(&b, "# HELP tollgate_access_log_dropped_total Access log lines dropped "
                         "because standard error could not keep up\n"
                         "# TYPE tollgate_access_log_dropped_total counter\n"
                         "tollgate_access_log_dropped_total %llu\n", tg_log_access_dropped());
    tg_strbuf_lit(&b, "# HELP tollgate_upstream_discrepancies_total Requests whose upstream "
                      "reported usage above the reservation, absurd or malformed usage\n"
                      "# TYPE tollgate_upstream_discrepancies_total counter\n");
    for (int k = TG_DISC_NONE + 1; k < TG_DISC__N; k++)
        tg_strbuf_printf(&b, "tollgate_upstream_discrepancies_total{kind=\"%s\"} %llu\n",
                         tg_disc_name(k), g.discrepancies[k]);
    tg_strbuf_printf(&b, "# HELP tollgate_unbilled_nanodollars_total Cost upstreams reported "
                         "above reservations, not charged\n"
                         "# TYPE tollgate_unbilled_nanodollars_total counter\n"
                         "tollgate_unbilled_nanodollars_total %llu\n"
                         "# HELP tollgate_worst_case_refusals_total Quota refusals of requests "
                         "whose maximum cost did not fit while the limit was not reached\n"
                         "# TYPE tollgate_worst_case_refusals_total counter\n"
                         "tollgate_worst_case_refusals_total %llu\n",
                     g.unbilled_nanos, g.refusals_worst_case);
    tg_strbuf_lit(&b, "# HELP tollgate_provider_up 0 while the provider's circuit breaker is open\n"
                      "# TYPE tollgate_provider_up gauge\n"
                      "# TYPE tollgate_provider_consecutive_failures gauge\n"
                      "# HELP tollgate_upstream_requests_total Upstream attempts by provider and "
                      "outcome\n"
                      "# TYPE tollgate_upstream_requests_total counter\n");
    tg_pool_each(provider_metrics, &b);
    tg_call_headers(c);
    c->status = b.oom ? 503 : 200;
    if (b.oom)
        tg_http_respond(c->req, 503, "text/plain", "", 0);
    else
        tg_http_respond(c->req, 200, "text/plain; version=0.0.4", b.p, b.len);
    tg_strbuf_free(&b);
    tg_call_free(c);
}
