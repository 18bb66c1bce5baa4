import {
  conceptDistribution,
  drawablePoints,
  embeddingGroups,
  excludeConcepts,
  scoresOf,
  softmax,
  spreadOverDuplicates,
} from '../../activities/concepts/distribution';
import { runConceptRewards } from '../../activities/score/run-rewards';
import { knnRewards, shrinkConceptRewards, webRelativeRewards } from '../../activities/score/rewards';

describe('concepts sharing one embedding share one point of probability', () => {
  // rows 0, 2 and 3 are the same vector ("genus X" for three X without a word vector); row 1 is its own
  const vectors = Float32Array.from([1, 0, 0, 1, 1, 0, 1, 0]);

  test('groups by identical rows, with multiplicities and one representative each', async () => {
    const g = await embeddingGroups(vectors, 2);
    expect(Array.from(g.multiplicity)).toEqual([3, 1, 3, 3]);
    expect(g.representatives).toEqual([0, 1]);
    await expect(embeddingGroups(Float32Array.from([1, 2, 3]), 2)).rejects.toThrow(RangeError);
  });

  test('mass is divided by multiplicity: the point of three names weighs what one name does', async () => {
    const probs = spreadOverDuplicates(softmax([0, 0, 0, 0], 1), (await embeddingGroups(vectors, 2)).multiplicity);
    // before: 3/4 of the mass on the shared point; after: half, split three ways
    expect(probs[1]).toBeCloseTo(0.5);
    expect(probs[0] + probs[2] + probs[3]).toBeCloseTo(0.5);
    expect(probs[0]).toBeCloseTo(1 / 6);
  });

  test('τ calibration sees one score per distinct point', async () => {
    expect(
      Array.from(scoresOf(Float32Array.from([5, 1, 5, 5]), (await embeddingGroups(vectors, 2)).representatives)),
    ).toEqual([5, 1]);
  });

  test('a point whose first name was queried is still calibrated on through its other names', async () => {
    const groups = await embeddingGroups(vectors, 2);
    expect(Array.from(groups.point)).toEqual([0, 1, 0, 0]);
    expect(drawablePoints(groups, 4, new Set([0]))).toEqual([1, 2]);
    expect(drawablePoints(groups, 4, new Set([0, 2, 3]))).toEqual([1]);
    // Concepts outside the run do not keep a point drawable.
    expect(drawablePoints(groups, 4, new Set([0, 2]), [1, 1, 1, 0])).toEqual([1]);

    // The shared point (predicted 5) against the other (1): τ is calibrated on both, and the shared point's
    // remaining names hold most of the mass.
    const predicted = Float32Array.from([5, 1, 5, 5]);
    const drawn = await conceptDistribution({ predicted, excluded: [0], groups, topK: 1, topMass: 0.9 });
    expect(drawn.temperature).not.toBeNull();
    expect(drawn.probs[0]).toBe(0);
    // τ gives the shared point 9× the other's weight (0.9 / 0.1); each of its three names a third of that;
    // the queried name's third is shared out again: 3 : 3 : 1.
    expect(drawn.probs[2]).toBeCloseTo(3 / 7, 6);
    expect(drawn.probs[3]).toBeCloseTo(3 / 7, 6);
    expect(drawn.probs[1]).toBeCloseTo(1 / 7, 6);
    // Only one drawable point left: nothing to calibrate on, a uniform draw over what is left.
    const single = await conceptDistribution({
      predicted,
      excluded: [0],
      groups,
      member: [1, 1, 0, 0],
      topK: 1,
      topMass: 0.9,
    });
    expect(single.temperature).toBeNull();
  });
});

test('concepts already queried get no probability, the rest is renormalised', () => {
  const p = excludeConcepts(Float64Array.from([0.4, 0.3, 0.2, 0.1]), [0, 2]);
  expect(Array.from(p).map((x) => +x.toFixed(6))).toEqual([0, 0.75, 0, 0.25]);
  // excluding everything leaves p as it was rather than dividing by zero
  expect(Array.from(excludeConcepts(Float64Array.from([0.5, 0.5]), [0, 1]))).toEqual([0.5, 0.5]);
});

