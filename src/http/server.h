/* The HTTP/1.1 server: worker threads with one libevent loop each, keep-alive, chunked
 * streaming with backpressure, size limits, timeouts and graceful shutdown. Parsing is done
 * by the http-parser library; this module knows nothing of OpenAI (errors it answers by itself,
 * such as 413, are formatted by the `on_error` callback the application gives it).
 *
 * Request lifetime: the server creates a request and calls `handler`. The handler must end
 * it exactly once with tg_http_respond() or tg_http_stream_end() — also after the client went
 * away (the close callback tells it so; the calls then just free the request). */
#ifndef TG_HTTP_SERVER_H
#define TG_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct tg_tls;
typedef struct tg_http_req tg_http_req_t;
typedef struct tg_http_server tg_http_server_t;

typedef void (*tg_http_handler_cb)(tg_http_req_t *req, void *worker_data);
/* Answers an error the server detected itself (400 malformed, 413 body, 431 headers).
 * Must call tg_http_respond(). */
typedef void (*tg_http_error_cb)(tg_http_req_t *req, int status, void *worker_data);
typedef void (*tg_http_close_cb)(tg_http_req_t *req, void *arg);
typedef void (*tg_http_drain_cb)(tg_http_req_t *req, void *arg);

typedef struct {
    const char *host; /* borrows */
    int port;         /* 0: any free port (see tg_http_server_port) */
    int workers;      /* ≥ 1 */
    size_t max_header_bytes;
    size_t max_body_bytes;
    int idle_timeout_ms;     /* keep-alive idle and request read timeout */
    int write_timeout_ms;    /* client not reading a response */
    int shutdown_timeout_ms; /* in-flight requests get this long on shutdown */
    long max_connections;    /* open client connections at most (0: half of RLIMIT_NOFILE,
                              * raised to its hard limit at start, less a reserve) */
    struct tg_tls *tls;      /* borrows (http/tls.h); NULL: plain HTTP */
    tg_http_handler_cb handler;
    tg_http_error_cb on_error;
    /* Per worker thread: called on the worker thread before it serves. */
    void *(*worker_init)(struct event_base *base, int index, void *app);
    /* Shutdown deadline passed: abort what is in flight (each request still ends normally). */
    void (*worker_abort)(void *worker_data);
    void (*worker_dispose)(void *worker_data);
    void *app;
} tg_http_config_t;

/* Binds, then starts the worker threads. Returns 0, or -1 with a message logged. */
int tg_http_server_start(const tg_http_config_t *cfg, tg_http_server_t **out);
int tg_http_server_port(const tg_http_server_t *srv);
/* Applies new limits and timeouts (max_header_bytes, max_body_bytes, idle_timeout_ms,
 * write_timeout_ms, shutdown_timeout_ms of `cfg`; the rest is ignored) from any thread: each
 * is read atomically where it is used, so a request being read when they change may see the
 * old or the new value, and a connection's timeouts change at its next request. */
void tg_http_server_reconfigure(tg_http_server_t *srv, const tg_http_config_t *cfg);
/* Stops accepting, lets in-flight requests finish (up to the shutdown timeout, then asks the
 * workers to abort them) and joins the threads. */
void tg_http_server_shutdown(tg_http_server_t *srv);
/* Frees the loops: call after anything that may schedule work on them (the usage writer)
 * has stopped. NULL-tolerant. */
void tg_http_server_free(tg_http_server_t *srv);
/* Requests being handled now, over all workers. */
long tg_http_server_inflight(const tg_http_server_t *srv);

/* Request accessors (all borrow from the request; valid until it ends). */
const char *tg_http_method(const tg_http_req_t *req);
/* The client's address as text ("" once the client is gone). */
const char *tg_http_peer(const tg_http_req_t *req);
const char *tg_http_path(const tg_http_req_t *req, size_t *len);
const char *tg_http_query(const tg_http_req_t *req); /* after '?', or NULL */
/* Case-insensitive lookup; NULL when absent. */
const char *tg_http_header(const tg_http_req_t *req, const char *name);
const char *tg_http_body(const tg_http_req_t *req, size_t *len);
int tg_http_client_gone(const tg_http_req_t *req);
/* The server is shutting down: it accepts no new connection and closes this one after the
 * answer (for a readiness check to say so). */
int tg_http_draining(const tg_http_req_t *req);
/* The request came over HTTPS (--tls-cert). */
int tg_http_is_tls(const tg_http_req_t *req);
/* The handler's own pointer. */
void tg_http_set_data(tg_http_req_t *req, void *data);
void *tg_http_get_data(const tg_http_req_t *req);

/* Responding. Header names and values are copied. */
void tg_http_add_header(tg_http_req_t *req, const char *name, const char *value);
void tg_http_respond(tg_http_req_t *req, int status, const char *content_type, const char *body,
                     size_t len);
void tg_http_stream_begin(tg_http_req_t *req, int status, const char *content_type);
void tg_http_stream_write(tg_http_req_t *req, const char *data, size_t len);
void tg_http_stream_end(tg_http_req_t *req);
/* Bytes written but not yet sent to the client (backpressure). */
size_t tg_http_pending(const tg_http_req_t *req);
/* `cb` runs once, when the pending output has been sent. */
void tg_http_on_drain(tg_http_req_t *req, tg_http_drain_cb cb, void *arg);
/* `cb` runs once if the client goes away before the request has ended. */
void tg_http_on_close(tg_http_req_t *req, tg_http_close_cb cb, void *arg);

#endif
