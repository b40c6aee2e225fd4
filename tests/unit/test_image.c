/* tokenizer/image: the size of data: URL images (PNG, GIF, JPEG, WebP headers built here byte by
 * byte) and OpenAI's tile count, checked against a floating-point reference. */
#include "tokenizer/image.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

/* ---- building images ------------------------------------------------------------------------ */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf_t;

static void put(buf_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put1(buf_t *b, uint32_t v)
{
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put_be16(buf_t *b, uint32_t v)
{
    put1(b, v >> 8);
    put1(b, v);
}

static void put_be32(buf_t *b, uint32_t v)
{
    put_be16(b, v >> 16);
    put_be16(b, v);
}

static void put_le16(buf_t *b, uint32_t v)
{
    put1(b, v);
    put1(b, v >> 8);
}

static void put_le24(buf_t *b, uint32_t v)
{
    put_le16(b, v);
    put1(b, v >> 16);
}

static void put_le32(buf_t *b, uint32_t v)
{
    put_le16(b, v);
    put_le16(b, v >> 16);
}

static void put_fill(buf_t *b, uint8_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put1(b, v);
}

/* Every builder below records in *need how many bytes tg_image_size must read: any prefix
 * shorter than that must fail, the prefix of exactly that length must succeed. */

static buf_t png(uint32_t w, uint32_t h, size_t *need)
{
    buf_t b = {0};
    put(&b, "\x89PNG\r\n\x1a\n", 8);
    put_be32(&b, 13);
    put(&b, "IHDR", 4);
    put_be32(&b, w);
    put_be32(&b, h);
    *need = b.n;
    put(&b, "\x08\x06\x00\x00\x00", 5); /* depth 8, RGBA, deflate, filter 0, no interlace */
    put_be32(&b, 0x12345678);           /* CRC (not checked) */
    put_be32(&b, 0);
    put(&b, "IEND", 4);
    put_be32(&b, 0xae426082);
    return b;
}

static buf_t gif(const char *version, uint32_t w, uint32_t h, size_t *need)
{
    buf_t b = {0};
    put(&b, version, 6);
    put_le16(&b, w);
    put_le16(&b, h);
    *need = b.n;
    put(&b, "\xf7\x00\x00", 3); /* global colour table of 256, background 0, aspect 0 */
    put_fill(&b, 0, 3 * 256);
    put1(&b, 0x3b);
    return b;
}

/* A JPEG as a camera writes it: SOI, APP0 JFIF, APP1 Exif of `exif` bytes (whose payload holds
 * byte pairs that look like markers, even a fake SOF), DQT, DHT, DAC (which has the layout of a
 * SOF), fill bytes and a TEM marker, then the frame header `sof` (0xC0 baseline, 0xC2
 * progressive, ...), DHT, SOS, a little entropy data and EOI. */
static buf_t jpeg(uint8_t sof, uint32_t w, uint32_t h, size_t exif, size_t *need)
{
    buf_t b = {0};
    put(&b, "\xff\xd8", 2);
    put(&b, "\xff\xe0", 2);
    put_be16(&b, 16);
    put(&b, "JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00", 14);
    if (exif) {
        assert_true(exif >= 16 && exif <= 65533);
        put(&b, "\xff\xe1", 2);
        put_be16(&b, (uint32_t)exif + 2);
        put(&b, "Exif\0\0MM\0\x2a", 10);
        put(&b, "\xff\xc0\x00\x11\x08\x00\x01\x00\x01", 9); /* a fake 1 x 1 SOF0 */
        for (size_t i = 19; i < exif; i++)
            put1(&b, (uint32_t)(i * 37 + (i >> 8))); /* every byte value, 0xFF included */
    }
    put(&b, "\xff\xdb", 2);
    put_be16(&b, 67);
    put_fill(&b, 1, 65);
    put(&b, "\xff\xc4", 2); /* DHT: 0xC4 is not a SOF */
    put_be16(&b, 31);
    put_fill(&b, 0, 29);
    put(&b, "\xff\xcc", 2); /* DAC: 0xCC is not a SOF either; shaped like a 1 x 1 frame */
    put_be16(&b, 8);
    put(&b, "\x08\x00\x01\x00\x01\x01", 6);
    put(&b, "\xff\xff\xff\x01", 4); /* fill bytes, then TEM (standalone) */
    put(&b, "\xff\xff\xff", 3);     /* fill bytes before the frame's marker */
    put1(&b, 0xff);
    put1(&b, sof);
    put_be16(&b, 17);
    put1(&b, 8);
    put_be16(&b, h);
    put_be16(&b, w);
    *need = b.n;
    put(&b, "\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01", 10);
    put(&b, "\xff\xc4", 2);
    put_be16(&b, 31);
    put_fill(&b, 0, 29);
    put(&b, "\xff\xda", 2);
    put_be16(&b, 12);
    put(&b, "\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00", 10);
    put(&b, "\x12\x34\xff\x00\x56\xff\xd0\x78", 8);
    put(&b, "\xff\xd9", 2);
    return b;
}

static void riff_header(buf_t *b, const char *fourcc, uint32_t csize)
{
    put(b, "RIFF", 4);
    put_le32(b, 4 + 8 + csize);
    put(b, "WEBP", 4);
    put(b, fourcc, 4);
    put_le32(b, csize);
}

static buf_t webp_vp8(uint32_t w, uint32_t h, size_t *need)
{
    buf_t b = {0};
    riff_header(&b, "VP8 ", 200);
    put_le24(&b, 0 | 0 << 1 | 1 << 4 | 100 << 5); /* key frame, profile 0, shown, 100 bytes */
    put(&b, "\x9d\x01\x2a", 3);
    put_le16(&b, w);
    put_le16(&b, h);
    *need = b.n;
    put_fill(&b, 0, 190);
    return b;
}

static buf_t webp_vp8l(uint32_t w, uint32_t h, size_t *need)
{
    buf_t b = {0};
    riff_header(&b, "VP8L", 20);
    put1(&b, 0x2f);
    put_le32(&b, (w - 1) | (h - 1) << 14 | 1u << 28); /* alpha used, version 0 */
    *need = b.n;
    put_fill(&b, 0, 15);
    return b;
}

static buf_t webp_vp8x(uint32_t w, uint32_t h, size_t *need)
{
    buf_t b = {0};
    riff_header(&b, "VP8X", 10);
    put1(&b, 0x10); /* alpha */
    put_fill(&b, 0, 3);
    put_le24(&b, w - 1);
    put_le24(&b, h - 1);
    *need = b.n;
    put(&b, "ALPH", 4);
    put_le32(&b, 0);
    return b;
}

/* ---- data: URLs ----------------------------------------------------------------------------- */

/* prefix + base64(img[0 .. n)) in a buffer of exactly that many bytes (no NUL: ASan catches a
 * read past the end). Returns owned; *len is the length. */
static char *data_url(const char *prefix, const uint8_t *img, size_t n, size_t *len)
{
    const int v = sodium_base64_VARIANT_ORIGINAL;
    size_t plen = strlen(prefix), cap = sodium_base64_ENCODED_LEN(n, v);
    char *b64 = malloc(cap);
    assert_non_null(b64);
    sodium_bin2base64(b64, cap, img, n, v);
    size_t blen = strlen(b64);
    char *url = malloc(plen + blen ? plen + blen : 1);
    assert_non_null(url);
    memcpy(url, prefix, plen);
    memcpy(url + plen, b64, blen);
    free(b64);
    *len = plen + blen;
    return url;
}

/* tg_image_size on an exactly sized copy of url[0 .. len) (no NUL after it) */
static int size_of(const char *url, size_t len, uint32_t *w, uint32_t *h)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, url, len);
    int rc = tg_image_size(copy, len, w, h);
    free(copy);
    return rc;
}

