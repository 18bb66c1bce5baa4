// The typed contract between Temporal clients, workflows and activities: queues, workflow names and
// signatures, messages (queries, signals, updates), search attributes and the shapes that cross Temporal.
// (Workflow code imports this folder: no Node built-ins.)
export * from './queues';
export * from './workflows';
export * from './messages';
export * from './search-attributes';
export * from './types';