describe('run-wide concept rewards under one encoder', () => {
  const rewardOf = new Map([
    ['a', 0.9],
    ['b', 0.7],
    ['c', 0.1],
  ]);

  test('each concept averages every distinct image it found in any iteration; empty concepts get the lowest', () => {
    const r = runConceptRewards(
      [
        { conceptId: 5, sha256: 'a' }, // iteration 0
        { conceptId: 5, sha256: 'a' }, // found again in iteration 1: counted once
        { conceptId: 5, sha256: 'b' },
        { conceptId: 9, sha256: 'c' },
      ],
      [{ conceptId: 9 }, { conceptId: 5 }, { conceptId: 7 }, { conceptId: 5 }],
      rewardOf,
      1,
    );
    expect(r.encoderIteration).toBe(1);
    expect(r.ids).toEqual([5, 7, 9]);
    // means 0.8 (2 images) and 0.1 (1 image), each shrunk towards their mean 0.45 by its sampling noise:
    // σ² = 0.02 (pooled within-concept), τ² = 0.245 − (0.01 + 0.02)/2 = 0.23
    expect(r.raw[0]).toBeCloseTo(0.45 + (0.23 / 0.24) * 0.35, 6);
    expect(r.raw[2]).toBeCloseTo(0.45 - (0.23 / 0.25) * 0.35, 6);
    expect(r.raw[1]).toBeCloseTo(r.raw[2], 6); // concept 7 found nothing: the lowest observed reward
    expect(r.images).toEqual([2, 0, 1]);
    // standardised over all concepts together, not per iteration
    const mean = r.standardised.reduce((s, x) => s + x, 0) / 3;
    expect(mean).toBeCloseTo(0);
    expect(r.standardised[0]).toBeGreaterThan(0);
    expect(r.standardised[1]).toBeCloseTo(r.standardised[2]);
  });
});

describe('web-relative reward', () => {
  // 2-d unit vectors: targets point along x; the web sample is two images along y and one hub in between
  const unit = (deg: number) => [Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)];
  const targets = Float32Array.from([...unit(0), ...unit(5)]);
  const web = Float32Array.from([...unit(90), ...unit(85), ...unit(45)]);

  test('is the similarity to the target minus the similarity to the web, a candidate never its own neighbour', async () => {
    const candidates = Float32Array.from([...unit(10), ...unit(45), ...unit(80)]);
    // candidate 1 is web row 2 (the hub): its own row must be skipped
    const r = await webRelativeRewards(candidates, targets, web, Int32Array.from([-1, 2, -1]), 2, 1);
    const cos = (a: number, b: number) => Math.cos(((a - b) * Math.PI) / 180);
    expect(r[0]).toBeCloseTo(cos(10, 5) - cos(10, 45), 5);
    expect(r[1]).toBeCloseTo(cos(45, 5) - cos(45, 85), 5); // not cos(45, 45) = 1
    expect(r[2]).toBeCloseTo(cos(80, 5) - cos(80, 85), 5);
    expect(r[0]).toBeGreaterThan(r[1]);
    expect(r[1]).toBeGreaterThan(r[2]);
  });

  test('without a web sample it is the plain similarity reward', async () => {
    const candidates = Float32Array.from(unit(30));
    expect(
      Array.from(await webRelativeRewards(candidates, targets, new Float32Array(0), Int32Array.from([-1]), 2, 2)),
    ).toEqual(Array.from(await knnRewards(candidates, targets, 2, 2)));
  });
});

test('shrinkage pulls a one-image concept to the mean far more than a concept whose many images agree', () => {
  // image rewards spread ±0.2 within every concept; ten ordinary concepts with means 0.45–0.54
  const spread = (conceptId: number, mean: number, n: number) =>
    Array.from({ length: n }, (_, i) => ({ conceptId, reward: mean + (i % 2 ? 0.2 : -0.2) }));
  const ordinary = Array.from({ length: 10 }, (_, j) => ({ id: 10 + j, mean: 0.45 + j * 0.01 }));
  const images = [
    ...spread(1, 0.65, 50),
    { conceptId: 2, reward: 0.9 },
    ...ordinary.flatMap((c) => spread(c.id, c.mean, 30)),
  ];
  const concepts = [
    { raw: 0.65, images: 50 },
    { raw: 0.9, images: 1 },
    { raw: 0.3, images: 0 },
    ...ordinary.map((c) => ({ raw: c.mean, images: 30 })),
  ];
  const [many, one, none] = shrinkConceptRewards(concepts, images);
  expect(many).toBeGreaterThan(one); // 0.9 on one noisy image no longer beats 0.65 on fifty
  expect(Math.abs(many - 0.65)).toBeLessThan(0.02);
  expect(none).toBe(0.3); // no images: left for the caller's fallback
  expect(shrinkConceptRewards([{ raw: 0.5, images: 3 }], images)).toEqual([0.5]); // one concept: nothing to pool
});
