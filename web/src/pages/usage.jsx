// Usage: cost and tokens per day for a date range (UTC days), by model or by project, from
// GET /v1/organization/costs and /v1/organization/usage/{completions,embeddings}. Costs
// are summed exactly, in integer nano-dollars parsed from the decimal text of the JSON
// numbers, so the total is the costs endpoint's to the last digit.
import { useEffect, useRef, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import { api, ApiError } from '../api.js';
import { t, lang } from '../i18n.js';
import { formatUSD, formatNumber, decimalToNanos, nanosToDecimal } from '../format.js';
import { ErrorBox, Card, Table, Loading, PageHeader, useLoad } from '../ui.jsx';

const ORG = '/v1/organization';
const DAY = 86400;

const CSS = `
.us-controls{display:flex;flex-wrap:wrap;gap:12px 16px;align-items:flex-end;margin-bottom:20px}
.us-controls .field{margin:0;flex:0 1 180px}
.us-controls .field.us-group{flex:0 1 200px}
.us-stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:16px;margin-bottom:24px}
.us-stat{border:1px solid var(--border);border-radius:var(--radius-lg);padding:16px 20px;min-width:0}
.us-stat-label{color:var(--muted);font-size:13px}
.us-stat-value{font-size:26px;font-weight:600;color:var(--text);font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.us-charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:0 24px}
.us-charts .card{min-width:0}
.us-chart{position:relative;width:100%;min-height:260px;overflow:hidden}
.us-chart .uplot{width:100% !important}
.us-chart .u-legend{font-size:12px;text-align:left;margin-top:4px}
.us-chart .u-legend .u-series{padding:0 8px 0 0}
.us-chart .u-legend th{font-weight:500}
.us-empty{height:260px;display:flex;align-items:center;justify-content:center;color:var(--muted);text-align:center;border:1px dashed var(--border);border-radius:var(--radius)}
.us-busy{opacity:.55;transition:opacity .15s}
@media (max-width:980px){.us-charts{grid-template-columns:1fr}}
`;
if (typeof document !== 'undefined' && !document.getElementById('tg-usage-css')) {
  const el = document.createElement('style');
  el.id = 'tg-usage-css';
  el.textContent = CSS;
  document.head.appendChild(el);
}

const COLORS = ['#10a37f', '#6e56cf', '#e5484d', '#f5a524', '#3e63dd', '#12a594', '#d6409f', '#978365'];
const OTHER_COLOR = '#a1a1aa';
const MAX_SERIES = 7; // more keys than this are summed as "Other" in the charts

// GET with the JSON numbers of "value" members kept as their decimal text (the amounts of
// the costs endpoint), so that no amount ever goes through a float.
async function getExact(path) {
  let res;
  try {
    res = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new ApiError(t('common.network_error'), 0, 'network_error', null);
  }
  const text = await res.text();
  if (!res.ok) {
    let err = {};
    try {
      err = JSON.parse(text).error || {};
    } catch (e) {
      /* not JSON */
    }
    throw new ApiError(err.message || t('common.http_error', { status: res.status }), res.status, err.code, err.param);
  }
  return JSON.parse(text.replace(/"value"\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g, '"value":"$1"'));
}

// Every bucket of a bucketed query, following next_page until has_more is false.
async function allBuckets(get, path) {
  const out = [];
  let page = null;
  for (let i = 0; i < 200; i++) {
    const p = await get(page ? `${path}&page=${encodeURIComponent(page)}` : path);
    if (Array.isArray(p.data)) out.push(...p.data);
    if (!p.has_more || !p.next_page) break;
    page = p.next_page;
  }
  return out;
}

// ---- dates (UTC days) ----

function ymd(d) {
  return d.toISOString().slice(0, 10);
}
function parseYmd(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  if (!m) return null;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(ms) ? null : ms / 1000;
}
function locale() {
  return lang() === 'zh' ? 'zh-CN' : 'en-US';
}
function dayLabel(ts) {
  return new Intl.DateTimeFormat(locale(), { month: 'short', day: 'numeric', timeZone: 'UTC' }).format(new Date(ts * 1000));
}
function compact(n) {
  return new Intl.NumberFormat(locale(), { notation: 'compact', maximumFractionDigits: 1 }).format(n);
}
function axisUSD(v) {
  if (v === 0) return '$0';
  const a = Math.abs(v);
  const digits = a >= 1 ? 2 : Math.min(9, Math.max(2, 1 - Math.floor(Math.log10(a)) + 1));
  return `$${v.toFixed(digits).replace(/(\.\d*?[1-9])0+$|\.0+$/, '$1')}`;
}

// ---- loading and aggregating ----

function lineItemModel(li) {
  if (typeof li !== 'string') return null;
  const i = li.lastIndexOf(', ');
  return i > 0 ? li.slice(0, i) : li;
}

async function loadUsage(startTs, endTs, groupBy) {
  const range = `start_time=${startTs}&end_time=${endTs}&bucket_width=1d`;
  const costGroup = groupBy === 'project' ? 'project_id' : 'line_item';
  const usageGroup = groupBy === 'project' ? 'project_id' : 'model';
  const [costs, completions, embeddings, projects] = await Promise.all([
    allBuckets(getExact, `${ORG}/costs?${range}&limit=180&group_by[]=${costGroup}`),
    allBuckets(api.get, `${ORG}/usage/completions?${range}&limit=31&group_by[]=${usageGroup}`),
    allBuckets(api.get, `${ORG}/usage/embeddings?${range}&limit=31&group_by[]=${usageGroup}`),
    groupBy === 'project' ? api.list(`${ORG}/projects?include_archived=true`) : Promise.resolve([]),
  ]);

  const days = [];
  const dayIndex = new Map();
  const addDay = (ts) => {
    if (!dayIndex.has(ts)) {
      dayIndex.set(ts, days.length);
      days.push(ts);
    }
  };
  for (const b of [...costs, ...completions, ...embeddings]) addDay(b.start_time);
  days.sort((a, b) => a - b);
  days.forEach((d, i) => dayIndex.set(d, i));

  const rows = new Map(); // key → {key, requests, input, output, nanos, costDays[], tokenDays[]}
  const row = (key) => {
    const k = key === null || key === undefined ? '' : String(key);
    if (!rows.has(k))
      rows.set(k, {
        key: k,
        requests: 0,
        input: 0,
        output: 0,
        nanos: 0n,
        costDays: days.map(() => 0n),
        tokenDays: days.map(() => 0),
      });
    return rows.get(k);
  };
  const keyOf = (r) => (groupBy === 'project' ? r.project_id : r.model);

  let total = 0n;
  for (const b of costs) {
    const di = dayIndex.get(b.start_time);
    for (const r of b.results || []) {
      const v = decimalToNanos(r.amount && r.amount.value !== undefined ? r.amount.value : '0');
      total += v;
      const w = row(groupBy === 'project' ? r.project_id : lineItemModel(r.line_item));
      w.nanos += v;
      w.costDays[di] += v;
    }
  }
  let tokens = 0;
  let requests = 0;
  for (const [list, withOutput] of [
    [completions, true],
    [embeddings, false],
  ]) {
    for (const b of list) {
      const di = dayIndex.get(b.start_time);
      for (const r of b.results || []) {
        const w = row(keyOf(r));
        const inp = Number(r.input_tokens) || 0;
        const out = withOutput ? Number(r.output_tokens) || 0 : 0;
        const n = Number(r.num_model_requests) || 0;
        w.input += inp;
        w.output += out;
        w.requests += n;
        w.tokenDays[di] += inp + out;
        tokens += inp + out;
        requests += n;
      }
    }
  }
  const names = new Map(projects.map((p) => [p.id, p.name]));
  const list = [...rows.values()]
    .filter((r) => r.requests || r.input || r.output || r.nanos)
    .map((r) => ({ ...r, label: groupBy === 'project' ? names.get(r.key) || r.key || '—' : r.key || '—' }))
    .sort((a, b) => (a.nanos === b.nanos ? b.input + b.output - (a.input + a.output) : a.nanos < b.nanos ? 1 : -1));
  return { days, rows: list, total, tokens, requests, groupBy };
}

// ---- charts ----

// Series for a stacked chart: the largest keys, the rest summed as "Other".
// Bottom of the stack first: "Other", then the smallest key up to the largest, so that the
// legend (which follows the drawing order, top segment first) lists the largest first.
function chartSeries(rows, pick) {
  const top = rows.slice(0, MAX_SERIES).map((r, i) => ({ label: r.label, values: pick(r), color: COLORS[i % COLORS.length] }));
  const rest = rows.slice(MAX_SERIES);
  if (rest.length) {
    const n = pick(rest[0]).length;
    const values = Array.from({ length: n }, (_, i) => rest.reduce((s, r) => s + pick(r)[i], 0));
    top.push({ label: t('usage.other'), values, color: OTHER_COLOR });
  }
  return top.reverse();
}

// uPlot is loaded on first use (its own chunk), so the other pages do not carry it.
let uPlotLoading = null;
const loadUPlot = () => (uPlotLoading ??= import('uplot').then((m) => m.default));

// A stacked bar chart with uPlot: series drawn as cumulative sums, the tallest first, so each
// model's segment shows on top of the ones below it; the legend shows each model's own value.
function StackedBars({ days, series, format, axisFormat, testid, empty }) {
  const wrap = useRef(null);
  const plot = useRef(null);
  const hasData = days.length > 0 && series.some((s) => s.values.some((v) => v > 0));

  useEffect(() => {
    if (!hasData || !wrap.current) return undefined;
    let ro = null;
    let gone = false;
    loadUPlot().then((uPlot) => {
      if (gone || !wrap.current) return;
      ro = draw(uPlot, wrap.current);
    });
    return () => {
      gone = true;
      if (ro) ro.disconnect();
      if (plot.current) plot.current.destroy();
      plot.current = null;
    };
  }, [days, series, hasData, lang()]);

  function draw(uPlot, el) {
    const cum = [];
    let acc = days.map(() => 0);
    for (const s of series) {
      acc = acc.map((a, i) => a + (s.values[i] || 0));
      cum.push(acc);
    }
    const bars = uPlot.paths.bars({ size: [0.6, 40], gap: 1 });
    const data = [days];
    const useries = [{ label: t('usage.day'), value: (u, ts) => (ts === null || ts === undefined ? '—' : dayLabel(ts)) }];
    for (let j = series.length - 1; j >= 0; j--) {
      const s = series[j];
      data.push(cum[j]);
      useries.push({
        label: s.label,
        stroke: s.color,
        fill: s.color,
        width: 0,
        paths: bars,
        points: { show: false },
        value: (u, v, si, idx) => (idx === null || idx === undefined ? '—' : format(s.values[idx] || 0)),
      });
    }
    const width = () => Math.max(200, Math.floor(el.clientWidth));
    const opts = {
      width: width(),
      height: 240,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales: {
        x: { time: true, range: (u, min, max) => [min - DAY / 2, max + DAY / 2] },
        y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] },
      },
      axes: [
        {
          space: Math.ceil(textWidth(dayLabel(days[0]))) + 24,
          values: (u, splits) => splits.map((ts) => (ts % DAY === 0 ? dayLabel(ts) : '')),
          grid: { show: false },
        },
        {
          values: (u, splits) => splits.map(axisUSDorNumber(axisFormat)),
          size: (u, values) => (values && values.length ? Math.ceil(Math.max(...values.map(textWidth))) + 22 : 40),
          grid: { stroke: '#ececf1', width: 1 },
        },
      ],
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      legend: { live: true },
      series: useries,
    };
    plot.current = new uPlot(opts, data, el);
    let ro = null;
    if (typeof ResizeObserver !== 'undefined') {
      ro = new ResizeObserver(() => {
        if (plot.current) plot.current.setSize({ width: width(), height: 240 });
      });
      ro.observe(el);
    }
    return ro;
  }

  return (
    <div class="us-chart" data-testid={testid} data-empty={hasData ? 'false' : 'true'}>
      {hasData ? <div ref={wrap} /> : <div class="us-empty">{empty}</div>}
    </div>
  );
}

