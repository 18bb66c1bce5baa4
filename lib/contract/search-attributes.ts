// Typed search attributes of a run, for filtering in the Web UI and `temporal workflow list --query`.
// (Workflow code imports this file: no Node built-ins.) A cluster needs them registered once:
// `temporal operator search-attribute create --name IeTarget --type Keyword …` (see README).
import { defineSearchAttributeKey } from '@temporalio/common';

export const RUN_SEARCH_ATTRIBUTES = {
  /** The target folder's name, e.g. `pets`. */
  target: defineSearchAttributeKey('IeTarget', 'KEYWORD'),
  /** `explore` or `random`. */
  mode: defineSearchAttributeKey('IeMode', 'KEYWORD'),
  /** preparing | running | paused | waiting-retry | completed | stopped | failed */
  status: defineSearchAttributeKey('IeStatus', 'KEYWORD'),
  /** The iteration in progress (0-based), or the last one once the run has ended. */
  iteration: defineSearchAttributeKey('IeIteration', 'INT'),
  /** Images downloaded so far. */
  images: defineSearchAttributeKey('IeImages', 'INT'),
  /**
   * Best kNN accuracy on the target so far: its held-out test images against its training images, on the
   * fixed stratified split of activities/evaluate/split.ts (labelled targets only).
   */
  bestKnn: defineSearchAttributeKey('IeBestKnn', 'DOUBLE'),
} as const;

/** Name → type as the `temporal` CLI spells it (`--search-attribute NAME=Type`). */
export function searchAttributeCliTypes(): Record<string, 'Keyword' | 'Int' | 'Double'> {
  const cli = { KEYWORD: 'Keyword', INT: 'Int', DOUBLE: 'Double' } as const;
  return Object.fromEntries(
    Object.values(RUN_SEARCH_ATTRIBUTES).map((key) => [key.name, cli[key.type as keyof typeof cli]]),
  );
}