#define PNG_URL "data:image/png;base64,"

static void expect_size(const char *what, const char *prefix, const uint8_t *img, size_t n,
                        uint32_t want_w, uint32_t want_h)
{
    size_t len;
    char *url = data_url(prefix, img, n, &len);
    uint32_t w = 0, h = 0;
    int rc = tg_image_size(url, len, &w, &h);
    if (rc != 0 || w != want_w || h != want_h)
        fail_msg("%s: rc %d, %u x %u; want 0, %u x %u", what, rc, w, h, want_w, want_h);
    free(url);
}

static void expect_fail(const char *what, const char *prefix, const uint8_t *img, size_t n)
{
    size_t len;
    char *url = data_url(prefix, img, n, &len);
    uint32_t w = 7, h = 9;
    int rc = tg_image_size(url, len, &w, &h);
    if (rc != -1 || w != 7 || h != 9)
        fail_msg("%s: rc %d, %u x %u; want -1 and the outputs untouched", what, rc, w, h);
    free(url);
}

/* The image itself, then every prefix: shorter than `need` fails, `need` bytes are enough. */
static void expect_image(const char *what, buf_t b, size_t need, uint32_t w, uint32_t h)
{
    char name[96];
    expect_size(what, PNG_URL, b.p, b.n, w, h);
    for (size_t k = 0; k < need; k++) {
        snprintf(name, sizeof(name), "%s cut to %zu bytes", what, k);
        expect_fail(name, PNG_URL, b.p, k);
    }
    snprintf(name, sizeof(name), "%s cut to its header (%zu bytes)", what, need);
    expect_size(name, PNG_URL, b.p, need, w, h);
    free(b.p);
}

/* builds the image (setting need) before expect_image reads need */
#define EXPECT_IMAGE(what, build, w, h)                                                            \
    do {                                                                                           \
        buf_t img_ = build;                                                                        \
        expect_image(what, img_, need, w, h);                                                      \
    } while (0)

/* ---- sizes ---------------------------------------------------------------------------------- */

