import fs from 'node:fs/promises';
import path from 'node:path';
import { readFloat32File, writeFileAtomic } from '../../lib/files';
import { pythonExecutable } from '../../lib/paths';
import { PythonStartError, runPythonModule } from '../python-module';

export interface GpFit {
  predicted: Float32Array;
  lengthScale: number | null;
  noise: number | null;
  /** With `blocks`: each block's fitted share of the squared distance between two concepts. */
  blockWeights: number[] | null;
  observed: number;
  /** `exact` up to the exact limit of distinct observed concepts, `sparse` (inducing points) above. */
  method: 'prior' | 'exact' | 'sparse';
  inducing: number | null;
}

/**
 * What the GP process reports while it works, at most a second apart within a phase: `fit` (likelihood
 * evaluations of the hyperparameter fit; no total), `inducing` (inducing points chosen), `solve`
 * (observations conditioned on), `predict` (concepts predicted).
 */
export interface GpProgress {
  event: 'progress';
  phase: 'fit' | 'inducing' | 'solve' | 'predict';
  done: number;
  total: number | null;
}

type GpEvent =
  | GpProgress
  | { event: 'error'; message: string }
  | {
      event: 'done';
      lengthScale: number | null;
      noise: number | null;
      amplitude: number | null;
      blockWeights: number[] | null;
      observed: number;
      concepts: number;
      method: 'prior' | 'exact' | 'sparse';
      inducing: number | null;
      seconds: number;
    };

/**
 * Gaussian-process regression of concept rewards on concept-name embeddings (`python -m ietrainer.gp`,
 * NumPy/SciPy/scikit-learn): hyperparameters by marginal likelihood, posterior mean for every concept of
 * the vocabulary; exact up to a few thousand observed concepts, a sparse approximation with inducing points
 * above (its cost and memory bounds: trainer/ietrainer/gp.py). Progress events arrive through `onProgress`
 * while it runs; the abort signal stops the process.
 */
export async function fitConceptGp(opts: {
  embeddingsPath: string;
  dim: number;
  ids: number[];
  rewards: number[];
  workDir: string;
  python?: string;
  signal?: AbortSignal;
  onProgress?(progress: GpProgress): void;
  /** The exact GP up to this many distinct observed concepts (default: the module's, 4,000). */
  exactLimit?: number;
  /** Inducing points of the sparse GP above the exact limit (default: the module's, 2,000). */
  inducingPoints?: number;
  /**
   * Widths of the embeddings' parts (ConceptEmbeddingsInfo.blocks): one length scale per part, fitted, so
   * the observed rewards decide how much each part counts.
   */
  blocks?: number[];
}): Promise<GpFit> {
  await fs.mkdir(opts.workDir, { recursive: true });
  const observedPath = path.join(opts.workDir, 'observed.json');
  const outPath = path.join(opts.workDir, 'predicted.f32');
  await writeFileAtomic(observedPath, JSON.stringify({ ids: opts.ids, rewards: opts.rewards }));
  const python = opts.python ?? pythonExecutable();
  const args = ['--embeddings', opts.embeddingsPath, '--dim', String(opts.dim), '--observed', observedPath];
  args.push('--out', outPath);
  if (opts.exactLimit !== undefined) args.push('--exact-limit', String(opts.exactLimit));
  if (opts.inducingPoints !== undefined) args.push('--inducing-points', String(opts.inducingPoints));
  if (opts.blocks) args.push('--blocks', opts.blocks.join(','));
  let done: Extract<GpEvent, { event: 'done' }> | undefined;
  let exit;
  try {
    exit = await runPythonModule<GpEvent>({
      python,
      module: 'ietrainer.gp',
      args,
      signal: opts.signal,
      onEvent: (event) => {
        if (event.event === 'done') done = event;
        else if (event.event === 'progress') opts.onProgress?.(event);
      },
    });
  } catch (error) {
    if (error instanceof PythonStartError) {
      throw new Error(`GP fit failed: ${error.message} (set IE_PYTHON or train.python)`);
    }
    throw error;
  }
  if (exit.aborted) throw new Error('GP fit cancelled');
  if (exit.code !== 0 || !done) {
    const status = exit.signal ?? `code ${exit.code}`;
    throw new Error(
      `GP fit failed: python -m ietrainer.gp exited with ${status}: ${exit.errorMessage ?? ''}\n${exit.stderrTail.slice(-15).join('\n')}`,
    );
  }
  // One prediction per concept, checked against the header the GP wrote (a torn file is refused, by name).
  const { values: predicted } = await readFloat32File(outPath, { rows: done.concepts, dim: 1 });
  return {
    predicted,
    lengthScale: done.lengthScale,
    noise: done.noise,
    blockWeights: done.blockWeights ?? null,
    observed: done.observed,
    method: done.method,
    inducing: done.inducing,
  };
}

/**
 * Each concept's chance of finding any image (`gp.emptyConcepts` `discount`): the same GP fitted on 1 for
 * every queried concept that found one and 0 for every one that found none, its mean predicted for the
 * whole vocabulary. Same bounds as the reward GP's.
 */
export async function fitFindChance(
  opts: Omit<Parameters<typeof fitConceptGp>[0], 'ids' | 'rewards'> & {
    queried: { conceptId: number; found: boolean }[];
  },
): Promise<Float32Array> {
  const { queried, ...gp } = opts;
  const fit = await fitConceptGp({
    ...gp,
    ids: queried.map((q) => q.conceptId),
    rewards: queried.map((q) => (q.found ? 1 : 0)),
  });
  return fit.predicted;
}
