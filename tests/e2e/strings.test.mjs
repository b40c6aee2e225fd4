// Every string of the console in both languages, checked statically (the browser test only
// sees the screens and states it visits): each module's `strings` export (web/README.md:
// {en: {...}, zh: {...}}) has the same keys in English and Chinese, no empty text, the same
// {placeholders}, Chinese text that is Chinese; and every literal t('key') in web/src names
// a key that exists in both languages.
//
// Needs web/node_modules (esbuild, preact), which `make` installs to build the console.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { fileURLToPath } from 'node:url';
const HERE = path.dirname(fileURLToPath(import.meta.url)); // (import.meta.dirname needs node 20.11)

const WEB = path.resolve(HERE, '../../web');
const SRC = path.join(WEB, 'src');

/** Latin words a Chinese string may consist of (product names, acronyms, formats). */
const LATIN_OK = new Set([
  'API', 'RPM', 'TPM', 'RPD', 'TPD', 'ID', 'Tollgate', 'OpenAI', 'Visa', 'Mastercard', 'CVC', 'MM/YY', 'USD', 'English',
  'Stripe', 'SDK', 'URL', 'JSON', 'HTML', 'PDF', 'UTC', 'Webhook', 'MM', 'YY',
]);

function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (/\.(jsx?|mjs)$/.test(e.name)) out.push(p);
  }
  return out;
}

// A permissive stand-in for browser globals: any property is a callable that returns the
// stand-in again, so `document.head.appendChild(document.createElement('style'))` at a
// module's top level evaluates; getElementById/querySelector find nothing.
const BROWSER_STUB = `(() => {
  const make = () => {
    const fn = function () { return p; };
    const p = new Proxy(fn, {
      get(t, k) {
        if (k === Symbol.toPrimitive) return () => '';
        if (k === 'getElementById' || k === 'querySelector') return () => null;
        if (k === 'querySelectorAll') return () => [];
        if (k === 'languages') return ['en'];
        if (k === 'language') return 'en';
        if (k === 'getItem') return () => null;
        if (k === 'then') return undefined;
        return p;
      },
      set() { return true; },
      apply() { return p; },
    });
    return p;
  };
  for (const g of ['document', 'window', 'localStorage', 'sessionStorage', 'navigator', 'location', 'history']) {
    if (!(g in globalThis)) globalThis[g] = make();
  }
})();`;

const UI_STUB = `
const noop = () => undefined;
export default function uPlot() {}
export const render = noop, h = noop, createElement = noop, cloneElement = noop, Fragment = noop,
  Component = class {}, createRef = () => ({ current: null }), createContext = () => ({ Provider: noop, Consumer: noop }),
  options = {}, jsx = noop, jsxs = noop, jsxDEV = noop, toChildArray = () => [], hydrate = noop, isValidElement = () => false;
export const useState = (v) => [typeof v === 'function' ? v() : v, noop], useReducer = (r, v) => [v, noop],
  useEffect = noop, useLayoutEffect = noop, useRef = (v) => ({ current: v }), useMemo = (f) => f(),
  useCallback = (f) => f, useContext = noop, useId = () => 'id', useErrorBoundary = () => [undefined, noop],
  useImperativeHandle = noop, useDebugValue = noop;
`;

