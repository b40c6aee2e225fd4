/*
 * mock_upstream - a mock OpenAI upstream provider for Tollgate's tests and benchmarks.
 *
 *   mock_upstream [--listen HOST:PORT] [--threads N] [--latency-ms L]
 *                 [--chunks K] [--chunk-delay-ms D]
 *                 [--fail-status N] [--fail-percent P] [--retry-after S]
 *
 * Prints "listening on PORT" on stdout once ready; exits cleanly on SIGTERM/SIGINT.
 * Endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses,
 * GET/DELETE /v1/responses/{id}, GET /v1/models[/{id}], the same inference endpoints under
 * Azure OpenAI's /openai/deployments/{deployment}/ (any ?api-version=; the answer's model is
 * the deployment), GET /mock/stats, POST /mock/reset, GET|POST /mock/config.
 *
 * Failure mode (a provider that is down or rate limited, whatever the body says): with
 * --fail-status N (0 = off), P of every 100 inference requests (POST to an inference
 * endpoint; --fail-percent, default 100) are answered at once with status N and an OpenAI
 * error body ("mock failure (status N)"; 429: type "requests", code "rate_limit_exceeded";
 * 401: type "invalid_request_error", code "invalid_api_key"; else "server_error"), with a
 * "retry-after: S" header when --retry-after is given.  Request k (counted from 1, over all
 * threads, among the inference requests that arrive while a fail status is set; the count
 * restarts at /mock/reset and when /mock/config sets fail_status or fail_percent) fails when
 * floor(k*P/100) != floor((k-1)*P/100): exactly P in any 100 consecutive ones.
 * POST /mock/config {"fail_status", "fail_percent", "retry_after" (null: off), "latency_ms"}
 * (any subset) changes them for all threads and answers the current config, as GET does.
 *
 * Responses API: POST /v1/responses answers K tokens "tok " (max_output_tokens if smaller:
 * status "incomplete"), input_tokens = 1 + bytes of input text + instructions / 4, as chat;
 * streamed as event: / data: pairs (response.created ... response.completed, or
 * response.incomplete when cut; no [DONE]).  The last MAX_STORED_RESPONSES responses made
 * with store != false (MAX_STORED_BYTES at most) are kept for GET/DELETE /v1/responses/{id}.
 *
 * Magic words in a request body: mock:status=NNN, mock:nonjson, mock:slow, mock:hang,
 * mock:cached=N, and, to stand in for an upstream that counts or bills differently from
 * Tollgate:
 *   mock:prompt_scale=P    reports P % of its own prompt count (another tokenizer);
 *   mock:image_tokens=N    bills N prompt tokens per image_url part;
 *   mock:prompt_raw=TEXT   prints TEXT (e.g. 1e300, -5, 1.5, "7") as prompt_tokens;
 *   mock:completion_tokens=N  reports N completion tokens (whatever it sent);
 *   mock:no_usage          reports no usage at all (no usage key, no usage chunk).
 * /v1/responses honours status, nonjson, slow, hang, cached, prompt_scale,
 * completion_tokens (output_tokens) and no_usage ("usage": null).
 *
 * GET /mock/stats: {"requests", "aborted", "failed", "last_request": {"method", "path",
 * "query", "authorization", "api_key", "body"}}.
 *
 * One libevent event_base + evhttp per thread; all threads accept on (dups of) one
 * listening socket.  Replies that wait (latency, chunk delays, hangs) are driven by event
 * timers and tracked in a reply_t that also watches the client connection: if the client
 * goes away first, the reply is counted in "aborted", its timers are cancelled and the
 * request is never touched again.
 *
 * libevent 2.1 facts this relies on (http.c):
 *  - after a request is read, evhttp stops reading the socket, so a client that closes
 *    while we wait is only noticed when a write fails; we add our own EV_READ watcher
 *    (recv MSG_PEEK) to notice it earlier and then free the connection ourselves;
 *  - when a write fails before the reply is complete, evhttp detaches the request
 *    (req->evcon = NULL, not freed) and frees the connection, calling the close callback:
 *    the request is then ours to free;
 *  - when the connection is freed for another reason (our watcher, evhttp_free at exit),
 *    the close callback runs while the request is still attached and evhttp frees it.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <event2/util.h>

#define MAX_BODY (16 * 1024 * 1024)
#define MAX_THREADS 64
#define MAX_DIMENSIONS 4096
#define SLOW_CHUNKS 200
#define SLOW_CHUNK_DELAY_MS 50
#define SLOW_LATENCY_MS 3000
#define MAX_STORED_RESPONSES 4096
#define MAX_STORED_BYTES (64 * 1024 * 1024)
#define MAX_DEPLOYMENT 256
#define MAX_RETRY_AFTER 86400

typedef struct worker {
    int index;
    struct event_base *base;
    struct evhttp *http;
    pthread_t tid;
} worker_t;

typedef enum { KIND_CHAT, KIND_COMPLETION, KIND_RESPONSE } kind_t;

/* A reply in progress (delayed, streamed or hanging). Owned by its worker's thread. */
typedef struct reply {
    worker_t *w;
    struct evhttp_request *req;     /* borrowed from evhttp until we finish or abort */
    struct evhttp_connection *evcon;
    struct event *timer;
    struct event *watch;            /* EV_READ on the client socket: detects a close */
    int hang;
    /* non-streaming reply */
    int status;
    const char *ctype;
    char *body;                     /* owned; KIND_RESPONSE streams: the final response object */
    /* streaming reply */
    int stream;
    int started;
    kind_t kind;
    char id[48];
    long long created;
    char *prefix;                   /* owned: "data: {...,\"choices\":[";
                                     * KIND_RESPONSE: the response object while in progress */
    size_t prefix_len;
    int ntokens;
    int unit;
    int delay_ms;
    const char *finish;
    int include_usage;
    long long prompt_tokens;
    long long cached;
    long long completion_tokens; /* reported; -1: the tokens sent */
    char prompt_raw[40];         /* printed instead of prompt_tokens when not empty */
    /* Responses API stream */
    char item_id[48];
    int seq;                     /* next sequence_number */
    int incomplete;              /* cut by max_output_tokens */
} reply_t;

/* How a request's usage is to be misreported (the mock:… words above). */
typedef struct {
    long long cached, prompt_scale, image_tokens, completion_tokens;
    char prompt_raw[40];
    int no_usage;
} report_t;

/* ---- configuration and shared state ---- */

static int g_threads = 1;
static int g_chunks = 5;
static int g_chunk_delay_ms = 0;
static worker_t g_workers[MAX_THREADS];

/* Changed at runtime by POST /mock/config. */
static atomic_int g_latency_ms = 0;
static atomic_int g_fail_status = 0;     /* 0: off */
static atomic_int g_fail_percent = 100;
static atomic_int g_retry_after = -1;    /* -1: no retry-after header */

static atomic_llong g_requests;
static atomic_llong g_aborted;
static atomic_llong g_failed;         /* failure answers of the failure mode */
static atomic_llong g_fail_seq;       /* inference requests seen while a fail status is set */
static atomic_llong g_id_counter;     /* completion ids */
static atomic_llong g_resp_counter;   /* Responses API ids */
static atomic_llong g_reqid_counter;  /* x-request-id */
static uint64_t g_id_seed;            /* set once in main */

static pthread_mutex_t g_last_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_last_method;
static char *g_last_path;
static char *g_last_query;
static char *g_last_auth;
static char *g_last_api_key;
static char *g_last_body;       /* raw body text, parsed on /mock/stats */
static size_t g_last_body_len;

/* The Responses API's stored responses: a ring of the last MAX_STORED_RESPONSES (deleted
 * ones leave holes), evicted oldest first also to stay within MAX_STORED_BYTES. */
typedef struct {
    char id[48];
    char *json;                 /* owned; NULL: empty */
    size_t len;
} stored_t;

static pthread_mutex_t g_store_lock = PTHREAD_MUTEX_INITIALIZER;
static stored_t g_store[MAX_STORED_RESPONSES];
static size_t g_store_head, g_store_count, g_store_bytes;

