import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT, pythonExecutable } from '../../lib/paths';

const run = promisify(execFile);

export interface GpFit {
  predicted: Float32Array;
  lengthScale: number | null;
  noise: number | null;
  observed: number;
}

/**
 * Gaussian-process regression of concept rewards on concept-name embeddings (Python, scikit-learn):
 * hyperparameters by marginal likelihood, posterior mean for every concept of the vocabulary.
 */
export async function fitConceptGp(opts: {
  embeddingsPath: string;
  dim: number;
  ids: number[];
  rewards: number[];
  workDir: string;
  python?: string;
}): Promise<GpFit> {
  await fs.mkdir(opts.workDir, { recursive: true });
  const observedPath = path.join(opts.workDir, 'observed.json');
  const outPath = path.join(opts.workDir, 'predicted.f32');
  await fs.writeFile(observedPath, JSON.stringify({ ids: opts.ids, rewards: opts.rewards }));
  let stdout: string;
  try {
    ({ stdout } = await run(
      opts.python ?? pythonExecutable(),
      [
        '-m',
        'ietrainer.gp',
        '--embeddings',
        opts.embeddingsPath,
        '--dim',
        String(opts.dim),
        '--observed',
        observedPath,
        '--out',
        outPath,
      ],
      {
        cwd: path.join(PROJECT_ROOT, 'trainer'),
        env: { ...process.env, PYTHONPATH: path.join(PROJECT_ROOT, 'trainer') },
        maxBuffer: 16 << 20,
      },
    ));
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`GP fit failed: ${(error as Error).message}\n${stderr.split('\n').slice(-15).join('\n')}`);
  }
  const doneLine = stdout
    .split('\n')
    .reverse()
    .find((l) => l.includes('"done"'));
  const done = doneLine ? (JSON.parse(doneLine) as { lengthScale?: number; noise?: number; observed?: number }) : {};
  const bytes = await fs.readFile(outPath);
  const predicted = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return {
    predicted,
    lengthScale: done.lengthScale ?? null,
    noise: done.noise ?? null,
    observed: done.observed ?? opts.ids.length,
  };
}
