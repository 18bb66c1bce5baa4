import { createHash } from 'node:crypto';
import { stratifiedSplit, type LabelledImage } from '../../activities/evaluate/split';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** `perClass[c]` images of class c, in class order. */
function target(perClass: number[]): LabelledImage[] {
  return perClass.flatMap((n, label) => Array.from({ length: n }, (_, i) => ({ sha256: sha(`${label}/${i}`), label })));
}

function testShas(images: LabelledImage[], fraction = 0.3): string[] {
  const flags = stratifiedSplit(images, fraction);
  return images
    .filter((_, i) => flags[i])
    .map((im) => im.sha256)
    .sort();
}

describe('stratifiedSplit', () => {
  it('holds out round(30%) of every class', () => {
    const images = target([150, 150, 150, 10, 7, 2]);
    const flags = stratifiedSplit(images, 0.3);
    const perClass = [0, 1, 2, 3, 4, 5].map((c) => images.filter((im, i) => im.label === c && flags[i]).length);
    expect(perClass).toEqual([45, 45, 45, 3, 2, 1]);
  });

  it('does not depend on the order of the images', () => {
    const images = target([50, 30, 20]);
    const shuffled = [...images].reverse();
    shuffled.push(shuffled.splice(7, 1)[0]);
    expect(testShas(shuffled)).toEqual(testShas(images));
    // …and a different order of classes, or another class added, leaves a class's choice alone.
    const more = [...target([50, 30, 20, 40])].reverse();
    expect(testShas(more).filter((s) => images.some((im) => im.sha256 === s))).toEqual(testShas(images));
  });

  it('keeps a single-image class in train and never empties a class of training images', () => {
    const flags = stratifiedSplit(target([1, 2, 3]), 0.9);
    expect(flags[0]).toBe(false);
    expect(flags.slice(1, 3).filter(Boolean)).toHaveLength(1);
    expect(flags.slice(3).filter(Boolean)).toHaveLength(2);
  });

  it('puts copies of one image on the same side', () => {
    const images = target([20]);
    const withCopies = [...images, ...images.slice(0, 10)];
    const flags = stratifiedSplit(withCopies, 0.3);
    for (let i = 0; i < 10; i++) expect(flags[20 + i]).toBe(flags[i]);
    expect(flags.slice(0, 20).filter(Boolean)).toHaveLength(6);
  });

  it('refuses a fraction outside (0, 1)', () => {
    expect(() => stratifiedSplit(target([4]), 0)).toThrow(/testFraction/);
    expect(() => stratifiedSplit(target([4]), 1)).toThrow(/testFraction/);
  });
});