/* ---- small helpers ---- */

static void die(const char *msg)
{
    fprintf(stderr, "mock_upstream: %s\n", msg);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static int parse_int(const char *s, int lo, int hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "mock_upstream: bad value for %s: %s\n", what, s);
        exit(2);
    }
    return (int)v;
}

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "UNKNOWN";
}

/* Finds needle in the body and, if present, returns a pointer just after it. */
static const char *body_find(const char *body, size_t len, const char *needle)
{
    size_t nlen = strlen(needle);
    const char *p = memmem(body, len, needle, nlen);
    return p ? p + nlen : NULL;
}

static long long body_number_after(const char *body, size_t len, const char *p)
{
    long long v = 0;
    int digits = 0;
    while (p < body + len && *p >= '0' && *p <= '9' && digits < 15) {
        v = v * 10 + (*p - '0');
        p++;
        digits++;
    }
    return digits ? v : -1;
}

static long long tokens_for_len(size_t len)
{
    return 1 + (long long)(len / 4);
}

static void set_common_headers(struct evhttp_request *req, const char *ctype)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char rid[48];
    snprintf(rid, sizeof(rid), "req_mock%lld", (long long)atomic_fetch_add(&g_reqid_counter, 1) + 1);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "x-request-id", rid);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    }
    return NULL; /* evhttp's generic phrase */
}

static void send_text(struct evhttp_request *req, int status, const char *ctype, const char *body,
                      size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (!buf)
        die("out of memory");
    set_common_headers(req, ctype);
    evbuffer_add(buf, body, len);
    evhttp_send_reply(req, status, reason_phrase(status), buf);
    evbuffer_free(buf);
}

/* Takes obj. */
static void send_json(struct evhttp_request *req, int status, cJSON *obj)
{
    char *s = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!s)
        die("out of memory");
    send_text(req, status, "application/json", s, strlen(s));
    cJSON_free(s);
}

static cJSON *error_object_typed(const char *message, const char *type, const char *code,
                                 const char *param)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", message);
    cJSON_AddStringToObject(err, "type", type);
    if (param)
        cJSON_AddStringToObject(err, "param", param);
    else
        cJSON_AddNullToObject(err, "param");
    if (code)
        cJSON_AddStringToObject(err, "code", code);
    else
        cJSON_AddNullToObject(err, "code");
    return root;
}

static cJSON *error_object(int status, const char *message, const char *code, const char *param)
{
    return error_object_typed(message,
                              status >= 400 && status < 500 ? "invalid_request_error" : "server_error",
                              code, param);
}

static void send_error(struct evhttp_request *req, int status, const char *message,
                       const char *code, const char *param)
{
    send_json(req, status, error_object(status, message, code, param));
}

/* ---- failure mode ---- */

/* Counts an inference request; returns the status to fail it with, or 0. */
static int fail_status_now(void)
{
    int status = atomic_load(&g_fail_status);
    if (status == 0)
        return 0;
    long long pc = atomic_load(&g_fail_percent);
    long long k = (long long)atomic_fetch_add(&g_fail_seq, 1) + 1;
    return (k * pc) / 100 != ((k - 1) * pc) / 100 ? status : 0;
}

static void send_failure(struct evhttp_request *req, int status)
{
    const char *type = "server_error", *code = NULL;
    if (status == 429) {
        type = "requests";
        code = "rate_limit_exceeded";
    } else if (status == 401) {
        type = "invalid_request_error";
        code = "invalid_api_key";
    }
    char msg[64];
    snprintf(msg, sizeof(msg), "mock failure (status %d)", status);
    int retry_after = atomic_load(&g_retry_after);
    if (retry_after >= 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(req), "retry-after", v);
    }
    atomic_fetch_add(&g_failed, 1);
    send_json(req, status, error_object_typed(msg, type, code, NULL));
}

/* ---- replies in progress ---- */

static void reply_release(reply_t *r)
{
    if (r->timer)
        event_free(r->timer);
    if (r->watch)
        event_free(r->watch);
    free(r->body);
    free(r->prefix);
    free(r);
}

/* Close callback: the client connection is going away before we finished. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    reply_t *r = arg;
    (void)evcon;
    atomic_fetch_add(&g_aborted, 1);
    /* A request detached by a failed write is ours to free; one still attached is freed by
     * evhttp right after this callback returns. */
    if (evhttp_request_get_connection(r->req) == NULL)
        evhttp_request_free(r->req);
    reply_release(r);
}

/* Stops tracking before the final send (which may free the connection synchronously). */
static void reply_detach(reply_t *r)
{
    evhttp_connection_set_closecb(r->evcon, NULL, NULL);
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    reply_t *r = arg;
    char c;
    (void)what;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
        /* The client is sending more (pipelining): we cannot tell a close from here. */
        event_del(r->watch);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    /* EOF or error: the client is gone. Freeing the connection runs on_conn_close (r is
     * freed there) and frees the still-attached request. */
    evhttp_connection_free(r->evcon);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg);

static reply_t *reply_new(worker_t *w, struct evhttp_request *req)
{
    reply_t *r = xmalloc(sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->w = w;
    r->req = req;
    r->evcon = evhttp_request_get_connection(req);
    r->timer = evtimer_new(w->base, timer_cb, r);
    if (!r->timer)
        die("out of memory");
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0) {
        r->watch = event_new(w->base, fd, EV_READ | EV_PERSIST, on_watch, r);
        if (r->watch)
            event_add(r->watch, NULL);
    }
    evhttp_connection_set_closecb(r->evcon, on_conn_close, r);
    return r;
}

static void reply_schedule(reply_t *r, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(r->timer, &tv);
}

/* Appends the usage object as JSON text. */
static void add_usage(struct evbuffer *b, kind_t kind, long long prompt, long long completion,
                      long long cached, const char *prompt_raw)
{
    if (prompt_raw && *prompt_raw)
        evbuffer_add_printf(b, "{\"prompt_tokens\":%s,\"completion_tokens\":%lld,\"total_tokens\":%lld",
                            prompt_raw, completion, completion);
    else
        evbuffer_add_printf(b, "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld",
                            prompt, completion, prompt + completion);
    if (kind == KIND_CHAT)
        evbuffer_add_printf(b,
                            ",\"prompt_tokens_details\":{\"cached_tokens\":%lld,\"audio_tokens\":0},"
                            "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                            "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
                            cached);
    else if (cached > 0)
        evbuffer_add_printf(b, ",\"prompt_tokens_details\":{\"cached_tokens\":%lld}}", cached);
    else
        evbuffer_add(b, "}", 1);
}

