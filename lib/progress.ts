/** What a long step counts: its total and rate are shown in these. */
export type ProgressUnit = 'bytes' | 'files' | 'steps' | 'images';

/**
 * What a long step (downloading datasets, pretraining an encoder) reports while it works; the CLI shows bars
 * with an ETA on a terminal and plain lines elsewhere (cli/progress-view.ts).
 */
export interface StepProgress {
  /** A step begins: `total` in `unit`s, undefined when not known in advance. */
  begin(label: string, total: number | undefined, unit: ProgressUnit): void;
  /** How far the current step is (and its total, once known); `detail` is shown beside it (e.g. the loss). */
  update(done: number, total?: number, detail?: string): void;
  /**
   * The step carries on from work done before (a resumed training, a partial download): `done` units were
   * already done, and the rate and time left count only what follows.
   */
  resumed(done: number): void;
  /** The current step is over (`failed`: it broke off with an error, reported by the caller). */
  end(failed?: boolean): void;
  /** A line of its own: what was kept, written or removed. */
  note(line: string): void;
}

export const silentProgress: StepProgress = {
  begin() {},
  update() {},
  resumed() {},
  end() {},
  note() {},
};
