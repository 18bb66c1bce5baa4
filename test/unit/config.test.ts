import { ConfigError, parseRunConfig } from '../../lib/config';

describe('run config', () => {
  test('fills defaults and keeps given values', () => {
    const config = parseRunConfig({ target: '/data/pets', iterations: 3, train: { steps: 7 } });
    expect(config.iterations).toBe(3);
    expect(config.train.steps).toBe(7);
    expect(config.train.preset).toBe('cpu-small');
    expect(config.score.k).toBe(15);
    expect(config.temperature).toEqual({ topK: 250, topMass: 0.5 });
  });

  test('a misspelt key is an error that names it and the allowed keys', () => {
    expect(() => parseRunConfig({ target: '/x', iteratons: 3 })).toThrow(ConfigError);
    expect(() => parseRunConfig({ target: '/x', iteratons: 3 })).toThrow(
      /unknown key 'iteratons': allowed keys are target, mode, iterations/,
    );
    expect(() => parseRunConfig({ target: '/x', train: { stepz: 3 } })).toThrow(
      /unknown key 'train.stepz': allowed keys are preset, steps/,
    );
  });

  test('bad values name the key and what is allowed', () => {
    expect(() => parseRunConfig({ target: '/x', mode: 'rand' })).toThrow(/mode: .*"explore"\|"random"/);
    expect(() => parseRunConfig({ target: '/x', iterations: 0 })).toThrow(/iterations:/);
    expect(() => parseRunConfig({})).toThrow(/target:/);
  });

  test("the GP's caps default to the paper-scale ones, and a sparse GP never has more inducing points than the exact limit", () => {
    expect(parseRunConfig({ target: '/x' }).gp).toEqual({
      exactLimit: 4000,
      inducingPoints: 2000,
      emptyConcepts: 'ignore',
    });
    expect(parseRunConfig({ target: '/x', gp: { exactLimit: 200, inducingPoints: 100 } }).gp).toEqual({
      exactLimit: 200,
      inducingPoints: 100,
      emptyConcepts: 'ignore',
    });
    expect(parseRunConfig({ target: '/x', gp: { emptyConcepts: 'lowest' } }).gp.emptyConcepts).toBe('lowest');
    expect(parseRunConfig({ target: '/x', gp: { emptyConcepts: 'discount' } }).gp.emptyConcepts).toBe('discount');
    expect(() => parseRunConfig({ target: '/x', gp: { emptyConcepts: 'zero' } })).toThrow(/gp\.emptyConcepts/);
    expect(parseRunConfig({ target: '/x' }).concepts.taxonomyWeight).toBe(0.5);
    expect(parseRunConfig({ target: '/x', concepts: { taxonomyWeight: 'fit' } }).concepts.taxonomyWeight).toBe('fit');
    expect(() => parseRunConfig({ target: '/x', concepts: { taxonomyWeight: 'fitted' } })).toThrow(
      /concepts\.taxonomyWeight/,
    );
    expect(() => parseRunConfig({ target: '/x', concepts: { taxonomyWeight: 1 } })).toThrow(/concepts\.taxonomyWeight/);
    expect(parseRunConfig({ target: '/x' }).concepts.instances).toBe('each');
    expect(parseRunConfig({ target: '/x', concepts: { instances: 'byClass' } }).concepts.instances).toBe('byClass');
    expect(() => parseRunConfig({ target: '/x', concepts: { instances: 'grouped' } })).toThrow(/concepts\.instances/);
    expect(parseRunConfig({ target: '/x' }).concepts.taxa).toBe('each');
    expect(parseRunConfig({ target: '/x', concepts: { taxa: 'byClass' } }).concepts.taxa).toBe('byClass');
    expect(() => parseRunConfig({ target: '/x', concepts: { taxa: 'byGenus' } })).toThrow(/concepts\.taxa/);
    expect(() => parseRunConfig({ target: '/x', gp: { exactLimit: 100 } })).toThrow(
      /gp\.inducingPoints.*must not exceed gp\.exactLimit/,
    );
  });
});