/* Returns s as a JSON string literal (quotes included), owned by the caller. */
static char *json_quote(const char *s)
{
    size_t n = strlen(s);
    char *out = xmalloc(n * 6 + 3);
    char *o = out;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* Streams are rendered from a per-reply prefix/suffix around fixed choice texts (no JSON
 * tree per chunk: the mock should cost as little CPU as possible in benchmarks). */
static void stream_prepare(reply_t *r, const char *model)
{
    char *mj = json_quote(model);
    int chat = r->kind == KIND_CHAT;
    if (asprintf(&r->prefix,
                 "data: {\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":%s,%s\"choices\":[",
                 r->id, chat ? "chat.completion.chunk" : "text_completion", r->created, mj,
                 chat ? "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_mock\"," : "") < 0)
        die("out of memory");
    free(mj);
    r->prefix_len = strlen(r->prefix);
}

/* unit: -1 = role chunk, 0..n-1 = token chunk, n = finish chunk. */
static void sse_send_chunk(reply_t *r, int unit)
{
    static const char chat_role[] = "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                                    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}";
    static const char chat_tok[] = "{\"index\":0,\"delta\":{\"content\":\"tok \"},\"logprobs\":null,"
                                   "\"finish_reason\":null}";
    static const char text_tok[] = "{\"text\":\"tok \",\"index\":0,\"logprobs\":null,"
                                   "\"finish_reason\":null}";
    static const char end_usage_null[] = "],\"usage\":null}\n\n";
    static const char end_plain[] = "]}\n\n";
    struct evbuffer *buf = evbuffer_new();
    if (!buf)
        die("out of memory");
    evbuffer_add(buf, r->prefix, r->prefix_len);
    if (unit < 0)
        evbuffer_add(buf, chat_role, sizeof(chat_role) - 1);
    else if (unit < r->ntokens && r->kind == KIND_CHAT)
        evbuffer_add(buf, chat_tok, sizeof(chat_tok) - 1);
    else if (unit < r->ntokens)
        evbuffer_add(buf, text_tok, sizeof(text_tok) - 1);
    else if (r->kind == KIND_CHAT)
        evbuffer_add_printf(buf, "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"%s\"}",
                            r->finish);
    else
        evbuffer_add_printf(buf, "{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"%s\"}",
                            r->finish);
    if (r->include_usage)
        evbuffer_add(buf, end_usage_null, sizeof(end_usage_null) - 1);
    else
        evbuffer_add(buf, end_plain, sizeof(end_plain) - 1);
    evhttp_send_reply_chunk(r->req, buf);
    evbuffer_free(buf);
}

/* The extra chunk of stream_options.include_usage: no choices, the usage. */
static void sse_send_usage(reply_t *r)
{
    struct evbuffer *buf = evbuffer_new();
    if (!buf)
        die("out of memory");
    evbuffer_add(buf, r->prefix, r->prefix_len);
    evbuffer_add(buf, "],\"usage\":", 10);
    add_usage(buf, r->kind, r->prompt_tokens,
              r->completion_tokens >= 0 ? r->completion_tokens : r->ntokens, r->cached,
              r->prompt_raw);
    evbuffer_add(buf, "}\n\n", 3);
    evhttp_send_reply_chunk(r->req, buf);
    evbuffer_free(buf);
}

static void sse_send_done(struct evhttp_request *req)
{
    struct evbuffer *buf = evbuffer_new();
    if (!buf)
        die("out of memory");
    evbuffer_add(buf, "data: [DONE]\n\n", 14);
    evhttp_send_reply_chunk(req, buf);
    evbuffer_free(buf);
}

/* ---- the Responses API's rendering ---- */

/* Rendered, like chat streams, from text pieces rather than JSON trees. */
typedef struct {
    char id[48];
    char item_id[48];
    long long created;
    char *model_q;               /* JSON literal, owned */
    char *instructions_q;        /* JSON literal, owned; NULL: null */
    int has_max_output;
    long long max_output;
    int ntokens;
    int incomplete;              /* cut by max_output_tokens */
    int store;
    int no_usage;
    long long input_tokens, cached, output_tokens;
} resp_info_t;

static void add_tok_text(struct evbuffer *b, int ntokens)
{
    evbuffer_add(b, "\"", 1);
    for (int i = 0; i < ntokens; i++)
        evbuffer_add(b, "tok ", 4);
    evbuffer_add(b, "\"", 1);
}

static void add_output_text_part(struct evbuffer *b, int ntokens)
{
    static const char head[] = "{\"type\":\"output_text\",\"text\":";
    static const char tail[] = ",\"annotations\":[]}";
    evbuffer_add(b, head, sizeof(head) - 1);
    add_tok_text(b, ntokens);
    evbuffer_add(b, tail, sizeof(tail) - 1);
}

/* The output message; done = 0: in progress, no content yet. */
static void add_message_item(struct evbuffer *b, const char *item_id, int ntokens, int done,
                             int incomplete)
{
    evbuffer_add_printf(b, "{\"type\":\"message\",\"id\":\"%s\",\"status\":\"%s\","
                           "\"role\":\"assistant\",\"content\":[",
                        item_id, !done ? "in_progress" : incomplete ? "incomplete" : "completed");
    if (done)
        add_output_text_part(b, ntokens);
    evbuffer_add(b, "]}", 2);
}

/* The response object; final = 0: as in response.created (in progress, no output, no usage). */
static char *response_text(const resp_info_t *ri, int final, size_t *len_out)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        die("out of memory");
    evbuffer_add_printf(b, "{\"id\":\"%s\",\"object\":\"response\",\"created_at\":%lld,"
                           "\"status\":\"%s\",\"error\":null,\"incomplete_details\":%s,"
                           "\"instructions\":",
                        ri->id, ri->created,
                        !final ? "in_progress" : ri->incomplete ? "incomplete" : "completed",
                        final && ri->incomplete ? "{\"reason\":\"max_output_tokens\"}" : "null");
    if (ri->instructions_q)
        evbuffer_add(b, ri->instructions_q, strlen(ri->instructions_q));
    else
        evbuffer_add(b, "null", 4);
    if (ri->has_max_output)
        evbuffer_add_printf(b, ",\"max_output_tokens\":%lld,\"model\":", ri->max_output);
    else
        evbuffer_add_printf(b, ",\"max_output_tokens\":null,\"model\":");
    evbuffer_add(b, ri->model_q, strlen(ri->model_q));
    evbuffer_add_printf(b, ",\"output\":[");
    if (final)
        add_message_item(b, ri->item_id, ri->ntokens, 1, ri->incomplete);
    evbuffer_add_printf(b, "],\"parallel_tool_calls\":true,\"previous_response_id\":null,"
                           "\"store\":%s,\"temperature\":1.0,\"text\":{\"format\":{\"type\":\"text\"}},"
                           "\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,"
                           "\"truncation\":\"disabled\",\"usage\":",
                        ri->store ? "true" : "false");
    if (!final || ri->no_usage)
        evbuffer_add(b, "null", 4);
    else
        evbuffer_add_printf(b, "{\"input_tokens\":%lld,\"input_tokens_details\":{\"cached_tokens\":%lld},"
                               "\"output_tokens\":%lld,\"output_tokens_details\":{\"reasoning_tokens\":0},"
                               "\"total_tokens\":%lld}",
                            ri->input_tokens, ri->cached, ri->output_tokens,
                            ri->input_tokens + ri->output_tokens);
    evbuffer_add_printf(b, ",\"user\":null,\"metadata\":{}}");
    size_t len = evbuffer_get_length(b);
    const char *text = (const char *)evbuffer_pullup(b, -1);
    if (!text)
        die("out of memory");
    char *out = xstrndup(text, len);
    evbuffer_free(b);
    *len_out = len;
    return out;
}

/* Starts one event: "event: TYPE\ndata: {"type":"TYPE","sequence_number":N" (the caller
 * adds the other fields and "}\n\n"). */
static void resp_event_start(struct evbuffer *b, reply_t *r, const char *type)
{
    evbuffer_add_printf(b, "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%d", type, type,
                        r->seq++);
}

static void resp_event_response(struct evbuffer *b, reply_t *r, const char *type, const char *obj,
                                size_t len)
{
    resp_event_start(b, r, type);
    evbuffer_add(b, ",\"response\":", 12);
    evbuffer_add(b, obj, len);
    evbuffer_add(b, "}\n\n", 3);
}

