import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConceptEmbeddings } from '../../activities/concepts/embeddings-cache';
import { OnnxTextEncoder } from '../../activities/concepts/onnx-encoder';
import { addRunConcepts, loadRunVocabulary, restrictToRun } from '../../activities/concepts/run-concepts';
import { ensureConceptFeatures } from '../../activities/concepts/run-embeddings';
import { PROJECT_ROOT, pythonExecutable } from '../../lib/paths';
import { descriptorsFor } from '../../activities/descriptors/descriptors';
import { wordnetDescriptors } from '../../activities/descriptors/wordnet';
import { loadVocabulary } from '../../activities/concepts/vocabulary';
import { float32FromBytes } from '../../lib/bytes';
import { parseRunConfig } from '../../lib/config';
import { db } from '../../lib/db';
import { logger } from '../../lib/logger';
import { askedConcept, startFakeChatCompletions, type FakeChatCompletions } from '../support/fake-chat-completions';
import { runToCompletion, temporalClient, uniqueId, useTestEnvironment } from './harness';
import { expectTemperatureFromPredictions, insertRunRow } from './run-rows';

jest.setTimeout(15 * 60_000);

const KEY = 'sk-integration-key-42';
const WORDNET = loadVocabulary().length;

const createRun = (id: string) =>
  insertRunRow(id, { targetDir: '/nowhere', targetCount: 0, config: { target: '/nowhere' } });

const env = useTestEnvironment('run_concepts', { engine: {} });

describe('addRunConcepts', () => {
  test('reuses existing concepts, adds new ones after WordNet, and is idempotent', async () => {
    const a = uniqueId('rc-a');
    const b = uniqueId('rc-b');
    await createRun(a);
    await createRun(b);
    const names = ['golden_retriever', '  Golden  retriever ', 'Yorkshire terrier', 'Fluffy lap dog', 'tabby'];
    expect(await addRunConcepts({ runId: a, names, source: 'label' })).toEqual({ added: 4, existing: 0 });
    expect(await addRunConcepts({ runId: a, names, source: 'label' })).toEqual({ added: 0, existing: 4 });

    const golden = await db().concept.findUniqueOrThrow({ where: { name: 'golden retriever' } });
    expect(golden.id).toBeLessThan(WORDNET);
    expect(golden.source).toBe('wordnet');
    const fluffy = await db().concept.findUniqueOrThrow({ where: { name: 'Fluffy lap dog' } });
    expect(fluffy).toEqual({ id: WORDNET, name: 'Fluffy lap dog', source: 'label' });

    // Another run: the same new name (other case) is reused, a new one gets the next id.
    expect(await addRunConcepts({ runId: b, names: ['fluffy LAP dog', 'Robot dog'], source: 'user' })).toEqual({
      added: 2,
      existing: 0,
    });
    expect(await db().concept.count({ where: { id: { gte: WORDNET } } })).toBe(2);
    const robot = await db().concept.findUniqueOrThrow({ where: { name: 'Robot dog' } });
    expect(robot.id).toBe(WORDNET + 1);

    const vocabulary = await loadRunVocabulary(a);
    expect(vocabulary.names).toHaveLength(WORDNET + 2);
    expect(vocabulary.own.map((c) => c.name)).toEqual(
      expect.arrayContaining(['golden retriever', 'yorkshire terrier', 'Fluffy lap dog', 'tabby']),
    );
    expect(vocabulary.member[WORDNET]).toBe(1);
    expect(vocabulary.member[robot.id]).toBe(0); // run b's concept is not run a's
    expect(vocabulary.memberIds).toHaveLength(WORDNET + 1);

    // A distribution computed before 'Robot dog' existed, and one over everything: b's concept gets nothing.
    const uniform = new Float64Array(WORDNET + 2).fill(1 / (WORDNET + 2));
    const restricted = restrictToRun(uniform, vocabulary);
    expect(restricted[robot.id]).toBe(0);
    expect(restricted[WORDNET]).toBeCloseTo(1 / (WORDNET + 1), 12);
    const older = restrictToRun(new Float64Array(WORDNET).fill(1 / WORDNET), vocabulary);
    expect(older[WORDNET]).toBeCloseTo(1 / (WORDNET + 1), 12);
  });

  test('refuses bad input with a clear error', async () => {
    const run = uniqueId('rc-bad');
    await createRun(run);
    await expect(addRunConcepts({ runId: run, names: ['ok', '   '], source: 'user' })).rejects.toThrow(
      /concept name 1 \(" {3}"\) is empty/,
    );
    await expect(addRunConcepts({ runId: 'no-such-run', names: ['x'], source: 'user' })).rejects.toThrow(
      /run no-such-run is not in the database/,
    );
  });
});