// The width of an axis' widest label (uPlot's axis font), for the axis' size.
let measureCtx = null;
function textWidth(text) {
  if (!measureCtx) {
    measureCtx = document.createElement('canvas').getContext('2d');
    if (measureCtx) measureCtx.font = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif';
  }
  return measureCtx ? measureCtx.measureText(String(text)).width : String(text).length * 12;
}

function axisUSDorNumber(kind) {
  return kind === 'usd' ? axisUSD : (v) => compact(v);
}

// Dollars (exact decimal text) for display; an amount that rounds to zero but is not zero
// says so instead of showing $0.00.
function usd(dec) {
  const n = Number(dec);
  if (n > 0 && n < 0.000001) return t('usage.less_than', { amount: formatUSD(0.000001) });
  return formatUSD(n);
}

// ---- the page ----

function monthStart() {
  const now = new Date();
  return ymd(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)));
}

export default function UsagePage() {
  const [start, setStart] = useState(monthStart());
  const [end, setEnd] = useState(ymd(new Date()));
  const [groupBy, setGroupBy] = useState('model');
  const s = parseYmd(start);
  const e = parseYmd(end);
  const rangeError = s === null || e === null ? t('usage.bad_date') : s > e ? t('usage.bad_range') : null;
  const usage = useLoad(
    () => (rangeError ? Promise.resolve(null) : loadUsage(s, e + DAY, groupBy)),
    [start, end, groupBy, rangeError]
  );
  const u = usage.data;

  const costSeries = u ? chartSeries(u.rows, (r) => r.costDays.map((n) => Number(n) / 1e9)) : [];
  const tokenSeries = u ? chartSeries(u.rows, (r) => r.tokenDays) : [];
  // memoised by identity of the result, so the charts are rebuilt only when the data changes
  const memo = useRef({});
  if (memo.current.u !== u || memo.current.lang !== lang()) memo.current = { u, lang: lang(), costSeries, tokenSeries };
  const totalDec = u ? nanosToDecimal(u.total) : null;
  const rowTestId = groupBy === 'project' ? 'usage-project-row' : 'usage-model-row';

  return (
    <div class="page">
      <PageHeader title={t('usage.title')} description={t('usage.description')} />
      <div class="us-controls">
        <div class="field">
          <label class="field-label" for="us-start">
            {t('usage.start')}
          </label>
          <input id="us-start" class="input" type="date" data-testid="usage-start" value={start} max={end} onChange={(ev) => setStart(ev.currentTarget.value)} />
        </div>
        <div class="field">
          <label class="field-label" for="us-end">
            {t('usage.end')}
          </label>
          <input id="us-end" class="input" type="date" data-testid="usage-end" value={end} min={start} onChange={(ev) => setEnd(ev.currentTarget.value)} />
        </div>
        <div class="field us-group">
          <label class="field-label" for="us-group">
            {t('usage.group_by')}
          </label>
          <select id="us-group" class="input select" data-testid="usage-group-by" value={groupBy} onChange={(ev) => setGroupBy(ev.currentTarget.value)}>
            <option value="model">{t('usage.by_model')}</option>
            <option value="project">{t('usage.by_project')}</option>
          </select>
        </div>
        <div class="field-hint">{t('usage.utc_note')}</div>
      </div>
      <ErrorBox error={rangeError || usage.error} />
      {!u && usage.loading && <Loading />}
      {u && (
        <div class={usage.loading ? 'us-busy' : ''} aria-busy={usage.loading ? 'true' : 'false'}>
          <div class="us-stats">
            <div class="us-stat">
              <div class="us-stat-label">{t('usage.total_cost')}</div>
              <div class="us-stat-value" data-testid="usage-total-cost" data-value={totalDec} title={`$${totalDec}`}>
                {usd(totalDec)}
              </div>
            </div>
            <div class="us-stat">
              <div class="us-stat-label">{t('usage.total_tokens')}</div>
              <div class="us-stat-value" data-testid="usage-total-tokens" data-value={String(u.tokens)}>
                {formatNumber(u.tokens)}
              </div>
            </div>
            <div class="us-stat">
              <div class="us-stat-label">{t('usage.total_requests')}</div>
              <div class="us-stat-value" data-testid="usage-total-requests" data-value={String(u.requests)}>
                {formatNumber(u.requests)}
              </div>
            </div>
          </div>
          <div class="us-charts">
            <Card title={groupBy === 'project' ? t('usage.cost_chart_project') : t('usage.cost_chart')}>
              <StackedBars
                days={u.days}
                series={memo.current.costSeries}
                format={(v) => formatUSD(v)}
                axisFormat="usd"
                testid="usage-cost-chart"
                empty={t('usage.empty')}
              />
            </Card>
            <Card title={groupBy === 'project' ? t('usage.tokens_chart_project') : t('usage.tokens_chart')}>
              <StackedBars
                days={u.days}
                series={memo.current.tokenSeries}
                format={(v) => formatNumber(v)}
                axisFormat="number"
                testid="usage-tokens-chart"
                empty={t('usage.empty')}
              />
            </Card>
          </div>
          <Card title={groupBy === 'project' ? t('usage.table_project') : t('usage.table_model')}>
            <Table
              columns={[
                groupBy === 'project' ? t('usage.col_project') : t('usage.col_model'),
                { label: t('usage.col_requests'), class: 'num' },
                { label: t('usage.col_input'), class: 'num' },
                { label: t('usage.col_output'), class: 'num' },
                { label: t('usage.col_cost'), class: 'num' },
              ]}
              empty={t('usage.empty')}
            >
              {u.rows.map((r) => {
                const dec = nanosToDecimal(r.nanos);
                return (
                  <tr key={r.key} data-testid={rowTestId} data-key={r.key}>
                    <td class={groupBy === 'project' ? 'cell-strong' : 'mono'}>
                      {r.label}
                      {groupBy === 'project' && r.label !== r.key && <span class="cell-sub mono">{r.key}</span>}
                    </td>
                    <td class="num">{formatNumber(r.requests)}</td>
                    <td class="num">{formatNumber(r.input)}</td>
                    <td class="num">{formatNumber(r.output)}</td>
                    <td class="num" data-value={dec} title={`$${dec}`}>
                      {usd(dec)}
                    </td>
                  </tr>
                );
              })}
            </Table>
          </Card>
        </div>
      )}
    </div>
  );
}

