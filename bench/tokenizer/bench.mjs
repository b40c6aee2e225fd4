#!/usr/bin/env node
// Tokenizer benchmark, reference side: tokens/s of js-tiktoken (tests/tokenizer/package.json)
// over the same corpus and subsets as bench.c, same output lines with "js" in place of "c".
// The bytes are decoded to strings (TextDecoder, as the exactness test does) before timing:
// a JavaScript caller holds strings, so only encode() is timed.
//
// Usage: node bench/tokenizer/bench.mjs CORPUS_DIR [SECONDS]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const req = createRequire(path.join(root, 'tests/tokenizer/package.json'));
const { Tiktoken } = req('js-tiktoken/lite');
const dir = process.argv[2] ?? path.join(root, 'build/tokenizer');
const budget = Number(process.argv[3] ?? '2');

const b = readFileSync(path.join(dir, 'corpus.bin'));
if (b.subarray(0, 8).toString('latin1') !== 'TGCORP1\n') throw new Error('bad corpus.bin');
let p = 8;
const ncat = b.readUInt32LE(p); p += 4;
const cats = [];
for (let i = 0; i < ncat; i++) { const l = b.readUInt32LE(p); cats.push(b.toString('utf8', p + 4, p + 4 + l)); p += 4 + l; }
const n = b.readUInt32LE(p); p += 4;
const dec = new TextDecoder('utf-8', { ignoreBOM: true });
const items = [];
for (let i = 0; i < n; i++) {
    const cat = cats[b.readUInt32LE(p)], len = b.readUInt32LE(p + 4);
    items.push({ cat, len, text: dec.decode(b.subarray(p + 8, p + 8 + len)) });
    p += 8 + len;
}
const SUBSETS = {
    all: () => true,
    typical: (c) => c !== 'long_pieces',
    english: (c) => c === 'english',
    chinese: (c) => c === 'chinese',
    code: (c) => c.startsWith('code_'),
};
const now = () => Number(process.hrtime.bigint()) / 1e9;
for (const name of ['cl100k_base', 'o200k_base']) {
    const ranks = req(`js-tiktoken/ranks/${name}`);
    let t0 = now();
    const enc = new Tiktoken(ranks.default ?? ranks);
    console.log(`LOAD js ${name} ${((now() - t0) * 1e3).toFixed(2)}`);
    for (const [sub, f] of Object.entries(SUBSETS)) {
        const sel = items.filter((it) => f(it.cat));
        const bytes = sel.reduce((a, it) => a + it.len, 0);
        const pass = () => { let k = 0; for (const it of sel) k += enc.encode(it.text, [], []).length; return k; };
        let tokens = pass(); // warm-up (JIT)
        let best = Infinity, passes = 0;
        const start = now();
        while (passes < 1 || now() - start < budget) {
            t0 = now();
            tokens = pass();
            best = Math.min(best, now() - t0);
            passes++;
        }
        console.log(`RESULT js ${name} ${sub} ${sel.length} ${bytes} ${tokens} ${best.toFixed(6)}`);
    }
}