/* unit: -1 = the opening events, 0..n-1 = one text delta, n = the closing events. */
static void resp_send_unit(reply_t *r, int unit)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        die("out of memory");
    if (unit < 0) {
        resp_event_response(b, r, "response.created", r->prefix, r->prefix_len);
        resp_event_response(b, r, "response.in_progress", r->prefix, r->prefix_len);
        resp_event_start(b, r, "response.output_item.added");
        evbuffer_add_printf(b, ",\"output_index\":0,\"item\":");
        add_message_item(b, r->item_id, 0, 0, 0);
        evbuffer_add(b, "}\n\n", 3);
        resp_event_start(b, r, "response.content_part.added");
        evbuffer_add_printf(b, ",\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,\"part\":",
                            r->item_id);
        add_output_text_part(b, 0);
        evbuffer_add(b, "}\n\n", 3);
    } else if (unit < r->ntokens) {
        resp_event_start(b, r, "response.output_text.delta");
        evbuffer_add_printf(b, ",\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,"
                               "\"delta\":\"tok \",\"logprobs\":[]}\n\n",
                            r->item_id);
    } else {
        resp_event_start(b, r, "response.output_text.done");
        evbuffer_add_printf(b, ",\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,\"text\":",
                            r->item_id);
        add_tok_text(b, r->ntokens);
        evbuffer_add_printf(b, ",\"logprobs\":[]}\n\n");
        resp_event_start(b, r, "response.content_part.done");
        evbuffer_add_printf(b, ",\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,\"part\":",
                            r->item_id);
        add_output_text_part(b, r->ntokens);
        evbuffer_add(b, "}\n\n", 3);
        resp_event_start(b, r, "response.output_item.done");
        evbuffer_add_printf(b, ",\"output_index\":0,\"item\":");
        add_message_item(b, r->item_id, r->ntokens, 1, r->incomplete);
        evbuffer_add(b, "}\n\n", 3);
        /* OpenAI ends a response cut by max_output_tokens with response.incomplete. */
        resp_event_response(b, r, r->incomplete ? "response.incomplete" : "response.completed",
                            r->body, strlen(r->body));
    }
    evhttp_send_reply_chunk(r->req, b);
    evbuffer_free(b);
}

/* Sends the next piece(s) of a stream; finishes it when everything is out.
 * Returns 1 when the reply is complete (the caller must then release r). */
static int stream_pump(reply_t *r)
{
    int first = r->kind == KIND_COMPLETION ? 0 : -1;
    if (!r->started) {
        set_common_headers(r->req, "text/event-stream");
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Cache-Control", "no-cache");
        evhttp_send_reply_start(r->req, 200, "OK");
        r->started = 1;
        r->unit = first;
    }
    do {
        if (r->unit < r->ntokens) {
            if (r->kind == KIND_RESPONSE)
                resp_send_unit(r, r->unit);
            else
                sse_send_chunk(r, r->unit);
            r->unit++;
        }
    } while (r->delay_ms == 0 && r->unit < r->ntokens);
    if (r->unit < r->ntokens)
        return 0;
    if (r->kind == KIND_RESPONSE) {
        /* Closing events; the Responses API has no [DONE]. */
        resp_send_unit(r, r->ntokens);
        return 1;
    }
    /* Last unit sent: finish chunk, optional usage chunk, [DONE], end of reply. */
    sse_send_chunk(r, r->ntokens);
    if (r->include_usage)
        sse_send_usage(r);
    sse_send_done(r->req);
    return 1;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    reply_t *r = arg;
    (void)fd;
    (void)what;
    if (r->stream) {
        int done = stream_pump(r);
        if (!done) {
            reply_schedule(r, r->delay_ms);
            return;
        }
        reply_detach(r);
        evhttp_send_reply_end(r->req);
    } else {
        reply_detach(r);
        send_text(r->req, r->status, r->ctype, r->body, strlen(r->body));
    }
    reply_release(r);
}

/* ---- request recording ---- */

static char *xstrdup_or_null(const char *s)
{
    return s ? xstrndup(s, strlen(s)) : NULL;
}

/* Caller holds g_last_lock. */
static void last_clear(void)
{
    free(g_last_method);
    free(g_last_path);
    free(g_last_query);
    free(g_last_auth);
    free(g_last_api_key);
    free(g_last_body);
    g_last_method = g_last_path = g_last_query = g_last_auth = g_last_api_key = g_last_body = NULL;
    g_last_body_len = 0;
}

static void record_request(struct evhttp_request *req, const char *path, const char *query,
                           const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *auth = evhttp_find_header(h, "Authorization");
    const char *api_key = evhttp_find_header(h, "api-key");
    atomic_fetch_add(&g_requests, 1);
    pthread_mutex_lock(&g_last_lock);
    last_clear();
    g_last_method = xstrdup_or_null(method_name(evhttp_request_get_command(req)));
    g_last_path = xstrdup_or_null(path);
    g_last_query = xstrdup_or_null(query);
    g_last_auth = xstrdup_or_null(auth);
    g_last_api_key = xstrdup_or_null(api_key);
    g_last_body = len ? xstrndup(body, len) : NULL;
    g_last_body_len = len;
    pthread_mutex_unlock(&g_last_lock);
}

static void add_string_or_null(cJSON *obj, const char *key, const char *s)
{
    if (s)
        cJSON_AddStringToObject(obj, key, s);
    else
        cJSON_AddNullToObject(obj, key);
}

static void handle_stats(struct evhttp_request *req)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "requests", (double)atomic_load(&g_requests));
    cJSON_AddNumberToObject(root, "aborted", (double)atomic_load(&g_aborted));
    cJSON_AddNumberToObject(root, "failed", (double)atomic_load(&g_failed));
    pthread_mutex_lock(&g_last_lock);
    if (g_last_method) {
        cJSON *last = cJSON_AddObjectToObject(root, "last_request");
        cJSON_AddStringToObject(last, "method", g_last_method);
        cJSON_AddStringToObject(last, "path", g_last_path);
        add_string_or_null(last, "query", g_last_query);
        add_string_or_null(last, "authorization", g_last_auth);
        add_string_or_null(last, "api_key", g_last_api_key);
        cJSON *body = g_last_body ? cJSON_ParseWithLength(g_last_body, g_last_body_len) : NULL;
        if (body)
            cJSON_AddItemToObject(last, "body", body);
        else
            cJSON_AddNullToObject(last, "body");
    } else {
        cJSON_AddNullToObject(root, "last_request");
    }
    pthread_mutex_unlock(&g_last_lock);
    send_json(req, 200, root);
}

static void handle_reset(struct evhttp_request *req)
{
    atomic_store(&g_requests, 0);
    atomic_store(&g_aborted, 0);
    atomic_store(&g_failed, 0);
    atomic_store(&g_fail_seq, 0);
    pthread_mutex_lock(&g_last_lock);
    last_clear();
    pthread_mutex_unlock(&g_last_lock);
    send_json(req, 200, cJSON_Parse("{\"ok\":true}"));
}

static cJSON *config_object(void)
{
    cJSON *root = cJSON_CreateObject();
    int retry_after = atomic_load(&g_retry_after);
    cJSON_AddNumberToObject(root, "fail_status", atomic_load(&g_fail_status));
    cJSON_AddNumberToObject(root, "fail_percent", atomic_load(&g_fail_percent));
    if (retry_after >= 0)
        cJSON_AddNumberToObject(root, "retry_after", retry_after);
    else
        cJSON_AddNullToObject(root, "retry_after");
    cJSON_AddNumberToObject(root, "latency_ms", atomic_load(&g_latency_ms));
    return root;
}

/* Reads an integer field of /mock/config: 1 if present and valid, 0 if absent, -1 if bad. */
static int config_int(const cJSON *json, const char *key, int lo, int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return -1;
    *out = (int)v->valuedouble;
    return 1;
}

/* GET: the current config; POST {"fail_status", "fail_percent", "retry_after", "latency_ms"}
 * (any subset; all or nothing): changes it for all threads. */
