/* The pixel size of an inline (data: URL) image and OpenAI's tile count for it; see image.h.
 *
 * The image bytes are never materialised: a small reader decodes the base64 text one byte at
 * a time as the format parsers ask for bytes, and counts them against TG_IMAGE_SCAN_MAX. Every
 * read goes through rd_byte, which checks the end of the text first, so no parser can read
 * outside url[0 .. len) whatever the bytes are. */
#include "tokenizer/image.h"

#include <string.h>

/* ---- base64 reader ---------------------------------------------------------------------- */

typedef struct {
    const unsigned char *p;   /* next base64 character */
    const unsigned char *end; /* one past the last character of the data */
    uint32_t acc;             /* the low nbits bits are decoded but not handed out yet */
    unsigned nbits;           /* 0 .. 7 between calls */
    size_t out;               /* bytes handed out so far */
    int failed;               /* sticky: the end, a bad character, '=' or the scan limit */
} rd_t;

enum { B64_BAD = -1, B64_SPACE = -2, B64_PAD = -3 };

/* The 6-bit value of a base64 character (standard or URL-safe alphabet), or B64_*. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    switch (c) {
    case '+':
    case '-':
        return 62;
    case '/':
    case '_':
        return 63;
    case '=':
        return B64_PAD;
    case ' ':
    case '\t':
    case '\n':
    case '\r':
    case '\f':
        return B64_SPACE;
    default:
        return B64_BAD;
    }
}

/* The next decoded byte into *b: 0, or -1 (and every later call too) at the end of the data,
 * at '=', at a character outside the alphabet, or once TG_IMAGE_SCAN_MAX bytes were read. */
static int rd_byte(rd_t *r, uint8_t *b)
{
    if (r->failed || r->out >= TG_IMAGE_SCAN_MAX)
        goto fail;
    while (r->nbits < 8) {
        if (r->p >= r->end)
            goto fail;
        int v = b64_value(*r->p++);
        if (v == B64_SPACE)
            continue;
        if (v < 0)
            goto fail;
        r->acc = (r->acc << 6) | (uint32_t)v; /* at most 7 + 6 bits */
        r->nbits += 6;
    }
    r->nbits -= 8;
    *b = (uint8_t)(r->acc >> r->nbits);
    r->acc &= (1u << r->nbits) - 1;
    r->out++;
    return 0;
fail:
    r->failed = 1;
    return -1;
}

static int rd_bytes(rd_t *r, uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rd_byte(r, &buf[i]))
            return -1;
    return 0;
}

static int rd_skip(rd_t *r, size_t n)
{
    uint8_t b;
    for (size_t i = 0; i < n; i++)
        if (rd_byte(r, &b))
            return -1;
    return 0;
}

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le24(const uint8_t *p)
{
    return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* ---- formats: each gets the reader after the first two bytes (in `head`) -------------------- */

/* PNG: the signature, then the IHDR chunk (length 13) first: width, height (big endian). */
static int png_size(rd_t *r, const uint8_t head[2], uint32_t *w, uint32_t *h)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t b[24];
    memcpy(b, head, 2);
    if (rd_bytes(r, b + 2, sizeof(b) - 2))
        return -1;
    if (memcmp(b, sig, sizeof(sig)) || be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4))
        return -1;
    *w = be32(b + 16);
    *h = be32(b + 20);
    return 0;
}

/* GIF: "GIF87a" or "GIF89a", then the logical screen width and height (little endian). */
static int gif_size(rd_t *r, const uint8_t head[2], uint32_t *w, uint32_t *h)
{
    uint8_t b[10];
    memcpy(b, head, 2);
    if (rd_bytes(r, b + 2, sizeof(b) - 2))
        return -1;
    if (memcmp(b, "GIF87a", 6) && memcmp(b, "GIF89a", 6))
        return -1;
    *w = le16(b + 6);
    *h = le16(b + 8);
    return 0;
}

