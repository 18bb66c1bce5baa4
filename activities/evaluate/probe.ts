import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { PROJECT_ROOT } from '../../lib/paths';

const run = promisify(execFile);

const ProbeResult = z.object({
  accuracy: z.number().min(0).max(1),
  C: z.number().positive(),
  /** null when a class had too few training images to hold any out (C then defaults to 1). */
  validationAccuracy: z.number().nullable(),
  dim: z.number().int(),
  train: z.number().int(),
  test: z.number().int(),
});
export type ProbeResult = z.infer<typeof ProbeResult>;

export interface ProbeInput {
  python: string;
  /** Folder for the spec file (kept next to the features it names). */
  workDir: string;
  labels: number[];
  test: boolean[];
  /** Float32 feature files, row-major [labels.length, dim], keyed by a name for the result. */
  features: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Linear-probe accuracy of frozen features (`python -m ietrainer.probe`, scikit-learn logistic
 * regression on standardised features, C chosen on a held-out part of the training split), for
 * several feature files in one process.
 */
export async function linearProbe(input: ProbeInput): Promise<Record<string, ProbeResult>> {
  const specPath = path.join(input.workDir, 'probe-spec.json');
  const spec = {
    labels: input.labels,
    test: input.test,
    features: Object.entries(input.features).map(([name, file]) => ({ name, path: file })),
  };
  await fs.writeFile(specPath, JSON.stringify(spec));
  let stdout: string;
  try {
    ({ stdout } = await run(input.python, ['-m', 'ietrainer.probe', '--input', specPath], {
      cwd: path.join(PROJECT_ROOT, 'trainer'),
      env: { ...process.env, PYTHONPATH: path.join(PROJECT_ROOT, 'trainer') },
      signal: input.signal,
      maxBuffer: 1 << 20,
    }));
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(`could not start ${input.python} for the linear probe (set IE_PYTHON or train.python)`);
    }
    throw new Error(`linear probe failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
  const parsed = z.object({ results: z.record(z.string(), ProbeResult) }).parse(JSON.parse(stdout));
  return parsed.results;
}
