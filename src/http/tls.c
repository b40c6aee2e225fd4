/* HTTPS contexts (see tls.h). The current SSL_CTX sits behind a mutex taken once per accepted
 * connection (not per request): SSL_new() takes its own reference to the context, so a reload
 * swaps the pointer and drops the old reference, and connections still using the old context
 * keep it alive until they close. */
#include "http/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tg_tls {
    pthread_mutex_t mu;
    SSL_CTX *ctx; /* current; one reference held here */
};

/* Mozilla's "intermediate" TLS 1.2 list (forward secrecy, AEAD only); TLS 1.3 suites are
 * OpenSSL's defaults, which are all fine. */
#define TLS12_CIPHERS                                                                          \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                               \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

static void ssl_error(char *err, size_t cap, const char *what, const char *file)
{
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "";
    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    snprintf(err, cap, "%s %s: %s", what, file, e ? reason : "failed");
}

/* ALPN: HTTP/1.1 is all this server speaks. A client that offers ALPN without it gets the
 * no_application_protocol alert (RFC 7301 §3.2); one that offers none is served. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *load(const char *cert_file, const char *key_file, char *err, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_error(err, cap, "cannot create a TLS context for", cert_file);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (!SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS)) {
        ssl_error(err, cap, "cannot set the ciphers for", cert_file);
        goto fail;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        ssl_error(err, cap, "cannot load the certificate", cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        ssl_error(err, cap, "cannot load the private key", key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_error(err, cap, "the private key does not match the certificate", cert_file);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int tg_tls_new(const char *cert_file, const char *key_file, tg_tls_t **out, char *err,
               size_t cap)
{
    tg_tls_t *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    if (!(t->ctx = load(cert_file, key_file, err, cap))) {
        free(t);
        return -1;
    }
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return 0;
}

int tg_tls_reload(tg_tls_t *t, const char *cert_file, const char *key_file, char *err,
                  size_t cap)
{
    SSL_CTX *ctx = load(cert_file, key_file, err, cap), *old;
    if (!ctx)
        return -1;
    pthread_mutex_lock(&t->mu);
    old = t->ctx;
    t->ctx = ctx;
    pthread_mutex_unlock(&t->mu);
    SSL_CTX_free(old); /* connections accepted with it hold their own reference */
    return 0;
}

SSL *tg_tls_ssl_new(tg_tls_t *t)
{
    pthread_mutex_lock(&t->mu);
    SSL *ssl = SSL_new(t->ctx);
    pthread_mutex_unlock(&t->mu);
    return ssl;
}

void tg_tls_fingerprint(tg_tls_t *t, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    pthread_mutex_lock(&t->mu);
    X509 *x = SSL_CTX_get0_certificate(t->ctx);
    if (x && X509_digest(x, EVP_sha256(), md, &n) == 1)
        for (unsigned i = 0; i < n && i < 32; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    pthread_mutex_unlock(&t->mu);
}

void tg_tls_free(tg_tls_t *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
