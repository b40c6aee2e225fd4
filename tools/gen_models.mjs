#!/usr/bin/env node
// Regenerates data/models.json, Tollgate's default OpenAI model table.
//
// Usage (from the repository root; nothing is left inside the work tree):
//   tmp=$(mktemp -d)
//   npm install --prefix "$tmp" gpt-tokenizer@4.0.0
//   node tools/gen_models.mjs --pkg "$tmp/node_modules/gpt-tokenizer" --retrieved 2026-11-30
//
// Options:
//   --pkg DIR         the installed gpt-tokenizer package (default: resolved from tools/node_modules)
//   --retrieved DATE  the date written to "retrieved" (default: today, UTC)
//   --out FILE        where to write (default: data/models.json next to this script's parent)
//   --check           do not write; exit 1 if the file on disk differs from what would be written
//
// What comes from where (see data/README.md for the long version):
//   * From gpt-tokenizer (esm/models.js, built from its src/models.gen.ts scrape of OpenAI's model
//     catalogue, and esm/mapping.js): which models exist, their endpoints, context_window,
//     max_output_tokens, and the tokenizer (modelToEncodingMap; unmapped ids use the package's
//     DEFAULT_ENCODING, o200k_base).
//   * Prices come from the PRICES table below: OpenAI's public Standard-tier list prices per 1M
//     tokens. The package's own price_data is NOT used for the output: in 4.0.0 (and 3.x) it is
//     missing for most current models (gpt-4o-mini, gpt-4.1-mini, o4-mini, gpt-5-mini, embeddings,
//     ...) and wrong for several others (gpt-4o, gpt-4.1, gpt-5 all read $10/$30; o3 reads $15/$60;
//     o1's cached-input price is filed under cached_output). The script still reads it and prints,
//     model by model, where it agrees and where it differs, so a future package version that fixes
//     its scraper can be checked against this table.
//   * "created" comes from the CREATED table below: values OpenAI's GET /v1/models returns for the
//     id (the package carries no creation dates). Only ids with an observed value are listed.

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------------
// Selection and prices. [input, cached_input (null = no cached price), output], USD per 1M tokens,
// as decimal strings. Standard tier (not Batch/Flex/Priority), short-context rate.
// ---------------------------------------------------------------------------------------------
const PRICES = {
  // legacy /v1/completions models
  'babbage-002': ['completion', '0.4', null, '0.4'],
  'davinci-002': ['completion', '2', null, '2'],
  'gpt-3.5-turbo-instruct': ['completion', '1.5', null, '2'],

  // embeddings (output is never billed)
  'text-embedding-3-large': ['embedding', '0.13', null, '0'],
  'text-embedding-3-small': ['embedding', '0.02', null, '0'],
  'text-embedding-ada-002': ['embedding', '0.1', null, '0'],

  // GPT-3.5 / GPT-4 (cl100k_base)
  'gpt-3.5-turbo': ['chat', '0.5', null, '1.5'],
  'gpt-3.5-turbo-0125': ['chat', '0.5', null, '1.5'],
  'gpt-3.5-turbo-1106': ['chat', '1', null, '2'],
  'gpt-4': ['chat', '30', null, '60'],
  'gpt-4-0613': ['chat', '30', null, '60'],
  'gpt-4-turbo': ['chat', '10', null, '30'],
  'gpt-4-turbo-2024-04-09': ['chat', '10', null, '30'],

  // GPT-4o
  'gpt-4o': ['chat', '2.5', '1.25', '10'],
  'gpt-4o-2024-05-13': ['chat', '5', null, '15'],
  'gpt-4o-2024-08-06': ['chat', '2.5', '1.25', '10'],
  'gpt-4o-2024-11-20': ['chat', '2.5', '1.25', '10'],
  'gpt-4o-mini': ['chat', '0.15', '0.075', '0.6'],
  'gpt-4o-mini-2024-07-18': ['chat', '0.15', '0.075', '0.6'],

  // GPT-4.1
  'gpt-4.1': ['chat', '2', '0.5', '8'],
  'gpt-4.1-2025-04-14': ['chat', '2', '0.5', '8'],
  'gpt-4.1-mini': ['chat', '0.4', '0.1', '1.6'],
  'gpt-4.1-mini-2025-04-14': ['chat', '0.4', '0.1', '1.6'],
  'gpt-4.1-nano': ['chat', '0.1', '0.025', '0.4'],
  'gpt-4.1-nano-2025-04-14': ['chat', '0.1', '0.025', '0.4'],

  // o-series reasoning models
  'o1': ['chat', '15', '7.5', '60'],
  'o1-2024-12-17': ['chat', '15', '7.5', '60'],
  'o1-mini': ['chat', '1.1', '0.55', '4.4'],
  'o1-mini-2024-09-12': ['chat', '1.1', '0.55', '4.4'],
  'o3': ['chat', '2', '0.5', '8'],
  'o3-2025-04-16': ['chat', '2', '0.5', '8'],
  'o3-mini': ['chat', '1.1', '0.55', '4.4'],
  'o3-mini-2025-01-31': ['chat', '1.1', '0.55', '4.4'],
  'o4-mini': ['chat', '1.1', '0.275', '4.4'],
  'o4-mini-2025-04-16': ['chat', '1.1', '0.275', '4.4'],

  // GPT-5 family
  'gpt-5': ['chat', '1.25', '0.125', '10'],
  'gpt-5-2025-08-07': ['chat', '1.25', '0.125', '10'],
  'gpt-5-chat-latest': ['chat', '1.25', '0.125', '10'],
  'gpt-5-mini': ['chat', '0.25', '0.025', '2'],
  'gpt-5-mini-2025-08-07': ['chat', '0.25', '0.025', '2'],
  'gpt-5-nano': ['chat', '0.05', '0.005', '0.4'],
  'gpt-5-nano-2025-08-07': ['chat', '0.05', '0.005', '0.4'],
  'gpt-5.1': ['chat', '1.25', '0.125', '10'],
  'gpt-5.2': ['chat', '1.75', '0.175', '14'],
  'gpt-5.2-2025-12-11': ['chat', '1.75', '0.175', '14'],
  'gpt-5.2-chat-latest': ['chat', '1.75', '0.175', '14'],
  // gpt-5.4 and gpt-5.5: OpenAI bills prompts over 272K input tokens at a higher long-context
  // rate; these rows carry the base (<= 272K) rate only.
  'gpt-5.4': ['chat', '2.5', '0.25', '15'],
  'gpt-5.4-mini': ['chat', '0.75', '0.075', '4.5'],
  'gpt-5.4-mini-2026-03-17': ['chat', '0.75', '0.075', '4.5'],
  'gpt-5.4-nano': ['chat', '0.2', '0.02', '1.25'],
  'gpt-5.5': ['chat', '5', '0.5', '30'],
};

