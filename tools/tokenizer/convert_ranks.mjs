#!/usr/bin/env node
// Converts the BPE ranks that the npm package js-tiktoken ships (dist/ranks/<name>.js: JSON with
// base64 tokens) into the compact binary files data/tokenizer/<name>.tgbpe that
// src/tokenizer/bpe.c loads. Run once per package upgrade; the output is committed.
//
// Usage (from the repository root):
//   (cd tests/tokenizer && npm install)           # js-tiktoken, pinned in tests/tokenizer/package.json
//   node tools/tokenizer/convert_ranks.mjs        # writes data/tokenizer/{cl100k,o200k}_base.tgbpe
//   node tools/tokenizer/convert_ranks.mjs --check  # exit 1 if the files on disk differ
// Options: --pkg DIR (an installed js-tiktoken), --out DIR (default data/tokenizer).
//
// File format (all integers little-endian), see docs/internals/tokenizer.md:
//   "TGBPE01\n"                  8 bytes magic
//   u32 n_ranks                  ranks are 0 .. n_ranks-1, contiguous (checked here)
//   u32 blob_bytes               total bytes of all tokens
//   u32 n_special
//   u32 name_len, name bytes     encoding name ("o200k_base")
//   u32 pat_len,  pat bytes      js-tiktoken's pat_str, checked by the loader against the
//                                pattern its hand-written scanner implements
//   n_special x (u32 rank, u32 len, bytes)
//   n_ranks x u8                 length of token r (1..255)
//   blob_bytes                   the tokens' bytes, concatenated in rank order
//   u64 FNV-1a of everything before it

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const ENCODINGS = ['cl100k_base', 'o200k_base'];

function arg(name, dflt) {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : dflt;
}
const check = process.argv.includes('--check');
const outDir = path.resolve(arg('--out', path.join(root, 'data/tokenizer')));
const pkgDir = path.resolve(arg('--pkg', path.join(root, 'tests/tokenizer/node_modules/js-tiktoken')));
const req = createRequire(path.join(pkgDir, 'package.json'));
const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));

function fnv1a64(buf) {
    // 64-bit FNV-1a kept as two 32-bit halves (BigInt per byte is slow for megabytes):
    // h * 0x100000001b3 = h * 0x1b3 + (h << 40) (mod 2^64).
    let lo = 0x84222325, hi = 0xcbf29ce4;
    for (let i = 0; i < buf.length; i++) {
        lo = (lo ^ buf[i]) >>> 0;
        const a = lo * 0x1b3, b = hi * 0x1b3;
        const nlo = a >>> 0;
        const carry = Math.floor(a / 4294967296);
        const nhi = (b + carry + ((lo << 8) >>> 0)) >>> 0;
        lo = nlo; hi = nhi;
    }
    return (BigInt(hi) << 32n) | BigInt(lo);
}

function u32(n) { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; }

function convert(name) {
    const mod = req(path.join(pkgDir, 'dist/ranks', name + '.cjs'));
    const data = mod.default ?? mod;
    const ranks = new Map(); // rank -> Buffer
    const seen = new Set();
    for (const line of data.bpe_ranks.split('\n').filter(Boolean)) {
        const [, offStr, ...toks] = line.split(' ');
        const off = Number.parseInt(offStr, 10);
        toks.forEach((t, i) => {
            if (seen.has(t)) throw new Error(`${name}: token ${t} listed twice`);
            seen.add(t);
            const r = off + i;
            if (ranks.has(r)) throw new Error(`${name}: rank ${r} listed twice`);
            ranks.set(r, Buffer.from(t, 'base64'));
        });
    }
    const n = ranks.size;
    const lens = Buffer.alloc(n);
    const parts = [];
    let blob = 0;
    for (let r = 0; r < n; r++) {
        const b = ranks.get(r);
        if (!b) throw new Error(`${name}: ranks are not contiguous (no rank ${r})`);
        if (b.length < 1 || b.length > 255) throw new Error(`${name}: token ${r} has ${b.length} bytes`);
        lens[r] = b.length;
        parts.push(b);
        blob += b.length;
    }
    for (let c = 0; c < 256; c++) {
        if (!seen.has(Buffer.from([c]).toString('base64')))
            throw new Error(`${name}: byte ${c} has no token`);
    }
    const specials = Object.entries(data.special_tokens).sort((a, b) => a[1] - b[1]);
    const head = [Buffer.from('TGBPE01\n', 'latin1'), u32(n), u32(blob), u32(specials.length)];
    const nameB = Buffer.from(name, 'utf8'), patB = Buffer.from(data.pat_str, 'utf8');
    head.push(u32(nameB.length), nameB, u32(patB.length), patB);
    for (const [text, rank] of specials) {
        const tb = Buffer.from(text, 'utf8');
        head.push(u32(rank), u32(tb.length), tb);
    }
    const body = Buffer.concat([...head, lens, ...parts]);
    const sum = Buffer.alloc(8);
    sum.writeBigUInt64LE(fnv1a64(body));
    return { file: Buffer.concat([body, sum]), n, blob, pat: data.pat_str, specials };
}

let differ = false;
mkdirSync(outDir, { recursive: true });
for (const name of ENCODINGS) {
    const { file, n, blob, pat, specials } = convert(name);
    const dest = path.join(outDir, name + '.tgbpe');
    let old = null;
    try { old = readFileSync(dest); } catch { /* absent */ }
    const same = old && Buffer.compare(old, file) === 0;
    console.log(`${name}: ${n} ranks, ${blob} token bytes, ${specials.length} special, ` +
                `${file.length} bytes -> ${path.relative(root, dest)}${same ? ' (unchanged)' : ''}`);
    console.log(`  pat_str: ${pat}`);
    if (check) {
        if (!same) differ = true;
    } else if (!same) {
        writeFileSync(dest, file);
    }
}
console.log(`source: npm ${pkg.name}@${pkg.version} (${pkg.license})`);
if (check && differ) {
    console.error('data/tokenizer differs from what the package gives');
    process.exit(1);
}
