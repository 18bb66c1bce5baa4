import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { closeDb } from '../../lib/db';
import { startEngine, type EngineOptions, type RunningEngine } from '../../engine/server';
import { prepareValTarget, PETS_CLASSES } from '../../lib/targets';
import { createWorkers, installRuntimeLogging } from '../../workers/create';
import type { RunConfigInput } from '../../lib/config';
import type { Progress } from '../../lib/contract';
import { TEST_TEMPORAL_ADDRESS, TEST_TEMPORAL_PORT } from './services';
import { TEMPLATE_DATABASE, testServerUrl } from './template-database';
import { recreateDatabase } from '../../lib/services/postgres';
import { startRun } from '../../lib/client';

/**
 * A fresh database for one test file, a copy of the suites' template (migrated, with the concept table:
 * template-database.ts); sets DATABASE_URL.
 */
export async function createTestDatabase(name: string): Promise<string> {
  // Suffixed by the suite's Temporal port so suites running at once never share a database.
  const database = `ie_test_${name}_${TEST_TEMPORAL_PORT}`;
  const url = await recreateDatabase(testServerUrl(), database, { template: TEMPLATE_DATABASE });
  await closeDb();
  process.env.DATABASE_URL = url;
  process.env.TEMPORAL_ADDRESS = TEST_TEMPORAL_ADDRESS;
  return url;
}

/** A small labelled target carved from the validation split (3 pet classes × 10 images). */
export function smallPetsTarget(): string {
  const classes = Object.fromEntries(Object.entries(PETS_CLASSES).slice(0, 3));
  return prepareValTarget('pets-3x10', classes, 10);
}

export function testEngine(imageLatencyMs = 0): Promise<RunningEngine> {
  return startEngine({ port: 0, imageLatencyMs });
}

export interface TestEnvironmentOptions {
  /** Start a local search engine on a free port with these options (none when absent). */
  engine?: Omit<EngineOptions, 'port'>;
  /** Create the file's database in beforeAll (default); false where each test creates its own. */
  database?: boolean;
}

/** What a suite's beforeAll set up; reading a part that was not set up (or not yet) throws. */
export interface TestEnvironment {
  readonly engine: RunningEngine;
  readonly databaseUrl: string;
  /** The small test run (`smallRunConfig`) of the small pets target, searching this suite's engine. */
  runConfig(overrides?: Partial<RunConfigInput>): RunConfigInput;
}

/**
 * Registers the hooks every integration suite needs: a fresh database named after `name` (and, when asked,
 * a local search engine) before the suite, the engine closed and the database connection released after it.
 */
export function useTestEnvironment(name: string, options: TestEnvironmentOptions = {}): TestEnvironment {
  let engine: RunningEngine | undefined;
  let databaseUrl: string | undefined;
  beforeAll(async () => {
    if (options.database !== false) databaseUrl = await createTestDatabase(name);
    if (options.engine) engine = await startEngine({ ...options.engine, port: 0 });
  });
  afterAll(async () => {
    await engine?.close();
    await closeDb();
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the ${what} of test environment '${name}' is not set up`);
    return value;
  };
  return {
    get engine() {
      return ready(engine, 'search engine');
    },
    get databaseUrl() {
      return ready(databaseUrl, 'database');
    },
    runConfig(overrides) {
      return smallRunConfig(smallPetsTarget(), ready(engine, 'search engine').url, overrides);
    },
  };
}

/** Run config sized for tests: two short iterations. */
export function smallRunConfig(
  target: string,
  engineUrl: string,
  overrides: Partial<RunConfigInput> = {},
): RunConfigInput {
  return {
    target,
    iterations: 2,
    queriesPerIteration: 24,
    resultsPerQuery: 10,
    seed: 7,
    search: { baseUrl: engineUrl },
    ...overrides,
    // Random weights: the pretrained starting encoder takes half an hour to build.
    train: { steps: 8, checkpointEvery: 4, batchSize: 32, initCheckpoint: 'none', ...overrides.train },
  };
}

export async function temporalClient(): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({ address: TEST_TEMPORAL_ADDRESS });
  return { client: new Client({ connection }), connection };
}

/**
 * Runs workers in this process while `fn` runs, then shuts them down: every worker role, or those that
 * `create` makes on the connection.
 */
export async function withWorkers<T>(
  fn: () => Promise<T>,
  create: (connection: NativeConnection) => Promise<Worker[]> = (connection) => createWorkers(connection),
): Promise<T> {
  installRuntimeLogging();
  const connection = await NativeConnection.connect({ address: TEST_TEMPORAL_ADDRESS });
  const workers = await create(connection);
  const running = workers.map((w) => w.run());
  try {
    return await fn();
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(running);
    await connection.close();
  }
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Starts a run of `config` as workflow `runId` and waits for its final progress, with every worker running. */
export function runToCompletion(client: Client, runId: string, config: RunConfigInput): Promise<Progress> {
  return withWorkers(async () => {
    const handle = await startRun(client, runId, config);
    return await handle.result();
  });
}