static void handle_config(struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET) {
        send_json(req, 200, config_object());
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    cJSON *json = body ? cJSON_ParseWithLength(body, len) : NULL;
    if (!json || !cJSON_IsObject(json)) {
        cJSON_Delete(json);
        send_error(req, 400, "/mock/config expects a JSON object", NULL, NULL);
        return;
    }
    static const char *const known[] = { "fail_status", "fail_percent", "retry_after",
                                         "latency_ms" };
    const cJSON *item;
    cJSON_ArrayForEach(item, json) {
        size_t i = 0;
        while (i < sizeof(known) / sizeof(known[0]) && strcmp(item->string, known[i]) != 0)
            i++;
        if (i == sizeof(known) / sizeof(known[0])) {
            char msg[300];
            snprintf(msg, sizeof(msg), "Unknown parameter: '%.200s'.", item->string);
            cJSON_Delete(json);
            send_error(req, 400, msg, "unknown_parameter", NULL);
            return;
        }
    }
    int status = 0, percent = 0, retry_after = -1, latency = 0;
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(json, "retry_after");
    int has_status = config_int(json, "fail_status", 0, 599, &status);
    int has_percent = config_int(json, "fail_percent", 0, 100, &percent);
    int has_latency = config_int(json, "latency_ms", 0, 3600000, &latency);
    int has_ra = cJSON_IsNull(ra) ? 1 : config_int(json, "retry_after", -1, MAX_RETRY_AFTER,
                                                   &retry_after);
    const char *bad = NULL;
    if (has_status < 0 || (has_status && status != 0 && status < 200))
        bad = "fail_status";
    else if (has_percent < 0)
        bad = "fail_percent";
    else if (has_latency < 0)
        bad = "latency_ms";
    else if (has_ra < 0)
        bad = "retry_after";
    cJSON_Delete(json);
    if (bad) {
        char msg[80];
        snprintf(msg, sizeof(msg), "Invalid value for '%s'.", bad);
        send_error(req, 400, msg, "invalid_value", bad);
        return;
    }
    if (has_status)
        atomic_store(&g_fail_status, status);
    if (has_percent)
        atomic_store(&g_fail_percent, percent);
    if (has_status || has_percent)
        atomic_store(&g_fail_seq, 0);
    if (has_ra)
        atomic_store(&g_retry_after, retry_after);
    if (has_latency)
        atomic_store(&g_latency_ms, latency);
    send_json(req, 200, config_object());
}

/* ---- inference endpoints ---- */

static const char *const k_models[] = { "gpt-4o-mini", "text-embedding-3-small" };
static const long long k_model_created[] = { 1721172741, 1705948997 };

static cJSON *model_object(size_t i)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", k_models[i]);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)k_model_created[i]);
    cJSON_AddStringToObject(m, "owned_by", "system");
    return m;
}

static void handle_models(struct evhttp_request *req, const char *id)
{
    size_t n = sizeof(k_models) / sizeof(k_models[0]);
    if (id) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(id, k_models[i]) == 0) {
                send_json(req, 200, model_object(i));
                return;
            }
        char msg[300];
        snprintf(msg, sizeof(msg), "The model '%.200s' does not exist", id);
        send_error(req, 404, msg, "model_not_found", "model");
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(data, model_object(i));
    send_json(req, 200, root);
}

static long long content_bytes(const cJSON *content)
{
    if (cJSON_IsString(content))
        return (long long)strlen(content->valuestring);
    long long total = 0;
    if (cJSON_IsArray(content)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, content) {
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(part))
                total += (long long)strlen(part->valuestring);
            else if (cJSON_IsString(text))
                total += (long long)strlen(text->valuestring);
        }
    }
    return total;
}

static long long image_parts(const cJSON *content)
{
    long long n = 0;
    const cJSON *part;
    if (cJSON_IsArray(content))
        cJSON_ArrayForEach(part, content) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type");
            n += cJSON_IsString(t) && strcmp(t->valuestring, "image_url") == 0;
        }
    return n;
}

static const char *request_model(const cJSON *json)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(json, "model");
    return cJSON_IsString(m) ? m->valuestring : "unknown";
}

/* Chat and legacy completions. */
static void handle_generate(worker_t *w, struct evhttp_request *req, kind_t kind, cJSON *json,
                            const char *deployment, int slow, const report_t *rep)
{
    long long prompt_tokens, images = 0, cached = rep->cached;
    if (kind == KIND_CHAT) {
        long long bytes = 0;
        const cJSON *messages = cJSON_GetObjectItemCaseSensitive(json, "messages");
        const cJSON *msg;
        cJSON_ArrayForEach(msg, messages) {
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
            bytes += content_bytes(content);
            images += image_parts(content);
        }
        prompt_tokens = 1 + bytes / 4;
    } else {
        prompt_tokens = 1 + content_bytes(cJSON_GetObjectItemCaseSensitive(json, "prompt")) / 4;
    }
    if (rep->prompt_scale > 0)
        prompt_tokens = prompt_tokens * rep->prompt_scale / 100;
    prompt_tokens += images * rep->image_tokens;
    if (cached < 0)
        cached = 0;

    const cJSON *stream_j = cJSON_GetObjectItemCaseSensitive(json, "stream");
    int stream = cJSON_IsTrue(stream_j);
    int k = stream && slow ? SLOW_CHUNKS : g_chunks;
    int ntokens = k;
    const char *finish = "stop";
    const char *caps[] = { "max_tokens", "max_completion_tokens" };
    for (size_t i = 0; i < 2; i++) {
        const cJSON *cap = cJSON_GetObjectItemCaseSensitive(json, caps[i]);
        if (cJSON_IsNumber(cap) && cap->valuedouble < ntokens) {
            ntokens = cap->valuedouble < 0 ? 0 : (int)cap->valuedouble;
            finish = "length";
        }
    }

    char id[48];
    snprintf(id, sizeof(id), "%smock%lld", kind == KIND_CHAT ? "chatcmpl-" : "cmpl-",
             (long long)atomic_fetch_add(&g_id_counter, 1) + 1);
    long long created = (long long)time(NULL);
    const char *model = *deployment ? deployment : request_model(json);

    if (stream) {
        const cJSON *so = cJSON_GetObjectItemCaseSensitive(json, "stream_options");
        reply_t tmp;
        memset(&tmp, 0, sizeof(tmp));
        int latency = atomic_load(&g_latency_ms);
        int delay = slow ? SLOW_CHUNK_DELAY_MS : g_chunk_delay_ms;
        reply_t *r = (latency > 0 || delay > 0) ? reply_new(w, req) : &tmp;
        r->req = req;
        r->stream = 1;
        r->kind = kind;
        snprintf(r->id, sizeof(r->id), "%s", id);
        r->created = created;
        r->ntokens = ntokens;
        r->delay_ms = delay;
        r->finish = finish;
        r->include_usage = !rep->no_usage &&
                           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
        r->prompt_tokens = prompt_tokens;
        r->cached = cached;
        r->completion_tokens = rep->completion_tokens;
        snprintf(r->prompt_raw, sizeof(r->prompt_raw), "%s", rep->prompt_raw);
        stream_prepare(r, model);
        if (r == &tmp) {
            stream_pump(r);
            evhttp_send_reply_end(req);
            free(tmp.prefix);
        } else {
            reply_schedule(r, latency);
        }
        return;
    }

    struct evbuffer *out = evbuffer_new();
    if (!out)
        die("out of memory");
    char *mj = json_quote(model);
    evbuffer_add_printf(out, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":%s,\"choices\":[{",
                        id, kind == KIND_CHAT ? "chat.completion" : "text_completion", created, mj);
    free(mj);
    if (kind == KIND_CHAT)
        evbuffer_add_printf(out, "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
    else
        evbuffer_add_printf(out, "\"text\":\"");
    for (int i = 0; i < ntokens; i++)
        evbuffer_add(out, "tok ", 4);
    if (kind == KIND_CHAT)
        evbuffer_add_printf(out, "\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
                                 "\"finish_reason\":\"%s\"}]", finish);
    else
        evbuffer_add_printf(out, "\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"%s\"}]",
                            finish);
    if (!rep->no_usage) {
        evbuffer_add(out, ",\"usage\":", 9);
        add_usage(out, kind, prompt_tokens,
                  rep->completion_tokens >= 0 ? rep->completion_tokens : ntokens, cached,
                  rep->prompt_raw);
    }
    if (kind == KIND_CHAT)
        evbuffer_add_printf(out, ",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_mock\"}");
    else
        evbuffer_add(out, "}", 1);

    size_t blen = evbuffer_get_length(out);
    const char *btext = (const char *)evbuffer_pullup(out, -1);
    if (!btext)
        die("out of memory");
    int latency = slow ? SLOW_LATENCY_MS : atomic_load(&g_latency_ms);
    if (latency <= 0) {
        send_text(req, 200, "application/json", btext, blen);
    } else {
        reply_t *r = reply_new(w, req);
        r->status = 200;
        r->ctype = "application/json";
        r->body = xstrndup(btext, blen);
        reply_schedule(r, latency);
    }
    evbuffer_free(out);
}

/* Deterministic pseudo-embedding of one input, normalised to unit length. */
static void embed(const char *s, size_t len, int dims, float *out)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    double norm = 0;
    for (int i = 0; i < dims; i++) {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        out[i] = (float)((double)(h >> 11) / (double)(1ULL << 53) * 2.0 - 1.0);
        norm += (double)out[i] * out[i];
    }
    norm = norm > 0 ? 1.0 / sqrt(norm) : 1.0;
    for (int i = 0; i < dims; i++)
        out[i] = (float)(out[i] * norm);
}

