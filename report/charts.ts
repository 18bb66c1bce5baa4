// vega-lite's package exports hide its types from this project's module resolution; the build path has them.
import type { TopLevelSpec } from 'vega-lite/build/index';
import type * as VegaLite from 'vega-lite/build/index';
import { STAGES } from '../lib/contract';
import type { ReportData } from './data';

export interface ChartSpec {
  /** File name (without extension) of its PNG, and its element id in the page. */
  id: string;
  title: string;
  spec: TopLevelSpec;
}

export interface RenderedChart extends ChartSpec {
  svg: string;
}

const WIDTH = 440;
const HEIGHT = 220;
// DejaVu is what librsvg finds on Debian, so the PNGs match the page.
const CONFIG = {
  font: 'DejaVu Sans, Verdana, sans-serif',
  background: 'white',
  view: { stroke: '#ddd' },
  legend: { labelLimit: 400 },
};
const ITERATION = { field: 'iteration', type: 'ordinal', title: 'iteration', axis: { labelAngle: 0 } } as const;

function chart(id: string, title: string, values: object[], spec: Record<string, unknown>): ChartSpec {
  return {
    id,
    title,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title,
      width: WIDTH,
      height: HEIGHT,
      config: CONFIG,
      data: { values },
      ...spec,
    } as TopLevelSpec,
  };
}

function lines(field: string, title: string, colour: string, format?: string) {
  return {
    encoding: {
      x: ITERATION,
      y: { field, type: 'quantitative', title, scale: { zero: false }, axis: format ? { format } : {} },
      color: { field: colour, type: 'nominal', title: null, legend: { orient: 'bottom' } },
      tooltip: [{ field: 'iteration' }, { field: colour }, { field, format: format ?? '.4f' }],
    },
    layer: [{ mark: { type: 'line', strokeWidth: 2 } }, { mark: { type: 'point', filled: true, size: 50 } }],
  };
}

/** Evaluation metric names as the page shows them: `base_` ones measure the encoder before any training. */
export function metricLabel(metric: string): { metric: string; encoder: 'trained' | 'starting' } {
  const starting = metric.startsWith('base_');
  const name = metric
    .replace(/^base_/, '')
    .replace(/_accuracy$/, '')
    .replace(/^knn_loo$/, 'kNN (leave-one-out)')
    .replace(/^knn$/, 'kNN')
    .replace(/_/g, ' ');
  return { metric: name, encoder: starting ? 'starting' : 'trained' };
}

/** Accuracy after each iteration as lines; the starting encoder's as dashed horizontal rules. */
function accuracyChart(values: { iteration: number; metric: string; encoder: string; value: number }[]): ChartSpec {
  const y = {
    field: 'value',
    type: 'quantitative',
    title: 'accuracy',
    scale: { zero: false },
    axis: { format: '.0%' },
  };
  const color = { field: 'metric', type: 'nominal', title: null, legend: { orient: 'bottom' } };
  const trained = { filter: "datum.encoder === 'trained'" };
  const tooltip = [
    { field: 'iteration' },
    { field: 'metric' },
    { field: 'encoder' },
    { field: 'value', format: '.1%' },
  ];
  return chart('accuracy', 'Target accuracy per iteration (dashed: the encoder before training)', values, {
    layer: [
      { transform: [trained], mark: { type: 'line', strokeWidth: 2 }, encoding: { x: ITERATION, y, color, tooltip } },
      {
        transform: [trained],
        mark: { type: 'point', filled: true, size: 50 },
        encoding: { x: ITERATION, y, color, tooltip },
      },
      {
        transform: [{ filter: "datum.encoder === 'starting'" }],
        mark: { type: 'rule', strokeDash: [5, 4], strokeWidth: 1.5 },
        encoding: { y, color, tooltip },
      },
    ],
  });
}

