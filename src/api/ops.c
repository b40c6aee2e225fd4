/* Operations: /healthz, /readyz and /metrics (Prometheus text format). */
#include "api/api_int.h"

#include "billing/usage.h"

#include <stdio.h>
#include <string.h>

void tg_api_health(tg_call_t *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", c->cat ? "ok" : "starting");
    tg_call_json(c, c->cat ? 200 : 503, o);
}

void tg_api_metrics(tg_call_t *c)
{
    tg_usage_stats_t u;
    char buf[1024];
    tg_usage_stats(&u);
    int n = snprintf(buf, sizeof(buf),
                     "# TYPE tollgate_usage_records_committed_total counter\n"
                     "tollgate_usage_records_committed_total %llu\n"
                     "# TYPE tollgate_usage_batches_total counter\n"
                     "tollgate_usage_batches_total %llu\n"
                     "# TYPE tollgate_usage_commit_failures_total counter\n"
                     "tollgate_usage_commit_failures_total %llu\n",
                     u.committed, u.batches, u.failures);
    tg_call_headers(c);
    tg_http_respond(c->req, 200, "text/plain; version=0.0.4", buf, (size_t)n);
    tg_call_free(c);
}
