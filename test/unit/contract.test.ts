import * as workflows from '../../workflows';
import { CONTROL_KINDS, CONTROL_UPDATES, ITERATION_WORKFLOW, RUN_WORKFLOW } from '../../lib/contract';

test('every workflow the contract names is what the workers register under that name', () => {
  expect(Object.keys(workflows).sort()).toEqual([ITERATION_WORKFLOW, RUN_WORKFLOW].sort());
  expect(workflows[RUN_WORKFLOW].name).toBe(RUN_WORKFLOW);
  expect(workflows[ITERATION_WORKFLOW].name).toBe(ITERATION_WORKFLOW);
});

test('each control kind travels as its own update', () => {
  const names = CONTROL_KINDS.map((kind) => CONTROL_UPDATES[kind].name);
  expect(new Set(names).size).toBe(CONTROL_KINDS.length);
  expect(CONTROL_UPDATES.stop.name).toBe('stopAfterIteration');
});
