/* Spend alerts (soft limits): when an organisation's or a project's spend this calendar
 * month (UTC) reaches an alert's threshold, one notification is sent — once per alert per
 * month, also across restarts (the firing is recorded before delivery).
 *
 * Channels: `webhook` (HTTP POST of a JSON body signed with HMAC-SHA256 in the header
 * `Tollgate-Signature: t=<unix>,v1=<hex>` over "<t>.<body>", retried with exponential
 * backoff) and `email` (SMTP through libcurl to --smtp-url). Delivery runs on a thread of its
 * own: the request path only checks thresholds in memory. */
#ifndef TG_BILLING_ALERTS_H
#define TG_BILLING_ALERTS_H

#include "store/store.h"

#include <cjson/cJSON.h>

typedef struct {
    const char *db_url;
    const char *smtp_url;  /* NULL: email alerts are refused at creation */
    const char *smtp_from; /* envelope and From: address */
    int retry_base_ms;     /* first retry delay (doubles each time), default 1000 */
    int max_attempts;      /* default 6 */
} tg_alerts_config_t;

/* Loads alerts and this month's firings, registers the ledger hook, starts the sender. */
int tg_alerts_start(tg_store_t *st, const tg_alerts_config_t *cfg);
/* New settings (SIGHUP): smtp_url, smtp_from, retry_base_ms, max_attempts apply to deliveries
 * that start afterwards; db_url is kept (it needs a restart). Strings are copied. */
void tg_alerts_reconfigure(const tg_alerts_config_t *cfg);
/* Delivers what is queued (bounded wait), then stops. */
void tg_alerts_stop(void);

/* Validates a notification channel from the API; 0, or -1 with a message. */
int tg_alerts_check_channel(const cJSON *ch, const char **msg);
int tg_alerts_email_enabled(void);
/* Adds (durably, then in memory) / removes an alert. */
/* Re-reads the alerts from the store (several instances: one was added or removed on
 * another). */
int tg_alerts_reload(tg_store_t *st);
int tg_alerts_add(tg_store_t *st, const tg_alert_row_t *row);
int tg_alerts_remove(tg_store_t *st, const char *org_id, const char *id);
/* Alerts of an organisation's scope (project_id "" for the organisation's own); malloc'd. */
int tg_alerts_list(const char *org_id, const char *project_id, tg_alert_row_t **rows,
                   size_t *n);

typedef struct {
    unsigned long long sent, failed;
} tg_alerts_stats_t;
void tg_alerts_stats(tg_alerts_stats_t *out);

#endif
