import { createHash } from 'node:crypto';

export interface LabelledImage {
  sha256: string;
  label: number;
}

/**
 * Fixed stratified train/test split of a labelled target: within each class, images are ranked by
 * sha256("ie-split:" + image sha256) and the first round(fraction × class size) are the test split
 * (at least one when the class has two or more images; a single-image class stays in train).
 * It depends only on each class's set of images, never on their order, so every run, iteration and
 * retry over the same target gets the same split. Copies of one image (same sha256) land on the same
 * side, so no test image has its own copy among the training images.
 * Returns one flag per input: true = test.
 */
export function stratifiedSplit(images: LabelledImage[], testFraction: number): boolean[] {
  if (!(testFraction > 0 && testFraction < 1))
    throw new RangeError(`testFraction must be in (0, 1), got ${testFraction}`);
  const byClass = new Map<number, string[]>();
  for (const { sha256, label } of images) {
    const shas = byClass.get(label) ?? [];
    shas.push(sha256);
    byClass.set(label, shas);
  }
  const testShas = new Set<string>();
  for (const shas of byClass.values()) {
    const distinct = [...new Set(shas)];
    const ranked = distinct
      .map((sha) => ({ sha, key: createHash('sha256').update(`ie-split:${sha}`).digest('hex') }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const n =
      distinct.length < 2 ? 0 : Math.min(distinct.length - 1, Math.max(1, Math.round(distinct.length * testFraction)));
    for (const { sha } of ranked.slice(0, n)) testShas.add(sha);
  }
  return images.map((image) => testShas.has(image.sha256));
}
