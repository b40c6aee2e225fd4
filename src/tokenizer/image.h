/* Image parts of a Chat Completions request: their pixel size, read from the header of an image
 * given inline as a data: URL, and OpenAI's tile count for that size, so that a pre-request
 * reservation of prompt tokens can include images. The caller reserves
 * base + tiles * tile_tokens per image (the model's constants; "low" detail is base alone).
 *
 * Invariants:
 * - Every result is meant as an UPPER bound for the reservation: tg_image_tiles never returns
 *   less than OpenAI's documented computation gives (whatever way OpenAI rounds the scaled
 *   sides), and never more than TG_IMAGE_MAX_TILES. An image whose size cannot be read
 *   (tg_image_size fails) is reserved at TG_IMAGE_MAX_TILES.
 * - Pure functions: no allocation, no global state, safe on any thread, defined behaviour on
 *   every input (any bytes, any length, any uint32_t size).
 * - Input is a (pointer, length) byte range; nothing is read outside it and it need not be
 *   NUL-terminated. Nothing is kept after a call returns (url is borrowed). */
#ifndef TG_TOKENIZER_IMAGE_H
#define TG_TOKENIZER_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* tg_image_size decodes at most this many bytes of the image (an upper bound on the work per
 * image: about 1.4 MB of base64 text). Enough for a JPEG whose SOF follows large EXIF, XMP or
 * ICC segments (each at most 64 KiB); a SOF further in fails, and the caller reserves the worst
 * case. */
#define TG_IMAGE_SCAN_MAX (1024u * 1024u)

/* The largest width or height tg_image_size accepts (WebP's own limit; JPEG and GIF stop at
 * 65535). A larger PNG is absurd: it fails, and the caller reserves the worst case. */
#define TG_IMAGE_DIM_MAX (1u << 24)

/* The pixel size of an image given as a data: URL, "data:[<media type>][;<param>]*;base64,<data>"
 * ("data:" and ";base64" in any case; any media type, the format is found from the bytes).
 * Formats: PNG (IHDR), GIF (logical screen descriptor), JPEG (the first SOF0..SOF15 marker other
 * than DHT C4, JPG C8 and DAC CC, found by walking the segments: fill bytes 0xFF and standalone
 * markers are skipped; any byte other than 0xFF where a marker is due fails), WebP (RIFF....WEBP,
 * then VP8 (key frame), VP8L or VP8X (canvas size)).
 *
 * The base64 text (standard or URL-safe alphabet; ASCII whitespace is skipped; decoding stops
 * at the first '=') is decoded incrementally and only as far as the header needs, at most
 * TG_IMAGE_SCAN_MAX bytes; only that prefix is checked.
 *
 * Returns 0 with *w and *h (1 .. TG_IMAGE_DIM_MAX), or -1 (not a data URL, not base64, a
 * character outside the base64 alphabet, unknown format, truncated or damaged header, SOF not
 * within TG_IMAGE_SCAN_MAX bytes, a zero or larger than TG_IMAGE_DIM_MAX side); on -1, *w and *h
 * are left alone. Reads only url[0 .. len); url may be NULL when len is 0. */
int tg_image_size(const char *url, size_t len, uint32_t *w, uint32_t *h);

/* OpenAI's tile count for detail "high" (and "auto", which may choose "high"), from
 * https://platform.openai.com/docs/guides/images-vision, "Calculating costs": the image is
 * scaled to fit within 2048 x 2048 keeping its aspect ratio (only down), then scaled down so that
 * its shortest side is 768 (only when it is longer), then covered with 512 x 512 tiles:
 * ceil(w / 512) * ceil(h / 512). OpenAI does not say how it rounds the scaled sides to pixels,
 * so each step takes the rounding that gives the most tiles: the shortest side after the first
 * step is taken as its ceiling when it is counted and as its floor when it divides the longest
 * side in the second step; the longest side after the second step is taken as its ceiling.
 * An intermediate side that is an exact integer is used as it is, unless a double computation
 * of it (x * (c / y), x / y * c, c / (y / x) or c * x / y, emulated bit for bit in integers)
 * lands just beside it; then the neighbour that costs more is taken too (6146 x 3073: 8 tiles,
 * not 6, since 3073 * (2048.0 / 6146) = 1023.99.. truncates to 1023). The result is the most
 * tiles over all those roundings and formulations, and no more: the documented examples and the
 * common photo sizes come out exactly (1024 x 1024 -> 4, 2048 x 4096 -> 6, 4032 x 3024 -> 4).
 *
 * Integer arithmetic only. Symmetric in w and h. Returns 1 .. TG_IMAGE_MAX_TILES; a zero side
 * (no such image) gives TG_IMAGE_MAX_TILES. */
int64_t tg_image_tiles(uint32_t w, uint32_t h);

/* The largest value tg_image_tiles returns, the reservation for an image of unknown size.
 * After the first step the longest side is at most 2048: at most 4 tiles along it (taking the
 * ceiling in the second step cannot exceed 2048 either, since that step scales by 768 / s with
 * s > 768). After the second step the shortest side is at most 768: at most 2 tiles across.
 * 4 * 2 = 8, and 768 x 2048 reaches it (neither step changes it: 2 x 4 tiles). */
#define TG_IMAGE_MAX_TILES 8

#endif