/* JPEG: after SOI, walk the marker segments up to the first frame header (SOFn). A marker is
 * 0xFF, any number of fill bytes 0xFF, then the code; standalone markers (TEM, RST0..7) have no
 * length; every other segment is a big-endian length that counts itself, then its payload.
 * Fails on anything a well-formed file cannot hold before its SOF: a non-0xFF byte where a
 * marker is due, a stuffed 0xFF 0x00, another SOI, EOI, SOS (scan data before any frame), a
 * length below 2. DHP (hierarchical mode, whose final size is not the first frame's) fails too,
 * rather than risk an undersized answer. */
static int jpeg_size(rd_t *r, uint32_t *w, uint32_t *h)
{
    for (;;) {
        uint8_t m, b[7];
        if (rd_byte(r, &m) || m != 0xFF)
            return -1;
        do {
            if (rd_byte(r, &m))
                return -1;
        } while (m == 0xFF);
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7))
            continue;
        if (m == 0x00 || m == 0xD8 || m == 0xD9 || m == 0xDA || m == 0xDE)
            return -1;
        if (rd_bytes(r, b, 2))
            return -1;
        uint32_t seg = be16(b);
        if (seg < 2)
            return -1;
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            /* SOFn: length, precision, height, width, component count */
            if (seg < 8 || rd_bytes(r, b, 5))
                return -1;
            *h = be16(b + 1); /* 0 means "given later by DNL": fails below */
            *w = be16(b + 3);
            return 0;
        }
        if (rd_skip(r, seg - 2))
            return -1;
    }
}

/* WebP: "RIFF", size, "WEBP", then the first chunk: "VP8 " (lossy; a key frame's 10-byte header
 * holds 14-bit width and height after the start code 9d 01 2a), "VP8L" (lossless; signature
 * 0x2f, then 14-bit width-1 and height-1 packed little endian, version 0) or "VP8X" (extended;
 * 24-bit canvas width-1 and height-1). The checks are libwebp's (WebPGetInfo). */
static int webp_size(rd_t *r, const uint8_t head[2], uint32_t *w, uint32_t *h)
{
    uint8_t b[20], c[10];
    memcpy(b, head, 2);
    if (rd_bytes(r, b + 2, sizeof(b) - 2))
        return -1;
    if (memcmp(b, "RIFF", 4) || memcmp(b + 8, "WEBP", 4) || le32(b + 4) < 12)
        return -1;
    uint32_t csize = le32(b + 16);
    if (!memcmp(b + 12, "VP8 ", 4)) {
        if (csize < 10 || rd_bytes(r, c, 10))
            return -1;
        uint32_t tag = le24(c);
        if ((tag & 1) != 0 || ((tag >> 1) & 7) > 3 || !((tag >> 4) & 1) || (tag >> 5) >= csize)
            return -1; /* not a key frame, unknown profile, invisible, partition too long */
        if (c[3] != 0x9d || c[4] != 0x01 || c[5] != 0x2a)
            return -1;
        *w = le16(c + 6) & 0x3fff; /* the top two bits are an upscaling hint */
        *h = le16(c + 8) & 0x3fff;
        return 0;
    }
    if (!memcmp(b + 12, "VP8L", 4)) {
        if (csize < 5 || rd_bytes(r, c, 5) || c[0] != 0x2f)
            return -1;
        uint32_t bits = le32(c + 1);
        if (bits >> 29)
            return -1; /* version */
        *w = (bits & 0x3fff) + 1;
        *h = ((bits >> 14) & 0x3fff) + 1;
        return 0;
    }
    if (!memcmp(b + 12, "VP8X", 4)) {
        if (csize < 10 || rd_bytes(r, c, 10))
            return -1;
        uint64_t cw = (uint64_t)le24(c + 4) + 1, ch = (uint64_t)le24(c + 7) + 1;
        if (cw * ch >= (uint64_t)1 << 32)
            return -1; /* libwebp's limit on the canvas area */
        *w = (uint32_t)cw;
        *h = (uint32_t)ch;
        return 0;
    }
    return -1;
}

/* ---- public ------------------------------------------------------------------------------ */

/* s[0 .. n) equals the lowercase ASCII lit[0 .. n), ignoring the case of s */
static int ci_eq(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)lit[i])
            return 0;
    }
    return 1;
}

