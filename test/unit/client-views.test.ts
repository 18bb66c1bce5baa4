import { EventEmitter } from 'node:events';
import { barsView, linesView, statusText, totalsLine } from '../../lib/client/views';
import type { Progress, IterationSummary } from '../../lib/contract';

function summary(iteration: number): IterationSummary {
  return {
    iteration,
    queries: 24,
    results: 240,
    downloaded: 90,
    failed: 5,
    outcomes: { ok: 90, timeout: 5 },
    excluded: 0,
    kept: 45,
    meanReward: 0.8,
    trainSteps: 8,
    trainLoss: 2.5,
    temperature: null,
    topConcepts: [{ concept: 'tabby', probability: 0.1 }],
    knnAccuracy: 0.4,
    evaluation: null,
    stageMs: { sample: 100, search: 200, download: 3000, train: 40_000, score: 500, update: 300, evaluate: 200 },
    wallMs: 45_000,
  };
}

function progress(over: Partial<Progress> = {}): Progress {
  return {
    runId: 'r1',
    status: 'running',
    iteration: 1,
    iterations: 3,
    stage: 'train',
    iterationsDone: 1,
    imagesDownloaded: 90,
    imagesKept: 45,
    meanReward: 0.8,
    topConcepts: [],
    evaluation: { knnAccuracy: 0.4, linearProbeAccuracy: null },
    history: [summary(0)],
    ...over,
  } as Progress;
}

test('status text: where the run is, totals, each finished iteration', () => {
  const text = statusText(progress(), 'RUNNING');
  expect(text).toMatch(/^run r1: running \(Temporal: RUNNING\), iteration 1 \(2 of 3\), stage train/);
  expect(text).toContain('90 images downloaded, 45 kept; mean reward 0.800; kNN 40.0%');
  expect(text).toMatch(/iteration 0 \(1 of 3\) done: 24 queries → 240 results → 90 images \(5 failed\)/);
  expect(
    totalsLine(
      progress({
        controls: {
          paused: true,
          stopRequested: false,
          temperature: null,
          addedConcepts: 0,
        } as Progress['controls'],
        failed: { iteration: 1, error: 'boom', failures: 1 } as Progress['failed'],
      }),
    ),
  ).toMatch(/; paused; iteration 1 failed: boom$/);
});

test('plain lines: each stage change and each finished iteration once', () => {
  const lines: string[] = [];
  const view = linesView((l) => lines.push(l));
  view.update(progress({ history: [], iteration: 0, stage: 'search' }));
  view.update(progress({ history: [], iteration: 0, stage: 'search' }));
  view.update(progress({ history: [], iteration: 0, stage: 'download' }));
  view.update(progress({ history: [summary(0)], iteration: 1, stage: 'sample', iterationsDone: 1 }));
  // The window of recent iterations moves on: iteration 0 is not printed again.
  view.update(progress({ history: [summary(1)], status: 'completed', stage: 'done', iteration: 1, iterationsDone: 2 }));
  expect(lines[0]).toBe('  iteration 0 (1 of 3): search…');
  expect(lines[1]).toBe('  iteration 0 (1 of 3): download…');
  expect(lines.filter((l) => /^iteration \d \(\d of 3\) done: /.test(l))).toHaveLength(2);
  expect(lines[lines.length - 1]).toBe('  run completed');
});

test("the starting encoder's kNN stands beside every iteration's, remembered from iteration 0", () => {
  const lines: string[] = [];
  const view = linesView((l) => lines.push(l), { stages: false });
  const first = {
    ...summary(0),
    evaluation: {
      knnAccuracy: 0.4,
      linearProbeAccuracy: 0.5,
      base: { knnAccuracy: 0.3, linearProbeAccuracy: 0.35 },
    },
  };
  view.update(progress({ history: [first], iteration: 1, iterationsDone: 1 }));
  view.update(progress({ history: [summary(1)], iteration: 2, iterationsDone: 2 }));
  const done = lines.filter((l) => / done: /.test(l));
  expect(done).toHaveLength(2);
  expect(done[0]).toContain('kNN 40.0%, probe 50.0% (starting encoder: kNN 30.0%, probe 35.0%)');
  expect(done[1]).toContain('kNN 40.0%, probe — (starting encoder: kNN 30.0%, probe 35.0%)');
  expect(done[1]).toContain("next distribution's most likely concepts: tabby");
  // Without a starting encoder's evaluation (an unlabelled target) nothing is added.
  expect(statusText(progress(), 'RUNNING')).not.toContain('starting encoder');
  expect(statusText(progress({ history: [first, summary(1)] }), 'RUNNING').match(/starting encoder/g)).toHaveLength(2);
});

/** A stand-in terminal that records what the bars draw. */
class FakeTty extends EventEmitter {
  isTTY = true;
  columns = 160;
  written = '';
  write(chunk: string) {
    this.written += chunk;
    return true;
  }
  cursorTo() {
    return true;
  }
  moveCursor() {
    return true;
  }
  clearLine() {
    return true;
  }
  clearScreenDown() {
    return true;
  }
}

test('bars: one per stage of the current iteration, done/running/pending, with totals', () => {
  const tty = new FakeTty();
  const view = barsView(tty as unknown as NodeJS.WriteStream);
  view.update(progress());
  view.stop();
  const screen = tty.written;
  for (const stage of ['sample', 'search', 'download', 'train', 'score', 'update', 'evaluate'])
    expect(screen).toContain(stage);
  expect(screen).toMatch(/download\s+\|[^|]+\| done/);
  expect(screen).toMatch(/train\s+\|[^|]+\| running \d+s \(previous iteration: 40s\)/);
  expect(screen).toMatch(/iterations\s+\|[^|]+\| 1\/3 done · running · iteration 1 \(2 of 3\)/);
  expect(screen).toContain('90 images downloaded, 45 kept');
  expect(screen).toContain('iteration 0 (1 of 3) done: 24 queries'); // the finished iteration, logged above the bars
});