describe("the run's text encoder", () => {
  test("an ONNX sentence encoder embeds WordNet and the run's own concepts into one matrix, rows = ids", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-run-encoder-'));
    try {
      const model = path.join(root, 'tiny-bert');
      execFileSync(pythonExecutable(), [
        path.join(PROJECT_ROOT, 'test/fixtures/text-encoder/build_tiny_bert.py'),
        model,
      ]);
      const runId = uniqueId('rc-onnx');
      await createRun(runId);
      await addRunConcepts({ runId, names: ['pocket-sized robot dog'], source: 'user' });
      const config = parseRunConfig({
        target: '/nowhere',
        textEncoder: { kind: 'onnx', path: model },
        concepts: { taxonomyWeight: 0 },
      });
      const dir = path.join(root, 'cache');
      const vocabulary = await loadRunVocabulary(runId);
      const info = await ensureConceptFeatures(vocabulary, config, { dir });
      const encoder = await OnnxTextEncoder.load(model);
      expect(info.encoder).toBe(encoder.name);
      expect(info).toMatchObject({ count: vocabulary.names.length, dim: 32 });
      const rows = await loadConceptEmbeddings(info.path);
      expect(rows).toHaveLength(vocabulary.names.length * 32);
      const id = vocabulary.own[0].id;
      const probe = [0, 4242, id];
      const expected = await encoder.embed(probe.map((i) => vocabulary.names[i]));
      probe.forEach((conceptId, k) => {
        for (let d = 0; d < 32; d++) expect(rows[conceptId * 32 + d]).toBeCloseTo(expected[k * 32 + d], 5);
      });
      // The GloVe matrix is another file: switching encoders never mixes vectors.
      expect(path.basename(info.path)).toMatch(
        new RegExp(`^${encoder.name}-${vocabulary.names.length}x32-[0-9a-f]{12}\\.f32$`),
      );
      // With a taxonomy weight (the default's 0.5) the ONNX embeddings are combined with the taxonomy features.
      const both = await ensureConceptFeatures(
        vocabulary,
        parseRunConfig({ ...config, concepts: { taxonomyWeight: 0.5 } }),
        { dir },
      );
      expect(both).toMatchObject({ count: vocabulary.names.length, dim: 32 + 256 });
      expect(both.encoder).toBe(`${encoder.name}@0.5+wordnet-ic2@0.5`);
      expect(both.blocks).toBeUndefined();
      // 'fit': the same file, with the widths of its parts for the GP to weigh each.
      const fitted = await ensureConceptFeatures(
        vocabulary,
        parseRunConfig({ ...config, concepts: { taxonomyWeight: 'fit' } }),
        { dir },
      );
      expect(fitted).toEqual({ ...both, blocks: [32, 256] });
      const combined = await loadConceptEmbeddings(both.path);
      probe.forEach((conceptId, k) => {
        for (let d = 0; d < 32; d++) {
          expect(combined[conceptId * 288 + d]).toBeCloseTo(Math.SQRT1_2 * expected[k * 32 + d], 5);
        }
      });
      await encoder.release();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('LLM descriptors: cached per concept and model, WordNet fallback recorded', () => {
  let fake: FakeChatCompletions;
  afterEach(() => fake?.close());

  test('asks once per concept, falls back (and records it) when the endpoint fails', async () => {
    fake = await startFakeChatCompletions((req) =>
      askedConcept(req) === 'beagle'
        ? { status: 500, error: { message: 'The server had an error', type: 'server_error', code: null } }
        : { content: `["long ears", "running on a beach"]` },
    );
    const runId = uniqueId('desc');
    await createRun(runId);
    const config = parseRunConfig({
      target: '/nowhere',
      descriptors: 'llm',
      llm: { baseUrl: fake.baseUrl, model: 'm-1', maxRetries: 1 },
    });
    const ids = await db().concept.findMany({ where: { name: { in: ['golden retriever', 'beagle'] } } });
    const concepts = ids.map((c) => ({ id: c.id, name: c.name }));
    const request = { runId, iteration: 0, concepts, config, log: logger, apiKey: KEY };
    const first = await descriptorsFor(request);
    const golden = concepts.find((c) => c.name === 'golden retriever')!;
    const beagle = concepts.find((c) => c.name === 'beagle')!;
    expect(first.get(golden.id)).toEqual({ descriptors: ['long ears', 'running on a beach'], source: 'llm' });
    expect(first.get(beagle.id)).toEqual({ descriptors: wordnetDescriptors('beagle'), source: 'wordnet-fallback' });
    expect(fake.requests).toHaveLength(3); // golden once, beagle twice (one retry)

    const fallback = await db().descriptorFallback.findMany({ where: { runId } });
    expect(fallback).toHaveLength(1);
    expect(fallback[0]).toMatchObject({ conceptId: beagle.id, iteration: 0, model: 'm-1' });
    expect(fallback[0].reason).toMatch(/HTTP 500: The server had an error \(server_error\) \(after 2 attempts\)/);

    // Cached for golden retriever (any run); beagle is asked again in the next iteration.
    const second = await descriptorsFor({ ...request, iteration: 1 });
    expect(second.get(golden.id)?.source).toBe('llm');
    expect(fake.requests.map(askedConcept).slice(3)).toEqual(['beagle', 'beagle']);
    // Another model is another cache entry.
    await descriptorsFor({ ...request, config: { ...config, llm: { ...config.llm, model: 'm-2' } } });
    expect(fake.requests.slice(5).map((r) => r.body.model)).toEqual(['m-2', 'm-2', 'm-2']);
  });

  test('a refused key stops asking, and every concept falls back on record', async () => {
    fake = await startFakeChatCompletions(() => ({ content: '["x"]' }), { apiKey: 'sk-the-right-one' });
    const runId = uniqueId('desc-401');
    await createRun(runId);
    const config = parseRunConfig({
      target: '/nowhere',
      descriptors: 'llm',
      llm: { baseUrl: fake.baseUrl, model: 'm-401', concurrency: 1 },
    });
    const rows = await db().concept.findMany({ where: { id: { lt: 6 } }, orderBy: { id: 'asc' } });
    const out = await descriptorsFor({
      runId,
      iteration: 0,
      concepts: rows.map((c) => ({ id: c.id, name: c.name })),
      config,
      log: logger,
      apiKey: KEY,
    });
    expect([...out.values()].every((d) => d.source === 'wordnet-fallback')).toBe(true);
    expect(fake.requests).toHaveLength(1);
    const reasons = await db().descriptorFallback.findMany({ where: { runId } });
    expect(reasons).toHaveLength(6);
    for (const r of reasons) {
      expect(r.reason).toMatch(/refused the API key: HTTP 401.*IE_LLM_API_KEY/);
      expect(r.reason).not.toContain(KEY);
    }
  });
});

describe('a run with LLM descriptors and the target class names as concepts', () => {
  let fake: FakeChatCompletions;

  beforeAll(async () => {
    fake = await startFakeChatCompletions(
      (req) =>
        askedConcept(req).toLowerCase() === 'yorkshire terrier'
          ? { status: 503, error: { message: 'overloaded', type: 'server_error', code: null } }
          : { content: '```json\n["on green grass", "close-up portrait", "sitting"]\n```' },
      { apiKey: KEY },
    );
    process.env.IE_LLM_API_KEY = KEY;
  });

  afterAll(async () => {
    delete process.env.IE_LLM_API_KEY;
    await fake?.close();
  });

  test('class names are sampled, searched, rewarded and in the GP; queries carry LLM descriptors', async () => {
    const { client } = await temporalClient();
    const runId = uniqueId('it-labels');
    const classNames = ['Chihuahua', 'Yorkshire_terrier', 'golden_retriever', 'pocket-sized lap dog'];
    const config = env.runConfig({
      iterations: 2,
      descriptors: 'llm',
      llm: { baseUrl: fake.baseUrl, model: 'fake-llm', maxRetries: 0 },
      concepts: { classNames },
    });
    const result = await runToCompletion(client, runId, config);
    expect(result.status).toBe('completed');

    // The API key never reached the workflow history.
    const history = await client.workflow.getHandle(runId).fetchHistory();
    expect(JSON.stringify(history)).not.toContain(KEY);

    const own = await db().runConcept.findMany({ where: { runId } });
    expect(own).toHaveLength(4);
    const ownIds = own.map((c) => c.conceptId);
    const created = await db().concept.findUniqueOrThrow({ where: { name: 'pocket-sized lap dog' } });
    expect(created.id).toBeGreaterThanOrEqual(WORDNET);
    expect(ownIds).toContain(created.id);

    // Sampled first and searched, each with a descriptor.
    const queries = await db().query.findMany({ where: { runId, iteration: 0 } });
    expect(queries).toHaveLength(24);
    const ownQueries = queries.filter((q) => ownIds.includes(q.conceptId));
    expect(ownQueries).toHaveLength(4);
    for (const q of ownQueries) expect(q.results).not.toBeNull();
    const names = await loadRunVocabulary(runId);
    for (const q of queries) {
      expect(q.descriptor).not.toBeNull();
      expect(q.text).toBe(`${names.names[q.conceptId]} ${q.descriptor}`);
    }
    // WordNet spells the lemma in lower case; the class name reused it.
    const yorkie = queries.find((q) => names.names[q.conceptId] === 'yorkshire terrier')!;
    expect(wordnetDescriptors('yorkshire terrier')).toContain(yorkie.descriptor);
    const llmDescribed = queries.filter((q) => q.conceptId !== yorkie.conceptId);
    for (const q of llmDescribed) expect(['on green grass', 'close-up portrait', 'sitting']).toContain(q.descriptor);

    // The fallback is on record; the other concepts' descriptors are cached for later runs.
    // A failure is not cached: an iteration that draws the concept again asks again, and records again.
    const fallbacks = await db().descriptorFallback.findMany({ where: { runId }, orderBy: { iteration: 'asc' } });
    expect(new Set(fallbacks.map((f) => f.conceptId))).toEqual(new Set([yorkie.conceptId]));
    expect(fallbacks[0].iteration).toBe(0);
    for (const f of fallbacks) expect(f.reason).toMatch(/HTTP 503: overloaded/);
    expect(
      await db().conceptDescriptor.count({
        where: { model: 'fake-llm', source: 'llm', conceptId: { in: queries.map((q) => q.conceptId) } },
      }),
    ).toBe(23);
    expect(fake.requests.every((r) => r.authorization === `Bearer ${KEY}`)).toBe(true);

    // Rewarded, and the GP predicted every concept of the run, the new one included.
    // (Each iteration rescores every concept queried so far: iteration 0's rows are the first judgement.)
    const rewards = await db().conceptReward.findMany({ where: { runId, iteration: 0, conceptId: { in: ownIds } } });
    expect(rewards).toHaveLength(4);
    const distribution = await db().distribution.findUniqueOrThrow({
      where: { runId_iteration: { runId, iteration: 0 } },
    });
    await expectTemperatureFromPredictions(runId, 0, result.history[0].temperature);
    const probs = float32FromBytes(distribution.probs);
    const predicted = float32FromBytes(distribution.predicted);
    expect(probs).toHaveLength(names.names.length);
    expect(predicted).toHaveLength(names.names.length);
    expect(probs[created.id]).toBeGreaterThan(0);
    expect(Number.isFinite(predicted[created.id])).toBe(true);

    // Iteration 1 draws from that distribution, and a concept whose descriptors are cached is not asked
    // again (only the one that failed is).
    const next = await db().query.findMany({ where: { runId, iteration: 1 } });
    expect(next).toHaveLength(24);
    expect(new Set(next.map((q) => q.conceptId)).size).toBe(24);
    const asked = new Map<string, number>();
    for (const r of fake.requests) asked.set(askedConcept(r), (asked.get(askedConcept(r)) ?? 0) + 1);
    for (const [concept, times] of asked) if (concept !== 'yorkshire terrier') expect(times).toBe(1);
  });
});
