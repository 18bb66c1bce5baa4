export type ProgressUnit = 'bytes' | 'files';

/** What `ie data fetch` reports while it works; the CLI shows bars on a terminal and plain lines elsewhere. */
export interface FetchProgress {
  /** A step begins: `total` in `unit`s, undefined when not known in advance. */
  begin(label: string, total: number | undefined, unit: ProgressUnit): void;
  /** How far the current step is (and its total, once known). */
  update(done: number, total?: number): void;
  /** The current step is over (`failed`: it broke off with an error, reported by the caller). */
  end(failed?: boolean): void;
  /** A line of its own: what was kept, written or removed. */
  note(line: string): void;
}

export const silentProgress: FetchProgress = {
  begin() {},
  update() {},
  end() {},
  note() {},
};