// created: unix seconds as returned by OpenAI's GET /v1/models for that exact id.
const CREATED = {
  'babbage-002': 1692634615,
  'davinci-002': 1692634301,
  'gpt-3.5-turbo': 1677610602,
  'gpt-3.5-turbo-0125': 1706048358,
  'gpt-3.5-turbo-1106': 1698959748,
  'gpt-3.5-turbo-instruct': 1692901427,
  'gpt-4': 1687882411,
  'gpt-4-0613': 1686588896,
  'gpt-4-turbo': 1712361441,
  'gpt-4-turbo-2024-04-09': 1712601677,
  'gpt-4.1': 1744316542,
  'gpt-4.1-2025-04-14': 1744315746,
  'gpt-4.1-mini': 1744318173,
  'gpt-4.1-mini-2025-04-14': 1744317547,
  'gpt-4.1-nano': 1744321707,
  'gpt-4.1-nano-2025-04-14': 1744321025,
  'gpt-4o': 1715367049,
  'gpt-4o-2024-05-13': 1715368132,
  'gpt-4o-2024-08-06': 1722814719,
  'gpt-4o-2024-11-20': 1739331543,
  'gpt-4o-mini': 1721172741,
  'gpt-4o-mini-2024-07-18': 1721172717,
  'gpt-5': 1754425777,
  'gpt-5-2025-08-07': 1754075360,
  'gpt-5-chat-latest': 1754073306,
  'gpt-5-mini': 1754425928,
  'gpt-5-mini-2025-08-07': 1754425867,
  'gpt-5-nano': 1754426384,
  'gpt-5-nano-2025-08-07': 1754426303,
  'gpt-5.1': 1762800673,
  'gpt-5.2': 1765313051,
  'gpt-5.2-2025-12-11': 1765313028,
  'gpt-5.2-chat-latest': 1765344352,
  'gpt-5.4': 1772691852,
  'gpt-5.4-mini': 1773451123,
  'gpt-5.4-mini-2026-03-17': 1773451076,
  'gpt-5.4-nano': 1773450870,
  'gpt-5.5': 1776824847,
  'o1': 1734375816,
  'o1-2024-12-17': 1734326976,
  'o1-mini': 1725649008,
  'o1-mini-2024-09-12': 1725648979,
  'o3': 1744225308,
  'o3-2025-04-16': 1744133301,
  'o3-mini': 1737146383,
  'o3-mini-2025-01-31': 1738010200,
  'o4-mini': 1744225351,
  'o4-mini-2025-04-16': 1744133506,
  'text-embedding-3-large': 1705953180,
  'text-embedding-3-small': 1705948997,
  'text-embedding-ada-002': 1671217299,
};

