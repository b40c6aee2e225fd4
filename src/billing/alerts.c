#include "billing/alerts.h"

#include "auth/secrets.h"
#include "billing/ledger.h"
#include "core/log.h"
#include "shared/shared.h"
#include "core/util.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    tg_alert_row_t row;
    int64_t fired_month; /* the month it last fired in (0: not this month) */
} alert_t;

typedef struct job {
    tg_alert_row_t alert;
    int64_t spend, month;
    struct job *next;
} job_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* alerts[] */
static alert_t *alerts;
static size_t nalerts, capalerts;

static pthread_mutex_t qmu = PTHREAD_MUTEX_INITIALIZER; /* the delivery queue */
static pthread_cond_t qcv = PTHREAD_COND_INITIALIZER;
static job_t *qhead, *qtail;
static int stopping, running;
static pthread_t thread;
/* The settings, replaced whole by tg_alerts_reconfigure: own copies of the strings, read under
 * cfgmu (delivery takes a copy of what it needs; no request path reads them). */
static pthread_mutex_t cfgmu = PTHREAD_MUTEX_INITIALIZER;
static tg_alerts_config_t cfg;
static char *smtp_url, *smtp_from;
static tg_store_t *store; /* the sender's own connection */
static tg_alerts_stats_t stats;

int tg_alerts_email_enabled(void)
{
    pthread_mutex_lock(&cfgmu);
    int on = smtp_url && *smtp_url;
    pthread_mutex_unlock(&cfgmu);
    return on;
}

void tg_alerts_reconfigure(const tg_alerts_config_t *c)
{
    char *url = c->smtp_url ? strdup(c->smtp_url) : NULL;
    char *from = c->smtp_from ? strdup(c->smtp_from) : NULL;
    pthread_mutex_lock(&cfgmu);
    const char *db = cfg.db_url; /* needs a restart */
    free(smtp_url);
    free(smtp_from);
    smtp_url = url;
    smtp_from = from;
    cfg = *c;
    cfg.db_url = db ? db : c->db_url;
    cfg.smtp_url = smtp_url;
    cfg.smtp_from = smtp_from;
    pthread_mutex_unlock(&cfgmu);
}

int tg_alerts_check_channel(const cJSON *ch, const char **msg)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ch, "type");
    *msg = "notification_channel must be {\"type\":\"webhook\",\"url\":…} or "
           "{\"type\":\"email\",\"recipients\":[…]}";
    if (!cJSON_IsObject(ch) || !cJSON_IsString(type))
        return -1;
    if (!strcmp(type->valuestring, "webhook")) {
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(ch, "url");
        if (!cJSON_IsString(url) || strlen(url->valuestring) > 1000 ||
            (strncmp(url->valuestring, "http://", 7) && strncmp(url->valuestring, "https://", 8)) ||
            strpbrk(url->valuestring, " \r\n\t")) {
            *msg = "a webhook channel needs an http:// or https:// 'url'";
            return -1;
        }
        return 0;
    }
    if (!strcmp(type->valuestring, "email")) {
        const cJSON *rcpt = cJSON_GetObjectItemCaseSensitive(ch, "recipients"), *it;
        const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(ch, "subject_prefix");
        int n = 0;
        if (!tg_alerts_email_enabled()) {
            *msg = "email alerts need the server to run with --smtp-url";
            return -1;
        }
        if (!cJSON_IsArray(rcpt))
            return -1;
        cJSON_ArrayForEach(it, rcpt) {
            if (!cJSON_IsString(it) || !strchr(it->valuestring, '@') ||
                strlen(it->valuestring) > 254 || strpbrk(it->valuestring, " <>\r\n\t,;")) {
                *msg = "recipients must be e-mail addresses";
                return -1;
            }
            n++;
        }
        if (n < 1 || n > 10) {
            *msg = "an email channel needs 1 to 10 recipients";
            return -1;
        }
        if (prefix && !cJSON_IsNull(prefix) &&
            (!cJSON_IsString(prefix) || strlen(prefix->valuestring) > 100 ||
             strpbrk(prefix->valuestring, "\r\n"))) {
            *msg = "subject_prefix must be one line of at most 100 characters";
            return -1;
        }
        return 0;
    }
    return -1;
}

/* ---- delivery ---- */

static size_t discard(char *p, size_t s, size_t n, void *u) { return s * n; }

