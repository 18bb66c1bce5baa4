import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { PROJECT_ROOT } from '../lib/paths';

/** One JSON object a module prints on a line of stdout (`ietrainer.events.emit`). */
export type PythonEvent = { event?: string } & Record<string, unknown>;

export interface PythonModuleRun<E extends object = PythonEvent> {
  python: string;
  /** A module of the trainer package, run as `python -u -m <module>` in trainer/. */
  module: string;
  args: string[];
  /** Cancellation: SIGTERM, then SIGKILL if the process has not exited `killAfterMs` later. */
  signal?: AbortSignal;
  /** Each JSON object printed on stdout, in order; a returned promise is awaited before the next one. */
  onEvent?(event: E): void | Promise<void>;
  /** Lines of stdout that are not a JSON object, and every stderr line. */
  onLog?(line: string): void;
  /** Default 10 s. */
  killAfterMs?: number;
  /** How many of the last stderr lines to keep for error messages (default 30). */
  stderrLines?: number;
}

export interface PythonModuleExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The abort signal fired while it ran (the process was told to stop). */
  aborted: boolean;
  /** The last lines of stderr. */
  stderrTail: string[];
  /** `message` of the last `{"event":"error"}` line, if any. */
  errorMessage?: string;
}

/** Variables a Python child gets by name: where things are, the locale and time zone, temp folders. */
const CHILD_VARIABLES = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'TMP',
  'TEMP',
  'LD_LIBRARY_PATH',
  'VIRTUAL_ENV',
  'CONDA_PREFIX',
  'PYTHONHASHSEED',
  'PYTHONWARNINGS',
  'PYTHONDONTWRITEBYTECODE',
  'CUBLAS_WORKSPACE_CONFIG',
]);

/** ...and by prefix: locale categories, thread pools (OpenMP, MKL, OpenBLAS), torch and CUDA settings. */
const CHILD_PREFIXES = [
  'LC_',
  'OMP_',
  'MKL_',
  'OPENBLAS_',
  'KMP_',
  'GOMP_',
  'TORCH_',
  'PYTORCH_',
  'CUDA_',
  'CUDNN_',
  'NVIDIA_',
];

/** Whatever the prefix, nothing that looks like a credential. */
const CREDENTIAL = /KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH/i;

/**
 * The environment of a Python child: only what the trainer, the GP and the probe use. They read no IE_*
 * variable, and never get the worker's database URL or a search provider's key.
 */
export function pythonEnvironment(source: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined || CREDENTIAL.test(name)) continue;
    if (CHILD_VARIABLES.has(name) || CHILD_PREFIXES.some((prefix) => name.startsWith(prefix))) env[name] = value;
  }
  return env;
}

/** The interpreter could not be started (missing, not executable). */
export class PythonStartError extends Error {
  override readonly name = 'PythonStartError';
  constructor(
    readonly python: string,
    /** The operating system's reason, e.g. `spawn /usr/bin/python3 ENOENT`. */
    readonly reason: string,
  ) {
    super(`could not start ${python}: ${reason}`);
  }
}

/**
 * Runs `python -u -m <module> ...` from the trainer package and streams its JSON-lines events, without
 * ever blocking the event loop (stdout and stderr are read line by line as they arrive). The child dies
 * with the activity: the abort signal sends SIGTERM, then SIGKILL after a grace period; ietrainer.train and
 * ietrainer.gp also ask Linux for SIGTERM when their parent dies (ietrainer/lifetime.py).
 *
 * Resolves when the process has exited and every event handler has finished, whatever the exit status:
 * callers decide what a failure means. Rejects only when the process cannot start or an event handler
 * throws (the process is then stopped as on cancellation, and the promise rejects once it has exited).
 */
export function runPythonModule<E extends object = PythonEvent>(run: PythonModuleRun<E>): Promise<PythonModuleExit> {
  const trainerDir = path.join(PROJECT_ROOT, 'trainer');
  const keep = run.stderrLines ?? 30;
  return new Promise((resolve, reject) => {
    const child = spawn(run.python, ['-u', '-m', run.module, ...run.args], {
      cwd: trainerDir,
      env: { ...pythonEnvironment(), PYTHONPATH: trainerDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let errorMessage: string | undefined;
    let aborted = false;
    let started = true;
    const stderrTail: string[] = [];
    let pending: Promise<void> = Promise.resolve();

    let handlerFailed = false;
    const stop = () => {
      child.kill('SIGTERM');
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, run.killAfterMs ?? 10_000).unref();
    };
    const onAbort = () => {
      aborted = true;
      stop();
    };
    if (run.signal?.aborted) onAbort();
    else run.signal?.addEventListener('abort', onAbort, { once: true });

    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      let event: unknown;
      try {
        event = JSON.parse(line);
      } catch {
        event = undefined;
      }
      if (typeof event !== 'object' || event === null || Array.isArray(event)) {
        run.onLog?.(line);
        return;
      }
      const record = event as PythonEvent;
      if (record.event === 'error' && typeof record.message === 'string') errorMessage = record.message;
      if (run.onEvent) {
        const onEvent = run.onEvent.bind(run);
        pending = pending.then(() => onEvent(event as E));
        // Seen when the process closes; until then, not an unhandled rejection. The process is stopped at once:
        // what it does next would not be recorded (later events are not handled), and the caller fails anyway.
        pending.catch(() => {
          if (!handlerFailed) stop();
          handlerFailed = true;
        });
      }
    });
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      stderrTail.push(line);
      if (stderrTail.length > keep) stderrTail.shift();
      run.onLog?.(line);
    });
    child.on('error', (error) => {
      // Spawn failures ('close' may follow); errors of a running child are reported by 'close'.
      if (child.pid === undefined) {
        started = false;
        run.signal?.removeEventListener('abort', onAbort);
        reject(new PythonStartError(run.python, error.message));
      }
    });
    child.on('close', (code, signal) => {
      run.signal?.removeEventListener('abort', onAbort);
      if (!started) return;
      pending.then(
        () => resolve({ code, signal, aborted, stderrTail, errorMessage }),
        (error: unknown) => reject(error as Error),
      );
    });
  });
}