// Where the package leaves a size out. Embeddings: the input limit (OpenAI documents 8191 input
// tokens; the table rounds to the 8192 window) and no output tokens. davinci-002 / babbage-002:
// OpenAI documents a 16,384-token context; the package has only max_output_tokens.
// Prompt tokens of one image part, as OpenAI publishes them (Images and vision guide,
// "Calculating costs"): [base, tile] for the tile models (detail low: base; high: base +
// tiles x tile, at most 8 tiles, so the worst case is base + 8 x tile), or [0, 0, max] for
// the patch models (32 px patches, at most 1536, times the model's multiplier: 1.62 for
// gpt-4.1-mini and gpt-5-mini, 2.46 for the nanos, 1.72 for o4-mini). Models not listed have
// no image costs: Tollgate then bounds an image by the context window.
const IMAGE_COSTS = {
  'gpt-4-turbo': [85, 170], 'gpt-4-turbo-2024-04-09': [85, 170],
  'gpt-4.1': [85, 170], 'gpt-4.1-2025-04-14': [85, 170],
  'gpt-4o': [85, 170], 'gpt-4o-2024-05-13': [85, 170], 'gpt-4o-2024-08-06': [85, 170],
  'gpt-4o-2024-11-20': [85, 170],
  'gpt-4o-mini': [2833, 5667], 'gpt-4o-mini-2024-07-18': [2833, 5667],
  'gpt-5': [70, 140], 'gpt-5-2025-08-07': [70, 140], 'gpt-5-chat-latest': [70, 140],
  'o1': [75, 150], 'o1-2024-12-17': [75, 150], 'o3': [75, 150], 'o3-2025-04-16': [75, 150],
  'gpt-4.1-mini': [0, 0, 2489], 'gpt-4.1-mini-2025-04-14': [0, 0, 2489],
  'gpt-4.1-nano': [0, 0, 3779], 'gpt-4.1-nano-2025-04-14': [0, 0, 3779],
  'gpt-5-mini': [0, 0, 2489], 'gpt-5-mini-2025-08-07': [0, 0, 2489],
  'gpt-5-nano': [0, 0, 3779], 'gpt-5-nano-2025-08-07': [0, 0, 3779],
  'o4-mini': [0, 0, 2642], 'o4-mini-2025-04-16': [0, 0, 2642],
};