static char *base64_floats(const float *v, int n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = (const unsigned char *)v; /* little-endian float32, as OpenAI */
    size_t len = (size_t)n * 4;
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t x = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            x |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            x |= in[i + 2];
        out[o++] = tbl[(x >> 18) & 63];
        out[o++] = tbl[(x >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(x >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[x & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static void handle_embeddings(struct evhttp_request *req, cJSON *json, const char *deployment)
{
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(json, "input");
    const cJSON *dims_j = cJSON_GetObjectItemCaseSensitive(json, "dimensions");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(json, "encoding_format");
    int b64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
    int dims = 8;
    if (!input) {
        send_error(req, 400, "Missing required parameter: 'input'.", "missing_required_parameter",
                   "input");
        return;
    }
    if (cJSON_IsNumber(dims_j)) {
        if (dims_j->valuedouble < 1 || dims_j->valuedouble > MAX_DIMENSIONS) {
            send_error(req, 400, "Invalid value for 'dimensions'.", "invalid_value", "dimensions");
            return;
        }
        dims = (int)dims_j->valuedouble;
    }
    /* Inputs: a string, an array of strings, an array of token ids, or arrays of those. */
    const cJSON *items[1] = { input };
    int single = cJSON_IsString(input) ||
                 (cJSON_IsArray(input) && cJSON_IsNumber(cJSON_GetArrayItem(input, 0)));
    int count = single ? 1 : cJSON_GetArraySize(input);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    float *vec = xmalloc(sizeof(float) * (size_t)dims);
    long long prompt = 0;
    for (int i = 0; i < count; i++) {
        const cJSON *it = single ? items[0] : cJSON_GetArrayItem(input, i);
        const char *s = "";
        size_t len = 0;
        char *tmp = NULL;
        if (cJSON_IsString(it)) {
            s = it->valuestring;
            len = strlen(s);
            prompt += tokens_for_len(len);
        } else if (cJSON_IsArray(it)) {
            tmp = cJSON_PrintUnformatted(it);
            s = tmp ? tmp : "";
            len = strlen(s);
            prompt += cJSON_GetArraySize(it);
        }
        embed(s, len, dims, vec);
        if (tmp)
            cJSON_free(tmp);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "object", "embedding");
        cJSON_AddNumberToObject(e, "index", i);
        if (b64) {
            char *enc = base64_floats(vec, dims);
            cJSON_AddStringToObject(e, "embedding", enc);
            free(enc);
        } else {
            cJSON *arr = cJSON_AddArrayToObject(e, "embedding");
            for (int d = 0; d < dims; d++)
                cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)vec[d]));
        }
        cJSON_AddItemToArray(data, e);
    }
    free(vec);
    cJSON_AddStringToObject(root, "model", *deployment ? deployment : request_model(json));
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)prompt);
    cJSON_AddNumberToObject(u, "total_tokens", (double)prompt);
    send_json(req, 200, root);
}

/* ---- the Responses API ---- */

/* Caller holds g_store_lock. */
static void store_evict_oldest(void)
{
    stored_t *e = &g_store[g_store_head];
    if (e->json) {
        g_store_bytes -= e->len;
        free(e->json);
        e->json = NULL;
    }
    g_store_head = (g_store_head + 1) % MAX_STORED_RESPONSES;
    g_store_count--;
}

/* Keeps a copy of a response object. */
static void store_put(const char *id, const char *json, size_t len)
{
    if (len > MAX_STORED_BYTES)
        return;
    char *copy = xstrndup(json, len);
    pthread_mutex_lock(&g_store_lock);
    while (g_store_count == MAX_STORED_RESPONSES ||
           (g_store_count > 0 && g_store_bytes + len > MAX_STORED_BYTES))
        store_evict_oldest();
    stored_t *e = &g_store[(g_store_head + g_store_count) % MAX_STORED_RESPONSES];
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->json = copy;
    e->len = len;
    g_store_count++;
    g_store_bytes += len;
    pthread_mutex_unlock(&g_store_lock);
}

/* Returns a stored response (owned by the caller) or NULL; remove: forgets it too. */
static char *store_get(const char *id, int remove, size_t *len_out)
{
    char *out = NULL;
    pthread_mutex_lock(&g_store_lock);
    for (size_t i = 0; i < g_store_count; i++) {
        stored_t *e = &g_store[(g_store_head + i) % MAX_STORED_RESPONSES];
        if (!e->json || strcmp(e->id, id) != 0)
            continue;
        *len_out = e->len;
        if (remove) {
            out = e->json;
            e->json = NULL;
            g_store_bytes -= e->len;
        } else {
            out = xstrndup(e->json, e->len);
        }
        break;
    }
    pthread_mutex_unlock(&g_store_lock);
    return out;
}

static void store_free_all(void)
{
    pthread_mutex_lock(&g_store_lock);
    while (g_store_count > 0)
        store_evict_oldest();
    pthread_mutex_unlock(&g_store_lock);
}

static uint64_t mix64(uint64_t x) /* splitmix64's finaliser: a bijection */
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* PREFIX + 32 hex digits, unique among the ids of one salt in this process (n is unique). */
static void hex_id(char *out, size_t size, const char *prefix, uint64_t n, uint64_t salt)
{
    uint64_t a = mix64(g_id_seed ^ (salt << 56) ^ n);
    snprintf(out, size, "%s%016llx%016llx", prefix, (unsigned long long)a,
             (unsigned long long)mix64(a + salt));
}

/* Bytes of text in a Responses API input: a string, or items (strings, messages whose content
 * is a string or parts with text, or parts with text). */
static long long input_bytes(const cJSON *input)
{
    if (cJSON_IsString(input))
        return (long long)strlen(input->valuestring);
    long long total = 0;
    const cJSON *item;
    if (cJSON_IsArray(input))
        cJSON_ArrayForEach(item, input) {
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(item, "text");
            if (cJSON_IsString(item))
                total += (long long)strlen(item->valuestring);
            else if (content)
                total += content_bytes(content);
            else if (cJSON_IsString(text))
                total += (long long)strlen(text->valuestring);
        }
    return total;
}

