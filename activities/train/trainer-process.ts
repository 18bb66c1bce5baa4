import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { PROJECT_ROOT } from '../../lib/paths';
import path from 'node:path';

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
export function runTrainer(run: TrainerRun): Promise<Extract<TrainerEvent, { event: 'done' }>> {
  return new Promise((resolve, reject) => {
    const child = spawn(run.python, ['-u', '-m', 'ietrainer.train', ...run.args], {
      cwd: path.join(PROJECT_ROOT, 'trainer'),
      env: { ...process.env, PYTHONPATH: path.join(PROJECT_ROOT, 'trainer') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let done: Extract<TrainerEvent, { event: 'done' }> | undefined;
    let errorMessage: string | undefined;
    const stderrTail: string[] = [];
    let pending: Promise<void> = Promise.resolve();

    const onAbort = () => {
      child.kill('SIGTERM');
      setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 10_000).unref();
    };
    run.signal.addEventListener('abort', onAbort, { once: true });

    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      let event: TrainerEvent;
      try {
        event = JSON.parse(line) as TrainerEvent;
      } catch {
        run.onLog?.(line);
        return;
      }
      if (event.event === 'done') done = event;
      if (event.event === 'error') errorMessage = event.message;
      pending = pending.then(() => run.onEvent(event));
    });
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      stderrTail.push(line);
      if (stderrTail.length > 30) stderrTail.shift();
      run.onLog?.(line);
    });
    child.on('error', (error) =>
      reject(
        new TrainerError(
          `could not start the trainer with ${run.python}: ${error.message} (set IE_PYTHON or train.python)`,
        ),
      ),
    );
    child.on('close', (code, signal) => {
      run.signal.removeEventListener('abort', onAbort);
      pending.then(
        () => {
          if (code === 0 && done) resolve(done);
          else if (run.signal.aborted) reject(new Error('training cancelled'));
          // Exit 2: bad input (manifest, flags, init checkpoint) that a retry cannot fix.
          else if (code === USAGE_EXIT)
            reject(new TrainerError(`trainer exited with code 2: ${errorMessage ?? stderrTail.join('\n')}`));
          else reject(new Error(`trainer exited with ${signal ?? `code ${code}`}:\n${stderrTail.join('\n')}`));
        },
        (error: unknown) => reject(error as Error),
      );
    });
  });
}
