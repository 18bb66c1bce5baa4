import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { parseRunConfig, type RunConfig } from '../config';
import { RUN_WORKFLOW, WORKFLOW_QUEUE, type ExplorationRunWorkflow, type RunInput } from '../contract';
import { UsageError } from '../errors';
import { missingRunSearchAttributes } from '../services/temporal';

/** The static summary and details a run shows in the Web UI from its first moment. */
export function runStaticDetails(config: RunConfig): { staticSummary: string; staticDetails: string } {
  const target = config.target.split(/[\\/]/).filter(Boolean).pop() ?? config.target;
  return {
    staticSummary: `Exploration run on ${target}: ${config.mode}, ${config.iterations} iterations`,
    staticDetails: [
      `### Exploration run on \`${config.target}\``,
      '',
      `- mode: **${config.mode}**, seed ${config.seed}`,
      `- ${config.iterations} iterations × ${config.queriesPerIteration} queries × ${config.resultsPerQuery} results`,
      `- training: ${config.train.steps} steps per iteration (${config.train.preset}, ${config.train.device})`,
      `- starting encoder: ${config.train.initCheckpoint}`,
      '',
      `Filter runs like it: \`IeTarget = '${target}'\`. Queries: \`progress\`, \`topConcepts\`.`,
    ].join('\n'),
  };
}

/**
 * Starts a run: the one way every caller (CLI, benchmark, tests) starts one. `config` goes to the run as
 * given: the run validates it (a bad one fails the run at once, saying why); static details are shown when
 * it parses here. It refuses before starting
 * when the namespace lacks the run's search attributes (the run's first workflow task would fail over and
 * over). Static summary and details belong to the first execution: Continue-As-New does not carry them
 * (SDK 1.24), so later executions show the current details only.
 */
export async function startRun(
  client: Client,
  runId: string,
  config: RunConfig | RunInput,
): Promise<WorkflowHandleWithFirstExecutionRunId<ExplorationRunWorkflow>> {
  const missing = await missingRunSearchAttributes(client.connection, client.options.namespace);
  if (missing.length)
    throw new UsageError(
      `namespace ${client.options.namespace} lacks the search attributes ${missing.join(', ')}: register them ` +
        `with \`temporal operator search-attribute create\` (README: Watching and steering a run); nothing was started`,
    );
  return client.workflow.start<ExplorationRunWorkflow>(RUN_WORKFLOW, {
    taskQueue: WORKFLOW_QUEUE,
    workflowId: runId,
    args: [config as RunInput],
    ...staticDetailsIfValid(config),
  });
}

function staticDetailsIfValid(config: unknown): Partial<ReturnType<typeof runStaticDetails>> {
  try {
    return runStaticDetails(parseRunConfig(config));
  } catch {
    return {};
  }
}
