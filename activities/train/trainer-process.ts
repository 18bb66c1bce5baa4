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
  | { event: 'error'; message: string }
  | { event: 'step'; step: number; loss: number; imagesPerSec?: number }
  | { event: 'checkpoint'; step: number; path: string }
  | { event: 'done'; step: number; checkpoint: string; onnx: string; imagesPerSec?: number };

/** The trainer's exit status for bad input (ietrainer/errors.py EXIT_USAGE). */
const USAGE_EXIT = 2;

export class TrainerError extends Error {
  override readonly name = 'TrainerError';
}

export interface TrainerRun {
  python: string;
  args: string[];
  signal: AbortSignal;
  onEvent(event: TrainerEvent): void | Promise<void>;
  onLog?(line: string): void;
}

/**
 * Runs `python -m ietrainer.train ...` and streams its events. Cancellation (the activity's abort signal)
 * sends SIGTERM, then SIGKILL if it does not stop. Resolves with the `done` event.
 */
export async function runTrainer(run: TrainerRun): Promise<Extract<TrainerEvent, { event: 'done' }>> {
  let done: Extract<TrainerEvent, { event: 'done' }> | undefined;
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
  // Exit 2: bad input (manifest, flags, init checkpoint) that a retry cannot fix.
  if (exit.code === USAGE_EXIT) {
    throw new TrainerError(`trainer exited with code 2: ${exit.errorMessage ?? exit.stderrTail.join('\n')}`);
  }
  throw new Error(`trainer exited with ${exit.signal ?? `code ${exit.code}`}:\n${exit.stderrTail.join('\n')}`);
}
