/* The upstream HTTP client: libcurl's multi-socket API driven by a worker's libevent loop,
 * so thousands of upstream requests share one thread. Connections are kept alive and reused
 * per worker; TLS and HTTP/2 come from libcurl. Knows nothing of any vendor's JSON. */
#ifndef TG_PROVIDERS_UPSTREAM_H
#define TG_PROVIDERS_UPSTREAM_H

#include <stddef.h>

struct event_base;
typedef struct tg_upstream tg_upstream_t;
typedef struct tg_up_req tg_up_req_t;

enum { TG_UP_OK = 0, TG_UP_ECONNECT = 1, TG_UP_ETIMEOUT = 2, TG_UP_EFAIL = 3 };

typedef struct {
    /* One header line of the answer (the status line first: the answer's first byte), without
     * its CRLF. May be NULL. */
    void (*on_header)(void *arg, const char *line, size_t n);
    /* Body bytes, with the status and content type known. Return 0 to go on, 1 to pause
     * (the same bytes come again after tg_upstream_resume), -1 to abort (on_done then gets
     * TG_UP_EFAIL). */
    int (*on_data)(void *arg, int status, const char *p, size_t n);
    /* The transfer ended. Runs exactly once unless the request was cancelled. */
    void (*on_done)(void *arg, int result, int status);
} tg_up_cbs_t;

tg_upstream_t *tg_upstream_new(struct event_base *base);
void tg_upstream_free(tg_upstream_t *up);

/* Sends `method` ("POST", "GET", "DELETE") to url with the given header lines ("Name:
 * value", NULL-terminated; copied) and, for POST, `body` (takes ownership; freed with free();
 * NULL for none). timeout_ms bounds the whole transfer. Returns NULL on failure (no callback
 * then). */
tg_up_req_t *tg_upstream_send(tg_upstream_t *up, const char *method, const char *url,
                              const char *const *headers, char *body, size_t len,
                              long timeout_ms, const tg_up_cbs_t *cbs, void *arg);
/* Stops the transfer and closes its connection at once; no callback runs afterwards. */
void tg_upstream_cancel(tg_up_req_t *r);
void tg_upstream_resume(tg_up_req_t *r);

#endif
