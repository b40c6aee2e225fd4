/* Operations: /healthz, /readyz and /metrics (Prometheus text format). */
#include "api/api_int.h"

#include "billing/usage.h"
#include "gate/gate.h"

#include <stdio.h>
#include <string.h>

void tg_api_health(tg_call_t *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", c->cat ? "ok" : "starting");
    tg_call_json(c, c->cat ? 200 : 503, o);
}

/* Ready: the catalog is loaded, the database answers (usage can be recorded) and, with
 * several instances, so does Redis; otherwise 503 naming what is missing. */
void tg_api_ready(tg_call_t *c)
{
    cJSON *o = cJSON_CreateObject(), *down = NULL;
    int db = tg_usage_ok(), redis = !tg_shared_on() || tg_shared_ok();
    int ok = c->cat && db && redis;
    cJSON_AddStringToObject(o, "status", ok ? "ok" : c->cat ? "unavailable" : "starting");
    if (!db || !redis)
        down = cJSON_AddArrayToObject(o, "unavailable");
    if (!db)
        cJSON_AddItemToArray(down, cJSON_CreateString("database"));
    if (!redis)
        cJSON_AddItemToArray(down, cJSON_CreateString("redis"));
    tg_call_json(c, ok ? 200 : 503, o);
}

void tg_api_metrics(tg_call_t *c)
{
    tg_usage_stats_t u;
    tg_gate_stats_t g;
    char buf[2048];
    tg_usage_stats(&u);
    tg_gate_stats(&g);
    int n = snprintf(buf, sizeof(buf),
                     "# TYPE tollgate_usage_records_committed_total counter\n"
                     "tollgate_usage_records_committed_total %llu\n"
                     "# TYPE tollgate_usage_batches_total counter\n"
                     "tollgate_usage_batches_total %llu\n"
                     "# TYPE tollgate_usage_commit_failures_total counter\n"
                     "tollgate_usage_commit_failures_total %llu\n",
                     u.committed, u.batches, u.failures);
    n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                  "# HELP tollgate_upstream_discrepancies_total Requests whose upstream reported "
                  "usage above the reservation, absurd or malformed usage\n"
                  "# TYPE tollgate_upstream_discrepancies_total counter\n");
    for (int k = TG_DISC_NONE + 1; k < TG_DISC__N; k++)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                      "tollgate_upstream_discrepancies_total{kind=\"%s\"} %llu\n",
                      tg_disc_name(k), g.discrepancies[k]);
    n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                  "# HELP tollgate_unbilled_nanodollars_total Cost upstreams reported above "
                  "reservations, not charged\n"
                  "# TYPE tollgate_unbilled_nanodollars_total counter\n"
                  "tollgate_unbilled_nanodollars_total %llu\n"
                  "# HELP tollgate_worst_case_refusals_total Quota refusals of requests whose "
                  "maximum cost did not fit while the limit was not reached\n"
                  "# TYPE tollgate_worst_case_refusals_total counter\n"
                  "tollgate_worst_case_refusals_total %llu\n",
                  g.unbilled_nanos, g.refusals_worst_case);
    tg_call_headers(c);
    tg_http_respond(c->req, 200, "text/plain; version=0.0.4", buf, (size_t)n);
    tg_call_free(c);
}
