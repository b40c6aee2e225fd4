// Builds the console: src/main.jsx (+ its CSS) → dist/assets/app-[hash].{js,css}, and
// dist/index.html from index.html with those names put in. Node 18+.
//   node build.mjs            production build (minified)
//   node build.mjs --dev      no minification, with source maps
import { build } from 'esbuild';
import { readFile, writeFile, rm, mkdir } from 'node:fs/promises';
import { gzipSync, constants as zc } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');
const dev = process.argv.includes('--dev');

await rm(dist, { recursive: true, force: true });
await mkdir(path.join(dist, 'assets'), { recursive: true });

const result = await build({
  absWorkingDir: here,
  entryPoints: { app: 'src/main.jsx' },
  bundle: true,
  format: 'esm',
  splitting: true, // uPlot becomes a chunk of its own, loaded by the Usage page
  chunkNames: 'chunk-[hash]',
  target: ['chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: !dev,
  sourcemap: dev ? 'linked' : false,
  legalComments: 'none',
  outdir: path.join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
});

let js = null;
let css = null;
for (const [file, info] of Object.entries(result.metafile.outputs)) {
  const rel = path.relative(dist, path.resolve(here, file)).split(path.sep).join('/');
  if (info.entryPoint === 'src/main.jsx' && rel.endsWith('.js')) js = rel;
  else if (rel.endsWith('.css')) css = rel;
}
if (!js) throw new Error('build.mjs: esbuild produced no JavaScript entry');

let html = await readFile(path.join(here, 'index.html'), 'utf8');
const tags = {
  '<!--CSS-->': css ? `<link rel="stylesheet" href="/${css}">` : '',
  '<!--JS-->': `<script type="module" src="/${js}"></script>`,
};
for (const [mark, tag] of Object.entries(tags)) {
  if (!html.includes(mark)) throw new Error(`build.mjs: index.html lacks ${mark}`);
  html = html.replace(mark, tag);
}
await writeFile(path.join(dist, 'index.html'), html);

// The favicon (so the browser's /favicon request finds a file; CSP forbids data: URLs).
await writeFile(
  path.join(dist, 'favicon.svg'),
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#10a37f"/>' +
    '<path d="M9 10h14v3h-5.5v11h-3V13H9z" fill="#fff"/></svg>\n'
);

// Gzipped twins of the JS and CSS: the server sends them to browsers that accept gzip.
for (const file of Object.keys(result.metafile.outputs)) {
  if (!/\.(js|css)$/.test(file)) continue;
  const full = path.resolve(here, file);
  const gz = gzipSync(await readFile(full), { level: zc.Z_BEST_COMPRESSION });
  await writeFile(full + '.gz', gz);
  console.log(`${path.relative(here, full)}.gz  ${(gz.length / 1024).toFixed(1)} KiB`);
}

for (const [file, info] of Object.entries(result.metafile.outputs)) {
  if (file.endsWith('.map')) continue;
  console.log(`${path.relative(here, path.resolve(here, file))}  ${(info.bytes / 1024).toFixed(1)} KiB`);
}
