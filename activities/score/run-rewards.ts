import { conceptRewards, shrinkConceptRewards, standardise, type ImageReward } from './rewards';

/** Every concept the run has queried so far, rewarded by one encoder (this iteration's). */
export interface RunConceptRewards {
  /** The iteration whose encoder scored every image. */
  encoderIteration: number;
  ids: number[];
  /** Mean reward of the concept's images over all iterations (the lowest observed when it found none). */
  raw: number[];
  /** `raw` as z-scores over all of them. */
  standardised: number[];
  images: number[];
}

/**
 * Concept rewards over the whole run so far under one encoder: each concept's reward is the mean over
 * every distinct image its queries found in any iteration, shrunk towards the mean of all concepts as
 * far as its image count leaves it uncertain (`shrinkConceptRewards`); concepts that never found an
 * image get the lowest of those. Standardised over all of them.
 */
export function runConceptRewards(
  candidates: { conceptId: number; sha256: string }[],
  queries: { conceptId: number }[],
  rewardOf: ReadonlyMap<string, number>,
  encoderIteration: number,
): RunConceptRewards {
  const seen = new Set<string>();
  const images: ImageReward[] = [];
  for (const c of candidates) {
    const key = `${c.conceptId}:${c.sha256}`;
    if (seen.has(key)) continue; // the same image found again in a later iteration counts once
    seen.add(key);
    images.push({ conceptId: c.conceptId, reward: rewardOf.get(c.sha256) ?? NaN });
  }
  const ids = [...new Set(queries.map((q) => q.conceptId))].sort((a, b) => a - b);
  const perConcept = conceptRewards(images, ids);
  const concepts = ids.map((id) => perConcept.get(id) as { raw: number; images: number });
  // A concept's mean over few images is mostly noise: shrink it, then give image-less concepts the lowest.
  const shrunk = shrinkConceptRewards(concepts, images);
  const lowest = Math.min(...shrunk.filter((_, i) => concepts[i].images > 0));
  const raw = shrunk.map((r, i) => (concepts[i].images > 0 || !Number.isFinite(lowest) ? r : lowest));
  return {
    encoderIteration,
    ids,
    raw,
    standardised: standardise(raw),
    images: ids.map((id) => (perConcept.get(id) as { images: number }).images),
  };
}
