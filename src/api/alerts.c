/* Spend alerts on the Admin API: /v1/organization/spend_alerts[/{alert_id}] and
 * /v1/organization/projects/{project_id}/spend_alerts[/{alert_id}]. */
#include "api/api_int.h"

#include "auth/secrets.h"
#include "billing/alerts.h"
#include "core/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *alert_object(const tg_alert_row_t *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", a->id);
    cJSON_AddStringToObject(o, "object", a->project_id[0] ? "project.spend_alert"
                                                          : "organization.spend_alert");
    if (a->project_id[0])
        cJSON_AddStringToObject(o, "project_id", a->project_id);
    cJSON_AddNumberToObject(o, "threshold_amount", (double)a->threshold_cents);
    cJSON_AddStringToObject(o, "currency", "USD");
    cJSON_AddStringToObject(o, "interval", "month");
    cJSON *ch = cJSON_Parse(a->channel);
    cJSON_AddItemToObject(o, "notification_channel", ch ? ch : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "created_at", (double)a->created_at);
    return o;
}

static void create(tg_call_t *c, const char *project_id)
{
    cJSON *j = tg_call_body_json(c);
    tg_alert_row_t a;
    const char *msg;
    char secret[64] = "";

    if (!j)
        return;
    memset(&a, 0, sizeof(a));
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "notification_channel");
    int64_t cents;
    if (tg_api_monthly_threshold(c, j, &cents) < 0) {
        /* answered */
    } else if (!ch) {
        tg_call_error(c, TG_E_MISSING_PARAM, "notification_channel",
                      "Missing required parameter: 'notification_channel'.");
    } else if (tg_alerts_check_channel(ch, &msg) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "notification_channel",
                      "Invalid 'notification_channel': %s.", msg);
    } else {
        char *text = cJSON_PrintUnformatted(ch);
        if (!text || strlen(text) >= sizeof(a.channel)) {
            free(text);
            tg_call_error(c, TG_E_INVALID_VALUE, "notification_channel",
                          "Invalid 'notification_channel': too long.");
            cJSON_Delete(j);
            return;
        }
        snprintf(a.channel, sizeof(a.channel), "%s", text);
        free(text);
        tg_random_id(a.id, "alert_", 24);
        snprintf(a.org_id, sizeof(a.org_id), "%s", c->org_id);
        if (project_id)
            snprintf(a.project_id, sizeof(a.project_id), "%s", project_id);
        a.threshold_cents = cents;
        a.created_at = tg_now();
        /* every alert gets a signing secret; shown once, for webhook receivers */
        tg_random_id(secret, "whsec_", 40);
        int n = tg_secret_seal(secret, strlen(secret), a.secret, sizeof(a.secret));
        cJSON *ev = tg_audit_details(a.id), *evd = cJSON_AddObjectToObject(ev, "data");
        cJSON_AddNumberToObject(evd, "threshold_amount", (double)cents);
        cJSON_AddItemToObject(evd, "notification_channel", cJSON_Duplicate(ch, 1));
        if (n < 0 || (a.secret_len = (size_t)n, tg_audit_begin(c) < 0) ||
            tg_audit_end(c, tg_alerts_add(c->w->store, &a), "spend_alert.created", project_id,
                         ev) < 0) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        } else {
            cJSON *o = alert_object(&a);
            cJSON_AddStringToObject(o, "signing_secret", secret);
            tg_call_json(c, 200, o);
        }
        sodium_memzero(secret, sizeof(secret));
    }
    cJSON_Delete(j);
}

void tg_api_spend_alert_create(tg_call_t *c, const tg_route_args_t *a)
{
    create(c, a->project ? a->project->id : NULL);
}

void tg_api_spend_alerts_list(tg_call_t *c, const tg_route_args_t *a)
{
    tg_alert_row_t *rows;
    size_t n;
    if (tg_alerts_list(c->org_id, a->project ? a->project->id : "", &rows, &n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, alert_object(&rows[i]));
    free(rows);
    tg_call_list(c, items);
}

/* The alerts of the route's scope and which one is {id}; -1 after answering. */
static int find(tg_call_t *c, const tg_route_args_t *a, tg_alert_row_t **rows, size_t *k)
{
    size_t n;
    if (tg_alerts_list(c->org_id, a->project ? a->project->id : "", rows, &n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return -1;
    }
    for (*k = 0; *k < n; (*k)++)
        if (tg_span_is(a->id, a->idlen, (*rows)[*k].id))
            return 0;
    free(*rows);
    tg_call_error(c, TG_E_NOT_FOUND, NULL, "No spend alert found with id '%.*s'.",
                  (int)(a->idlen > 64 ? 64 : a->idlen), a->id);
    return -1;
}

void tg_api_spend_alert_get(tg_call_t *c, const tg_route_args_t *a)
{
    tg_alert_row_t *rows;
    size_t k;
    if (find(c, a, &rows, &k) < 0)
        return;
    tg_call_json(c, 200, alert_object(&rows[k]));
    free(rows);
}

void tg_api_spend_alert_delete(tg_call_t *c, const tg_route_args_t *a)
{
    tg_alert_row_t *rows;
    size_t k;
    if (find(c, a, &rows, &k) < 0)
        return;
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, tg_alerts_remove(c->w->store, c->org_id, rows[k].id),
                     "spend_alert.deleted", a->project ? a->project->id : NULL,
                     tg_audit_details(rows[k].id)) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", rows[k].id);
        cJSON_AddStringToObject(o, "object", a->project ? "project.spend_alert.deleted"
                                                        : "organization.spend_alert.deleted");
        cJSON_AddBoolToObject(o, "deleted", 1);
        tg_call_json(c, 200, o);
    }
    free(rows);
}
