import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fitConceptGp, type GpProgress } from '../../activities/concepts/gp';
import { pythonExecutable } from '../../lib/paths';
import { liveProcessesMatching } from '../processes';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-gp-'));
  dirs.push(dir);
  return dir;
}

describe('fitConceptGp', () => {
  /** 3,000 concepts in 16 dimensions, a smooth reward, 700 of them observed. */
  function problem(dir: string): { embeddingsPath: string; ids: number[]; rewards: number[] } {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const v = 3000;
    const dim = 16;
    const emb = new Float32Array(v * dim).map(() => rand());
    const embeddingsPath = path.join(dir, 'emb.f32');
    fs.writeFileSync(embeddingsPath, Buffer.from(emb.buffer));
    const ids = Array.from({ length: 700 }, (_, i) => i * 2);
    const rewards = ids.map((id) => Math.sin(3 * emb[id * dim]) + 0.1 * rand());
    return { embeddingsPath, ids, rewards };
  }

  test('predicts every concept, exactly or with inducing points, and reports progress', async () => {
    const dir = tempDir();
    const input = { ...problem(dir), dim: 16, python: pythonExecutable() };
    const progress: GpProgress[] = [];
    const exact = await fitConceptGp({ ...input, workDir: path.join(dir, 'exact') });
    expect(exact).toMatchObject({ method: 'exact', inducing: null, observed: 700 });
    expect(exact.predicted).toHaveLength(3000);
    const sparse = await fitConceptGp({
      ...input,
      workDir: path.join(dir, 'sparse'),
      exactLimit: 300,
      inducingPoints: 200,
      onProgress: (p) => progress.push(p),
    });
    expect(sparse).toMatchObject({ method: 'sparse', inducing: 200, observed: 700 });
    expect(sparse.predicted).toHaveLength(3000);
    expect(sparse.lengthScale).toBe(exact.lengthScale);
    expect([...new Set(progress.map((p) => p.phase))]).toEqual(['fit', 'inducing', 'solve', 'predict']);
    expect(progress.at(-1)).toEqual({ event: 'progress', phase: 'predict', done: 3000, total: 3000 });
    expect(exact.blockWeights).toBeNull();
  });

  test('with blocks, fits one length scale per block and says how much each counts', async () => {
    const dir = tempDir();
    // The reward follows the first of the 16 coordinates: the 4-wide block holding it should outweigh the rest.
    const input = { ...problem(dir), dim: 16, python: pythonExecutable(), blocks: [4, 12] };
    const fit = await fitConceptGp({ ...input, workDir: path.join(dir, 'blocks') });
    expect(fit.blockWeights).toHaveLength(2);
    const [first, rest] = fit.blockWeights as number[];
    expect(first + rest).toBeCloseTo(1, 6);
    expect(first).toBeGreaterThan(0.7);
    await expect(fitConceptGp({ ...input, blocks: [4, 4], workDir: path.join(dir, 'bad') })).rejects.toThrow(
      /--blocks .* must add up to --dim 16/,
    );
  });

  test('stops the GP process when cancelled and says why it failed otherwise', async () => {
    const dir = tempDir();
    const input = { ...problem(dir), dim: 16, python: pythonExecutable() };
    const controller = new AbortController();
    const workDir = path.join(dir, 'cancelled');
    await expect(
      fitConceptGp({ ...input, workDir, signal: controller.signal, onProgress: () => controller.abort() }),
    ).rejects.toThrow('GP fit cancelled');
    expect(liveProcessesMatching(workDir)).toEqual([]);
    expect(fs.existsSync(path.join(workDir, 'predicted.f32'))).toBe(false);

    await expect(fitConceptGp({ ...input, dim: 7, workDir: path.join(dir, 'bad') })).rejects.toThrow(
      /GP fit failed: .*code 2: embeddings .* not a multiple of --dim 7/,
    );
  });
});