static void handle_responses(worker_t *w, struct evhttp_request *req, cJSON *json,
                             const char *deployment, int slow, const report_t *rep)
{
    const cJSON *model_j = cJSON_GetObjectItemCaseSensitive(json, "model");
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(json, "input");
    const cJSON *instr = cJSON_GetObjectItemCaseSensitive(json, "instructions");
    const cJSON *max_j = cJSON_GetObjectItemCaseSensitive(json, "max_output_tokens");
    const char *model = *deployment ? deployment
                        : cJSON_IsString(model_j) ? model_j->valuestring
                                                  : NULL;
    if (!model) {
        send_error(req, 400, "Missing required parameter: 'model'.", "missing_required_parameter",
                   "model");
        return;
    }
    if (input && !cJSON_IsString(input) && !cJSON_IsArray(input) && !cJSON_IsNull(input)) {
        send_error(req, 400, "Invalid type for 'input': expected a string or an array of items.",
                   "invalid_type", "input");
        return;
    }
    if (instr && !cJSON_IsString(instr) && !cJSON_IsNull(instr)) {
        send_error(req, 400, "Invalid type for 'instructions': expected a string.", "invalid_type",
                   "instructions");
        return;
    }
    if (max_j && !cJSON_IsNumber(max_j) && !cJSON_IsNull(max_j)) {
        send_error(req, 400, "Invalid type for 'max_output_tokens': expected an integer.",
                   "invalid_type", "max_output_tokens");
        return;
    }

    resp_info_t ri;
    memset(&ri, 0, sizeof(ri));
    long long bytes = input_bytes(input) +
                      (cJSON_IsString(instr) ? (long long)strlen(instr->valuestring) : 0);
    ri.input_tokens = tokens_for_len((size_t)bytes); /* as chat's prompt_tokens */
    if (rep->prompt_scale > 0)
        ri.input_tokens = ri.input_tokens * rep->prompt_scale / 100;
    ri.cached = rep->cached < 0 ? 0 : rep->cached;
    int stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "stream"));
    ri.ntokens = stream && slow ? SLOW_CHUNKS : g_chunks;
    if (cJSON_IsNumber(max_j)) {
        double v = max_j->valuedouble;
        ri.has_max_output = 1;
        ri.max_output = v > 1e15 ? (long long)1e15 : v < -1e15 ? (long long)-1e15 : (long long)v;
        if (v < ri.ntokens) {
            ri.ntokens = v < 0 ? 0 : (int)v;
            ri.incomplete = 1;
        }
    }
    ri.output_tokens = rep->completion_tokens >= 0 ? rep->completion_tokens : ri.ntokens;
    ri.no_usage = rep->no_usage;
    ri.store = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(json, "store"));
    uint64_t n = (uint64_t)atomic_fetch_add(&g_resp_counter, 1) + 1;
    hex_id(ri.id, sizeof(ri.id), "resp_", n, 1);
    hex_id(ri.item_id, sizeof(ri.item_id), "msg_", n, 2);
    ri.created = (long long)time(NULL);
    ri.model_q = json_quote(model);
    ri.instructions_q = cJSON_IsString(instr) ? json_quote(instr->valuestring) : NULL;

    size_t final_len;
    char *final = response_text(&ri, 1, &final_len);
    if (ri.store)
        store_put(ri.id, final, final_len);

    if (stream) {
        reply_t tmp;
        memset(&tmp, 0, sizeof(tmp));
        int latency = atomic_load(&g_latency_ms);
        int delay = slow ? SLOW_CHUNK_DELAY_MS : g_chunk_delay_ms;
        reply_t *r = (latency > 0 || delay > 0) ? reply_new(w, req) : &tmp;
        r->req = req;
        r->stream = 1;
        r->kind = KIND_RESPONSE;
        snprintf(r->id, sizeof(r->id), "%s", ri.id);
        snprintf(r->item_id, sizeof(r->item_id), "%s", ri.item_id);
        r->ntokens = ri.ntokens;
        r->incomplete = ri.incomplete;
        r->delay_ms = delay;
        r->prefix = response_text(&ri, 0, &r->prefix_len);
        r->body = final;
        if (r == &tmp) {
            stream_pump(r);
            evhttp_send_reply_end(req);
            free(tmp.prefix);
            free(tmp.body);
        } else {
            reply_schedule(r, latency);
        }
    } else {
        int latency = slow ? SLOW_LATENCY_MS : atomic_load(&g_latency_ms);
        if (latency <= 0) {
            send_text(req, 200, "application/json", final, final_len);
            free(final);
        } else {
            reply_t *r = reply_new(w, req);
            r->status = 200;
            r->ctype = "application/json";
            r->body = final;
            reply_schedule(r, latency);
        }
    }
    free(ri.model_q);
    free(ri.instructions_q);
}

/* GET / DELETE /v1/responses/{id}. */
static void handle_response_id(struct evhttp_request *req, enum evhttp_cmd_type cmd,
                               const char *id)
{
    size_t len = 0;
    char *json = store_get(id, cmd == EVHTTP_REQ_DELETE, &len);
    if (!json) {
        char msg[300];
        snprintf(msg, sizeof(msg), "No response found with id '%.200s'.", id);
        send_error(req, 404, msg, NULL, NULL);
        return;
    }
    if (cmd == EVHTTP_REQ_DELETE) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "id", id);
        cJSON_AddStringToObject(root, "object", "response.deleted");
        cJSON_AddBoolToObject(root, "deleted", 1);
        send_json(req, 200, root);
    } else {
        send_text(req, 200, "application/json", json, len);
    }
    free(json);
}

/* ---- dispatch ---- */

typedef enum {
    EP_UNKNOWN,
    EP_CHAT,
    EP_COMPLETIONS,
    EP_EMBEDDINGS,
    EP_RESPONSES,
    EP_RESPONSE_ID,
    EP_MODELS,
    EP_MODEL_ID,
} endpoint_t;

/* Maps a path (no query) to an endpoint: /v1/... or Azure's /openai/deployments/{dep}/...
 * dep gets the deployment ("" under /v1/), *arg the id of EP_RESPONSE_ID and EP_MODEL_ID. */
static endpoint_t route(const char *path, char *dep, size_t depsize, const char **arg)
{
    const char *op;
    dep[0] = '\0';
    *arg = NULL;
    if (strncmp(path, "/v1/", 4) == 0) {
        op = path + 4;
        if (strcmp(op, "models") == 0)
            return EP_MODELS;
        if (strncmp(op, "models/", 7) == 0 && op[7]) {
            *arg = op + 7;
            return EP_MODEL_ID;
        }
    } else if (strncmp(path, "/openai/deployments/", 20) == 0) {
        const char *d = path + 20;
        const char *slash = strchr(d, '/');
        size_t n = slash ? (size_t)(slash - d) : 0;
        if (n == 0 || n >= depsize)
            return EP_UNKNOWN;
        memcpy(dep, d, n);
        dep[n] = '\0';
        op = slash + 1;
    } else {
        return EP_UNKNOWN;
    }
    if (strcmp(op, "chat/completions") == 0)
        return EP_CHAT;
    if (strcmp(op, "completions") == 0)
        return EP_COMPLETIONS;
    if (strcmp(op, "embeddings") == 0)
        return EP_EMBEDDINGS;
    if (strcmp(op, "responses") == 0)
        return EP_RESPONSES;
    if (strncmp(op, "responses/", 10) == 0 && op[10] && !strchr(op + 10, '/')) {
        *arg = op + 10;
        return EP_RESPONSE_ID;
    }
    return EP_UNKNOWN;
}

