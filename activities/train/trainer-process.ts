import { ApplicationFailure } from '@temporalio/common';
import { PythonStartError, runPythonModule } from '../python-module';

/** One JSON line the trainer prints on stdout. */
export type TrainerEvent =
  | { event: 'start'; step: number; steps: number; device: string; images: Record<string, number> }
  | { event: 'resumed'; step: number; checkpoint: string }
  | {
      event: 'initialised';
      path: string;
      layout: 'mocov3' | 'torchvision' | 'ietrainer';
      loaded: Record<string, number>;
      copiedFromOnline: string[];
      skippedCount: number;
      skipped: { key: string; reason: string }[];
    }
  | { event: 'base'; onnx: string }
  | { event: 'checkpointSkipped'; path: string; reason: string }
  | ({ event: 'error'; message: string } & Partial<Omit<TrainingDivergence, 'message'>>)
  | { event: 'step'; step: number; loss: number; imagesPerSec?: number }
  | { event: 'checkpoint'; step: number; path: string }
  | { event: 'done'; step: number; checkpoint: string; onnx: string; imagesPerSec?: number };

/** The trainer's exit status for bad input (ietrainer/errors.py EXIT_USAGE). */
const USAGE_EXIT = 2;
/** The loss (or the weights) stopped being finite (ietrainer/errors.py EXIT_DIVERGED). */
const DIVERGED_EXIT = 3;

/** What the trainer says when training diverged (its error event with `kind: 'diverged'`). */
export interface TrainingDivergence {
  kind: 'diverged';
  /** The trainer's own message: what diverged, what to change, in its flags. */
  message: string;
  /** e.g. `the loss became nan`. */
  what: string;
  step: number;
  /** `nan`, `inf`, or the last finite loss when the weights diverged. */
  loss: string;
  /** The learning rate at that step, and the schedule's base. */
  lr: number;
  baseLr: number;
  batchSize: number;
  /** The newest checkpoint, saved before the divergence (none: none was saved). */
  checkpoint: string | null;
}

/** Failure type of a diverged training: retrying from the same state diverges again, so never retried. */
export const TRAINING_DIVERGED = 'TrainingDivergedError';

export class TrainerError extends Error {
  override readonly name = 'TrainerError';
}

export interface TrainerRun {
  python: string;
  args: string[];
  signal: AbortSignal;
  onEvent(event: TrainerEvent): void | Promise<void>;
  onLog?(line: string): void;
  /** The message of a diverged training's failure (default: the trainer's, which names its flags). */
  describeDivergence?(divergence: TrainingDivergence): string;
}

/**
 * Runs `python -m ietrainer.train ...` and streams its events. Cancellation (the activity's abort signal)
 * sends SIGTERM, then SIGKILL if it does not stop. Resolves with the `done` event.
 */
export async function runTrainer(run: TrainerRun): Promise<Extract<TrainerEvent, { event: 'done' }>> {
  let done: Extract<TrainerEvent, { event: 'done' }> | undefined;
  let divergence: TrainingDivergence | undefined;
  let exit;
  try {
    exit = await runPythonModule<TrainerEvent>({
      python: run.python,
      module: 'ietrainer.train',
      args: run.args,
      signal: run.signal,
      onLog: run.onLog,
      onEvent: (event) => {
        if (event.event === 'done') done = event;
        if (event.event === 'error' && event.kind === 'diverged') divergence = event as TrainingDivergence;
        return run.onEvent(event);
      },
    });
  } catch (error) {
    if (error instanceof PythonStartError) {
      throw new TrainerError(
        `could not start the trainer with ${run.python}: ${error.reason} (set IE_PYTHON or train.python)`,
      );
    }
    throw error;
  }
  if (exit.code === 0 && done) return done;
  if (run.signal.aborted) throw new Error('training cancelled');
  // A diverged loss: the same state and settings diverge again, so the failure is not retried.
  if (exit.code === DIVERGED_EXIT && divergence) {
    throw ApplicationFailure.create({
      type: TRAINING_DIVERGED,
      message: run.describeDivergence?.(divergence) ?? divergence.message,
      nonRetryable: true,
      details: [divergence],
    });
  }
  // Exit 2: bad input (manifest, flags, init checkpoint) that a retry cannot fix.
  if (exit.code === USAGE_EXIT) {
    throw new TrainerError(`trainer exited with code 2: ${exit.errorMessage ?? exit.stderrTail.join('\n')}`);
  }
  throw new Error(`trainer exited with ${exit.signal ?? `code ${exit.code}`}:\n${exit.stderrTail.join('\n')}`);
}
