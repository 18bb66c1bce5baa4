import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { sleep } from '../../lib/services/process';
import { connectClient } from '../client';
import { EXIT } from '../exit';
import type { Progress } from '../../workflows/types';
import { readRunState } from '../progress';
import { barsView, linesView, statusText, type StatusView } from '../status-view';

const out = (line: string) => process.stdout.write(`${line}\n`);

/** Executions that are over (a chain's latest execution is never CONTINUED_AS_NEW for long). */
const CLOSED = new Set(['COMPLETED', 'FAILED', 'TERMINATED', 'CANCELLED', 'CANCELED', 'TIMED_OUT']);

/** The exit status a finished run gives `ie status --follow` and `ie run --follow`. */
export function exitForRun(progress: Progress | null, execution: string): number {
  if (progress?.status === 'completed' || progress?.status === 'stopped') return EXIT.ok;
  return execution === 'COMPLETED' ? EXIT.ok : EXIT.failed;
}

/** Polls the run until its chain of executions closes, showing each answer; returns the exit status. */
export async function followStatus(
  client: Client,
  runId: string,
  view: StatusView,
  intervalMs = 1000,
): Promise<number> {
  let last: Progress | null = null;
  // Ctrl-C stops following (the run goes on): put the terminal back as it was.
  const interrupted = () => {
    view.stop();
    process.stdout.write(`stopped following ${runId}; the run goes on (ie status ${runId} --follow)\n`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    for (;;) {
      const state = await readRunState(client, runId);
      if (state.progress) {
        last = state.progress;
        view.update(state.progress);
      }
      // A failed iteration leaves the run open, waiting for a retry: following it would never end.
      if (state.progress?.status === 'waiting-retry') {
        view.stop();
        out(waitingRetryText(runId, state.progress));
        return EXIT.failed;
      }
      if (CLOSED.has(state.execution)) {
        view.stop();
        if (!state.progress) out(`run ${runId} ended: Temporal status ${state.execution}`);
        return exitForRun(state.progress ?? last, state.execution);
      }
      await sleep(intervalMs);
    }
  } finally {
    process.off('SIGINT', interrupted);
    view.stop();
  }
}

/** What to do about a run waiting on a failed iteration. */
export function waitingRetryText(runId: string, progress: Progress): string {
  const failed = progress.failed;
  const which = failed ? `iteration ${failed.iteration} failed: ${failed.error}` : 'an iteration failed';
  const retry = failed ? `ie retry-iteration ${runId} ${failed.iteration}` : `ie status ${runId}`;
  return `run ${runId} is waiting: ${which}\n  fix the cause, then: ${retry}   (or end it: ie stop ${runId})`;
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
      '\nExit codes: 0 the run is known (with --follow: it completed or was stopped), 1 it failed (--follow),\n' +
        '2 no such run, 3 Temporal is not reachable.',
    )
    .action(async (runId: string, opts: { follow?: boolean; json?: boolean }) => {
      const client = await connectClient();
      try {
        if (opts.follow) {
          const view = process.stdout.isTTY ? barsView() : linesView(out);
          process.exitCode = await followStatus(client, runId, view);
          return;
        }
        const { execution, progress } = await readRunState(client, runId);
        if (opts.json) out(JSON.stringify({ execution, progress }, null, 2));
        else if (progress) out(statusText(progress, execution));
        else
          out(
            `run ${runId}: Temporal status ${execution}; no worker answered its progress query (is \`ie worker\` running?)`,
          );
      } finally {
        await client.connection.close();
      }
    });
}