int tg_image_size(const char *url, size_t len, uint32_t *w, uint32_t *h)
{
    static const char scheme[] = "data:", marker[] = ";base64";
    const size_t nscheme = sizeof(scheme) - 1, nmarker = sizeof(marker) - 1;
    if (!url || len < nscheme || !ci_eq(url, scheme, nscheme))
        return -1;
    const char *comma = memchr(url + nscheme, ',', len - nscheme);
    if (!comma)
        return -1;
    size_t meta = (size_t)(comma - (url + nscheme)); /* media type and parameters */
    if (meta < nmarker || !ci_eq(comma - nmarker, marker, nmarker))
        return -1;

    rd_t r = {(const unsigned char *)comma + 1, (const unsigned char *)url + len, 0, 0, 0, 0};
    uint8_t head[2];
    uint32_t iw = 0, ih = 0;
    int rc;
    if (rd_bytes(&r, head, 2))
        return -1;
    if (head[0] == 0xFF && head[1] == 0xD8)
        rc = jpeg_size(&r, &iw, &ih);
    else if (head[0] == 0x89 && head[1] == 'P')
        rc = png_size(&r, head, &iw, &ih);
    else if (head[0] == 'G' && head[1] == 'I')
        rc = gif_size(&r, head, &iw, &ih);
    else if (head[0] == 'R' && head[1] == 'I')
        rc = webp_size(&r, head, &iw, &ih);
    else
        rc = -1;
    if (rc || iw == 0 || ih == 0 || iw > TG_IMAGE_DIM_MAX || ih > TG_IMAGE_DIM_MAX)
        return -1;
    *w = iw;
    *h = ih;
    return 0;
}

/* ---- tiles ------------------------------------------------------------------------------ */

/* Binary64 arithmetic, emulated in integers: just enough to tell on which side of an exact
 * integer a double computation of a scaled side lands. A double here is m * 2^e with
 * 2^52 <= m < 2^53, rounded to nearest, ties to even (IEEE 754's default). The values met here
 * lie between 2^-22 and 2^43: no overflow, no subnormals. */
typedef unsigned __int128 u128;

typedef struct {
    uint64_t m;
    int e;
} f64_t;

static int bitlen(u128 x)
{
    int n = 0;
    while (x) {
        n++;
        x >>= 1;
    }
    return n;
}

/* The double nearest to n / d * 2^t (n > 0, 0 < d < 2^64). */
static f64_t f64_make(u128 n, u128 d, int t)
{
    /* n / d lies in (2^(bn - bd - 1), 2^(bn - bd + 1)), so q = n * 2^s / d lies in [2^53, 2^55).
     * n << s then has bd + 54 <= 118 bits, d << -s has bn - 54 < 128 bits. */
    int s = 54 - (bitlen(n) - bitlen(d));
    u128 q, r;
    for (;;) {
        u128 num = s >= 0 ? n << s : n, den = s >= 0 ? d : d << -s;
        q = num / den;
        r = num % den;
        if (q < (u128)1 << 54)
            break;
        s--; /* at most once */
    }
    /* q has 54 bits: 53 for the significand and a rounding bit; r != 0 is the sticky bit */
    f64_t v = {(uint64_t)(q >> 1), t - s + 1};
    if ((q & 1) && (r != 0 || (v.m & 1)))
        v.m++;
    if (v.m == (uint64_t)1 << 53) {
        v.m >>= 1;
        v.e++;
    }
    return v;
}

static f64_t f64_int(uint64_t x)
{
    return f64_make(x, 1, 0);
}

static f64_t f64_mul(f64_t x, f64_t y)
{
    return f64_make((u128)x.m * y.m, 1, x.e + y.e);
}

static f64_t f64_div(f64_t x, f64_t y)
{
    return f64_make(x.m, y.m, x.e - y.e);
}

/* -1, 0 or 1 as v is below, equal to or above the integer k (1 <= k < 2^43) */
static int f64_cmp(f64_t v, uint64_t k)
{
    if (v.e >= 0)
        return 1; /* v >= 2^52 > k */
    if (v.e < -84)
        return -1;             /* v < 2^53 * 2^-85 < 1 <= k */
    u128 kk = (u128)k << -v.e; /* < 2^127 */
    return v.m < kk ? -1 : v.m > kk;
}

