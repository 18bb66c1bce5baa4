import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PythonStartError, runPythonModule, type PythonEvent } from '../../activities/python-module';
import { pythonExecutable } from '../../lib/paths';
import { liveProcessesMatching } from '../processes';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-pymod-'));
  dirs.push(dir);
  return dir;
}

/** An executable standing in for the interpreter: a Python script that gets `-u -m <module> args...`. */
function fakePython(body: string): string {
  const file = path.join(tempDir(), 'python');
  fs.writeFileSync(file, `#!${pythonExecutable()}\nimport json, os, signal, sys, time\n${body}\n`, { mode: 0o755 });
  return file;
}

test('streams JSON events in order, awaits their handlers, and reports the exit', async () => {
  const python = fakePython(`
assert sys.argv[1:4] == ['-u', '-m', 'ietrainer.some'], sys.argv
for i in range(3):
    print(json.dumps({"event": "step", "step": i}), flush=True)
print("a plain line", flush=True)
print("[1, 2]", flush=True)
print(json.dumps({"event": "error", "message": "bad flag " + sys.argv[4]}), flush=True)
for i in range(40):
    print("log", i, file=sys.stderr)
sys.exit(2)`);
  const events: PythonEvent[] = [];
  const logs: string[] = [];
  const exit = await runPythonModule({
    python,
    module: 'ietrainer.some',
    args: ['--x'],
    onEvent: async (event) => {
      await new Promise((r) => setTimeout(r, 20));
      events.push(event);
    },
    onLog: (line) => logs.push(line),
  });
  expect(events.map((e) => e.step ?? e.event)).toEqual([0, 1, 2, 'error']);
  expect(logs.slice(0, 2)).toEqual(['a plain line', '[1, 2]']);
  expect(logs).toHaveLength(42);
  expect(exit).toEqual({
    code: 2,
    signal: null,
    aborted: false,
    errorMessage: 'bad flag --x',
    stderrTail: Array.from({ length: 30 }, (_, i) => `log ${i + 10}`),
  });
});

test('cancelling sends SIGTERM and the process stops', async () => {
  const marker = `pymod-cancel-${process.pid}-${Date.now()}`;
  const python = fakePython(`
print(json.dumps({"event": "progress"}), flush=True)
time.sleep(60)`);
  const controller = new AbortController();
  const started = Date.now();
  const exit = await runPythonModule({
    python,
    module: 'ietrainer.x',
    args: [marker],
    signal: controller.signal,
    onEvent: () => controller.abort(),
  });
  expect(exit).toMatchObject({ aborted: true, signal: 'SIGTERM', code: null });
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(liveProcessesMatching(marker)).toEqual([]);
});

test('a process that ignores SIGTERM is killed after the grace period', async () => {
  const python = fakePython(`
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(json.dumps({"event": "ready"}), flush=True)
time.sleep(60)`);
  const controller = new AbortController();
  const exit = await runPythonModule({
    python,
    module: 'ietrainer.x',
    args: [],
    signal: controller.signal,
    killAfterMs: 300,
    onEvent: () => controller.abort(),
  });
  expect(exit).toMatchObject({ aborted: true, signal: 'SIGKILL' });
});

test('a signal aborted before the start stops the process at once', async () => {
  const python = fakePython('time.sleep(60)');
  const controller = new AbortController();
  controller.abort();
  const started = Date.now();
  const exit = await runPythonModule({ python, module: 'ietrainer.x', args: [], signal: controller.signal });
  expect(exit.aborted).toBe(true);
  expect(Date.now() - started).toBeLessThan(10_000);
});

test('an interpreter that cannot start and a failing event handler reject', async () => {
  const missing = path.join(tempDir(), 'no-python');
  await expect(runPythonModule({ python: missing, module: 'ietrainer.x', args: [] })).rejects.toThrow(PythonStartError);
  const python = fakePython('print(json.dumps({"event": "x"}), flush=True)');
  await expect(
    runPythonModule({
      python,
      module: 'ietrainer.x',
      args: [],
      onEvent: () => {
        throw new Error('handler broke');
      },
    }),
  ).rejects.toThrow('handler broke');
});