const placeholders = (s) => [...String(s).matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('console strings, English and Chinese', () => {
  let modules; // {relative file: {en, zh}}
  let files;

  before(async () => {
    files = walk(SRC);
    const withStrings = files.filter((f) => /export\s+const\s+strings\s*=/.test(fs.readFileSync(f, 'utf8')));
    assert.ok(withStrings.length >= 8, `modules exporting strings in web/src: ${withStrings.map((f) => path.relative(SRC, f))}`);
    let esbuild;
    try {
      esbuild = createRequire(path.join(WEB, 'package.json'))('esbuild');
    } catch (e) {
      throw new Error(`esbuild is not installed in web/ (run \`cd web && npm ci\`, which make does): ${e.message}`);
    }
    // one bundle whose default export maps each file to its strings; browser globals are
    // stubbed so that modules touching `document` at load time can be evaluated in Node
    const entry = withStrings.map((f, i) => `import { strings as s${i} } from ${JSON.stringify(f)};`).join('\n')
      + `\nexport default {${withStrings.map((f, i) => `${JSON.stringify(path.relative(SRC, f))}: s${i}`).join(', ')}};\n`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-strings-'));
    const out = path.join(dir, 'strings.mjs');
    try {
      await esbuild.build({
        stdin: { contents: entry, resolveDir: WEB, loader: 'js' },
        bundle: true, format: 'esm', platform: 'neutral', mainFields: ['module', 'main'],
        jsx: 'automatic', jsxImportSource: 'preact', outfile: out, logLevel: 'silent',
        loader: { '.css': 'empty', '.svg': 'empty', '.png': 'empty' },
        // only the strings are wanted: the UI library (main.jsx renders the app when loaded)
        // and the chart library (it measures the screen when loaded) are replaced by no-ops
        plugins: [{
          name: 'stub-ui',
          setup(b) {
            b.onResolve({ filter: /^(uplot|preact)(\/.*)?$/ }, (a) => ({ path: a.path, namespace: 'stub' }));
            b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: UI_STUB, loader: 'js' }));
          },
        }],
        banner: { js: BROWSER_STUB },
      });
      modules = (await import(pathToFileURL(out).href)).default;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('each module has the same keys in en and zh, no empty text, the same {placeholders}', () => {
    const problems = [];
    for (const [file, s] of Object.entries(modules)) {
      if (!s || typeof s !== 'object' || !s.en || !s.zh) {
        problems.push(`${file}: strings is not {en, zh}`);
        continue;
      }
      for (const k of Object.keys(s.en)) if (!(k in s.zh)) problems.push(`${file}: "${k}" has no Chinese`);
      for (const k of Object.keys(s.zh)) if (!(k in s.en)) problems.push(`${file}: "${k}" has no English`);
      for (const l of ['en', 'zh']) {
        for (const [k, v] of Object.entries(s[l])) {
          if (typeof v !== 'string' || !v.trim()) problems.push(`${file}: ${l} "${k}" is empty or not text`);
        }
      }
      for (const k of Object.keys(s.en)) {
        if (k in s.zh && placeholders(s.en[k]).join() !== placeholders(s.zh[k]).join()) {
          problems.push(`${file}: "${k}" placeholders differ: en {${placeholders(s.en[k])}} zh {${placeholders(s.zh[k])}}`);
        }
      }
    }
    assert.deepEqual(problems, [], problems.join('\n'));
  });

  it('no key is defined twice with different texts across modules', () => {
    const seen = new Map();
    const problems = [];
    for (const [file, s] of Object.entries(modules)) {
      for (const l of ['en', 'zh']) {
        for (const [k, v] of Object.entries(s[l] ?? {})) {
          const id = `${l}:${k}`;
          if (seen.has(id) && seen.get(id).v !== v) problems.push(`"${k}" (${l}) in ${seen.get(id).file} and ${file} with different texts`);
          else seen.set(id, { file, v });
        }
      }
    }
    assert.deepEqual(problems, [], problems.join('\n'));
  });

  it('Chinese texts are Chinese (not the English text left in place)', () => {
    const problems = [];
    for (const [file, s] of Object.entries(modules)) {
      for (const [k, zh] of Object.entries(s.zh ?? {})) {
        if (/[\u3400-\u9fff]/.test(zh)) continue;
        // what is left once placeholders, addresses and URLs are taken out: only product
        // names, acronyms and units may be Latin
        const bare = zh.replace(/\{\w+\}/g, ' ').replace(/\S+@\S+|\w+:\/\/\S+/g, ' ').trim();
        const words = bare.match(/[A-Za-z]{2,}/g) ?? [];
        if (words.every((w) => LATIN_OK.has(w) || LATIN_OK.has(w[0].toUpperCase() + w.slice(1).toLowerCase()) || w === w.toUpperCase())) continue;
        problems.push(`${file}: zh "${k}" = ${JSON.stringify(zh)} (en ${JSON.stringify(s.en?.[k])})`);
      }
    }
    assert.deepEqual(problems, [], `Chinese strings without Chinese:\n${problems.join('\n')}`);
  });

  it('every literal t(\'key\') in web/src exists in both languages', () => {
    const en = new Set();
    const zh = new Set();
    for (const s of Object.values(modules)) {
      for (const k of Object.keys(s.en ?? {})) en.add(k);
      for (const k of Object.keys(s.zh ?? {})) zh.add(k);
    }
    const problems = [];
    let count = 0;
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8');
      for (const m of text.matchAll(/\bt\(\s*(['"])([^'"\n]+)\1/g)) {
        count++;
        const k = m[2];
        const line = text.slice(0, m.index).split('\n').length;
        if (!en.has(k)) problems.push(`${path.relative(SRC, f)}:${line}: t('${k}') has no English`);
        if (!zh.has(k)) problems.push(`${path.relative(SRC, f)}:${line}: t('${k}') has no Chinese`);
      }
      // t(`prefix_${x}`): at least one key with that prefix
      for (const m of text.matchAll(/\bt\(\s*`([\w.]+)\$\{/g)) {
        const pre = m[1];
        if (![...en].some((k) => k.startsWith(pre))) problems.push(`${path.relative(SRC, f)}: no key starts with "${pre}" for t(\`${pre}\${…}\`)`);
      }
    }
    assert.ok(count > 100, `found the t() calls (${count})`);
    assert.deepEqual(problems, [], problems.join('\n'));
  });
});