static void test_png(void **state)
{
    size_t need;
    EXPECT_IMAGE("png 1x1", png(1, 1, &need), 1, 1);
    EXPECT_IMAGE("png 1920x1080", png(1920, 1080, &need), 1920, 1080);
    EXPECT_IMAGE("png max", png(TG_IMAGE_DIM_MAX, 3, &need), TG_IMAGE_DIM_MAX, 3);
}

static void test_gif(void **state)
{
    size_t need;
    EXPECT_IMAGE("gif89a", gif("GIF89a", 640, 480, &need), 640, 480);
    EXPECT_IMAGE("gif87a", gif("GIF87a", 65535, 1, &need), 65535, 1);
}

static void test_jpeg(void **state)
{
    size_t need;
    EXPECT_IMAGE("jpeg baseline, 6 KB exif", jpeg(0xc0, 4032, 3024, 6000, &need), 4032, 3024);
    EXPECT_IMAGE("jpeg progressive", jpeg(0xc2, 800, 600, 0, &need), 800, 600);
    EXPECT_IMAGE("jpeg extended (SOF1)", jpeg(0xc1, 1, 65535, 100, &need), 1, 65535);
    EXPECT_IMAGE("jpeg lossless (SOF3)", jpeg(0xc3, 17, 23, 0, &need), 17, 23);
    EXPECT_IMAGE("jpeg arithmetic progressive (SOF10)", jpeg(0xca, 300, 200, 0, &need), 300, 200);
    EXPECT_IMAGE("jpeg SOF15", jpeg(0xcf, 5, 6, 0, &need), 5, 6);
}

static void test_webp(void **state)
{
    size_t need;
    EXPECT_IMAGE("webp vp8", webp_vp8(1024, 768, &need), 1024, 768);
    EXPECT_IMAGE("webp vp8 max", webp_vp8(16383, 16383, &need), 16383, 16383);
    EXPECT_IMAGE("webp vp8l", webp_vp8l(333, 16384, &need), 333, 16384);
    EXPECT_IMAGE("webp vp8l 1x1", webp_vp8l(1, 1, &need), 1, 1);
    EXPECT_IMAGE("webp vp8x", webp_vp8x(5000, 3000, &need), 5000, 3000);
    EXPECT_IMAGE("webp vp8x wide", webp_vp8x(1 << 24, 255, &need), 1 << 24, 255);

    /* the top two bits of each VP8 side are a scaling hint, not part of the size */
    buf_t b = webp_vp8(0xc000 | 640, 0x4000 | 480, &need);
    expect_size("vp8 scale bits", PNG_URL, b.p, b.n, 640, 480);
    free(b.p);
}