static char *notification_body(const job_t *j)
{
    char month[16], spend[32];
    time_t m = (time_t)j->month;
    struct tm tm;
    gmtime_r(&m, &tm);
    strftime(month, sizeof(month), "%Y-%m", &tm);
    tg_format_nanos(j->spend, spend);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "spend_alert.triggered");
    cJSON_AddStringToObject(o, "alert_id", j->alert.id);
    cJSON_AddStringToObject(o, "organization_id", j->alert.org_id);
    if (j->alert.project_id[0])
        cJSON_AddStringToObject(o, "project_id", j->alert.project_id);
    else
        cJSON_AddNullToObject(o, "project_id");
    cJSON_AddNumberToObject(o, "threshold_amount", (double)j->alert.threshold_cents);
    cJSON_AddStringToObject(o, "currency", "USD");
    cJSON_AddItemToObject(o, "current_spend", cJSON_CreateRaw(spend));
    cJSON_AddStringToObject(o, "month", month);
    cJSON_AddNumberToObject(o, "created_at", (double)tg_now());
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return t;
}

static int send_webhook(const job_t *j, const char *url, const char *body)
{
    char secret[96], sig[256], hex[65];
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state hs;
    long ts = (long)tg_now(), code = 0;
    char tsbuf[32];
    int n = tg_secret_open(j->alert.secret, j->alert.secret_len, secret, sizeof(secret));

    if (n < 0) {
        tg_error("alert %s: cannot open its signing secret", j->alert.id);
        return -1;
    }
    snprintf(tsbuf, sizeof(tsbuf), "%ld.", ts);
    crypto_auth_hmacsha256_init(&hs, (const unsigned char *)secret, (size_t)n);
    crypto_auth_hmacsha256_update(&hs, (const unsigned char *)tsbuf, strlen(tsbuf));
    crypto_auth_hmacsha256_update(&hs, (const unsigned char *)body, strlen(body));
    crypto_auth_hmacsha256_final(&hs, mac);
    sodium_memzero(secret, sizeof(secret));
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(sig, sizeof(sig), "Tollgate-Signature: t=%ld,v1=%s", ts, hex);

    CURL *e = curl_easy_init();
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, sig);
    h = curl_slist_append(h, "User-Agent: Tollgate-Alerts/1");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (rc != CURLE_OK || code < 200 || code >= 300) {
        tg_warn("alert %s: webhook delivery failed (%s, HTTP %ld)", j->alert.id,
                rc != CURLE_OK ? curl_easy_strerror(rc) : "status", code);
        return -1;
    }
    return 0;
}

typedef struct {
    const char *p;
    size_t left;
} reader_t;

static size_t read_mail(char *buf, size_t size, size_t nmemb, void *u)
{
    reader_t *r = u;
    size_t n = size * nmemb < r->left ? size * nmemb : r->left;
    memcpy(buf, r->p, n);
    r->p += n;
    r->left -= n;
    return n;
}

