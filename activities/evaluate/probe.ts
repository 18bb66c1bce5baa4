import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../lib/files';
import { PythonStartError, runPythonModule } from '../python-module';

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
  /** Checked float32 files (lib/files.ts writeFloat32File), [labels.length, dim], keyed by a name for the result. */
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
  await writeFileAtomic(specPath, JSON.stringify(spec));
  let output: unknown;
  let exit;
  try {
    exit = await runPythonModule({
      python: input.python,
      module: 'ietrainer.probe',
      args: ['--input', specPath],
      signal: input.signal,
      onEvent: (event) => {
        output = event;
      },
    });
  } catch (error) {
    if (error instanceof PythonStartError) {
      throw new Error(`could not start ${input.python} for the linear probe (set IE_PYTHON or train.python)`);
    }
    throw error;
  }
  if (exit.aborted) throw new Error('linear probe cancelled');
  if (exit.code !== 0 || output === undefined) {
    const status = exit.signal ?? `code ${exit.code}`;
    throw new Error(`linear probe failed: ${exit.stderrTail.join('\n').trim() || `exited with ${status}`}`);
  }
  const parsed = z.object({ results: z.record(z.string(), ProbeResult) }).parse(output);
  return parsed.results;
}
