import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { WorkflowNotFoundError, type UpdateDefinition } from '@temporalio/common';
import { InvalidArgumentError, type Command } from 'commander';
import { recordRejectedControl } from '../../activities/run-records';
import { connectClient, temporalAddress } from '../../lib/client';
import {
  CONTROL_UPDATES,
  progressQuery,
  topConceptsQuery,
  type ControlKind,
  type ControlPayload,
  type ControlResult,
} from '../../lib/contract';
import { UsageError } from '../../lib/errors';

export type ControlOutcome = { accepted: true; result: ControlResult } | { accepted: false; reason: string };

/** The innermost message of an update failure: what the run's validator said. */
function rejectionReason(error: WorkflowUpdateFailedError): string {
  let e: unknown = error;
  let message = error.message;
  while (e && typeof e === 'object' && 'cause' in e && e.cause) {
    e = e.cause;
    if (e instanceof Error && e.message) message = e.message;
  }
  return message;
}

/**
 * Sends a control to a run as a validated update. An accepted control is recorded by the run itself; a
 * rejected one (the validator refused it, so it never entered the run's history) is recorded here.
 */
export async function sendControl<K extends ControlKind>(
  client: Client,
  runId: string,
  kind: K,
  ...payload: ControlPayload<K> extends undefined ? [] : [ControlPayload<K>]
): Promise<ControlOutcome> {
  const handle = client.workflow.getHandle(runId);
  try {
    // `payload` has the type of the argument CONTROL_UPDATES[kind] takes (ControlPayload), or is empty.
    const result = payload.length
      ? await handle.executeUpdate(CONTROL_UPDATES[kind] as UpdateDefinition<ControlResult, [unknown]>, {
          args: [payload[0]],
        })
      : await handle.executeUpdate(CONTROL_UPDATES[kind] as UpdateDefinition<ControlResult, []>);
    return { accepted: true, result };
  } catch (error) {
    if (!(error instanceof WorkflowUpdateFailedError)) throw error;
    const reason = rejectionReason(error);
    await recordRejectedControl({ runId, kind, payload: payload[0] ?? {}, reason });
    return { accepted: false, reason };
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);

/** A run that does not exist, or has ended, is a usage mistake (exit 2), said in words. */
function usageError(runId: string, error: unknown): unknown {
  if (error instanceof Error && /already completed/.test(error.message))
    return new UsageError(`run ${runId} has already ended: controls reach only a run that is still going`);
  if (error instanceof WorkflowNotFoundError)
    return new UsageError(
      `no run ${runId} on ${temporalAddress()}: check the run id (\`ie list\`) and TEMPORAL_ADDRESS`,
    );
  return error;
}

async function control<K extends ControlKind>(
  runId: string,
  kind: K,
  ...payload: ControlPayload<K> extends undefined ? [] : [ControlPayload<K>]
): Promise<void> {
  const client = await connectClient();
  try {
    const outcome = await sendControl(client, runId, kind, ...payload).catch((error: unknown) => {
      throw usageError(runId, error);
    });
    if (outcome.accepted) {
      out(`${runId}: ${outcome.result.message}`);
    } else {
      process.stderr.write(`error: ${runId} refused ${kind}: ${outcome.reason}\n`);
      process.exitCode = 2;
    }
  } finally {
    await client.connection.close();
  }
}

function parseNumber(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`${what} must be a number (got "${value}")`);
    return n;
  };
}

/** Queries are answered by a workflows worker (for an ended run too, by replaying it): say so when none does. */
async function queryRun<T>(query: () => Promise<T>, runId: string): Promise<T> {
  try {
    return await query();
  } catch (error) {
    const usage = usageError(runId, error);
    if (usage !== error) throw usage;
    throw new Error(
      `could not query run ${runId}: ${(error as Error).message} (queries need a workflows worker: \`ie worker\`)`,
    );
  }
}

/** What each command acting on one run does, as its help says. */
const RUN_COMMANDS = {
  pause: 'pause the run before its next iteration',
  resume: 'resume a paused run',
  stop: 'end the run once the iteration in progress has finished',
  temperature: "set the concept distribution's temperature from the next iteration's update stage on",
  'add-concepts': 'add concepts to the run (sampled from the next iteration on)',
  progress: "print the run's progress (the `progress` query) as JSON",
  top: "print the top of the run's current concept distribution (the `topConcepts` query)",
  'retry-iteration': 're-run the failed iteration N of a waiting run, reusing everything already stored',
} as const;

/** `parent`'s subcommand `name`, acting on the run its first argument names; `also` ends its description. */
function runCommand(parent: Command, name: keyof typeof RUN_COMMANDS, also = ''): Command {
  return parent
    .command(name)
    .description(RUN_COMMANDS[name] + also)
    .argument('<run>', 'workflow id of the run');
}

/** `ie control …` (steer a running run) and `ie retry-iteration RUN N`. */
export function registerControlCommands(program: Command): void {
  const group = program
    .command('control')
    .description('steer a run: pause, resume, stop, temperature, add-concepts; progress and top concepts');

  for (const kind of ['pause', 'resume', 'stop'] as const)
    runCommand(group, kind).action((run: string) => control(run, kind));
  runCommand(group, 'temperature')
    .argument('<temperature>', 'a finite number > 0', parseNumber('temperature'))
    .action((run: string, temperature: number) => control(run, 'temperature', { temperature }));
  runCommand(group, 'add-concepts')
    .argument('<names...>', 'concept names, e.g. "tabby cat"')
    .action((run: string, names: string[]) => control(run, 'addConcepts', { names }));
  runCommand(group, 'progress').action(async (run: string) => {
    const client = await connectClient();
    try {
      const progress = await queryRun(() => client.workflow.getHandle(run).query(progressQuery), run);
      out(JSON.stringify(progress, null, 2));
    } finally {
      await client.connection.close();
    }
  });
  runCommand(group, 'top')
    .option('-n, --count <n>', 'how many (at most 50)', parseNumber('count'), 10)
    .action(async (run: string, flags: { count: number }) => {
      const client = await connectClient();
      try {
        const top = await queryRun(() => client.workflow.getHandle(run).query(topConceptsQuery, flags.count), run);
        for (const t of top) out(`${(100 * t.probability).toFixed(3).padStart(7)}%  ${t.concept}`);
        if (top.length === 0) out('no distribution yet (the first iteration has not finished its update stage)');
      } finally {
        await client.connection.close();
      }
    });

  // The everyday controls also at the top level: `ie stop RUN` as well as `ie control stop RUN`.
  for (const kind of ['stop', 'pause', 'resume'] as const)
    runCommand(program, kind, ` (same as ie control ${kind})`).action((run: string) => control(run, kind));

  runCommand(program, 'retry-iteration')
    .argument('<iteration>', 'the failed iteration (0-based, as the run details show it)', parseNumber('iteration'))
    .action((run: string, iteration: number) => control(run, 'retryIteration', { iteration }));
}