/** The report's charts, as vega-lite specs; a chart with nothing to draw is left out (the page says why). */
export function chartSpecs(data: ReportData): ChartSpec[] {
  const charts: ChartSpec[] = [];
  const rewards = data.iterations
    .filter((it) => it.meanReward !== null)
    .map((it) => ({ iteration: it.index, series: 'mean reward of downloads', value: it.meanReward }));
  if (rewards.length)
    charts.push(chart('reward', 'Mean reward per iteration', rewards, lines('value', 'mean reward', 'series')));

  const accuracy = data.evaluations.map((e) => ({ iteration: e.iteration, ...metricLabel(e.metric), value: e.value }));
  if (accuracy.length) charts.push(accuracyChart(accuracy));

  const counts = data.iterations.flatMap((it) => [
    { iteration: it.index, kind: 'downloaded', images: it.downloaded },
    { iteration: it.index, kind: 'kept (replay buffer)', images: it.kept },
    { iteration: it.index, kind: 'failed', images: it.failed },
  ]);
  charts.push(
    chart('images', 'Images downloaded and kept per iteration', counts, {
      mark: 'bar',
      encoding: {
        x: ITERATION,
        xOffset: { field: 'kind', sort: ['downloaded', 'kept (replay buffer)', 'failed'] },
        y: { field: 'images', type: 'quantitative', title: 'images' },
        color: {
          field: 'kind',
          type: 'nominal',
          title: null,
          sort: ['downloaded', 'kept (replay buffer)', 'failed'],
          scale: { range: ['#4c78a8', '#54a24b', '#e45756'] },
          legend: { orient: 'bottom' },
        },
        tooltip: [{ field: 'iteration' }, { field: 'kind' }, { field: 'images' }],
      },
    }),
  );

  if (data.distributions.length) {
    const entropy = data.distributions.map((d) => ({
      iteration: d.iteration,
      series: 'entropy (bits)',
      value: d.entropyBits,
    }));
    charts.push(
      chart('entropy', 'Entropy of the concept distribution each iteration sampled from', entropy, {
        ...lines('value', 'entropy (bits)', 'series', '.2f'),
      }),
    );
    const mass = data.distributions.flatMap((d) =>
      Object.entries(d.topMass).map(([k, value]) => ({ iteration: d.iteration, series: `top ${k} concepts`, value })),
    );
    charts.push(
      chart(
        'topmass',
        'Probability mass of the most likely concepts',
        mass,
        lines('value', 'probability', 'series', '.1%'),
      ),
    );
  }

  const stageOrder = (stage: string) => (STAGES as readonly string[]).indexOf(stage);
  const stages = data.stageTimings.map((s) => ({
    iteration: s.iteration,
    stage: s.stage,
    seconds: s.ms / 1000,
    order: stageOrder(s.stage),
  }));
  if (stages.length)
    charts.push(
      chart('stages', 'Time per stage per iteration', stages, {
        mark: 'bar',
        encoding: {
          x: ITERATION,
          y: { field: 'seconds', type: 'quantitative', aggregate: 'sum', title: 'seconds', stack: 'zero' },
          color: {
            field: 'stage',
            type: 'nominal',
            title: null,
            sort: [...STAGES],
            legend: { orient: 'bottom' },
          },
          order: { field: 'order', type: 'quantitative' },
          tooltip: [{ field: 'iteration' }, { field: 'stage' }, { field: 'seconds', aggregate: 'sum', format: '.1f' }],
        },
      }),
    );
  return charts;
}

/** Compiles each spec with vega-lite and renders it to SVG with vega, headless (no canvas, no browser). */
export async function renderCharts(specs: ChartSpec[]): Promise<RenderedChart[]> {
  // Both are ES modules only; imported when a report is made.
  const vega = await import('vega');
  const vegaLite = (await import('vega-lite' as string)) as typeof VegaLite;
  const out: RenderedChart[] = [];
  for (const spec of specs) {
    const view = new vega.View(vega.parse(vegaLite.compile(spec.spec).spec), { renderer: 'none' });
    try {
      out.push({ ...spec, svg: await view.toSVG() });
    } finally {
      view.finalize();
    }
  }
  return out;
}
