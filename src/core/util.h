/* Small helpers with no Tollgate knowledge: time, random ids, decimal money parsing. */
#ifndef TG_CORE_UTIL_H
#define TG_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define TG_ASSERT(c) do { if (!(c)) tg__assert_fail(#c, __FILE__, __LINE__); } while (0)
void tg__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/* Wall clock (unix seconds) and monotonic clock (nanoseconds). tg_now_override lets tests
 * inject a wall clock; 0 means the real one. */
extern int64_t tg_now_override;
int64_t tg_now(void);
uint64_t tg_mono_ns(void);

/* Writes `prefix` + `nchars` random base62 characters + NUL into out (size ≥ strlen(prefix) +
 * nchars + 1). Uses the OS CSPRNG (libsodium). */
void tg_random_id(char *out, const char *prefix, size_t nchars);
/* Writes "req_" + 32 lowercase hex + NUL (37 bytes): 48 bits of time (ms), 80 random. */
void tg_request_id(char out[37]);

/* Parses a decimal string of dollars ("0.15", "2", "0.000000001") into an integer count of
 * 10^-9 units (nano-dollars). Returns 0, or -1 on syntax error, more than 9 decimals, a sign,
 * or overflow. */
int tg_parse_nanos(const char *s, size_t len, int64_t *out);
/* Formats nanos as a minimal decimal ("0.15", "2", "0.000000001"); out needs 32 bytes. */
void tg_format_nanos(int64_t nanos, char out[32]);

/* A double that is an integer within ±2^53 (exactly representable) into *out: 0, else -1 —
 * checked before any conversion, which is undefined behaviour out of int64_t's range (NaN,
 * ±inf, 1e300 from a client's JSON). */
int tg_double_to_i64(double d, int64_t *out);
/* fsyncs the directory that holds path (a new file's name is durable only then); best
 * effort. */
void tg_fsync_dir(const char *path);
/* Appends s to out[n..] as the inside of a JSON string (quotes, backslashes and control
 * characters escaped), keeping room for a NUL; stops early when out is full. Returns the new
 * length. */
size_t tg_json_escape(char *out, size_t cap, size_t n, const char *s);
/* Case-insensitive ASCII equality of a (ptr,len) slice with a C string. */
int tg_slice_eq_ci(const char *p, size_t len, const char *s);

#endif