/* The data: URL syntax around the base64 text. */
static void test_data_url_forms(void **state)
{
    size_t need, len;
    buf_t b = png(300, 200, &need);
    static const char *const ok[] = {
        "data:image/png;base64,",
        "DATA:IMAGE/PNG;BASE64,",
        "data:image/jpeg;base64,",
        "data:;base64,",
        "data:application/octet-stream;base64,",
        "data:image/png;name=a.png;base64,",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        expect_size(ok[i], ok[i], b.p, b.n, 300, 200);

    /* whitespace inside the base64 text is skipped */
    char *url = data_url(PNG_URL, b.p, b.n, &len);
    char *spaced = malloc(len * 2);
    assert_non_null(spaced);
    size_t n = 0, plen = strlen(PNG_URL);
    for (size_t i = 0; i < len; i++) {
        if (i > plen && (i - plen) % 5 == 0)
            spaced[n++] = (i % 2) ? '\n' : ' ';
        spaced[n++] = url[i];
    }
    uint32_t w = 0, h = 0;
    assert_int_equal(size_of(spaced, n, &w, &h), 0);
    assert_int_equal(w, 300);
    assert_int_equal(h, 200);
    free(spaced);
    free(url);
    free(b.p);
}

/* '+' '/' and their URL-safe forms '-' '_' ("++++" and "////" are the GIF sizes below). */
static void test_base64_alphabets(void **state)
{
    static const struct {
        uint32_t w, h;
        const char *quad;
    } cases[] = {{61435, 446, "++++"}, {65535, 255, "////"}};
    for (size_t i = 0; i < 2; i++) {
        size_t need, len;
        buf_t b = gif("GIF89a", cases[i].w, cases[i].h, &need);
        char *url = data_url(PNG_URL, b.p, b.n, &len);
        char *at = memmem(url, len, cases[i].quad, 4);
        assert_non_null(at);
        uint32_t w = 0, h = 0;
        assert_int_equal(size_of(url, len, &w, &h), 0);
        assert_int_equal(w, cases[i].w);
        assert_int_equal(h, cases[i].h);
        for (size_t j = 0; j < len; j++)
            url[j] = url[j] == '+' ? '-' : url[j] == '/' ? '_' : url[j];
        w = h = 0;
        assert_int_equal(size_of(url, len, &w, &h), 0);
        assert_int_equal(w, cases[i].w);
        assert_int_equal(h, cases[i].h);
        free(url);
        free(b.p);
    }
}

/* ---- failures ------------------------------------------------------------------------------- */

static void expect_fail_text(const char *url)
{
    uint32_t w = 7, h = 9;
    int rc = size_of(url, strlen(url), &w, &h);
    if (rc != -1 || w != 7 || h != 9)
        fail_msg("\"%s\": rc %d, %u x %u; want -1", url, rc, w, h);
}

static void test_not_data_urls(void **state)
{
    uint32_t w = 7, h = 9;
    assert_int_equal(tg_image_size(NULL, 0, &w, &h), -1);
    assert_int_equal(tg_image_size("", 0, &w, &h), -1);
    expect_fail_text("https://example.com/cat.png");
    expect_fail_text("http://example.com/data:image/png;base64,iVBORw0KGgo=");
    expect_fail_text("data:");
    expect_fail_text("data:image/png;base64");            /* no comma */
    expect_fail_text("data:image/png;base64,");           /* no data */
    expect_fail_text("data:image/png;base64,iVBORw0KGg"); /* a signature alone */
    expect_fail_text("dat:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAASwAAADICAYAAAA=");
    expect_fail_text(" data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAASwAAADICAYAAAA=");
    /* not base64: the same PNG percent-encoded or with the marker misplaced */
    expect_fail_text("data:image/png,%89PNG%0D%0A%1A%0A%00%00%00%0DIHDR%00%00%01%2C%00%00%00");
    expect_fail_text("data:image/png;base64x,iVBORw0KGgoAAAANSUhEUgAAASwAAADICAYAAAA=");
    expect_fail_text("data:image/png;base64;x=y,iVBORw0KGgoAAAANSUhEUgAAASwAAADICAYAAAA=");
    expect_fail_text("data:base64,iVBORw0KGgoAAAANSUhEUgAAASwAAADICAYAAAA=");
    /* control: the URL above is a 300 x 200 PNG header */
    const char *good = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAASwAAADICAYAAAA=";
    assert_int_equal(size_of(good, strlen(good), &w, &h), 0);
    assert_int_equal(w, 300);
    assert_int_equal(h, 200);
}

static void test_bad_base64(void **state)
{
    size_t need, len;
    buf_t b = png(300, 200, &need);
    char *url = data_url(PNG_URL, b.p, b.n, &len);
    size_t plen = strlen(PNG_URL);
    static const char bad[] = {'*', '%', '.', '\0', '"', '\\', (char)0xc3, (char)0x80, '='};
    for (size_t i = 0; i < sizeof(bad); i++) {
        for (size_t at = plen; at < plen + 30; at += 7) {
            char saved = url[at];
            url[at] = bad[i];
            uint32_t w = 7, h = 9;
            if (size_of(url, len, &w, &h) != -1)
                fail_msg("byte 0x%02x at %zu: accepted", (unsigned char)bad[i], at);
            url[at] = saved;
        }
    }
    /* a character after the header is never looked at */
    url[len - 3] = '*';
    uint32_t w = 0, h = 0;
    assert_int_equal(size_of(url, len, &w, &h), 0);
    assert_int_equal(w, 300);
    free(url);
    free(b.p);
}

static void test_wrong_magic(void **state)
{
    size_t need;
    buf_t b;

    b = png(10, 10, &need);
    b.p[1] = 'Q';
    expect_fail("png signature", PNG_URL, b.p, b.n);
    b.p[1] = 'P';
    b.p[7] = 0;
    expect_fail("png signature end", PNG_URL, b.p, b.n);
    b.p[7] = '\n';
    b.p[12] = 'i'; /* "iHDR" */
    expect_fail("png first chunk not IHDR", PNG_URL, b.p, b.n);
    b.p[12] = 'I';
    b.p[11] = 14;
    expect_fail("png IHDR length", PNG_URL, b.p, b.n);
    free(b.p);

    b = gif("GIF88a", 10, 10, &need);
    expect_fail("gif version", PNG_URL, b.p, b.n);
    free(b.p);

    b = webp_vp8(10, 10, &need);
    b.p[11] = 'Q';
    expect_fail("WEBQ", PNG_URL, b.p, b.n);
    b.p[11] = 'P';
    b.p[23] = 0x9c;
    expect_fail("vp8 start code", PNG_URL, b.p, b.n);
    b.p[23] = 0x9d;
    b.p[20] |= 1;
    expect_fail("vp8 not a key frame", PNG_URL, b.p, b.n);
    b.p[20] &= (uint8_t)~0x10;
    b.p[20] &= (uint8_t)~1;
    expect_fail("vp8 frame not shown", PNG_URL, b.p, b.n);
    b.p[20] |= 0x10;
    b.p[16] = 50; /* chunk shorter than its first partition */
    expect_fail("vp8 partition size", PNG_URL, b.p, b.n);
    b.p[16] = 5; /* chunk too short for the frame header */
    expect_fail("vp8 chunk size", PNG_URL, b.p, b.n);
    b.p[16] = 200;
    memcpy(b.p + 12, "VP9 ", 4);
    expect_fail("unknown webp chunk", PNG_URL, b.p, b.n);
    free(b.p);

    b = webp_vp8l(10, 10, &need);
    b.p[20] = 0x2e;
    expect_fail("vp8l signature", PNG_URL, b.p, b.n);
    b.p[20] = 0x2f;
    b.p[24] |= 0x20;
    expect_fail("vp8l version", PNG_URL, b.p, b.n);
    free(b.p);

    b = webp_vp8x(1 << 24, 1 << 8, &need);
    expect_fail("vp8x canvas area 2^32", PNG_URL, b.p, b.n);
    free(b.p);

    static const uint8_t bmp[] = "BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00";
    expect_fail("bmp", PNG_URL, bmp, sizeof(bmp) - 1);
    static const uint8_t text[] = "hello, world";
    expect_fail("text", PNG_URL, text, sizeof(text) - 1);
}

static void test_zero_and_absurd_sizes(void **state)
{
    size_t need;
    buf_t b;
#define FAIL_IMAGE(what, expr)                                                                     \
    do {                                                                                           \
        b = (expr);                                                                                \
        expect_fail(what, PNG_URL, b.p, b.n);                                                      \
        free(b.p);                                                                                 \
    } while (0)
    FAIL_IMAGE("png zero width", png(0, 10, &need));
    FAIL_IMAGE("png zero height", png(10, 0, &need));
    FAIL_IMAGE("png 2^31 wide", png(0x80000000u, 10, &need));
    FAIL_IMAGE("png absurd", png(TG_IMAGE_DIM_MAX + 1, 10, &need));
    FAIL_IMAGE("gif zero width", gif("GIF89a", 0, 10, &need));
    FAIL_IMAGE("gif zero height", gif("GIF89a", 10, 0, &need));
    FAIL_IMAGE("jpeg zero width", jpeg(0xc0, 0, 10, 0, &need));
    FAIL_IMAGE("jpeg height given by DNL", jpeg(0xc2, 10, 0, 0, &need));
    FAIL_IMAGE("vp8 zero width", webp_vp8(0, 10, &need));
    FAIL_IMAGE("vp8 zero height", webp_vp8(10, 0x4000, &need));
#undef FAIL_IMAGE
}

static void test_jpeg_damaged(void **state)
{
    buf_t b = {0};
    /* an APP1 segment whose length runs past the end of the data */
    put(&b,
        "\xff\xd8\xff\xe1\x10\x00"
        "Exif\0\0MM\0\x2a\xff\xc0\x00\x11\x08\x00\x10\x00\x10",
        25);
    expect_fail("segment past the end", PNG_URL, b.p, b.n);
    b.n = 0;
    /* a segment length below 2 */
    put(&b, "\xff\xd8\xff\xe0\x00\x01\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03", 16);
    expect_fail("segment length 1", PNG_URL, b.p, b.n);
    b.n = 0;
    /* no 0xFF where a marker is due (libjpeg would skip to the next 0xFF; we give up) */
    put(&b, "\xff\xd8\x00\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03", 13);
    expect_fail("junk before a marker", PNG_URL, b.p, b.n);
    b.n = 0;
    /* scan data before any frame header; EOI; a stuffed zero; a second SOI; DHP */
    static const uint8_t stop[] = {0xda, 0xd9, 0x00, 0xd8, 0xde};
    for (size_t i = 0; i < sizeof(stop); i++) {
        b.n = 0;
        put(&b, "\xff\xd8\xff", 3);
        put1(&b, stop[i]);
        put(&b, "\x00\x11\x08\x00\x10\x00\x10\x03\x01\x22\x00", 11);
        put(&b, "\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03\x01\x22\x00", 13);
        char what[32];
        snprintf(what, sizeof(what), "marker 0x%02x before SOF", stop[i]);
        expect_fail(what, PNG_URL, b.p, b.n);
    }
    /* a SOF segment too short to hold a size */
    b.n = 0;
    put(&b, "\xff\xd8\xff\xc0\x00\x07\x08\x00\x10\x00\x10\x03\x01\x22\x00", 15);
    expect_fail("SOF length 7", PNG_URL, b.p, b.n);
    /* SOI alone; SOI and fill bytes */
    expect_fail("SOI only", PNG_URL, (const uint8_t *)"\xff\xd8", 2);
    expect_fail("SOI and fill", PNG_URL, (const uint8_t *)"\xff\xd8\xff\xff\xff", 5);
    /* restart markers are standalone */
    b.n = 0;
    put(&b, "\xff\xd8\xff\xd3\xff\xc0\x00\x11\x08\x00\x10\x00\x20\x03\x01\x22\x00", 17);
    expect_size("RST3 before SOF", PNG_URL, b.p, b.n, 32, 16);
    free(b.p);
}

/* APPn segments of 64 KiB each in front of the frame header: the size is found while the SOF
 * lies within TG_IMAGE_SCAN_MAX decoded bytes, not beyond. */
static buf_t jpeg_far_sof(size_t segments)
{
    buf_t b = {0};
    put(&b, "\xff\xd8", 2);
    for (size_t i = 0; i < segments; i++) {
        put(&b, "\xff\xe2", 2);
        put_be16(&b, 65535);
        put_fill(&b, (uint8_t)(0x40 + i), 65533);
    }
    put(&b, "\xff\xc0\x00\x11\x08\x02\x00\x03\x00\x03\x01\x22\x00", 13);
    put(&b, "\xff\xd9", 2);
    return b;
}

static void test_jpeg_scan_limit(void **state)
{
    size_t fits = (TG_IMAGE_SCAN_MAX - 2 - 9) / 65537; /* whole segments before the SOF */
    buf_t b = jpeg_far_sof(fits);
    assert_true(b.n - 6 <= TG_IMAGE_SCAN_MAX);
    expect_size("SOF within the scan limit", PNG_URL, b.p, b.n, 768, 512);
    free(b.p);
    b = jpeg_far_sof(fits + 1);
    assert_true(b.n - 6 > TG_IMAGE_SCAN_MAX);
    expect_fail("SOF beyond the scan limit", PNG_URL, b.p, b.n);
    free(b.p);
}

/* ---- tiles ---------------------------------------------------------------------------------- */

/* The documented rule in double arithmetic, in every way one might write it; only these
 * references use floating point. Each scaling step independently picks how it divides (`form`
 * 0: x * (c / y), 1: x / y * c, 2: c / (y / x), 3: c * x / y) and what it does to the scaled
 * side (`rmode` 0: kept as a double, 1: truncated as Python's int() does, 2: rounded to nearest,
 * 3: rounded up). The first step may also compute its longest side (a * (2048 / a), rounded the
 * same way) instead of setting it to 2048; the second may scale from the original sides. */
static double scale(double x, double c, double y, int form)
{
    switch (form) {
    case 0:
        return x * (c / y);
    case 1:
        return x / y * c;
    case 2:
        return c / (y / x);
    default:
        return c * x / y;
    }
}

static double rnd(double x, int rmode)
{
    return rmode == 1 ? floor(x) : rmode == 2 ? floor(x + 0.5) : rmode == 3 ? ceil(x) : x;
}

/* the most tiles over every way above */
static int64_t ref_tiles(uint32_t w, uint32_t h)
{
    double a0 = w > h ? w : h, b0 = w > h ? h : w;
    double firsts[64][2]; /* the distinct (a, b) after the first step */
    int n = 0;
    for (int form = 0; form < 4; form++)
        for (int rmode = 0; rmode < 4; rmode++)
            for (int longf = 0; longf < 2; longf++) {
                double a = a0, b = b0;
                if (a0 > 2048) {
                    b = rnd(scale(b0, 2048, a0, form), rmode);
                    a = longf ? rnd(a0 * (2048 / a0), rmode) : 2048;
                    if (b < 1)
                        b = 1;
                }
                int seen = 0;
                for (int i = 0; i < n; i++)
                    seen |= firsts[i][0] == a && firsts[i][1] == b;
                if (!seen) {
                    firsts[n][0] = a;
                    firsts[n++][1] = b;
                }
            }
    int64_t most = 0;
    for (int i = 0; i < n; i++)
        for (int form = 0; form < 4; form++)
            for (int rmode = 0; rmode < 4; rmode++)
                for (int orig = 0; orig < 2; orig++) {
                    double a = firsts[i][0], b = firsts[i][1];
                    if (b > 768) {
                        a = rnd(orig ? scale(a0, 768, b0, form) : scale(a, 768, b, form), rmode);
                        b = 768;
                    }
                    int64_t t = (int64_t)(ceil(a / 512) * ceil(b / 512));
                    if (t > most)
                        most = t;
                }
    return most;
}

/* tg_image_tiles is the most tiles any of those ways gives: never fewer (an upper bound), never
 * more (no slack). */
static void check_tiles(uint32_t w, uint32_t h)
{
    int64_t t = tg_image_tiles(w, h);
    if (t < 1 || t > TG_IMAGE_MAX_TILES)
        fail_msg("%u x %u: %lld tiles, outside 1 .. %d", w, h, (long long)t, TG_IMAGE_MAX_TILES);
    if (tg_image_tiles(h, w) != t)
        fail_msg("%u x %u: not symmetric", w, h);
    int64_t r = ref_tiles(w, h);
    if (t != r)
        fail_msg("%u x %u: %lld tiles, the double references' most %lld", w, h, (long long)t,
                 (long long)r);
}

static void test_tiles_documented(void **state)
{
    /* gpt-4o: 85 base tokens + 170 per tile */
    assert_int_equal(tg_image_tiles(1024, 1024), 4);
    assert_int_equal(85 + 170 * tg_image_tiles(1024, 1024), 765);
    assert_int_equal(tg_image_tiles(2048, 4096), 6);
    assert_int_equal(85 + 170 * tg_image_tiles(2048, 4096), 1105);
    assert_int_equal(tg_image_tiles(4096, 2048), 6);
    assert_int_equal(tg_image_tiles(4096, 8192), 6);
    assert_int_equal(tg_image_tiles(512, 512), 1);
    assert_int_equal(tg_image_tiles(100, 100), 1);
    assert_int_equal(tg_image_tiles(1, 1), 1);
    assert_int_equal(tg_image_tiles(512, 513), 2);
    assert_int_equal(tg_image_tiles(513, 513), 4);
    assert_int_equal(tg_image_tiles(768, 768), 4);
    assert_int_equal(tg_image_tiles(1920, 1080), 6); /* 1366 x 768 */
    assert_int_equal(tg_image_tiles(1280, 720), 6);  /* no scaling: 3 x 2 */
    /* common photo sizes whose scaled sides are exact integers: every double formulation is
     * exact there too, so no tile is added */
    assert_int_equal(tg_image_tiles(4032, 3024), 4); /* 2048 x 1536, then 1024 x 768 */
    assert_int_equal(tg_image_tiles(4000, 3000), 4);
    assert_int_equal(tg_image_tiles(1600, 1200), 4); /* 1024 x 768 */
    assert_int_equal(tg_image_tiles(6000, 3000), 6); /* 2048 x 1024, then 1536 x 768 */
    assert_int_equal(tg_image_tiles(2000, 1000), 6);
    /* a knife edge where a double does miss: 3073 * (2048.0 / 6146) = 1023.99.., truncated to
     * 1023, and 2048 * 768 / 1023 = 1537.5 takes a fourth tile; exactly, 1024 and 1536 take 3 */
    assert_int_equal(tg_image_tiles(6146, 3073), 8);
    check_tiles(6146, 3073);
}

static void test_tiles_extremes(void **state)
{
    /* the worst case: neither step changes 768 x 2048 */
    assert_int_equal(tg_image_tiles(768, 2048), TG_IMAGE_MAX_TILES);
    assert_int_equal(tg_image_tiles(2048, 768), TG_IMAGE_MAX_TILES);
    assert_int_equal(tg_image_tiles(513, 1537), TG_IMAGE_MAX_TILES);
    assert_int_equal(tg_image_tiles(1536, 4096), TG_IMAGE_MAX_TILES);
    /* just past it: the short side is brought down to 768, the long side follows */
    assert_int_equal(tg_image_tiles(769, 2048), 8);  /* 768 x 2045.3 */
    assert_int_equal(tg_image_tiles(1024, 2048), 6); /* 768 x 1536 */
    assert_int_equal(tg_image_tiles(2048, 2048), 4);
    /* thin images */
    assert_int_equal(tg_image_tiles(1, 2048), 4);
    assert_int_equal(tg_image_tiles(1, 100000), 4);
    assert_int_equal(tg_image_tiles(UINT32_MAX, 1), 4);
    assert_int_equal(tg_image_tiles(UINT32_MAX, UINT32_MAX), 4);
    assert_int_equal(tg_image_tiles(6000, 4000), 6); /* 2048 x 1365.3, then 1152 x 768 */
    assert_int_equal(tg_image_tiles(4096, 1366), 8); /* 2048 x 683 */
    /* no such image: the worst case */
    assert_int_equal(tg_image_tiles(0, 0), TG_IMAGE_MAX_TILES);
    assert_int_equal(tg_image_tiles(0, 100), TG_IMAGE_MAX_TILES);
    assert_int_equal(tg_image_tiles(100, 0), TG_IMAGE_MAX_TILES);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* a side near one of the rule's thresholds, or anywhere */
static uint32_t random_side(void)
{
    static const uint32_t near[] = {1, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192};
    switch (rng() % 4) {
    case 0: {
        uint32_t c = near[rng() % (sizeof(near) / sizeof(near[0]))];
        uint32_t s = c + (uint32_t)(rng() % 9) - 4;
        return s ? s : 1;
    }
    case 1:
        return 1 + (uint32_t)(rng() % 5000);
    case 2:
        return 1 + (uint32_t)(rng() % 100000);
    default:
        return (uint32_t)rng() | 1;
    }
}

static void test_tiles_random(void **state)
{
    for (int i = 0; i < 200000; i++)
        check_tiles(random_side(), random_side());
    /* a grid that crosses every threshold */
    for (uint32_t w = 1; w <= 2600; w += 7)
        for (uint32_t h = w; h <= 6200; h += 11)
            check_tiles(w, h);
}

/* Every size whose first step gives an exact integer side (b * 2048 / a whole), where float
 * formulations land on either side of it, and every size whose second step gives exactly 1024
 * or 1536 (a * 768 / b whole and a multiple of 512). */
static void test_tiles_knife_edges(void **state)
{
    for (uint32_t a = 2049; a <= 13000; a++) {
        uint32_t g = a, c = 2048; /* gcd(a, 2048) */
        while (c) {
            uint32_t t = g % c;
            g = c;
            c = t;
        }
        for (uint32_t b = a / g; b <= a; b += a / g)
            check_tiles(a, b);
    }
    for (uint32_t b = 769; b <= 2048; b++)
        for (uint32_t m = 2; m <= 3; m++)
            if ((512u * m * b) % 768 == 0) {
                uint32_t a = 512u * m * b / 768;
                if (a <= 2048)
                    check_tiles(a, b);
                for (uint32_t k = 2; k <= 6; k++)
                    check_tiles(a * k, b * k); /* the same after the first step */
            }
}

/* ---- robustness ----------------------------------------------------------------------------- */

static void call_any(const char *url, size_t len)
{
    uint32_t w = 0, h = 0;
    int rc = size_of(url, len, &w, &h);
    assert_true(rc == 0 || rc == -1);
    if (rc == 0)
        assert_true(w >= 1 && h >= 1 && w <= TG_IMAGE_DIM_MAX && h <= TG_IMAGE_DIM_MAX);
}

static void test_fuzz(void **state)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n*%\x80\xff";
    char text[600];
    uint8_t bytes[400];
    size_t plen = strlen(PNG_URL), need;
    memcpy(text, PNG_URL, plen);

    /* random text after the prefix */
    for (int i = 0; i < 100000; i++) {
        size_t n = rng() % (sizeof(text) - plen);
        for (size_t j = 0; j < n; j++)
            text[plen + j] = (rng() % 8) ? alphabet[rng() % (sizeof(alphabet) - 1)] : (char)rng();
        call_any(text, plen + n);
    }

    /* random bytes, base64-encoded, often behind a real magic number */
    static const struct {
        const char *s;
        size_t n;
    } magic[] = {
#define M(lit) {lit, sizeof(lit) - 1}
        M(""),
        M("\xff\xd8"),
        M("\xff\xd8\xff"),
        M("\x89PNG\r\n\x1a\n"),
        M("GIF89a"),
        M("RIFF\x20\0\0\0WEBPVP8 "),
        M("RIFF\x20\0\0\0WEBPVP8L"),
        M("RIFF\x20\0\0\0WEBPVP8X"),
#undef M
    };
    for (int i = 0; i < 100000; i++) {
        size_t k = rng() % (sizeof(magic) / sizeof(magic[0]));
        const char *m = magic[k].s;
        size_t mlen = magic[k].n, n = mlen + rng() % (sizeof(bytes) - mlen);
        memcpy(bytes, m, mlen);
        for (size_t j = mlen; j < n; j++)
            bytes[j] = (rng() % 4) ? (uint8_t)rng() : 0xff;
        size_t len;
        char *url = data_url(PNG_URL, bytes, n, &len);
        call_any(url, len);
        free(url);
    }

    /* valid images with a few bytes changed or cut short */
    buf_t imgs[7];
    imgs[0] = png(300, 200, &need);
    imgs[1] = gif("GIF89a", 300, 200, &need);
    imgs[2] = jpeg(0xc0, 300, 200, 100, &need);
    imgs[3] = jpeg(0xc2, 300, 200, 0, &need);
    imgs[4] = webp_vp8(300, 200, &need);
    imgs[5] = webp_vp8l(300, 200, &need);
    imgs[6] = webp_vp8x(300, 200, &need);
    for (int i = 0; i < 50000; i++) {
        const buf_t *src = &imgs[rng() % 7];
        uint8_t *copy = malloc(src->n);
        assert_non_null(copy);
        memcpy(copy, src->p, src->n);
        int flips = 1 + (int)(rng() % 4);
        for (int f = 0; f < flips; f++)
            copy[rng() % src->n] = (rng() % 2) ? (uint8_t)rng() : 0xff;
        size_t n = (rng() % 3) ? src->n : rng() % src->n, len;
        char *url = data_url(PNG_URL, copy, n, &len);
        call_any(url, len);
        free(url);
        free(copy);
    }
    for (int i = 0; i < 7; i++)
        free(imgs[i].p);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png),
        cmocka_unit_test(test_gif),
        cmocka_unit_test(test_jpeg),
        cmocka_unit_test(test_webp),
        cmocka_unit_test(test_data_url_forms),
        cmocka_unit_test(test_base64_alphabets),
        cmocka_unit_test(test_not_data_urls),
        cmocka_unit_test(test_bad_base64),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_zero_and_absurd_sizes),
        cmocka_unit_test(test_jpeg_damaged),
        cmocka_unit_test(test_jpeg_scan_limit),
        cmocka_unit_test(test_tiles_documented),
        cmocka_unit_test(test_tiles_extremes),
        cmocka_unit_test(test_tiles_random),
        cmocka_unit_test(test_tiles_knife_edges),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests_name("image", tests, NULL, NULL);
}
