import { pct } from '../lib/format';
import { metricLabel, type RenderedChart } from './charts';
import type { ReportData } from './data';
import type { Thumbnail } from './thumbnails';

export interface RenderedGrid {
  iteration: number | null;
  population: number;
  thumbs: Thumbnail[];
}

const esc = (value: unknown): string =>
  String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
const num = (x: number | null | undefined, digits = 3) => (x === null || x === undefined ? '—' : x.toFixed(digits));
const secs = (ms: number | null | undefined) => (ms === null || ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`);

/** Element ids inside each inlined SVG are prefixed, so two charts' clip paths never collide. */
function scopeSvg(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}-$1"`);
}

function figure(chart: RenderedChart | undefined, missing: string): string {
  if (!chart) return `<p class="note">${esc(missing)}</p>`;
  return `<figure class="chart" data-chart="${esc(chart.id)}" aria-label="${esc(chart.title)}">${scopeSvg(
    chart.svg,
    `chart-${chart.id}`,
  )}<div class="png">PNG: <code>${esc(chart.id)}.png</code></div></figure>`;
}

function table(head: string[], rows: (string | number)[][], cls = ''): string {
  return (
    `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('') +
    '</tbody></table>'
  );
}

function summarySection(data: ReportData): string {
  const rows = data.iterations.map((it) => [
    it.index,
    it.status === 'completed' ? 'completed' : `${it.status} (${it.stage})`,
    it.queries,
    it.results,
    it.downloaded,
    it.failed,
    it.kept,
    num(it.meanReward, 4),
    pct(it.knnAccuracy),
    num(it.trainLoss),
    secs(it.wallMs),
  ]);
  return table(
    [
      'iteration',
      'status',
      'queries',
      'results',
      'downloaded',
      'failed',
      'kept',
      'mean reward',
      'kNN',
      'loss',
      'wall time',
    ],
    rows,
    'numbers',
  );
}

function accuracyTable(data: ReportData): string {
  if (!data.evaluations.length) return '';
  const iterations = [...new Set(data.evaluations.map((e) => e.iteration))].sort((a, b) => a - b);
  const rows = new Map<string, Map<string, number>>();
  for (const e of data.evaluations) {
    const { metric, encoder } = metricLabel(e.metric);
    const row = rows.get(metric) ?? new Map<string, number>();
    row.set(encoder === 'starting' ? 'start' : String(e.iteration), e.value);
    rows.set(metric, row);
  }
  const columns = ['start', ...iterations.map(String)];
  return table(
    ['metric', 'before training', ...iterations.map((i) => `iteration ${i}`)],
    [...rows].map(([metric, row]) => [metric, ...columns.map((c) => pct(row.get(c)))]),
    'numbers',
  );
}

function conceptsSection(data: ReportData): string {
  if (!data.bestConcepts.length) return '<p class="note">No concept rewards recorded yet.</p>';
  const depth = Math.max(...data.bestConcepts.map((t) => t.concepts.length));
  const head = ['rank', ...data.bestConcepts.map((t) => `iteration ${t.iteration}`)];
  const rows = Array.from({ length: depth }, (_, rank) => [
    rank + 1,
    ...data.bestConcepts.map((t) => {
      const c = t.concepts[rank];
      return c ? `${c.concept} (${c.reward.toFixed(3)}, ${c.images} img)` : '';
    }),
  ]);
  return (
    '<p>The queried concepts whose downloads scored highest in each iteration (mean image reward, images found). ' +
    "These are what paid off; the concepts the model expects to pay off next are the distribution's most likely " +
    'concepts (below, and in <code>ie status</code>).</p>' +
    table(head, rows, 'concepts')
  );
}

function distributionSection(data: ReportData, charts: Map<string, RenderedChart>): string {
  if (!data.distributions.length) return '<p class="note">No concept distribution recorded yet.</p>';
  const rows = data.distributions.map((d) => [
    d.iteration,
    d.temperature === null ? 'uniform' : d.temperature.toPrecision(3),
    d.entropyBits.toFixed(2),
    Math.round(d.perplexity).toLocaleString('en'),
    pct(d.topMass[10]),
    pct(d.topMass[250]),
    d.top
      .slice(0, 5)
      .map((t) => `${t.concept} ${pct(t.probability)}`)
      .join(', ') || '—',
  ]);
  return (
    `<p>The distribution over all ${data.run.vocabulary.toLocaleString('en')} concepts that each iteration sampled its ` +
    `queries from (iteration 0: uniform). As the model learns which concepts pay off, entropy falls and the ` +
    `most likely concepts hold more of the mass.</p>` +
    figure(charts.get('entropy'), '') +
    figure(charts.get('topmass'), '') +
    table(
      [
        'sampled by iteration',
        'τ',
        'entropy (bits)',
        'effective concepts',
        'top 10 mass',
        'top 250 mass',
        'most likely concepts',
      ],
      rows,
      'numbers last-text',
    )
  );
}

function gridSection(grids: RenderedGrid[]): string {
  return grids
    .map((g) => {
      const name = g.iteration === null ? 'target' : `iteration-${g.iteration}`;
      const title =
        g.iteration === null
          ? `Target images (${g.thumbs.length} of ${g.population})`
          : `Downloads of iteration ${g.iteration} (${g.thumbs.length} of ${g.population}, sampled at random)`;
      const cells = g.thumbs
        .map((t) => {
          const caption = [t.concept, t.reward === null ? null : `reward ${t.reward.toFixed(3)}`]
            .filter(Boolean)
            .join(', ');
          return t.dataUri
            ? `<img src="${t.dataUri}" alt="${esc(caption || t.sha256)}" title="${esc(caption || t.sha256.slice(0, 12))}">`
            : `<span class="missing" title="${esc(t.problem)}">missing</span>`;
        })
        .join('');
      const missing = g.thumbs.filter((t) => !t.dataUri);
      return (
        `<figure class="grid" data-grid="${name}"><figcaption>${esc(title)}</figcaption><div class="cells">${cells}</div>` +
        (missing.length
          ? `<p class="note">${missing.length} not shown: ${esc(missing.map((t) => `${t.sha256.slice(0, 12)} ${t.problem}`).join('; '))}</p>`
          : '') +
        `<div class="png">PNG: <code>grid-${name}.png</code></div></figure>`
      );
    })
    .join('');
}

function stagesSection(data: ReportData, charts: Map<string, RenderedChart>): string {
  const stages = [...new Set(data.stageTimings.map((s) => s.stage))];
  const byIteration = new Map<number, Map<string, number>>();
  for (const s of data.stageTimings) {
    const m = byIteration.get(s.iteration) ?? new Map<string, number>();
    m.set(s.stage, s.ms);
    byIteration.set(s.iteration, m);
  }
  const rows = [...byIteration].map(([iteration, m]) => [iteration, ...stages.map((s) => secs(m.get(s)))]);
  return (
    figure(charts.get('stages'), 'No stage timings recorded yet.') + table(['iteration', ...stages], rows, 'numbers')
  );
}

const STYLE = `
body{font-family:"DejaVu Sans",Verdana,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:2em}
table{border-collapse:collapse;margin:12px 0;font-size:.85em}td,th{border:1px solid #ddd;padding:3px 8px}
th{background:#f3f3f3}table.numbers td{text-align:right}table.numbers td:first-child{text-align:left}table.last-text td:last-child{text-align:left}table.concepts td{font-size:.9em}
figure{margin:12px 0;display:inline-block;vertical-align:top}figcaption{font-weight:bold;margin-bottom:4px}
.grid .cells{display:grid;grid-template-columns:repeat(8,72px);gap:3px}.grid img{width:72px;height:72px;display:block}
.missing{width:72px;height:72px;background:#eee;font-size:.7em;display:flex;align-items:center;justify-content:center}
.note{color:#777}.png{color:#999;font-size:.75em}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}
dt{color:#666}pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:.8em}`;

/** The whole report: one HTML file with charts as inline SVG and images as data URIs (no external references). */
export function renderHtml(
  data: ReportData,
  chartList: RenderedChart[],
  grids: RenderedGrid[],
  generatedAt: Date,
): string {
  const charts = new Map(chartList.map((c) => [c.id, c]));
  const { run } = data;
  const configured = (run.config as { iterations?: number } | null)?.iterations;
  const done = data.iterations.filter((it) => it.status === 'completed').length;
  const section = (id: string, title: string, body: string) =>
    `<section id="${id}"><h2>${esc(title)}</h2>${body}</section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Run report: ${esc(run.id)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body>
<header><h1>Internet Explorer run <code>${esc(run.id)}</code></h1>
<dl>
<dt>status</dt><dd>${esc(run.status)}</dd>
<dt>mode</dt><dd>${esc(run.mode)}</dd>
<dt>iterations</dt><dd>${done} completed of ${esc(configured ?? '?')}</dd>
<dt>target</dt><dd><code>${esc(run.targetDir)}</code>: ${run.targetCount} images, ${
    run.hasLabels ? `${run.labelNames.length} classes (labels used for evaluation only)` : 'unlabelled'
  }</dd>
<dt>started</dt><dd>${esc(run.createdAt.toISOString())}</dd>
<dt>report made</dt><dd>${esc(generatedAt.toISOString())}</dd>
</dl>
<details><summary>effective run config</summary><pre>${esc(JSON.stringify(run.config, null, 2))}</pre></details>
</header>
${section('summary', 'Iterations', summarySection(data))}
${section('rewards', 'Reward', figure(charts.get('reward'), 'No rewards recorded yet.'))}
${section(
  'accuracy',
  'Accuracy on the target',
  figure(
    charts.get('accuracy'),
    run.hasLabels ? 'No evaluation recorded yet.' : 'The target is unlabelled: no accuracy to report.',
  ) + accuracyTable(data),
)}
${section('images', 'Images per iteration', figure(charts.get('images'), ''))}
${section('concepts', 'Best-scoring concepts per iteration', conceptsSection(data))}
${section('distribution', 'How the concept distribution sharpened', distributionSection(data, charts))}
${section('samples', 'Sampled downloads', gridSection(grids))}
${section('stages', 'Time per stage', stagesSection(data, charts))}
</body></html>
`;
}
