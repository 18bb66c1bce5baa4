import { nearestNeighbours, type SearchOptions } from '../score/nearest';

/**
 * Similarity-weighted vote over each query's neighbours: every neighbour votes for its label with
 * weight = its cosine similarity; ties go to the smallest label. Returns the fraction of queries
 * whose predicted label equals `queryLabels[i]`.
 */
function voteAccuracy(
  neighbours: { k: number; indices: Int32Array; similarities: Float32Array },
  keyLabels: ArrayLike<number>,
  queryLabels: ArrayLike<number>,
): number {
  const { k, indices, similarities } = neighbours;
  let correct = 0;
  const votes = new Map<number, number>();
  for (let i = 0; i < queryLabels.length; i++) {
    votes.clear();
    for (let j = 0; j < k; j++) {
      const label = keyLabels[indices[i * k + j]];
      votes.set(label, (votes.get(label) ?? 0) + similarities[i * k + j]);
    }
    let best = Infinity;
    let bestVote = -Infinity;
    for (const [label, vote] of votes) {
      if (vote > bestVote || (vote === bestVote && label < best)) {
        best = label;
        bestVote = vote;
      }
    }
    if (best === queryLabels[i]) correct++;
  }
  return correct / queryLabels.length;
}

function checkShape(embeddings: Float32Array, n: number, dim: number): void {
  if (embeddings.length !== n * dim) throw new RangeError(`expected ${n}×${dim} embeddings, got ${embeddings.length}`);
}

/**
 * Cosine kNN accuracy on a fixed split: each test sample (`test[i]` true) is classified by its k
 * nearest training samples (k clipped to the training size). `embeddings` is row-major,
 * L2-normalised [labels.length, dim]. Returns the fraction of test samples classified right, in [0, 1].
 */
export async function knnAccuracySplit(
  embeddings: Float32Array,
  labels: number[],
  test: boolean[],
  dim: number,
  k = 20,
  search: SearchOptions = {},
): Promise<number> {
  const n = labels.length;
  checkShape(embeddings, n, dim);
  if (test.length !== n) throw new RangeError(`expected ${n} test flags, got ${test.length}`);
  const trainRows = labels.map((_, i) => i).filter((i) => !test[i]);
  const testRows = labels.map((_, i) => i).filter((i) => test[i]);
  if (trainRows.length === 0 || testRows.length === 0) {
    throw new RangeError(`kNN needs training and test samples (got ${trainRows.length} and ${testRows.length})`);
  }
  const rows = (which: number[]) => {
    const out = new Float32Array(which.length * dim);
    which.forEach((row, i) => out.set(embeddings.subarray(row * dim, (row + 1) * dim), i * dim));
    return out;
  };
  const neighbours = await nearestNeighbours(rows(testRows), rows(trainRows), dim, k, search);
  return voteAccuracy(
    neighbours,
    trainRows.map((i) => labels[i]),
    testRows.map((i) => labels[i]),
  );
}

/**
 * Leave-one-out cosine kNN accuracy: each sample is classified by its k nearest *other* samples
 * (k clipped to n − 1). Uses every labelled image, so it is less noisy than the split figure on a small
 * target, but its neighbours include what the split's test images would be.
 */
export async function knnAccuracyLeaveOneOut(
  embeddings: Float32Array,
  labels: number[],
  dim: number,
  k = 20,
  search: SearchOptions = {},
): Promise<number> {
  const n = labels.length;
  checkShape(embeddings, n, dim);
  if (n < 2) throw new RangeError('leave-one-out kNN needs at least two samples');
  const neighbours = await nearestNeighbours(embeddings, embeddings, dim, k, { ...search, excludeSelf: true });
  return voteAccuracy(neighbours, labels, labels);
}