const SIZE_FALLBACK = {
  'babbage-002': { context_window: 16384 },
  'davinci-002': { context_window: 16384 },
  'text-embedding-3-large': { context_window: 8192, max_output_tokens: 0 },
  'text-embedding-3-small': { context_window: 8192, max_output_tokens: 0 },
  'text-embedding-ada-002': { context_window: 8192, max_output_tokens: 0 },
};

const ENDPOINT_FOR_TYPE = { chat: 'chat_completions', completion: 'completions', embedding: 'embeddings' };
// The package lists gpt-3.5-turbo-instruct under chat_completions; OpenAI serves it on the legacy
// /v1/completions endpoint only.
const ENDPOINT_OVERRIDE = { 'gpt-3.5-turbo-instruct': 'completion' };

const PRICE_RE = /^\d+(\.\d{1,9})?$/;

// ---------------------------------------------------------------------------------------------

function parseArgs(argv) {
  const o = { pkg: null, retrieved: null, out: path.join(here, '..', 'data', 'models.json'), check: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--pkg') o.pkg = argv[++i];
    else if (a === '--retrieved') o.retrieved = argv[++i];
    else if (a === '--out') o.out = argv[++i];
    else if (a === '--check') o.check = true;
    else throw new Error(`unknown argument: ${a}`);
  }
  if (!o.retrieved) o.retrieved = new Date().toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(o.retrieved)) throw new Error(`--retrieved must be YYYY-MM-DD`);
  return o;
}

function pkgDir(opt) {
  if (opt) return path.resolve(opt);
  const req = createRequire(path.join(here, 'package.json'));
  return path.dirname(req.resolve('gpt-tokenizer/package.json'));
}

// "0.075" -> 0.075 for comparison only; the output keeps the string.
const num = (s) => (s === null ? null : Number(s));

function main() {
  const opt = parseArgs(process.argv.slice(2));
  const dir = pkgDir(opt.pkg);
  const pkgJson = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  if (pkgJson.name !== 'gpt-tokenizer') throw new Error(`${dir} is not gpt-tokenizer`);
  return Promise.all([
    import(pathToFileURL(path.join(dir, 'esm', 'models.js')).href),
    import(pathToFileURL(path.join(dir, 'esm', 'mapping.js')).href),
  ]).then(([models, mapping]) => build(opt, pkgJson.version, models, mapping));
}

