/* API key secrets: generation, hashing, redaction (stored secrets: auth/secrets.h).
 * A secret is 256 random bits shown once; only its BLAKE2b-256 hash is stored. */
#ifndef TG_AUTH_KEYS_H
#define TG_AUTH_KEYS_H

#include <stddef.h>

#define TG_KEY_SECRET_MAX 96

/* Writes prefix ("sk-proj-", "sk-admin-") + 44 random base62 characters (OS CSPRNG). */
void tg_key_generate(const char *prefix, char out[TG_KEY_SECRET_MAX]);
void tg_key_hash(const char *secret, size_t len, unsigned char out[32]);
/* "sk-proj-abc…wxyz": the prefix, 3 characters, an ellipsis, the last 4 (for listings). */
void tg_key_redact(const char *secret, char out[64]);
/* First 8 characters, '*' for the middle, last 4 (OpenAI's error message form). Writes at
 * most cap-1 bytes. Input of any length is safe. */
void tg_key_redact_error(const char *secret, size_t len, char *out, size_t cap);

#endif
