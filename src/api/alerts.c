/* Spend alerts on the Admin API: /v1/organization/spend_alerts[/{alert_id}] and
 * /v1/organization/projects/{project_id}/spend_alerts[/{alert_id}]. */
#include "api/api_int.h"

#include "auth/keys.h"
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
        if (n < 0 || (a.secret_len = (size_t)n, tg_alerts_add(c->w->store, &a) < 0)) {
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

void tg_api_spend_alerts(tg_call_t *c, const tg_project_row_t *project, const char *id,
                         size_t idlen)
{
    const char *scope = project ? project->id : "";
    tg_alert_row_t *rows = NULL;
    size_t n = 0;

    if (!id) {
        if (tg_call_is(c, "POST")) {
            create(c, project ? project->id : NULL);
        } else if (tg_call_is(c, "GET")) {
            if (tg_alerts_list(c->org_id, scope, &rows, &n) < 0) {
                tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
                return;
            }
            cJSON *items = cJSON_CreateArray();
            for (size_t i = 0; i < n; i++)
                cJSON_AddItemToArray(items, alert_object(&rows[i]));
            free(rows);
            tg_call_list(c, items);
        } else {
            tg_call_bad_method(c);
        }
        return;
    }
    if (tg_alerts_list(c->org_id, scope, &rows, &n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    size_t k = 0;
    while (k < n && !tg_span_is(id, idlen, rows[k].id))
        k++;
    if (k == n) {
        free(rows);
        tg_call_error(c, TG_E_NOT_FOUND, NULL, "No spend alert found with id '%.*s'.",
                      (int)(idlen > 64 ? 64 : idlen), id);
        return;
    }
    if (tg_call_is(c, "GET")) {
        tg_call_json(c, 200, alert_object(&rows[k]));
    } else if (tg_call_is(c, "DELETE")) {
        if (tg_alerts_remove(c->w->store, c->org_id, rows[k].id) < 0) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", rows[k].id);
            cJSON_AddStringToObject(o, "object", project ? "project.spend_alert.deleted"
                                                         : "organization.spend_alert.deleted");
            cJSON_AddBoolToObject(o, "deleted", 1);
            tg_call_json(c, 200, o);
        }
    } else {
        tg_call_bad_method(c);
    }
    free(rows);
}