export const strings = {
  en: {
    'usage.title': 'Usage',
    'usage.description': 'What your organization’s API requests cost and how many tokens they used, per day.',
    'usage.start': 'From',
    'usage.end': 'To',
    'usage.group_by': 'Group by',
    'usage.by_model': 'Model',
    'usage.by_project': 'Project',
    'usage.utc_note': 'Days are UTC days.',
    'usage.bad_date': 'Choose a start and an end date.',
    'usage.bad_range': 'The start date must not be after the end date.',
    'usage.total_cost': 'Total spend',
    'usage.total_tokens': 'Total tokens',
    'usage.total_requests': 'Requests',
    'usage.cost_chart': 'Cost per day by model',
    'usage.cost_chart_project': 'Cost per day by project',
    'usage.tokens_chart': 'Tokens per day by model',
    'usage.tokens_chart_project': 'Tokens per day by project',
    'usage.table_model': 'By model',
    'usage.table_project': 'By project',
    'usage.col_model': 'Model',
    'usage.col_project': 'Project',
    'usage.col_requests': 'Requests',
    'usage.col_input': 'Input tokens',
    'usage.col_output': 'Output tokens',
    'usage.col_cost': 'Cost',
    'usage.other': 'Other',
    'usage.day': 'Day',
    'usage.less_than': 'less than {amount}',
    'usage.empty': 'No usage in this period.',
  },
  zh: {
    'usage.title': '用量',
    'usage.description': '按天查看组织的 API 请求费用和令牌用量。',
    'usage.start': '开始日期',
    'usage.end': '结束日期',
    'usage.group_by': '分组方式',
    'usage.by_model': '按模型',
    'usage.by_project': '按项目',
    'usage.utc_note': '日期按 UTC 计算。',
    'usage.bad_date': '请选择开始日期和结束日期。',
    'usage.bad_range': '开始日期不能晚于结束日期。',
    'usage.total_cost': '总支出',
    'usage.total_tokens': '令牌总数',
    'usage.total_requests': '请求数',
    'usage.cost_chart': '每日费用（按模型）',
    'usage.cost_chart_project': '每日费用（按项目）',
    'usage.tokens_chart': '每日令牌数（按模型）',
    'usage.tokens_chart_project': '每日令牌数（按项目）',
    'usage.table_model': '按模型',
    'usage.table_project': '按项目',
    'usage.col_model': '模型',
    'usage.col_project': '项目',
    'usage.col_requests': '请求数',
    'usage.col_input': '输入令牌',
    'usage.col_output': '输出令牌',
    'usage.col_cost': '费用',
    'usage.other': '其他',
    'usage.day': '日期',
    'usage.less_than': '不到 {amount}',
    'usage.empty': '此期间没有用量。',
  },
};
