import { distributionStats, uniformStats } from '../../lib/distribution-stats';
import { gridIterations, sampleByHash } from '../../report/sample';
import { chartSpecs, metricLabel } from '../../report/charts';
import { renderHtml } from '../../report/html';
import type { ReportData } from '../../report/data';

describe('how the concept distribution sharpened', () => {
  test('a uniform distribution has log2(n) bits and top-k mass k/n', () => {
    const n = 1000;
    const stats = distributionStats(new Float32Array(n).fill(1 / n), [10, 250]);
    expect(stats.entropyBits).toBeCloseTo(Math.log2(n), 5);
    expect(stats.perplexity).toBeCloseTo(n, 1);
    expect(stats.topMass[10]).toBeCloseTo(0.01, 5);
    expect(stats.topMass[250]).toBeCloseTo(0.25, 5);
    const closedForm = uniformStats(n, [10, 250]);
    expect(closedForm.entropyBits).toBeCloseTo(stats.entropyBits, 5);
    expect(closedForm.topMass).toEqual({ 10: 0.01, 250: 0.25 });
  });

  test('a sharper distribution has lower entropy and more mass on its top concepts', () => {
    const probs = new Float32Array(1000).fill(0.5 / 996);
    probs.set([0.2, 0.15, 0.1, 0.05], 500); // four concepts hold half the mass, wherever they are
    const stats = distributionStats(probs, [4, 10]);
    expect(stats.topMass[4]).toBeCloseTo(0.5, 4);
    expect(stats.maxProbability).toBeCloseTo(0.2, 4);
    expect(stats.entropyBits).toBeLessThan(Math.log2(1000) - 1);
  });

  test('unnormalised weights are normalised; all-zero is an error', () => {
    expect(distributionStats([2, 2], [1]).topMass[1]).toBeCloseTo(0.5);
    expect(() => distributionStats([0, 0])).toThrow(/positive total probability/);
  });
});

describe('image grid sampling', () => {
  const items = Array.from({ length: 100 }, (_, i) => `sha${i}`);
  test('deterministic per seed, different across seeds, no repeats', () => {
    const a = sampleByHash(items, 10, (s) => s, 'run/0');
    expect(sampleByHash(items, 10, (s) => s, 'run/0')).toEqual(a);
    expect(new Set(a).size).toBe(10);
    expect(sampleByHash(items, 10, (s) => s, 'run/1')).not.toEqual(a);
    expect(sampleByHash(items.slice(0, 3), 10, (s) => s, 'x')).toHaveLength(3);
  });

  test('first, middle and last iteration, deduplicated', () => {
    expect(gridIterations([0, 1, 2, 3, 4])).toEqual([0, 2, 4]);
    expect(gridIterations([1, 0])).toEqual([0, 1]);
    expect(gridIterations([0])).toEqual([0]);
    expect(gridIterations([])).toEqual([]);
  });
});

function data(overrides: Partial<ReportData> = {}): ReportData {
  return {
    run: {
      id: 'r<1>',
      mode: 'explore',
      status: 'completed',
      createdAt: new Date('2026-01-01T00:00:00Z'),
      targetDir: '/t',
      targetCount: 30,
      hasLabels: false,
      labelNames: [],
      config: { iterations: 2 },
      vocabulary: 1000,
    },
    iterations: [0, 1].map((index) => ({
      index,
      status: 'completed',
      stage: 'done',
      queries: 24,
      results: 240,
      downloaded: 100 + index,
      failed: 3,
      kept: 50,
      meanReward: 0.5 + index / 10,
      knnAccuracy: null,
      trainLoss: 1,
      wallMs: 60_000,
    })),
    evaluations: [],
    stageTimings: [{ iteration: 0, stage: 'train', ms: 50_000, dbMs: 10 }],
    bestConcepts: [{ iteration: 0, concepts: [{ concept: 'golden <retriever>', reward: 0.9, images: 7 }] }],
    distributions: [{ iteration: 0, temperature: null, top: [], ...uniformStats(1000) }],
    grids: [],
    ...overrides,
  };
}

describe('report page', () => {
  test('charts with nothing to draw are left out, and the page says why', () => {
    const specs = chartSpecs(data());
    expect(specs.map((s) => s.id)).toEqual(['reward', 'images', 'entropy', 'topmass', 'stages']);
    const html = renderHtml(data(), [], [], new Date());
    expect(html).toContain('The target is unlabelled: no accuracy to report.');
  });

  test('text from the database is escaped', () => {
    const html = renderHtml(data(), [], [], new Date());
    expect(html).toContain('golden &lt;retriever&gt;');
    expect(html).toContain('r&lt;1&gt;');
    expect(html).not.toContain('<retriever>');
  });

  test('ids inside each inlined SVG are scoped to its chart', () => {
    const svg = '<svg><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"></g></svg>';
    const chart = { id: 'reward', title: 'Reward', spec: chartSpecs(data())[0].spec, svg };
    const html = renderHtml(data(), [chart, { ...chart, id: 'images' }], [], new Date());
    expect(html).toContain('id="chart-reward-clip1"');
    expect(html).toContain('url(#chart-images-clip1)');
    expect(html).not.toContain('id="clip1"');
  });
});

test('evaluation metrics are named for people; base_ ones belong to the encoder before training', () => {
  expect(metricLabel('knn_accuracy')).toEqual({ metric: 'kNN', encoder: 'trained' });
  expect(metricLabel('base_knn_loo_accuracy')).toEqual({ metric: 'kNN (leave-one-out)', encoder: 'starting' });
  expect(metricLabel('linear_probe_accuracy')).toEqual({ metric: 'linear probe', encoder: 'trained' });
});
