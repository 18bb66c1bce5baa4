import { nearestNeighbours } from '../score/nearest';

/**
 * Leave-one-out cosine kNN accuracy: each sample is classified by its k nearest *other* samples
 * (k clipped to n − 1), each voting for its label with weight = its cosine similarity; ties go to
 * the smallest label. `embeddings` is row-major, L2-normalised [labels.length, dim].
 * Returns the fraction of samples whose predicted label equals their own, in [0, 1].
 */
export function knnAccuracyLeaveOneOut(embeddings: Float32Array, labels: number[], dim: number, k = 20): number {
  const n = labels.length;
  if (embeddings.length !== n * dim) throw new RangeError(`expected ${n}×${dim} embeddings, got ${embeddings.length}`);
  if (n < 2) throw new RangeError('leave-one-out kNN needs at least two samples');
  const { k: kk, indices, similarities } = nearestNeighbours(embeddings, embeddings, dim, k, { excludeSelf: true });

  let correct = 0;
  const votes = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    votes.clear();
    for (let j = 0; j < kk; j++) {
      const label = labels[indices[i * kk + j]];
      votes.set(label, (votes.get(label) ?? 0) + similarities[i * kk + j]);
    }
    let best = Infinity;
    let bestVote = -Infinity;
    for (const [label, vote] of votes) {
      if (vote > bestVote || (vote === bestVote && label < best)) {
        best = label;
        bestVote = vote;
      }
    }
    if (best === labels[i]) correct++;
  }
  return correct / n;
}
