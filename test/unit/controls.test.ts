import * as controls from '../../workflows/controls';
import { retryCommands, runDetails } from '../../workflows/details';
import { searchAttributeCliTypes, type Progress } from '../../lib/contract';

const running = (over: Partial<controls.ControlState> = {}): controls.ControlState => ({
  status: 'running',
  controls: { paused: false, stopRequested: false, temperature: null, addedConcepts: 0 },
  failed: null,
  ...over,
});

describe('control validators', () => {
  test('temperature must be a finite number > 0', () => {
    expect(controls.validateTemperature(running(), { temperature: 0.25 })).toBe(0.25);
    for (const bad of [0, -1, Infinity, NaN, '0.5', null])
      expect(() => controls.validateTemperature(running(), { temperature: bad })).toThrow(/finite number > 0/);
    expect(() => controls.validateTemperature(running(), undefined)).toThrow(/finite number > 0/);
  });

  test('concept names are non-empty, bounded, distinct; whitespace is normalised', () => {
    expect(controls.validateConcepts(running(), { names: ['  tabby   cat ', 'sphynx'] })).toEqual([
      'tabby cat',
      'sphynx',
    ]);
    expect(() => controls.validateConcepts(running(), { names: [] })).toThrow(/non-empty list/);
    expect(() => controls.validateConcepts(running({ status: 'preparing' }), { names: ['x'] })).toThrow(
      /still being prepared/,
    );
    expect(() => controls.validateConcepts(running(), { names: ['ok', ' '] })).toThrow(
      /names\[1\] must be a non-empty string/,
    );
    expect(() => controls.validateConcepts(running(), { names: ['x'.repeat(101)] })).toThrow(/101 characters long/);
    expect(() => controls.validateConcepts(running(), { names: ['Cat', 'cat'] })).toThrow(/appears twice/);
    const many = Array.from({ length: controls.MAX_CONCEPTS_PER_UPDATE + 1 }, (_, i) => `c${i}`);
    expect(() => controls.validateConcepts(running(), { names: many })).toThrow(/at most 50 concepts/);
  });

  test('pause, resume and stop only while the run is active, and only once', () => {
    expect(() => controls.validatePause(running())).not.toThrow();
    const paused = running({ status: 'paused', controls: { ...running().controls, paused: true } });
    expect(() => controls.validatePause(paused)).toThrow(/already paused/);
    expect(() => controls.validateResume(paused)).not.toThrow();
    expect(() => controls.validateResume(running())).toThrow(/not paused \(it is running\)/);
    expect(() => controls.validateStop(running())).not.toThrow();
    expect(() => controls.validateStop(running({ controls: { ...running().controls, stopRequested: true } }))).toThrow(
      /already requested/,
    );
    for (const status of ['completed', 'stopped', 'failed'] as const) {
      expect(() => controls.validatePause(running({ status }))).toThrow(`the run has already ${status}`);
      expect(() => controls.validateStop(running({ status }))).toThrow(`the run has already ${status}`);
      expect(() => controls.validateTemperature(running({ status }), { temperature: 1 })).toThrow(/already/);
    }
  });

  test('retry names the failed iteration', () => {
    const waiting = running({ status: 'waiting-retry', failed: { iteration: 1, error: 'boom', failures: 1 } });
    expect(controls.validateRetry(waiting, { iteration: 1 })).toBe(1);
    expect(() => controls.validateRetry(waiting, { iteration: 0 })).toThrow(/the failed iteration is 1/);
    expect(() => controls.validateRetry(running(), { iteration: 1 })).toThrow(/no iteration has failed/);
    expect(() => controls.validateRetry(waiting, { iteration: -1 })).toThrow(/non-negative integer/);
  });
});

describe('run details', () => {
  const progress: Progress = {
    runId: 'ie-pets-1',
    status: 'waiting-retry',
    iteration: 1,
    iterations: 3,
    stage: 'score',
    iterationsDone: 1,
    imagesDownloaded: 120,
    imagesKept: 40,
    meanReward: 0.123,
    topConcepts: [{ concept: 'tabby', probability: 0.05 }],
    evaluation: null,
    history: [
      {
        iteration: 0,
        queries: 24,
        results: 240,
        downloaded: 120,
        failed: 3,
        outcomes: {},
        excluded: 0,
        kept: 40,
        meanReward: 0.123,
        trainSteps: 8,
        trainLoss: 1.5,
        temperature: null,
        topConcepts: [],
        knnAccuracy: 0.4,
        evaluation: null,
        stageMs: {},
        wallMs: 30_000,
      },
    ],
    controls: { paused: false, stopRequested: false, temperature: 0.5, addedConcepts: 2 },
    failed: { iteration: 1, error: 'ORT session failed', failures: 1 },
  };

  test('say which iteration failed and the exact commands that retry it', () => {
    const md = runDetails(progress, 'pets');
    expect(md).toContain('**Iteration 1 failed**');
    expect(md).toContain('ORT session failed');
    for (const cmd of retryCommands('ie-pets-1', 1)) expect(md).toContain(cmd);
    expect(md).toContain('ie retry-iteration ie-pets-1 1');
    expect(md).toContain('images so far: **120** downloaded, **40** kept');
    expect(md).toContain('tabby (5.00%)');
    expect(md).toContain('temperature set to 0.5; 2 concepts added by hand');
    // A fixed-width table in a code block: the Web UI's markdown renders no pipe tables.
    expect(md).toContain('```text\niteration  downloaded  kept  mean reward  temperature    kNN  wall\n');
    expect(md).toMatch(/^\s+0\s+120\s+40\s+0\.123\s+—\s+40\.0%\s+30 s$/m);
  });

  test('running details name the iteration and stage', () => {
    const md = runDetails({ ...progress, status: 'running', failed: null }, 'pets');
    expect(md).toContain('**Running** iteration 1 (2 of 3), stage **score**');
    expect(md).not.toContain('retry');
  });

  test('a continued-as-new execution says the run went on, not that it is running', () => {
    const md = runDetails({ ...progress, status: 'running', stage: 'continued-as-new', failed: null }, 'pets');
    expect(md).toContain('**Continued as new** after iteration 1 (2 of 3)');
    expect(md).not.toContain('**Running**');
  });

  test('a run that failed before its first iteration says why', () => {
    const failed: Progress = { ...progress, status: 'failed', failed: null, history: [], iterationsDone: 0 };
    const md = runDetails({ ...failed, error: "config: unknown key 'iteratoins'" }, undefined);
    expect(md).toContain("**Failed** before its first iteration: config: unknown key 'iteratoins'");
  });
});

test('search attributes map to the temporal CLI types', () => {
  expect(searchAttributeCliTypes()).toEqual({
    IeTarget: 'Keyword',
    IeMode: 'Keyword',
    IeStatus: 'Keyword',
    IeIteration: 'Int',
    IeImages: 'Int',
    IeBestKnn: 'Double',
  });
});
