// Browser helpers for the console's end-to-end tests: Debian's chromium through playwright-core,
// a page that records every page error, console.error and response, screenshots, and checks
// of the layout (nothing cut off, overlapping or wider than the window) and of untranslated
// English labels.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';
const HERE = path.dirname(fileURLToPath(import.meta.url)); // (import.meta.dirname needs node 20.11)

export const OUTPUT = path.join(HERE, 'output');

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
}

/**
 * A page with its records:
 *   problems: page errors, console.error messages, failed asset loads (strings);
 *   responses: [{seq, method, url, status, body: Promise<string>}] in arrival order.
 * A console.error that is only Chromium reporting an API answer's 4xx/5xx status ("Failed to
 * load resource: … status of 401") is not a problem: the console shows the server's refusals
 * by design. The same message for anything else (a script, a style, an image) is.
 */
export async function openPage(browser, { locale, origin }) {
  const context = await browser.newContext({ locale, viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const rec = { problems: [], responses: [], inflight: 0, lastActivity: Date.now() };
  page.on('pageerror', (e) => rec.problems.push(`pageerror: ${e?.stack || e}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    const url = m.location()?.url ?? '';
    if (/^Failed to load resource: the server responded with a status of \d{3}/.test(text) && isApiUrl(url)) return;
    rec.problems.push(`console.error: ${text}${url ? ` (at ${url})` : ''}`);
  });
  page.on('request', () => { rec.inflight++; rec.lastActivity = Date.now(); });
  const done = () => { rec.inflight = Math.max(0, rec.inflight - 1); rec.lastActivity = Date.now(); };
  page.on('requestfinished', done);
  page.on('requestfailed', (r) => {
    done();
    const f = r.failure()?.errorText ?? '';
    // navigations cancelled by the SPA's own routing are not failures
    if (!/ERR_ABORTED/.test(f)) rec.problems.push(`request failed: ${r.method()} ${r.url()}: ${f}`);
  });
  page.on('response', (r) => {
    const entry = { seq: rec.responses.length, method: r.request().method(), url: r.url(), status: r.status() };
    entry.body = r.body().then((b) => b.toString('utf8'), () => '');
    rec.responses.push(entry);
  });
  return { context, page, rec };
}

function isApiUrl(url) {
  try {
    const p = new URL(url).pathname;
    return p.startsWith('/v1/') || p.startsWith('/console/api/');
  } catch {
    return false;
  }
}

/** Waits until no request has been in flight for quietMs (SPA navigations do not fire load). */
export async function settle(page, rec, { quietMs = 300, timeoutMs = 10000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (rec.inflight === 0 && Date.now() - rec.lastActivity >= quietMs) break;
    if (Date.now() > deadline) break;
    await page.waitForTimeout(50);
  }
  // let fonts and the last render land
  await page.evaluate(() => (document.fonts ? document.fonts.ready.then(() => true) : true));
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true)))));
}

/**
 * output/<lang>/<name>.png. The whole page: the window is made as tall as the document for
 * the shot (so fixed and 100vh parts such as the navigation cover it all), then restored.
 * With a dialog open, the window as it is: the dialog and its backdrop are what matter.
 */
export async function screenshot(page, rec, lang, name) {
  await settle(page, rec);
  const dir = path.join(OUTPUT, lang);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  const dialogOpen = await page.evaluate(() => {
    const d = document.querySelector('[data-testid="dialog"]');
    return !!(d && d.getClientRects().length);
  });
  const vp = page.viewportSize();
  const h = dialogOpen ? 0 : await page.evaluate(() => Math.max(document.documentElement.scrollHeight, document.body.scrollHeight));
  if (h > vp.height) {
    await page.setViewportSize({ width: vp.width, height: Math.min(h, 10000) });
    await settle(page, rec, { quietMs: 100 });
  }
  try {
    await page.screenshot({ path: file, fullPage: !dialogOpen });
  } finally {
    if (h > vp.height) {
      await page.setViewportSize(vp);
      await settle(page, rec, { quietMs: 100 });
    }
  }
  return file;
}

/** Empties output/<lang>/ (screenshots of an earlier run). */
export function clearOutput(lang) {
  fs.rmSync(path.join(OUTPUT, lang), { recursive: true, force: true });
}

/**
 * Layout problems on the page as it is now (strings, empty when fine):
 *  - the document is wider than the window (a horizontal scroll bar);
 *  - a visible button, link, label, heading, nav item, table cell or test-id element whose
 *    text is clipped (scrollWidth/Height beyond its box with overflow hidden) or that runs
 *    past the window's right edge;
 *  - two visible controls (buttons, inputs, selects, links, test-id elements) that overlap
 *    without one containing the other. With a dialog open, only what is inside it counts.
 */
export async function layoutProblems(page) {
  return page.evaluate(() => {
    const out = [];
    const de = document.documentElement;
    if (de.scrollWidth > window.innerWidth + 1) out.push(`the page is wider than the window: ${de.scrollWidth}px > ${window.innerWidth}px`);
    const dialog = document.querySelector('[data-testid="dialog"]');
    const root = dialog && isVisible(dialog) ? dialog : document.body;
    function isVisible(el) {
      const cs = getComputedStyle(el);
      if (cs.visibility === 'hidden' || cs.display === 'none' || Number(cs.opacity) === 0) return false;
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    }
    // inside a box that scrolls sideways (a wide table in a scroll container) is fine
    function inScroller(el) {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const cs = getComputedStyle(p);
        if (/auto|scroll/.test(cs.overflowX)) return true;
      }
      return false;
    }
    const desc = (el) => {
      const id = el.getAttribute('data-testid');
      const t = (el.innerText || el.value || '').trim().replace(/\s+/g, ' ').slice(0, 40);
      return `<${el.tagName.toLowerCase()}${id ? ` data-testid=${id}` : ''}>${t ? ` "${t}"` : ''}`;
    };
    const textual = root.querySelectorAll('button, a, label, h1, h2, h3, h4, th, td, nav li, [role=tab], [data-testid]');
    for (const el of textual) {
      if (!isVisible(el)) continue;
      if (/^(INPUT|SELECT|TEXTAREA|CANVAS|svg)$/i.test(el.tagName)) continue;
      if (el.closest('.uplot')) continue; // the chart library's own drawing
      const cs = getComputedStyle(el);
      const clipsX = cs.overflowX !== 'visible' || cs.textOverflow === 'ellipsis';
      const clipsY = cs.overflowY !== 'visible';
      const scrolls = /auto|scroll/.test(cs.overflowX + cs.overflowY);
      if (!scrolls && ((clipsX && el.scrollWidth > el.clientWidth + 1) || (clipsY && el.scrollHeight > el.clientHeight + 1))) {
        out.push(`text cut off: ${desc(el)} (${el.scrollWidth}×${el.scrollHeight} in ${el.clientWidth}×${el.clientHeight})`);
      }
      const r = el.getBoundingClientRect();
      if (r.right > window.innerWidth + 1 && !inScroller(el)) out.push(`past the right edge: ${desc(el)} (right ${Math.round(r.right)}px)`);
    }
    const controls = [...root.querySelectorAll('button, input:not([type=hidden]), select, textarea, a[href], [data-testid]')]
      .filter((el) => isVisible(el) && !el.closest('.uplot'));
    const boxes = controls.map((el) => [el, el.getBoundingClientRect()]);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, ra] = boxes[i];
        const [b, rb] = boxes[j];
        if (a.contains(b) || b.contains(a)) continue;
        // a label's own control, a select's options and the like share their box by design
        if (a.tagName === 'LABEL' && a.control === b) continue;
        if (b.tagName === 'LABEL' && b.control === a) continue;
        const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
        const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
        if (w > 2 && h > 2) out.push(`overlap (${Math.round(w)}×${Math.round(h)}px): ${desc(a)} and ${desc(b)}`);
      }
    }
    // text drawn over other text: the visible (clipped by every scrolling or clipping
    // ancestor) boxes of two text nodes intersect
    const clipOf = (el) => {
      let c = { left: -Infinity, top: -Infinity, right: Infinity, bottom: Infinity };
      for (let p = el.parentElement; p; p = p.parentElement) {
        const cs = getComputedStyle(p);
        if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') {
          const r = p.getBoundingClientRect();
          c = { left: Math.max(c.left, r.left), top: Math.max(c.top, r.top), right: Math.min(c.right, r.right), bottom: Math.min(c.bottom, r.bottom) };
        }
      }
      return c;
    };
    const texts = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || !n.textContent.trim() || el.closest('script, style, option, .uplot, select')) continue;
      if (!isVisible(el)) continue;
      const range = document.createRange();
      range.selectNodeContents(n);
      const clip = clipOf(el);
      for (const r of range.getClientRects()) {
        const b = { left: Math.max(r.left, clip.left), top: Math.max(r.top, clip.top), right: Math.min(r.right, clip.right), bottom: Math.min(r.bottom, clip.bottom) };
        if (b.right - b.left > 1 && b.bottom - b.top > 1) texts.push({ n, b });
      }
    }
    const said = new Set();
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        const a = texts[i];
        const b = texts[j];
        if (a.n === b.n) continue;
        const w = Math.min(a.b.right, b.b.right) - Math.max(a.b.left, b.b.left);
        const h = Math.min(a.b.bottom, b.b.bottom) - Math.max(a.b.top, b.b.top);
        if (w > 2 && h > 3) {
          const k = `text over text (${Math.round(w)}×${Math.round(h)}px): "${a.n.textContent.trim().slice(0, 40)}" and "${b.n.textContent.trim().slice(0, 40)}"`;
          if (!said.has(k)) { said.add(k); out.push(k); }
        }
      }
    }
    return [...new Set(out)];
  });
}

/**
 * Visible text nodes of the page (or the open dialog) that are nothing but one of the given
 * English labels: an untranslated string on a Chinese page. Text inside <option> of the
 * language switch ("English") and inside inputs is not text-node content and is not looked at.
 */
export async function untranslatedLabels(page, labels) {
  return page.evaluate((labels) => {
    const want = new Set(labels.map((l) => l.toLowerCase()));
    const found = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest('script, style, noscript, option, [data-testid="lang-select"]')) continue;
      const cs = getComputedStyle(el);
      if (cs.display === 'none' || cs.visibility === 'hidden') continue;
      if (!el.getClientRects().length) continue;
      const t = n.textContent.replace(/[+:：…*]/g, '').replace(/\s+/g, ' ').trim().toLowerCase();
      if (t && want.has(t)) found.push(n.textContent.trim());
    }
    // attributes people see too
    for (const el of document.querySelectorAll('[placeholder], [title], [aria-label]')) {
      for (const a of ['placeholder', 'title', 'aria-label']) {
        const v = (el.getAttribute(a) || '').replace(/[+:：…*]/g, '').trim().toLowerCase();
        if (v && want.has(v)) found.push(`${a}="${el.getAttribute(a)}"`);
      }
    }
    return found;
  }, labels);
}

/** The first decimal number in a text ("$10.00", "US$1,234.50", "10.00 美元") as a Number. */
export function amountIn(text) {
  const m = /(-?)\s*(?:US)?\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)/.exec(text ?? '');
  if (!m) return NaN;
  return Number(`${m[1]}${m[2].replace(/,/g, '')}`);
}

/** All integers in a text, commas and spaces as thousands separators removed ("1,234" → 1234). */
export function integerIn(text) {
  const m = /([0-9][0-9,\s]*)/.exec(text ?? '');
  return m ? Number(m[1].replace(/[,\s]/g, '')) : NaN;
}
