#include "providers/upstream.h"

#include "core/log.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 256 /* idle easy handles kept per worker */

struct tg_upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    CURL *pool[POOL_MAX];
    int npool;
};

/* Easy handles are reused (curl_easy_reset keeps their buffers); connections themselves
 * live in the multi handle's cache either way. */
static CURL *easy_get(tg_upstream_t *up)
{
    return up->npool ? up->pool[--up->npool] : curl_easy_init();
}

static void easy_put(tg_upstream_t *up, CURL *e)
{
    if (up->npool < POOL_MAX) {
        curl_easy_reset(e);
        up->pool[up->npool++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

struct tg_up_req {
    tg_upstream_t *up;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    tg_up_cbs_t cbs;
    void *arg;
    int status;
};

typedef struct {
    struct event *ev;
} sockinfo_t;

static void check_done(tg_upstream_t *up)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(up->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        tg_up_req_t *r = NULL;
        long code = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        CURLcode res = msg->data.result;
        int result = TG_UP_OK;
        if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST ||
            res == CURLE_COULDNT_RESOLVE_PROXY)
            result = TG_UP_ECONNECT;
        else if (res == CURLE_OPERATION_TIMEDOUT)
            result = TG_UP_ETIMEOUT;
        else if (res != CURLE_OK)
            result = TG_UP_EFAIL;
        if (res != CURLE_OK)
            tg_debug("upstream: %s", curl_easy_strerror(res));
        curl_multi_remove_handle(up->multi, r->easy);
        easy_put(up, r->easy);
        curl_slist_free_all(r->headers);
        free(r->body);
        tg_up_cbs_t cbs = r->cbs;
        void *arg = r->arg;
        free(r);
        cbs.on_done(arg, result, (int)code);
    }
}

static void event_cb(evutil_socket_t fd, short kind, void *p)
{
    tg_upstream_t *up = p;
    int running;
    int action = ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(up->multi, fd, action, &running);
    check_done(up);
}

static void timer_cb(evutil_socket_t fd, short kind, void *p)
{
    tg_upstream_t *up = p;
    int running;
    curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(up);
}

static int multi_timer_cb(CURLM *multi, long timeout_ms, void *p)
{
    tg_upstream_t *up = p;
    if (timeout_ms < 0) {
        evtimer_del(up->timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(up->timer, &tv);
    }
    return 0;
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *p, void *sockp)
{
    tg_upstream_t *up = p;
    sockinfo_t *si = sockp;

    if (what == CURL_POLL_REMOVE) {
        if (si) {
            event_free(si->ev);
            free(si);
            curl_multi_assign(up->multi, s, NULL);
        }
        return 0;
    }
    if (!si) {
        si = calloc(1, sizeof(*si));
        if (!si)
            return -1;
        curl_multi_assign(up->multi, s, si);
    } else if (si->ev) {
        event_free(si->ev);
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    si->ev = event_new(up->base, s, kind, event_cb, up);
    event_add(si->ev, NULL);
    return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *p)
{
    tg_up_req_t *r = p;
    size_t n = size * nmemb;
    if (!r->status) {
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        r->status = (int)code;
    }
    int rc = r->cbs.on_data(r->arg, r->status, ptr, n);
    if (rc == 1)
        return CURL_WRITEFUNC_PAUSE;
    return rc < 0 ? 0 : n;
}

tg_upstream_t *tg_upstream_new(struct event_base *base)
{
    tg_upstream_t *up = calloc(1, sizeof(*up));
    if (!up)
        return NULL;
    up->base = base;
    up->multi = curl_multi_init();
    up->timer = evtimer_new(base, timer_cb, up);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, 1024L);
    curl_multi_setopt(up->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    return up;
}

void tg_upstream_free(tg_upstream_t *up)
{
    if (!up)
        return;
    while (up->npool)
        curl_easy_cleanup(up->pool[--up->npool]);
    curl_multi_cleanup(up->multi);
    event_free(up->timer);
    free(up);
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *p)
{
    tg_up_req_t *r = p;
    size_t n = size * nmemb, k = n;
    while (k && (ptr[k - 1] == '\r' || ptr[k - 1] == '\n'))
        k--;
    if (r->cbs.on_header && k)
        r->cbs.on_header(r->arg, ptr, k);
    return n;
}

tg_up_req_t *tg_upstream_send(tg_upstream_t *up, const char *method, const char *url,
                              const char *const *headers, char *body, size_t len,
                              long timeout_ms, const tg_up_cbs_t *cbs, void *arg)
{
    tg_up_req_t *r = calloc(1, sizeof(*r));
    if (!r) {
        free(body);
        return NULL;
    }
    r->up = up;
    r->body = body;
    r->cbs = *cbs;
    r->arg = arg;
    r->easy = easy_get(up);
    for (size_t i = 0; headers && headers[i]; i++)
        r->headers = curl_slist_append(r->headers, headers[i]);
    r->headers = curl_slist_append(r->headers, "Expect:");
    if (!r->easy || !r->headers)
        goto fail;
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
    }
    if (cbs->on_header) {
        curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    }
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_PROXY, ""); /* no proxy from the environment */
    if (curl_multi_add_handle(up->multi, r->easy) != CURLM_OK)
        goto fail;
    return r;
fail:
    if (r->easy)
        easy_put(up, r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
    return NULL;
}

void tg_upstream_cancel(tg_up_req_t *r)
{
    if (!r)
        return;
    /* Closing the connection tells the upstream at once (a reused connection would keep
     * the provider generating tokens nobody reads). */
    curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
    curl_multi_remove_handle(r->up->multi, r->easy);
    easy_put(r->up, r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}

void tg_upstream_resume(tg_up_req_t *r)
{
    curl_easy_pause(r->easy, CURLPAUSE_CONT);
}