static int send_email(const job_t *j, const cJSON *ch, const char *body)
{
    const cJSON *rcpt = cJSON_GetObjectItemCaseSensitive(ch, "recipients"), *it;
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(ch, "subject_prefix");
    char from[300], *msg = NULL, spend[32], date[64];
    struct curl_slist *to = NULL;
    time_t now = time(NULL);
    struct tm tm;

    char *url;
    pthread_mutex_lock(&cfgmu);
    snprintf(from, sizeof(from), "<%s>", cfg.smtp_from ? cfg.smtp_from : "tollgate@localhost");
    url = cfg.smtp_url ? strdup(cfg.smtp_url) : NULL;
    pthread_mutex_unlock(&cfgmu);
    if (!url) {
        tg_warn("alert %s: email delivery failed (no --smtp-url any more)", j->alert.id);
        return -1;
    }
    tg_format_nanos(j->spend, spend);
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    cJSON_ArrayForEach(it, rcpt) {
        char addr[300];
        snprintf(addr, sizeof(addr), "<%s>", it->valuestring);
        to = curl_slist_append(to, addr);
    }
    int len = asprintf(&msg,
                       "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: %s%sSpend alert: "
                       "$%lld.%02lld threshold reached\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                       "Spend this month is $%s, at or above the alert threshold of $%lld.%02lld"
                       "\r\n(organization %s%s%s, alert %s)\r\n\r\n%s\r\n",
                       date, from, rcpt->child->valuestring,
                       cJSON_IsString(prefix) ? prefix->valuestring : "",
                       cJSON_IsString(prefix) ? " " : "",
                       (long long)(j->alert.threshold_cents / 100),
                       (long long)(j->alert.threshold_cents % 100), spend, (long long)(j->alert.threshold_cents / 100),
                       (long long)(j->alert.threshold_cents % 100), j->alert.org_id,
                       j->alert.project_id[0] ? ", project " : "", j->alert.project_id,
                       j->alert.id, body);
    if (len < 0) {
        curl_slist_free_all(to);
        free(url);
        return -1;
    }
    reader_t r = {msg, (size_t)len};
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, to);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, read_mail);
    curl_easy_setopt(e, CURLOPT_READDATA, &r);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(e);
    curl_slist_free_all(to);
    curl_easy_cleanup(e);
    free(msg);
    free(url);
    if (rc != CURLE_OK) {
        tg_warn("alert %s: email delivery failed (%s)", j->alert.id, curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

static void deliver(const job_t *j)
{
    cJSON *ch = cJSON_Parse(j->alert.channel);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ch, "type");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(ch, "url");
    char *body = notification_body(j);
    pthread_mutex_lock(&cfgmu);
    int delay = cfg.retry_base_ms > 0 ? cfg.retry_base_ms : 1000;
    int attempts = cfg.max_attempts > 0 ? cfg.max_attempts : 6;
    pthread_mutex_unlock(&cfgmu);

    for (int i = 0; body && cJSON_IsString(type) && i < attempts; i++) {
        int ok = !strcmp(type->valuestring, "webhook")
                     ? (cJSON_IsString(url) ? send_webhook(j, url->valuestring, body) : -1)
                     : send_email(j, ch, body);
        if (ok == 0) {
            stats.sent++;
            goto out;
        }
        if (i + 1 == attempts)
            break;
        pthread_mutex_lock(&qmu);
        if (!stopping) { /* back off, but let a shutdown cut the wait short */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += delay / 1000;
            ts.tv_nsec += (long)(delay % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&qcv, &qmu, &ts);
        }
        int stop = stopping;
        pthread_mutex_unlock(&qmu);
        if (stop)
            break;
        delay *= 2;
    }
    stats.failed++;
    tg_error("alert %s: notification not delivered", j->alert.id);
out:
    free(body);
    cJSON_Delete(ch);
}

static void *sender_main(void *unused)
{
    pthread_mutex_lock(&qmu);
    for (;;) {
        while (!qhead && !stopping)
            pthread_cond_wait(&qcv, &qmu);
        if (!qhead)
            break;
        job_t *j = qhead;
        qhead = j->next;
        if (!qhead)
            qtail = NULL;
        pthread_mutex_unlock(&qmu);
        /* record first: a restart must not send the same month's alert twice */
        int first = store->money->alert_fired(store, j->alert.id, j->month, tg_now(), j->spend);
        if (first == 1)
            deliver(j);
        free(j);
        pthread_mutex_lock(&qmu);
    }
    pthread_mutex_unlock(&qmu);
    return NULL;
}

static void enqueue(const alert_t *a, int64_t spend, int64_t month)
{
    job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->alert = a->row;
    j->spend = spend;
    j->month = month;
    pthread_mutex_lock(&qmu);
    if (qtail)
        qtail->next = j;
    else
        qhead = j;
    qtail = j;
    pthread_cond_signal(&qcv);
    pthread_mutex_unlock(&qmu);
}

/* The ledger's hook: runs on worker threads after every charge. */
static void on_spend(const char *org_id, const char *project_id, int64_t available,
                     int64_t org_spend, int64_t project_spend, int64_t month)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nalerts; i++) {
        alert_t *a = &alerts[i];
        if (a->fired_month == month || strcmp(a->row.org_id, org_id) != 0)
            continue;
        int64_t spend;
        if (!a->row.project_id[0])
            spend = org_spend;
        else if (!strcmp(a->row.project_id, project_id))
            spend = project_spend;
        else
            continue;
        if (spend >= a->row.threshold_cents * TG_NANOS_PER_CENT) {
            a->fired_month = month;
            enqueue(a, spend, month);
        }
    }
    pthread_mutex_unlock(&mu);
}

static int add_mem(const tg_alert_row_t *row, int64_t fired_month)
{
    if (nalerts == capalerts) {
        size_t nc = capalerts ? capalerts * 2 : 8;
        alert_t *na = realloc(alerts, nc * sizeof(*na));
        if (!na)
            return -1;
        alerts = na;
        capalerts = nc;
    }
    alerts[nalerts].row = *row;
    alerts[nalerts].fired_month = fired_month;
    nalerts++;
    return 0;
}