function build(opt, version, models, mapping) {
  const errors = [];
  const notes = [];
  const out = [];

  for (const id of Object.keys(PRICES).sort()) {
    const [type, input, cached, output] = PRICES[id];
    const spec = models[id];
    if (!spec) {
      errors.push(`${id}: not in gpt-tokenizer@${version} esm/models.js`);
      continue;
    }
    const endpoints = spec.supported_endpoints || [];
    const want = ENDPOINT_FOR_TYPE[type];
    if (ENDPOINT_OVERRIDE[id]) {
      if (ENDPOINT_OVERRIDE[id] !== type) errors.push(`${id}: override says ${ENDPOINT_OVERRIDE[id]}, table says ${type}`);
      notes.push(`${id}: package endpoints [${endpoints}], written as type ${type} (override)`);
    } else if (!endpoints.includes(want)) {
      errors.push(`${id}: type ${type} but package endpoints are [${endpoints}]`);
    }
    const fb = SIZE_FALLBACK[id] || {};
    const context_window = spec.context_window ?? fb.context_window;
    const max_output_tokens = type === 'embedding' ? 0 : (spec.max_output_tokens ?? fb.max_output_tokens);
    if (spec.context_window == null && fb.context_window != null) notes.push(`${id}: context_window ${fb.context_window} (package has none)`);
    if (!Number.isInteger(context_window) || context_window <= 0) errors.push(`${id}: no context_window`);
    if (!Number.isInteger(max_output_tokens) || max_output_tokens < 0) errors.push(`${id}: no max_output_tokens`);

    const tokenizer = mapping.modelToEncodingMap[id] ?? mapping.DEFAULT_ENCODING;
    if (tokenizer !== 'o200k_base' && tokenizer !== 'cl100k_base') errors.push(`${id}: tokenizer ${tokenizer}`);

    const created = CREATED[id];
    if (!Number.isInteger(created) || created <= 0) errors.push(`${id}: no created value`);

    for (const [k, v] of [['input', input], ['cached_input', cached], ['output', output]]) {
      if (v !== null && !PRICE_RE.test(v)) errors.push(`${id}: ${k} price ${JSON.stringify(v)} is not a decimal string`);
    }
    if (input === null || output === null) errors.push(`${id}: input and output prices are required`);

    // Cross-check against the package's own (unreliable) price_data.
    const main = spec.price_data && spec.price_data.main;
    if (!main) {
      notes.push(`${id}: package has no price; table ${input}/${cached ?? '-'}/${output}`);
    } else {
      const diffs = [];
      if (main.input !== undefined && main.input !== num(input)) diffs.push(`input ${main.input} vs ${input}`);
      if (main.output !== undefined && main.output !== num(output)) diffs.push(`output ${main.output} vs ${output}`);
      if (main.cached_input !== undefined && main.cached_input !== num(cached)) diffs.push(`cached_input ${main.cached_input} vs ${cached}`);
      if (main.cached_output !== undefined) {
        // The scraper files some cached-input prices under cached_output.
        if (main.cached_output !== num(cached)) diffs.push(`package cached_output ${main.cached_output} vs cached_input ${cached}`);
        else notes.push(`${id}: package lists its cached-input price ${cached} as cached_output`);
      }
      notes.push(diffs.length ? `${id}: package differs: ${diffs.join('; ')}` : `${id}: package agrees`);
    }

    const row = {
      id, type, owned_by: 'openai', created,
      input_price: input, cached_input_price: cached, output_price: output,
      context_window, max_output_tokens, tokenizer,
    };
    const img = IMAGE_COSTS[id];
    if (img) {
      row.image_base_tokens = img[0];
      row.image_tile_tokens = img[1];
      row.image_max_tokens = img[2] ?? img[0] + 8 * img[1];
    }
    out.push(row);
  }

  const ids = out.map((m) => m.id);
  if (new Set(ids).size !== ids.length) errors.push('duplicate ids');
  for (const need of ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-3.5-turbo-instruct', 'text-embedding-3-small']) {
    if (!ids.includes(need)) errors.push(`required id missing: ${need}`);
  }
  if (!ids.includes('o3-mini') && !ids.includes('o4-mini')) errors.push('need o3-mini or o4-mini');

  for (const n of notes) console.error(`note: ${n}`);
  if (errors.length) {
    for (const e of errors) console.error(`error: ${e}`);
    process.exit(1);
  }

  const doc = {
    source: `npm package gpt-tokenizer@${version} (esm/models.js: model list, endpoints, context_window, max_output_tokens; esm/mapping.js: tokenizer), OpenAI public list prices (Standard tier, USD per 1M tokens; see data/README.md)`,
    retrieved: opt.retrieved,
    models: out,
  };
  // One model per line: readable and diff-friendly, still plain JSON.
  const text = '{\n'
    + `  "source": ${JSON.stringify(doc.source)},\n`
    + `  "retrieved": ${JSON.stringify(doc.retrieved)},\n`
    + '  "models": [\n'
    + out.map((m) => `    ${JSON.stringify(m).replace(/,"/g, ', "').replace(/":/g, '": ')}`).join(',\n')
    + '\n  ]\n}\n';
  JSON.parse(text); // sanity

  if (opt.check) {
    let cur = '';
    try { cur = readFileSync(opt.out, 'utf8'); } catch { /* missing */ }
    if (cur !== text) {
      console.error(`${opt.out} is out of date`);
      process.exit(1);
    }
    console.error(`${opt.out} is up to date (${out.length} models)`);
    return;
  }
  writeFileSync(opt.out, text);
  console.error(`wrote ${opt.out}: ${out.length} models from gpt-tokenizer@${version}`);
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