/* x * c / y is an integer k. The four ways of writing it with doubles -- x * (c / y),
 * x / y * c, c / (y / x), c * x / y -- each land on k, just below or just above it: sets *below
 * and *above (0 or 1) to whether any of them is below, above. */
static void float_sides(uint64_t x, uint64_t c, uint64_t y, int *below, int *above)
{
    f64_t fx = f64_int(x), fc = f64_int(c), fy = f64_int(y);
    f64_t v[4] = {
        f64_mul(fx, f64_div(fc, fy)),
        f64_mul(f64_div(fx, fy), fc),
        f64_div(fc, f64_div(fy, fx)),
        f64_div(f64_mul(fc, fx), fy),
    };
    uint64_t k = x * c / y;
    *below = *above = 0;
    for (int i = 0; i < 4; i++) {
        int cmp = f64_cmp(v[i], k);
        *below |= cmp < 0;
        *above |= cmp > 0;
    }
}

/* Sides are at most 2^32 - 1, so every product below stays under 2^43: no overflow. Naming:
 * a is the longest side, b the shortest; a1/b1 after the fit into 2048 x 2048, a2/b2 after the
 * shortest side is brought down to 768.
 *
 * Rounding. b1 = b * 2048 / a is a fraction in general: b1lo and b1hi are its floor and ceiling,
 * the two roundings OpenAI might apply (a double lies between them too). The most tiles come
 * from b1hi where b1 is counted and from b1lo where it divides (a2 = a1 * 768 / b1: a smaller b1
 * gives a longer a2); a2 is a fraction again and is taken as its ceiling. When
 * b1lo <= 768 < b1hi the second step may or may not run: a2 = a1 bounds both, b2 = 768 too.
 *
 * Knife edges. A fraction is at least 1 / 2^32 away from every integer, far more than a
 * double's error at these magnitudes, so a double computation of it floors and ceils the same.
 * An exact integer is different: b * (2048.0 / a) gives 1023.99.. for 6146 x 3073 (b1 = 1024),
 * which truncates to 1023, and then a2 = 1537.5 takes a fourth tile (1536 exactly takes three).
 * So when b1 is an integer k, and some double formulation lands below k (or above), k - 1 (or
 * k + 1) is taken as well; likewise one more tile when a2 is exactly 1024 or 1536 and a
 * formulation lands above it (from b1, or from the original sides: 768 * a / b). Emulating the
 * doubles (rather than widening every exact value) keeps the common sizes exact: 4032 x 3024
 * -> 4 tiles, 2048 x 4096 -> 6, where every formulation is exact. */
int64_t tg_image_tiles(uint32_t w, uint32_t h)
{
    if (w == 0 || h == 0)
        return TG_IMAGE_MAX_TILES;
    uint64_t a = w > h ? w : h, b = w > h ? h : w;
    uint64_t a1 = a, b1lo = b, b1hi = b;
    int below, above;
    if (a > 2048) {
        a1 = 2048;
        b1lo = b * 2048 / a;
        b1hi = (b * 2048 + a - 1) / a;
        if (b1lo == b1hi) {
            float_sides(b, 2048, a, &below, &above);
            b1lo -= (uint64_t)below;
            b1hi += (uint64_t)above;
        }
        if (b1lo == 0)
            b1lo = 1; /* no image is scaled to nothing */
    }
    uint64_t a2 = a1, b2 = b1hi < 768 ? b1hi : 768;
    if (b1lo > 768) {
        uint64_t n = a1 * 768;
        a2 = (n + b1lo - 1) / b1lo; /* < a1 since b1lo > 768 */
        if (a2 % 512 == 0 && n % b1lo == 0) {
            float_sides(a1, 768, b1lo, &below, &above);
            int up = above;
            if (a > a1 && (a * 768) % b == 0 && a * 768 / b == a2) {
                float_sides(a, 768, b, &below, &above);
                up |= above;
            }
            a2 += (uint64_t)up; /* still <= a1 */
        }
    }
    return (int64_t)(((a2 + 511) / 512) * ((b2 + 511) / 512));
}
