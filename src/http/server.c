/* HTTP/1.1 server on libevent bufferevents with http-parser. See server.h and
 * docs/internals/http.md for why this is not evhttp. */
#include "http/server.h"

#include "core/log.h"
#include "http/tls.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS 100
#define HANDLING_READ_HWM (64 * 1024)

typedef struct worker worker_t;
typedef struct conn conn_t;

enum { C_READING, C_HANDLING, C_CLOSING, C_DISCARDING };

struct tg_http_req {
    conn_t *c; /* NULL once the client is gone */
    worker_t *w;
    const char *method;
    char *url; /* owned: path[?query] */
    size_t url_len;
    size_t path_len;
    char *hbuf; /* owned: "name\0value\0" pairs */
    size_t hlen, hcap;
    size_t hoff[MAX_HEADERS][2];
    int nheaders;
    int in_value; /* parser state: last callback was a header value */
    char *body;
    size_t body_len, body_cap;
    int keep_alive;
    struct evbuffer *resp_headers;
    int streaming, ended, client_gone;
    tg_http_close_cb close_cb;
    void *close_arg;
    tg_http_drain_cb drain_cb;
    void *drain_arg;
    void *data;
};

struct conn {
    worker_t *w;
    struct bufferevent *bev;
    struct event *resume_ev;
    http_parser parser;
    int state;
    tg_http_req_t *req; /* being parsed or handled */
    int msg_done;       /* parser paused at the end of a message */
    int error_status;   /* the parser or a limit failed: answer this and close */
    char peer[48];      /* the client's address (text), for logs */
    conn_t *prev, *next;
};

struct worker {
    tg_http_server_t *srv;
    int index;
    struct event_base *base;
    struct evconnlistener *listener; /* borrows the server's socket */
    struct event *deadline_ev, *hard_ev;
    pthread_t thread;
    void *data;
    conn_t *conns;
    long nconns;
    long inflight; /* requests of this worker not yet ended */
    int draining;
    /* accepting paused (the connection cap, or no descriptor left): resumed by the timer */
    struct event *accept_ev;
    int accept_paused, backoff_ms;
};

struct tg_http_server {
    tg_http_config_t cfg;
    /* what tg_http_server_reconfigure changes while serving (read where used) */
    atomic_size_t max_header, max_body;
    atomic_int idle_ms, write_ms, shutdown_ms;
    int fd; /* the listening socket, closed by the last worker to stop listening */
    atomic_int listeners;
    int port;
    int nworkers;
    worker_t *workers;
    atomic_long inflight;
    atomic_long conns;     /* open client connections, every worker's */
    long max_conns;        /* the cap (cfg.max_connections, or from RLIMIT_NOFILE) */
    atomic_llong paused;   /* times accepting was paused */
    atomic_llong last_log; /* when that was last logged (CLOCK_MONOTONIC seconds) */
};

static http_parser_settings settings;
static void conn_free(conn_t *c);
static void maybe_exit(worker_t *w);

/* ---- request ---- */

static tg_http_req_t *req_new(conn_t *c)
{
    tg_http_req_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->c = c;
    r->w = c->w;
    r->resp_headers = evbuffer_new();
    return r;
}

static void req_free(tg_http_req_t *r)
{
    if (!r)
        return;
    free(r->url);
    free(r->hbuf);
    free(r->body);
    if (r->resp_headers)
        evbuffer_free(r->resp_headers);
    free(r);
}

