/* HTTPS for the server: an OpenSSL context with modern defaults (TLS 1.2 and 1.3 only, no
 * compression, no renegotiation, the server's cipher order, ALPN http/1.1) whose certificate
 * can be replaced while connections are open. A replacement applies to connections accepted
 * afterwards; open ones keep the certificate they were accepted with. */
#ifndef TG_HTTP_TLS_H
#define TG_HTTP_TLS_H

#include <stddef.h>

typedef struct tg_tls tg_tls_t;
struct ssl_st;

/* Loads the certificate chain (PEM, the server's certificate first) and its private key (PEM).
 * Returns 0 with *out (owned: tg_tls_free), or -1 with the reason in err. */
int tg_tls_new(const char *cert_file, const char *key_file, tg_tls_t **out, char *err,
               size_t cap);
/* Loads a new certificate and key; on success new connections get them, on failure (-1, the
 * reason in err) the old ones stay. Any thread. */
int tg_tls_reload(tg_tls_t *t, const char *cert_file, const char *key_file, char *err,
                  size_t cap);
/* A new server-side SSL object with the current certificate (returns owned; NULL on error). */
struct ssl_st *tg_tls_ssl_new(tg_tls_t *t);
/* SHA-256 of the current certificate, as lowercase hex (65 bytes with the NUL), for logs. */
void tg_tls_fingerprint(tg_tls_t *t, char out[65]);
void tg_tls_free(tg_tls_t *t); /* NULL-tolerant */

#endif