static void handle_request(struct evhttp_request *req, void *arg)
{
    worker_t *w = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";

    if (strcmp(path, "/mock/stats") == 0 && cmd == EVHTTP_REQ_GET) {
        handle_stats(req);
        return;
    }
    if (strcmp(path, "/mock/reset") == 0 && cmd == EVHTTP_REQ_POST) {
        handle_reset(req);
        return;
    }
    if (strcmp(path, "/mock/config") == 0 &&
        (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_POST)) {
        handle_config(req);
        return;
    }

    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (!body) {
        send_error(req, 500, "out of memory", NULL, NULL);
        return;
    }
    record_request(req, path, uri ? evhttp_uri_get_query(uri) : NULL, body, len);

    char dep[MAX_DEPLOYMENT];
    const char *id;
    endpoint_t ep = route(path, dep, sizeof(dep), &id);
    if ((ep == EP_MODELS || ep == EP_MODEL_ID) && cmd == EVHTTP_REQ_GET) {
        handle_models(req, id);
        return;
    }
    if (ep == EP_UNKNOWN || ep == EP_MODELS || ep == EP_MODEL_ID) {
        char msg[600];
        snprintf(msg, sizeof(msg), "Invalid URL (%s %.500s)", method_name(cmd), path);
        send_error(req, 404, msg, NULL, NULL);
        return;
    }
    int method_ok = ep == EP_RESPONSE_ID ? cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_DELETE
                                         : cmd == EVHTTP_REQ_POST;
    if (!method_ok) {
        char msg[600];
        snprintf(msg, sizeof(msg), "Invalid method for URL (%s %.500s)", method_name(cmd), path);
        send_error(req, 405, msg, NULL, NULL);
        return;
    }
    if (ep == EP_RESPONSE_ID) {
        handle_response_id(req, cmd, id);
        return;
    }

    /* The failure mode, whatever the body says. */
    int fail = fail_status_now();
    if (fail) {
        send_failure(req, fail);
        return;
    }

    /* Magic words. */
    if (body_find(body, len, "mock:hang")) {
        reply_t *r = reply_new(w, req);
        r->hang = 1;
        return;
    }
    if (body_find(body, len, "mock:nonjson")) {
        send_text(req, 500, "text/plain", "upstream exploded", 17);
        return;
    }
    const char *p = body_find(body, len, "mock:status=");
    if (p) {
        long long st = body_number_after(body, len, p);
        if (st < 200 || st > 599)
            st = 500;
        char msg[64];
        snprintf(msg, sizeof(msg), "mock upstream error %lld", st);
        send_error(req, (int)st, msg, NULL, NULL);
        return;
    }
    int slow = body_find(body, len, "mock:slow") != NULL;
    report_t rep = {.completion_tokens = -1};
    p = body_find(body, len, "mock:cached=");
    if (p)
        rep.cached = body_number_after(body, len, p);
    if ((p = body_find(body, len, "mock:prompt_scale=")))
        rep.prompt_scale = body_number_after(body, len, p);
    if ((p = body_find(body, len, "mock:image_tokens=")))
        rep.image_tokens = body_number_after(body, len, p);
    if ((p = body_find(body, len, "mock:completion_tokens=")))
        rep.completion_tokens = body_number_after(body, len, p);
    rep.no_usage = body_find(body, len, "mock:no_usage") != NULL;
    if ((p = body_find(body, len, "mock:prompt_raw="))) {
        size_t k = 0;
        while (p + k < body + len && k < sizeof(rep.prompt_raw) - 1 && p[k] &&
               strchr("0123456789.eE+-", p[k]))
            k++;
        memcpy(rep.prompt_raw, p, k);
        rep.prompt_raw[k] = '\0';
    }

    cJSON *json = cJSON_ParseWithLength(body, len);
    if (!json || !cJSON_IsObject(json)) {
        cJSON_Delete(json);
        send_error(req, 400,
                   "We could not parse the JSON body of your request. (HINT: This likely means "
                   "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                   "payload, but what was sent was not valid JSON.)",
                   NULL, NULL);
        return;
    }
    if (ep == EP_CHAT || ep == EP_COMPLETIONS)
        handle_generate(w, req, ep == EP_CHAT ? KIND_CHAT : KIND_COMPLETION, json, dep, slow, &rep);
    else if (ep == EP_RESPONSES)
        handle_responses(w, req, json, dep, slow, &rep);
    else
        handle_embeddings(req, json, dep);
    cJSON_Delete(json);
}

/* ---- startup and shutdown ---- */

static int listen_socket(const char *spec, int *port_out)
{
    char host[256] = "127.0.0.1";
    const char *port = spec;
    const char *colon = strrchr(spec, ':');
    if (colon) {
        size_t hl = (size_t)(colon - spec);
        const char *h = spec;
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        if (hl >= sizeof(host))
            die("--listen host too long");
        if (hl > 0) {
            memcpy(host, h, hl);
            host[hl] = '\0';
        }
        port = colon + 1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, *port ? port : "0", &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "mock_upstream: cannot resolve %s: %s\n", spec, gai_strerror(rc));
        exit(2);
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    res->ai_protocol);
    if (fd < 0)
        die("socket() failed");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        fprintf(stderr, "mock_upstream: cannot bind %s: %s\n", spec, strerror(errno));
        exit(2);
    }
    freeaddrinfo(res);
    if (listen(fd, 1024) != 0)
        die("listen() failed");
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        die("getsockname() failed");
    if (ss.ss_family == AF_INET6)
        *port_out = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        *port_out = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    for (int i = 0; i < g_threads; i++)
        event_base_loopbreak(g_workers[i].base);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mock_upstream [--listen HOST:PORT] [--threads N] [--latency-ms L]\n"
               "                     [--chunks K] [--chunk-delay-ms D]\n"
               "                     [--fail-status N] [--fail-percent P] [--retry-after S]\n");
}

int main(int argc, char **argv)
{
    const char *listen_spec = "127.0.0.1:0";
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--listen") == 0)
            listen_spec = v;
        else if (strcmp(a, "--threads") == 0)
            g_threads = parse_int(v, 1, MAX_THREADS, a);
        else if (strcmp(a, "--latency-ms") == 0)
            atomic_store(&g_latency_ms, parse_int(v, 0, 3600000, a));
        else if (strcmp(a, "--chunks") == 0)
            g_chunks = parse_int(v, 0, 1000000, a);
        else if (strcmp(a, "--chunk-delay-ms") == 0)
            g_chunk_delay_ms = parse_int(v, 0, 3600000, a);
        else if (strcmp(a, "--fail-status") == 0) {
            int st = parse_int(v, 0, 599, a);
            if (st != 0 && st < 200) {
                fprintf(stderr, "mock_upstream: bad value for %s: %s (0 or 200..599)\n", a, v);
                return 2;
            }
            atomic_store(&g_fail_status, st);
        } else if (strcmp(a, "--fail-percent") == 0)
            atomic_store(&g_fail_percent, parse_int(v, 0, 100, a));
        else if (strcmp(a, "--retry-after") == 0)
            atomic_store(&g_retry_after, parse_int(v, 0, MAX_RETRY_AFTER, a));
        else {
            usage(stderr);
            return 2;
        }
    }

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    g_id_seed = mix64(((uint64_t)now.tv_sec << 30) ^ (uint64_t)now.tv_nsec ^
                      ((uint64_t)getpid() << 48));

    signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() != 0)
        die("evthread_use_pthreads failed");

    int port = 0;
    int lfd = listen_socket(listen_spec, &port);

    for (int i = 0; i < g_threads; i++) {
        worker_t *w = &g_workers[i];
        w->index = i;
        w->base = event_base_new();
        if (!w->base)
            die("event_base_new failed");
        w->http = evhttp_new(w->base);
        if (!w->http)
            die("evhttp_new failed");
        evhttp_set_max_body_size(w->http, MAX_BODY);
        evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
        evhttp_set_gencb(w->http, handle_request, w);
        int fd = dup(lfd);
        if (fd < 0)
            die("dup failed");
        evutil_make_socket_nonblocking(fd);
        evutil_make_socket_closeonexec(fd);
        if (!evhttp_accept_socket_with_handle(w->http, fd))
            die("evhttp_accept_socket_with_handle failed");
    }
    close(lfd);

    struct event *sigint = evsignal_new(g_workers[0].base, SIGINT, on_signal, NULL);
    struct event *sigterm = evsignal_new(g_workers[0].base, SIGTERM, on_signal, NULL);
    if (!sigint || !sigterm || event_add(sigint, NULL) || event_add(sigterm, NULL))
        die("cannot install signal handlers");

    /* Worker threads never take the signals: block them while spawning. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    for (int i = 1; i < g_threads; i++)
        if (pthread_create(&g_workers[i].tid, NULL, worker_main, &g_workers[i]) != 0)
            die("pthread_create failed");
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    printf("listening on %d\n", port);
    fflush(stdout);

    event_base_dispatch(g_workers[0].base);

    for (int i = 1; i < g_threads; i++)
        pthread_join(g_workers[i].tid, NULL);
    event_free(sigint);
    event_free(sigterm);
    for (int i = 0; i < g_threads; i++) {
        evhttp_free(g_workers[i].http); /* runs the close callbacks of replies in progress */
        event_base_free(g_workers[i].base);
    }
    pthread_mutex_lock(&g_last_lock);
    last_clear();
    pthread_mutex_unlock(&g_last_lock);
    store_free_all();
    return 0;
}
