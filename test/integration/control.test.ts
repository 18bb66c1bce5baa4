import { db } from '../../lib/db';
import { parseRunConfig } from '../../lib/config';
import { sendControl } from '../../cli/commands/control';
import { startRun } from '../../lib/client';
import { RUN_SEARCH_ATTRIBUTES as SA, topConceptsQuery, type Progress, type TopConcept } from '../../lib/contract';
import { temporalClient, uniqueId, useTestEnvironment, withWorkers } from './harness';
import { currentDetails, waitForListed, waitForProgress, waitForRecordedStatus } from './run-watch';

jest.setTimeout(15 * 60_000);

const env = useTestEnvironment('control', { engine: {} });

test('a run is paused, steered, resumed and stopped by validated updates, each recorded; the UI sees it', async () => {
  const { client, connection } = await temporalClient();
  const runId = uniqueId('it-control');
  const config = parseRunConfig(env.runConfig({ iterations: 3 }));

  const { final, finalDetails } = await withWorkers(async () => {
    await startRun(client, runId, config);
    const handle = client.workflow.getHandle(runId);
    // Once the run is in the database (prepared), a rejected control is stored with the run it names.
    await waitForProgress(handle, (p) => p.status === 'running');

    // Invalid controls are refused by the validators, and recorded as rejected with the reason.
    const badTemperature = await sendControl(client, runId, 'temperature', { temperature: -1 });
    expect(badTemperature).toEqual({ accepted: false, reason: expect.stringMatching(/finite number > 0/) });
    const noNames = await sendControl(client, runId, 'addConcepts', { names: [] });
    expect(noNames).toEqual({ accepted: false, reason: expect.stringMatching(/non-empty list/) });
    const notPaused = await sendControl(client, runId, 'resume');
    expect(notPaused).toEqual({ accepted: false, reason: expect.stringMatching(/not paused/) });
    const noFailure = await sendControl(client, runId, 'retryIteration', { iteration: 0 });
    expect(noFailure).toEqual({ accepted: false, reason: expect.stringMatching(/no iteration has failed/) });

    // While iteration 0 runs: pause before the next one, set the temperature, add a concept.
    await waitForProgress(handle, (p) => p.status === 'running' && p.iteration === 0);
    expect(await sendControl(client, runId, 'pause')).toMatchObject({ accepted: true });
    expect(await sendControl(client, runId, 'pause')).toEqual({
      accepted: false,
      reason: expect.stringMatching(/already paused/),
    });
    const temperature = await sendControl(client, runId, 'temperature', { temperature: 0.05 });
    expect(temperature).toMatchObject({
      accepted: true,
      result: { message: expect.stringContaining('update stage of iteration 1') },
    });
    expect(await sendControl(client, runId, 'addConcepts', { names: [' tabby  cat '] })).toMatchObject({
      accepted: true,
    });

    // The run waits between iterations 0 and 1.
    const paused = await waitForProgress(handle, (p) => p.status === 'paused');
    expect(paused.iteration).toBe(1);
    expect(paused.history.map((h) => h.iteration)).toEqual([0]);
    expect(paused.controls).toEqual({ paused: true, stopRequested: false, temperature: 0.05, addedConcepts: 1 });
    await waitForRecordedStatus(runId, 'paused');
    const details = await currentDetails(handle);
    expect(details).toContain(`## Exploration run \`${runId}\``);
    expect(details).toContain('**Paused** before iteration 1 (2 of 3)');
    expect(details).toContain('target: **pets-3x10**');
    expect(details).toContain(`images so far: **${paused.imagesDownloaded}** downloaded`);
    expect(paused.imagesDownloaded).toBeGreaterThan(0);
    expect(details).toMatch(/### Top concepts/);
    await waitForListed(client, `IeTarget = 'pets-3x10' AND IeStatus = 'paused' AND IeIteration = 1`, runId);

    // The top of the current distribution, answered from the workflow's state.
    const top50 = await handle.query(topConceptsQuery, 50);
    expect(top50).toHaveLength(50);
    expect(await handle.query(topConceptsQuery, 5)).toEqual(top50.slice(0, 5));
    const stored = await db().distribution.findUniqueOrThrow({
      where: { runId_iteration: { runId, iteration: 0 } },
    });
    expect((stored.topConcepts as unknown as TopConcept[]).map((t) => t.concept)).toEqual(top50.map((t) => t.concept));

    // Resume; once iteration 1 runs, ask the run to stop after it.
    expect(await sendControl(client, runId, 'resume')).toMatchObject({ accepted: true });
    await waitForProgress(handle, (p) => p.status === 'running' && p.iteration === 1);
    expect(await sendControl(client, runId, 'stop')).toMatchObject({
      accepted: true,
      result: { message: expect.stringContaining('stops after the iteration in progress') },
    });
    const result = (await handle.result()) as Progress;
    // Queries on the closed run are answered by a worker replaying it.
    return { final: result, finalDetails: await currentDetails(handle) };
  });

  // Stopped after iteration 1 (of 3), with the temperature applied from iteration 1's update stage.
  expect(final.status).toBe('stopped');
  expect(final.history.map((h) => h.iteration)).toEqual([0, 1]);
  expect((await db().run.findUniqueOrThrow({ where: { id: runId } })).status).toBe('stopped');
  const distributions = await db().distribution.findMany({ where: { runId }, orderBy: { iteration: 'asc' } });
  expect(distributions.map((d) => d.iteration)).toEqual([0, 1]);
  expect(distributions[0].temperature).not.toBe(0.05);
  expect(distributions[1].temperature).toBe(0.05);
  expect(final.history[1].temperature).toBe(0.05);
  expect(await db().iteration.count({ where: { runId, index: 2 } })).toBe(0);

  // Every control is in the database: accepted ones by the run, rejected ones with their reason.
  const controls = await db().runControl.findMany({ where: { runId }, orderBy: { id: 'asc' } });
  expect(controls.filter((c) => c.accepted).map((c) => [c.kind, c.payload])).toEqual([
    ['pause', {}],
    ['temperature', { temperature: 0.05, fromIteration: 1 }],
    ['addConcepts', { names: ['tabby cat'] }],
    ['resume', {}],
    ['stop', {}],
  ]);
  expect(
    controls
      .filter((c) => !c.accepted)
      .map((c) => [c.kind, c.reason?.match(/finite|non-empty|not paused|no iter|already/)?.[0]]),
  ).toEqual([
    ['temperature', 'finite'],
    ['addConcepts', 'non-empty'],
    ['resume', 'not paused'],
    ['retryIteration', 'no iter'],
    ['pause', 'already'],
  ]);

  // Search attributes of the closed run, as `temporal workflow list --query` and the UI filter them.
  const described = await client.workflow.getHandle(runId).describe();
  expect(described.typedSearchAttributes.get(SA.status)).toBe('stopped');
  expect(described.typedSearchAttributes.get(SA.iteration)).toBe(1);
  expect(described.typedSearchAttributes.get(SA.mode)).toBe('explore');
  expect(described.typedSearchAttributes.get(SA.images)).toBe(final.imagesDownloaded);
  const knns = final.history.map((h) => h.knnAccuracy as number);
  expect(described.typedSearchAttributes.get(SA.bestKnn)).toBeCloseTo(Math.max(...knns), 10);
  await waitForListed(client, `IeTarget = 'pets-3x10' AND IeStatus = 'stopped' AND IeBestKnn >= 0`, runId);
  expect(finalDetails).toContain('**Stopped** by request after 2 iterations');
  await connection.close();
});