int tg_alerts_reload(tg_store_t *st)
{
    tg_alert_row_t *rows = NULL;
    tg_org_amount_t *fired = NULL;
    size_t n = 0, nf = 0;
    int64_t month = tg_month_start(tg_now());

    if (st->money->alert_list(st, &rows, &n) < 0 || st->money->alert_firings(st, month, &fired, &nf) < 0) {
        free(rows);
        return -1;
    }
    pthread_mutex_lock(&mu);
    alert_t *old = alerts;
    size_t nold = nalerts;
    alerts = NULL;
    nalerts = capalerts = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int64_t fm = 0;
        for (size_t k = 0; k < nold; k++) /* what this instance fired stays fired */
            if (!strcmp(old[k].row.id, rows[i].id))
                fm = old[k].fired_month;
        for (size_t k = 0; k < nf; k++)
            if (!strcmp(fired[k].scope_id, rows[i].id))
                fm = month;
        rc = add_mem(&rows[i], fm);
    }
    if (rc == 0) {
        free(old);
    } else { /* out of memory: keep what there was */
        free(alerts);
        alerts = old;
        nalerts = capalerts = nold;
    }
    pthread_mutex_unlock(&mu);
    free(rows);
    free(fired);
    return rc;
}

int tg_alerts_start(tg_store_t *st, const tg_alerts_config_t *c)
{
    tg_alert_row_t *rows = NULL;
    tg_org_amount_t *fired = NULL;
    size_t n = 0, nf = 0;
    int64_t month = tg_month_start(tg_now());

    tg_alerts_reconfigure(c);
    if (st->money->alert_list(st, &rows, &n) < 0 || st->money->alert_firings(st, month, &fired, &nf) < 0) {
        free(rows);
        return -1;
    }
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n; i++) {
        int64_t fm = 0;
        for (size_t k = 0; k < nf; k++)
            if (!strcmp(fired[k].scope_id, rows[i].id))
                fm = month;
        add_mem(&rows[i], fm);
    }
    pthread_mutex_unlock(&mu);
    free(rows);
    free(fired);
    if (tg_store_open(c->db_url, &store) < 0)
        return -1;
    stopping = 0;
    if (pthread_create(&thread, NULL, sender_main, NULL) != 0)
        return -1;
    running = 1;
    tg_ledger_set_hook(0, on_spend);
    return 0;
}

void tg_alerts_stop(void)
{
    if (!running)
        return;
    tg_ledger_set_hook(0, NULL);
    pthread_mutex_lock(&qmu);
    stopping = 1;
    pthread_cond_broadcast(&qcv);
    pthread_mutex_unlock(&qmu);
    pthread_join(thread, NULL);
    tg_store_close(store);
    store = NULL;
    running = 0;
    pthread_mutex_lock(&cfgmu);
    free(smtp_url);
    free(smtp_from);
    smtp_url = smtp_from = NULL;
    memset(&cfg, 0, sizeof(cfg));
    pthread_mutex_unlock(&cfgmu);
    pthread_mutex_lock(&mu);
    free(alerts);
    alerts = NULL;
    nalerts = capalerts = 0;
    pthread_mutex_unlock(&mu);
}

int tg_alerts_add(tg_store_t *st, const tg_alert_row_t *row)
{
    if (st->money->alert_insert(st, row) < 0)
        return -1;
    pthread_mutex_lock(&mu);
    int rc = add_mem(row, 0);
    pthread_mutex_unlock(&mu);
    tg_shared_publish(); /* the other instances re-read the alerts */
    return rc;
}

int tg_alerts_remove(tg_store_t *st, const char *org_id, const char *id)
{
    int rc = TG_STORE_NOTFOUND;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nalerts; i++) {
        if (!strcmp(alerts[i].row.id, id) && !strcmp(alerts[i].row.org_id, org_id)) {
            rc = st->money->alert_delete(st, id);
            if (rc == 0 || rc == TG_STORE_NOTFOUND) {
                alerts[i] = alerts[--nalerts];
                rc = 0;
            }
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    if (rc == 0)
        tg_shared_publish();
    return rc;
}

int tg_alerts_list(const char *org_id, const char *project_id, tg_alert_row_t **rows, size_t *n)
{
    pthread_mutex_lock(&mu);
    *rows = malloc((nalerts ? nalerts : 1) * sizeof(tg_alert_row_t));
    *n = 0;
    if (*rows)
        for (size_t i = 0; i < nalerts; i++)
            if (!strcmp(alerts[i].row.org_id, org_id) &&
                !strcmp(alerts[i].row.project_id, project_id))
                (*rows)[(*n)++] = alerts[i].row;
    pthread_mutex_unlock(&mu);
    return *rows ? 0 : -1;
}

void tg_alerts_stats(tg_alerts_stats_t *out)
{
    *out = stats;
}