static int append(char **buf, size_t *len, size_t *cap, const char *p, size_t n, size_t limit,
                  int nul)
{
    size_t need = *len + n + (size_t)nul;
    if (need > limit)
        return -1;
    if (need > *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        while (nc < need)
            nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    if (nul)
        (*buf)[*len] = '\0';
    return 0;
}

/* ---- parser callbacks ---- */

static int on_message_begin(http_parser *p)
{
    conn_t *c = p->data;
    if (!c->req && !(c->req = req_new(c)))
        return -1;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    tg_http_req_t *r = c->req;
    size_t cap = r->url ? r->url_len + 1 : 0;
    if (append(&r->url, &r->url_len, &cap, at, n, atomic_load_explicit(&c->w->srv->max_header, memory_order_relaxed), 1) < 0) {
        c->error_status = 431;
        return -1;
    }
    return 0;
}

static int header_bytes(conn_t *c, const char *at, size_t n, int nul)
{
    tg_http_req_t *r = c->req;
    if (append(&r->hbuf, &r->hlen, &r->hcap, at, n, atomic_load_explicit(&c->w->srv->max_header, memory_order_relaxed), 0) < 0 ||
        (nul && append(&r->hbuf, &r->hlen, &r->hcap, "", 1, atomic_load_explicit(&c->w->srv->max_header, memory_order_relaxed),
                       0) < 0)) {
        c->error_status = 431;
        return -1;
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    tg_http_req_t *r = c->req;
    if (r->in_value || r->nheaders == 0) {
        if (r->nheaders > 0 && header_bytes(c, "", 0, 1) < 0) /* terminate previous value */
            return -1;
        if (r->nheaders == MAX_HEADERS) {
            c->error_status = 431;
            return -1;
        }
        r->hoff[r->nheaders][0] = r->hlen;
        r->hoff[r->nheaders][1] = (size_t)-1;
        r->nheaders++;
        r->in_value = 0;
    }
    return header_bytes(c, at, n, 0);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    tg_http_req_t *r = c->req;
    if (!r->in_value) {
        if (header_bytes(c, "", 0, 1) < 0) /* terminate the name */
            return -1;
        r->hoff[r->nheaders - 1][1] = r->hlen;
        r->in_value = 1;
    }
    return header_bytes(c, at, n, 0);
}

static int on_headers_complete(http_parser *p)
{
    conn_t *c = p->data;
    tg_http_req_t *r = c->req;
    size_t max_body = atomic_load_explicit(&c->w->srv->max_body, memory_order_relaxed);

    if (r->nheaders > 0 && header_bytes(c, "", 0, 1) < 0)
        return -1;
    for (int i = 0; i < r->nheaders; i++)
        if (r->hoff[i][1] == (size_t)-1)
            r->hoff[i][1] = r->hoff[i][0] + strlen(r->hbuf + r->hoff[i][0]); /* empty value */
    if (!r->url) {
        c->error_status = 400;
        return -1;
    }
    char *q = memchr(r->url, '?', r->url_len);
    r->path_len = q ? (size_t)(q - r->url) : r->url_len;
    r->method = http_method_str((enum http_method)p->method);
    r->keep_alive = http_should_keep_alive(p);
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > max_body) {
        c->error_status = 413;
        return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    tg_http_req_t *r = c->req;
    if (append(&r->body, &r->body_len, &r->body_cap, at, n, atomic_load_explicit(&c->w->srv->max_body, memory_order_relaxed), 1) <
        0) {
        c->error_status = 413;
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn_t *c = p->data;
    c->msg_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

/* ---- connection ---- */

static void set_timeouts(conn_t *c)
{
    tg_http_server_t *srv = c->w->srv;
    int idle = atomic_load_explicit(&srv->idle_ms, memory_order_relaxed);
    int write = atomic_load_explicit(&srv->write_ms, memory_order_relaxed);
    struct timeval rt = {idle / 1000, (idle % 1000) * 1000};
    struct timeval wt = {write / 1000, (write % 1000) * 1000};
    if (c->state == C_HANDLING)
        bufferevent_set_timeouts(c->bev, NULL, &wt);
    else
        bufferevent_set_timeouts(c->bev, &rt, &wt);
}

static void dispatch(conn_t *c)
{
    tg_http_req_t *r = c->req;
    tg_http_server_t *srv = c->w->srv;

    c->state = C_HANDLING;
    c->msg_done = 0;
    set_timeouts(c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, HANDLING_READ_HWM);
    if (!r->body) { /* give handlers a NUL-terminated empty body */
        size_t cap = 0;
        append(&r->body, &r->body_len, &cap, "", 0, 1, 1);
        r->body_cap = cap;
    }
    atomic_fetch_add(&srv->inflight, 1);
    c->w->inflight++;
    if (c->error_status)
        srv->cfg.on_error(r, c->error_status, c->w->data);
    else
        srv->cfg.handler(r, c->w->data);
}

static void parse_input(conn_t *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    while (c->state == C_READING && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t n = http_parser_execute(&c->parser, &settings, v.iov_base, v.iov_len);
        enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
        evbuffer_drain(in, n);
        if (c->msg_done) {
            http_parser_pause(&c->parser, 0);
            dispatch(c);
            return;
        }
        if (err != HPE_OK) {
            if (!c->error_status)
                c->error_status = 400;
            if (!c->req && !(c->req = req_new(c))) {
                conn_free(c);
                return;
            }
            if (!c->req->method)
                c->req->method = http_method_str((enum http_method)c->parser.method);
            c->req->keep_alive = 0;
            dispatch(c);
            return;
        }
        if (n < v.iov_len)
            break;
    }
}

static void discard_input(conn_t *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    conn_t *c = arg;
    if (c->state == C_READING)
        parse_input(c);
    else if (c->state == C_DISCARDING || c->state == C_CLOSING)
        discard_input(c);
    /* C_HANDLING: leave pipelined bytes in the buffer (bounded by the watermark). */
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    conn_t *c = arg;
    if (c->state == C_CLOSING) {
        conn_free(c);
        return;
    }
    if (c->state == C_DISCARDING) {
        /* Response sent; stop writing and keep draining input briefly so that the client
         * reads our answer instead of a reset, then close on EOF or the read timeout. */
        shutdown(bufferevent_getfd(bev), SHUT_WR);
        return;
    }
    if (c->state == C_HANDLING && c->req && c->req->drain_cb) {
        tg_http_drain_cb cb = c->req->drain_cb;
        c->req->drain_cb = NULL;
        cb(c->req, c->req->drain_arg);
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    conn_t *c = arg;
    if (what & BEV_EVENT_CONNECTED) /* TLS: the handshake is done */
        return;
    if (c->state == C_HANDLING && c->req && !c->req->ended) {
        tg_http_req_t *r = c->req;
        r->client_gone = 1;
        r->c = NULL;
        c->req = NULL;
        conn_free(c);
        if (r->close_cb) {
            tg_http_close_cb cb = r->close_cb;
            r->close_cb = NULL;
            cb(r, r->close_arg);
        }
        return;
    }
    conn_free(c);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    conn_t *c = arg;
    parse_input(c);
}

static void conn_free(conn_t *c)
{
    worker_t *w = c->w;
    if (c->req) {
        c->req->c = NULL;
        c->req->client_gone = 1;
        if (c->state != C_HANDLING)
            req_free(c->req);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    atomic_fetch_sub(&w->srv->conns, 1);
    event_free(c->resume_ev);
    if (w->srv->cfg.tls) { /* close_notify, best effort: the output has been sent or is lost */
        SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
        if (ssl && SSL_is_init_finished(ssl))
            SSL_shutdown(ssl);
    }
    bufferevent_free(c->bev);
    free(c);
    maybe_exit(w);
}

/* The current request has been answered completely. */
static void req_done(tg_http_req_t *r)
{
    conn_t *c = r->c;
    worker_t *w = r->w;
    int keep = r->keep_alive;

    r->ended = 1;
    atomic_fetch_sub(&w->srv->inflight, 1);
    w->inflight--;
    if (!c) {
        req_free(r);
        maybe_exit(w);
        return;
    }
    c->req = NULL;
    req_free(r);
    if (c->error_status == 413) {
        c->state = C_DISCARDING;
        set_timeouts(c);
        bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
        return;
    }
    if (!keep || w->draining || c->error_status) {
        c->state = C_CLOSING;
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_free(c);
        return;
    }
    c->state = C_READING;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    set_timeouts(c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        event_active(c->resume_ev, EV_TIMEOUT, 0);
}

/* ---- accepting, within the connection cap and the descriptors there are ----
 *
 * When the cap is reached or accept fails for lack of descriptors or memory, this worker stops
 * accepting and tries again after a back-off (10 ms, doubling to 1 s): the kernel queues new
 * clients meanwhile instead of the loop spinning on a failing accept. Logged at most once every
 * 10 s, with how often it happened. */

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    w->accept_paused = 0;
    if (w->listener && !w->draining)
        evconnlistener_enable(w->listener);
}

static void accept_pause(worker_t *w, const char *why)
{
    tg_http_server_t *srv = w->srv;
    long long n = atomic_fetch_add(&srv->paused, 1) + 1;
    if (!w->accept_paused && w->listener) {
        evconnlistener_disable(w->listener);
        w->accept_paused = 1;
        w->backoff_ms = w->backoff_ms ? (w->backoff_ms * 2 > 1000 ? 1000 : w->backoff_ms * 2) : 10;
        struct timeval tv = {w->backoff_ms / 1000, (w->backoff_ms % 1000) * 1000};
        evtimer_add(w->accept_ev, &tv);
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long last = atomic_load(&srv->last_log);
    if (now.tv_sec - last >= 10 && atomic_compare_exchange_strong(&srv->last_log, &last, now.tv_sec))
        tg_warn("not accepting new connections for a while: %s (%ld open, the cap is %ld; "
                "%lld pauses so far)", why, atomic_load(&srv->conns), srv->max_conns, n);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    accept_pause(arg, err == EMFILE || err == ENFILE ? "no file descriptor left"
                                                     : evutil_socket_error_to_string(err));
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int slen,
                      void *arg)
{
    worker_t *w = arg;
    int one = 1;

    if (atomic_fetch_add(&w->srv->conns, 1) >= w->srv->max_conns) {
        atomic_fetch_sub(&w->srv->conns, 1);
        close(fd);
        accept_pause(w, "the connection cap (--max-connections)");
        return;
    }
    w->backoff_ms = 0;
    conn_t *c = calloc(1, sizeof(*c));
    if (!c) {
        atomic_fetch_sub(&w->srv->conns, 1);
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->w = w;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof(c->peer));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->peer, sizeof(c->peer));
    if (w->srv->cfg.tls) {
        SSL *ssl = tg_tls_ssl_new(w->srv->cfg.tls);
        c->bev = ssl ? bufferevent_openssl_socket_new(w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                      BEV_OPT_CLOSE_ON_FREE)
                     : NULL;
        if (c->bev) /* a client that closes without close_notify is not an error here */
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        else if (ssl)
            SSL_free(ssl);
    } else {
        c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    c->resume_ev = event_new(w->base, -1, 0, resume_cb, c);
    if (!c->bev || !c->resume_ev) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            close(fd);
        if (c->resume_ev)
            event_free(c->resume_ev);
        free(c);
        atomic_fetch_sub(&w->srv->conns, 1);
        return;
    }
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->state = C_READING;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    set_timeouts(c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---- responding ---- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

static void write_head(tg_http_req_t *r, int status, const char *ctype, long long clen)
{
    struct evbuffer *out = bufferevent_get_output(r->c->bev);
    int keep = r->keep_alive && !r->w->draining && !r->c->error_status;
    r->keep_alive = keep;
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, reason(status));
    if (ctype)
        evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
    if (clen >= 0)
        evbuffer_add_printf(out, "Content-Length: %lld\r\n", clen);
    else
        evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
    if (!keep)
        evbuffer_add(out, "Connection: close\r\n", 19);
    evbuffer_add_buffer(out, r->resp_headers);
    evbuffer_add(out, "\r\n", 2);
}

void tg_http_respond(tg_http_req_t *r, int status, const char *ctype, const char *body, size_t len)
{
    if (r->c) {
        write_head(r, status, ctype, (long long)len);
        if (len && strcmp(r->method ? r->method : "", "HEAD") != 0)
            evbuffer_add(bufferevent_get_output(r->c->bev), body, len);
    }
    req_done(r);
}

void tg_http_stream_begin(tg_http_req_t *r, int status, const char *ctype)
{
    r->streaming = 1;
    if (r->c)
        write_head(r, status, ctype, -1);
}

void tg_http_stream_write(tg_http_req_t *r, const char *data, size_t len)
{
    if (!r->c || len == 0)
        return;
    struct evbuffer *out = bufferevent_get_output(r->c->bev);
    evbuffer_add_printf(out, "%zx\r\n", len);
    evbuffer_add(out, data, len);
    evbuffer_add(out, "\r\n", 2);
}

void tg_http_stream_end(tg_http_req_t *r)
{
    if (r->c)
        evbuffer_add(bufferevent_get_output(r->c->bev), "0\r\n\r\n", 5);
    req_done(r);
}

size_t tg_http_pending(const tg_http_req_t *r)
{
    return r->c ? evbuffer_get_length(bufferevent_get_output(r->c->bev)) : 0;
}

void tg_http_on_drain(tg_http_req_t *r, tg_http_drain_cb cb, void *arg)
{
    r->drain_cb = cb;
    r->drain_arg = arg;
}

void tg_http_on_close(tg_http_req_t *r, tg_http_close_cb cb, void *arg)
{
    r->close_cb = cb;
    r->close_arg = arg;
}

void tg_http_add_header(tg_http_req_t *r, const char *name, const char *value)
{
    evbuffer_add_printf(r->resp_headers, "%s: %s\r\n", name, value);
}

/* ---- accessors ---- */

const char *tg_http_peer(const tg_http_req_t *r) { return r->c ? r->c->peer : ""; }
const char *tg_http_method(const tg_http_req_t *r) { return r->method ? r->method : ""; }

const char *tg_http_path(const tg_http_req_t *r, size_t *len)
{
    *len = r->url ? r->path_len : 0;
    return r->url ? r->url : "";
}

const char *tg_http_query(const tg_http_req_t *r)
{
    if (!r->url || r->path_len == r->url_len)
        return NULL;
    return r->url + r->path_len + 1;
}

const char *tg_http_header(const tg_http_req_t *r, const char *name)
{
    for (int i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->hbuf + r->hoff[i][0], name) == 0)
            return r->hbuf + r->hoff[i][1];
    return NULL;
}

const char *tg_http_body(const tg_http_req_t *r, size_t *len)
{
    *len = r->body_len;
    return r->body ? r->body : "";
}

int tg_http_client_gone(const tg_http_req_t *r) { return r->client_gone; }
int tg_http_draining(const tg_http_req_t *r) { return r->w->draining; }
int tg_http_is_tls(const tg_http_req_t *r) { return r->w->srv->cfg.tls != NULL; }
void tg_http_set_data(tg_http_req_t *r, void *data) { r->data = data; }
void *tg_http_get_data(const tg_http_req_t *r) { return r->data; }

/* ---- workers and lifecycle ---- */

static void maybe_exit(worker_t *w)
{
    if (w->draining && w->nconns == 0 && w->inflight == 0)
        event_base_loopexit(w->base, NULL);
}

static void hard_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    tg_warn("worker %d: shutdown deadline passed with %ld connections open", w->index,
            w->nconns);
    event_base_loopexit(w->base, NULL);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    struct timeval tv = {5, 0};
    if (w->srv->cfg.worker_abort)
        w->srv->cfg.worker_abort(w->data);
    /* Whatever is left idle or unfinished now goes. */
    for (conn_t *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (c->state != C_HANDLING)
            conn_free(c);
    }
    w->hard_ev = evtimer_new(w->base, hard_deadline_cb, w);
    evtimer_add(w->hard_ev, &tv);
    maybe_exit(w);
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    int ms = atomic_load(&w->srv->shutdown_ms);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    w->draining = 1;
    if (w->accept_ev)
        event_del(w->accept_ev);
    if (w->listener) {
        evconnlistener_free(w->listener);
        w->listener = NULL;
        if (atomic_fetch_sub(&w->srv->listeners, 1) == 1)
            close(w->srv->fd); /* refuse new connections at once */
    }
    for (conn_t *c = w->conns, *next; c; c = next) { /* idle keep-alive connections */
        next = c->next;
        if (c->state == C_READING && !c->req)
            conn_free(c);
    }
    w->deadline_ev = evtimer_new(w->base, deadline_cb, w);
    evtimer_add(w->deadline_ev, &tv);
    maybe_exit(w);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    if (w->srv->cfg.worker_init)
        w->data = w->srv->cfg.worker_init(w->base, w->index, w->srv->cfg.app);
    event_base_dispatch(w->base);
    /* Free what is left; a request still waiting for a callback leaks by design at exit. */
    while (w->conns)
        conn_free(w->conns);
    if (w->srv->cfg.worker_dispose)
        w->srv->cfg.worker_dispose(w->data);
    return NULL;
}

static int bind_socket(const char *host, int port)
{
    struct sockaddr_in sin;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        tg_error("listen: %s is not an IPv4 address", host);
        close(fd);
        return -1;
    }
    /* SO_REUSEADDR only: SO_REUSEPORT would let a second server bind the same port. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 1024) < 0) {
        tg_error("listen on %s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int tg_http_server_start(const tg_http_config_t *cfg, tg_http_server_t **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    tg_http_server_t *srv = calloc(1, sizeof(*srv));

    if (!srv)
        return -1;
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    pthread_once(&once, (void (*)(void))evthread_use_pthreads);

    srv->cfg = *cfg;
    tg_http_server_reconfigure(srv, cfg);
    /* every descriptor the hard limit allows; a client connection may need a second one (its
     * upstream), and the process keeps some for the database and files */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    long nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long)rl.rlim_cur : 1024;
    srv->max_conns = cfg->max_connections > 0 ? cfg->max_connections
                                              : (nofile - 64) / 2 > 16 ? (nofile - 64) / 2 : 16;
    srv->nworkers = cfg->workers > 0 ? cfg->workers : 1;
    srv->workers = calloc((size_t)srv->nworkers, sizeof(worker_t));
    srv->fd = bind_socket(cfg->host, cfg->port);
    if (srv->fd < 0)
        return -1;
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    getsockname(srv->fd, (struct sockaddr *)&sin, &sl);
    srv->port = ntohs(sin.sin_port);
    /* One listening socket; every worker's loop accepts from it (an accept that loses the
     * race gets EAGAIN, which the listener ignores). */
    for (int i = 0; i < srv->nworkers; i++) {
        worker_t *w = &srv->workers[i];
        w->srv = srv;
        w->index = i;
        w->base = event_base_new();
        w->listener = w->base ? evconnlistener_new(w->base, accept_cb, w, 0, -1, srv->fd) : NULL;
        w->accept_ev = w->base ? evtimer_new(w->base, accept_resume, w) : NULL;
        if (w->listener)
            evconnlistener_set_error_cb(w->listener, accept_error_cb);
        if (!w->listener || !w->accept_ev) {
            tg_error("cannot create the event loop");
            return -1;
        }
    }
    atomic_store(&srv->listeners, srv->nworkers);
    for (int i = 0; i < srv->nworkers; i++)
        pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]);
    *out = srv;
    return 0;
}

int tg_http_server_port(const tg_http_server_t *srv) { return srv->port; }

void tg_http_server_reconfigure(tg_http_server_t *srv, const tg_http_config_t *cfg)
{
    atomic_store(&srv->max_header, cfg->max_header_bytes);
    atomic_store(&srv->max_body, cfg->max_body_bytes);
    atomic_store(&srv->idle_ms, cfg->idle_timeout_ms);
    atomic_store(&srv->write_ms, cfg->write_timeout_ms);
    atomic_store(&srv->shutdown_ms, cfg->shutdown_timeout_ms);
}

long tg_http_server_inflight(const tg_http_server_t *srv) { return atomic_load(&srv->inflight); }

void tg_http_server_shutdown(tg_http_server_t *srv)
{
    for (int i = 0; i < srv->nworkers; i++)
        event_base_once(srv->workers[i].base, -1, EV_TIMEOUT, drain_cb, &srv->workers[i], NULL);
    for (int i = 0; i < srv->nworkers; i++)
        pthread_join(srv->workers[i].thread, NULL);
}

void tg_http_server_free(tg_http_server_t *srv)
{
    if (!srv)
        return;
    for (int i = 0; i < srv->nworkers; i++) {
        worker_t *w = &srv->workers[i];
        if (w->listener)
            evconnlistener_free(w->listener);
        if (w->deadline_ev)
            event_free(w->deadline_ev);
        if (w->hard_ev)
            event_free(w->hard_ev);
        if (w->accept_ev)
            event_free(w->accept_ev);
        if (w->base)
            event_base_free(w->base);
    }
    free(srv->workers);
    free(srv);
}
