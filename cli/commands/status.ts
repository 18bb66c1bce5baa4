import type { Command } from 'commander';
import {
  barsView,
  connectClient,
  endedWell,
  followRun,
  linesView,
  missingWorkerText,
  missingWorkers,
  readRunState,
  statusText,
  waitingRetryText,
  type FollowResult,
} from '../../lib/client';
import { EXIT } from '../exit';

const out = (line: string) => process.stdout.write(`${line}\n`);

/** Follows a run on this terminal (bars) or in a log (lines) until it ends; returns the exit status. */
export async function followOnConsole(client: Awaited<ReturnType<typeof connectClient>>, runId: string) {
  // Ctrl-C stops following (the run goes on): put the terminal back as it was.
  const view = process.stdout.isTTY ? barsView() : linesView(out);
  const interrupted = () => {
    view.stop();
    out(`stopped following ${runId}; the run goes on (ie status ${runId} --follow)`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    const result = await followRun(client, runId, view);
    out(endLine(runId, result));
    return endedWell(result) ? EXIT.ok : EXIT.failed;
  } finally {
    process.off('SIGINT', interrupted);
  }
}

/** How following a run ended, in words. */
export function endLine(runId: string, result: FollowResult): string {
  if (result.waiting) return waitingRetryText(runId, result.waiting);
  const status = result.progress?.status ?? result.execution.toLowerCase();
  const why = result.progress?.error ?? result.failure;
  return `run ${runId} ${status} (Temporal: ${result.execution})${why && !endedWell(result) ? `: ${why}` : ''}`;
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description("a run's progress (the workflow's `progress` query); --follow shows it live until the run ends")
    .argument('<run>', 'run (workflow) id')
    .option('-f, --follow', 'follow until the run ends: live bars per stage on a terminal, plain lines otherwise')
    .option('--json', 'print the progress as JSON (without --follow)')
    .addHelpText(
      'after',
      '\nExit codes: 0 the run is known and has not failed (with --follow: it completed or was stopped),\n' +
        '1 it failed (or waits on a failed iteration), 2 no such run, 3 Temporal is not reachable.',
    )
    .action(async (runId: string, opts: { follow?: boolean; json?: boolean }) => {
      const client = await connectClient();
      try {
        if (opts.follow) {
          process.exitCode = await followOnConsole(client, runId);
          return;
        }
        const state = await readRunState(client, runId);
        const { execution, progress, failure } = state;
        const missing = await missingWorkers(client, state);
        if (opts.json) out(JSON.stringify({ execution, progress, failure, missingWorkers: missing }, null, 2));
        else if (progress) out(statusText(progress, execution, failure));
        else if (failure) out(`run ${runId}: failed (Temporal: ${execution})\n  failed: ${failure}`);
        else
          out(
            `run ${runId}: Temporal status ${execution}; no worker answered its progress query (is \`ie worker\` running?)`,
          );
        if (!opts.json) for (const line of missingWorkerText(missing)) out(line);
        const failed =
          progress?.status === 'failed' ||
          progress?.status === 'waiting-retry' ||
          ['FAILED', 'TERMINATED', 'TIMED_OUT'].includes(execution);
        if (failed) process.exitCode = EXIT.failed;
      } finally {
        await client.connection.close();
      }
    });
}
