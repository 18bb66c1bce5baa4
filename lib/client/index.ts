// What every Temporal client of a run shares: connecting, starting, reading, following and showing a run.
export * from './connect';
export * from './runs';
export * from './run-state';
export * from './follow';
export * from './views';
export * from './missing-workers';
