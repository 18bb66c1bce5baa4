/**
 * The self-contained HTML report: accuracy and precision vs iteration for both arms (vega-lite rendered
 * to inline SVG) and the per-iteration table.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ARMS, FIGURE_HEADERS, figureCells, interleavedIterations, type BenchmarkSummary } from './report';

type Spec = Record<string, unknown>;

interface Point {
  iteration: number;
  arm: string;
  metric: string;
  value: number;
}

function points(
  summary: BenchmarkSummary,
  metrics: Record<string, (i: number, arm: (typeof ARMS)[number]) => number | null>,
): Point[] {
  const out: Point[] = [];
  for (const arm of ARMS) {
    for (const [i, it] of summary.arms[arm].iterations.entries()) {
      for (const [metric, get] of Object.entries(metrics)) {
        const value = get(i, arm);
        if (value !== null) out.push({ iteration: it.iteration, arm, metric, value });
      }
    }
  }
  return out;
}

function lineChart(title: string, values: Point[], yTitle: string): Spec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 420,
    height: 260,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'iteration', type: 'quantitative', axis: { tickMinStep: 1, title: 'iteration' } },
      y: { field: 'value', type: 'quantitative', axis: { format: '.0%', title: yTitle } },
      color: { field: 'arm', type: 'nominal', scale: { domain: [...ARMS], range: ['#d62728', '#7f7f7f'] } },
      strokeDash: { field: 'metric', type: 'nominal' },
      shape: { field: 'metric', type: 'nominal' },
    },
  };
}

/** The two charts of the report, as vega-lite specs. */
export function chartSpecs(summary: BenchmarkSummary): Spec[] {
  const it = (i: number, arm: (typeof ARMS)[number]) => summary.arms[arm].iterations[i];
  return [
    lineChart(
      'Accuracy on the target',
      points(summary, {
        kNN: (i, arm) => it(i, arm).knnAccuracy,
        'linear probe': (i, arm) => it(i, arm).linearProbeAccuracy,
      }),
      'accuracy',
    ),
    lineChart(
      'Relevance precision of downloads',
      points(summary, { precision: (i, arm) => it(i, arm).precision }),
      'share of images of a target class',
    ),
  ];
}

/** Renders vega-lite specs to SVG strings in a child Node process (vega is ESM-only). */
export function renderSvgs(specs: Spec[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [path.join(__dirname, 'render-svg.mjs')],
      { maxBuffer: 64 << 20, cwd: path.join(__dirname, '..') },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`rendering the charts failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as string[]);
      },
    );
    child.stdin?.end(JSON.stringify(specs));
  });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function table(summary: BenchmarkSummary): string {
  const head = [...FIGURE_HEADERS, 'mean reward', 'best-scoring concepts', 'most likely next'];
  const rows = interleavedIterations(summary).map(({ arm, it }) => {
    const cells = [
      ...figureCells(arm, it),
      it.meanReward?.toFixed(3) ?? '—',
      it.bestConcepts.join(', ') || '—',
      it.mostLikely.join(', ') || '—',
    ];
    return `<tr class="${arm}">${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`;
  });
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}

/** Builds the HTML document around already-rendered SVG charts. */
export function htmlReport(summary: BenchmarkSummary, svgs: string[], printed: string): string {
  const b = summary.budget;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Benchmark: ${escapeHtml(path.basename(summary.target))}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; } td, th { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }
tr.explore td { background: #fff5f5; } .charts { display: flex; flex-wrap: wrap; gap: 2rem; } pre { background: #f6f6f6; padding: 1rem; }
</style></head><body>
<h1>Internet Explorer vs random exploration</h1>
<p>Target <code>${escapeHtml(summary.target)}</code>; corpus <code>${escapeHtml(summary.corpus)}</code>.
Same budget for both arms: ${b.iterations} iterations × ${b.queriesPerIteration} queries × ${b.resultsPerQuery} results,
${b.trainSteps} training steps per iteration, seed ${b.seed}. Runs: explore <code>${escapeHtml(summary.arms.explore.runId)}</code>,
random <code>${escapeHtml(summary.arms.random.runId)}</code>; ${escapeHtml(summary.startedAt)} → ${escapeHtml(summary.finishedAt)}.</p>
<div class="charts">${svgs.map((svg) => `<figure>${svg}</figure>`).join('\n')}</div>
<h2>Per iteration</h2>
<p>AUC: how well the image rewards tell target classes from the rest; near q: share of the iteration's queries
whose concept is within 4 WordNet edges of a target class; near top10: the same among the 10 most likely
concepts it left for the next iteration; GP ρ: Spearman's rank correlation between the GP's prediction and the
rewards of the concepts it drew. Best-scoring concepts: queried concepts by shrunk mean image reward; most
likely next: the distribution's most likely concepts.</p>
${table(summary)}
<h2>Summary</h2>
<pre>${escapeHtml(printed)}</pre>
</body></html>
`;
}

export async function writeHtmlReport(outDir: string, summary: BenchmarkSummary, printed: string): Promise<string> {
  const svgs = await renderSvgs(chartSpecs(summary));
  const file = path.join(outDir, 'report.html');
  await fs.mkdir(outDir, { recursive: true });
  await fs.writeFile(file, htmlReport(summary, svgs, printed));
  return file;
}
