/**
 * Indices of the `k` largest values, largest first; equal values keep the smaller index first.
 * O(n log k) with a bounded min-heap, so selecting a few hundred of ~100k concepts stays cheap.
 * NaN values are never selected.
 */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  const n = values.length;
  const size = Math.max(0, Math.min(Math.floor(k), n));
  if (size === 0) return [];
  const heap: number[] = []; // root = the worst of the kept indices
  const worse = (a: number, b: number): boolean => values[a] < values[b] || (values[a] === values[b] && a > b);

  const siftDown = (start: number): void => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < heap.length && worse(heap[l], heap[w])) w = l;
      if (r < heap.length && worse(heap[r], heap[w])) w = r;
      if (w === i) return;
      [heap[i], heap[w]] = [heap[w], heap[i]];
      i = w;
    }
  };

  for (let i = 0; i < n; i++) {
    if (Number.isNaN(values[i])) continue;
    if (heap.length < size) {
      heap.push(i);
      let c = heap.length - 1;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!worse(heap[c], heap[p])) break;
        [heap[c], heap[p]] = [heap[p], heap[c]];
        c = p;
      }
    } else if (worse(heap[0], i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0));
}