test('a failing event handler stops the process at once, and no rejection goes unhandled', async () => {
  const marker = `pymod-handler-${process.pid}-${Date.now()}`;
  const python = fakePython(`
for i in range(600):
    print(json.dumps({"event": "step", "step": i}), flush=True)
    time.sleep(0.1)`);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const handled: number[] = [];
  const started = Date.now();
  try {
    await expect(
      runPythonModule<{ step: number }>({
        python,
        module: 'ietrainer.x',
        args: [marker],
        onEvent: async (event) => {
          handled.push(event.step);
          // As a database call that fails: after a wait, while more events arrive.
          if (event.step === 1) await new Promise((_, reject) => setTimeout(() => reject(new Error('db away')), 300));
        },
      }),
    ).rejects.toThrow('db away');
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(handled).toEqual([0, 1]);
  expect(unhandled).toEqual([]);
  expect(liveProcessesMatching(marker)).toEqual([]);
});

test('a torrent of output does not block the event loop', async () => {
  // A fixed volume (100,000 events, ~20 MB) rather than a fixed time: the assertion counts turns of the event
  // loop taken while the events were still arriving, which does not depend on how fast the machine is.
  const python = fakePython(`
line = json.dumps({"event": "progress", "pad": "x" * 200})
for _ in range(100):
    sys.stdout.write((line + "\\n") * 1000)
sys.stdout.flush()`);
  let events = 0;
  let turnsWhileStreaming = 0;
  let streaming = true;
  const turn = () => {
    if (!streaming) return;
    if (events > 0) turnsWhileStreaming++;
    setImmediate(turn);
  };
  setImmediate(turn);
  try {
    await runPythonModule({ python, module: 'ietrainer.x', args: [], onEvent: () => void events++ });
  } finally {
    streaming = false;
  }
  expect(events).toBe(100_000);
  expect(turnsWhileStreaming).toBeGreaterThanOrEqual(10);
});

test('a child gets only the environment it needs: no database URL, no API keys', async () => {
  const planted = {
    DATABASE_URL: 'postgresql://ie:hunter2@db.internal:5432/ie',
    IE_FLICKR_API_KEY: 'flickr-key-0123',
    IE_BRAVE_TOKEN: 'brave-token-0123',
    IE_OPENVERSE_CLIENT_SECRET: 'openverse-secret-0123',
    IE_LLM_API_KEY: 'llm-key-0123',
    OMP_NUM_THREADS: '1',
    CUDA_VISIBLE_DEVICES: '0',
  };
  const saved = Object.fromEntries(Object.keys(planted).map((k) => [k, process.env[k]]));
  Object.assign(process.env, planted);
  try {
    const python = fakePython('print(json.dumps({"event": "env", "env": dict(os.environ)}), flush=True)');
    let env: Record<string, string> = {};
    await runPythonModule({
      python,
      module: 'ietrainer.x',
      args: [],
      onEvent: (event) => {
        env = event.env as Record<string, string>;
      },
    });
    for (const name of [
      'DATABASE_URL',
      'IE_FLICKR_API_KEY',
      'IE_BRAVE_TOKEN',
      'IE_OPENVERSE_CLIENT_SECRET',
      'IE_LLM_API_KEY',
    ])
      expect(env[name]).toBeUndefined();
    const printed = JSON.stringify(env);
    for (const secret of ['hunter2', 'flickr-key', 'brave-token', 'openverse-secret', 'llm-key'])
      expect(printed).not.toContain(secret);
    expect(Object.keys(env).filter((name) => name.startsWith('IE_'))).toEqual([]);
    expect(env).toMatchObject({ PATH: process.env.PATH, OMP_NUM_THREADS: '1', CUDA_VISIBLE_DEVICES: '0' });
    expect(env.PYTHONPATH).toMatch(/trainer$/);
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});
