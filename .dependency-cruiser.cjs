/**
 * Which way imports may point: entry points (cli, workers, bench, scripts, test) → workflows, activities,
 * report, engine → lib. Checked by `npx depcruise` in scripts/test.sh.
 * @type {import('dependency-cruiser').IConfiguration}
 */
const ENTRY_POINTS = '^(cli|workers|bench|scripts|test)/';
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'lib-is-the-bottom',
      comment: 'lib/ holds what everything shares; it imports nothing of the project above it',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(activities|workflows|report|engine|cli|workers|bench|scripts|test)/' },
    },
    {
      name: 'workflows-decide-only',
      comment: 'workflow code imports lib/ (the contract) and, for proxyActivities, only the types of activities',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^(activities|report|engine)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'middle-layer-sideways',
      comment: 'activities, report and the engine do not import each other, workflows or entry points',
      severity: 'error',
      from: { path: '^(activities|report|engine)/' },
      to: { path: '^(workflows|report|engine|activities)/', pathNot: '^$1/' },
    },
    {
      name: 'middle-layer-up',
      severity: 'error',
      from: { path: '^(activities|report|engine|workflows)/' },
      to: { path: ENTRY_POINTS },
    },
    {
      name: 'stages-independent',
      comment: 'a stage reads what another stage left through lib/ or activities/iteration-files, never its code',
      severity: 'error',
      from: { path: '^activities/stages/([^/]+)\\.ts$' },
      to: { path: '^activities/stages/', pathNot: '^activities/stages/$1\\.ts$' },
    },
    {
      name: 'entry-points-apart',
      comment: 'cli may use bench (ie benchmark); nothing else imports another entry point',
      severity: 'error',
      from: { path: '^(workers|bench|scripts)/' },
      to: { path: '^(cli|bench|scripts)/', pathNot: '^$1/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|\\.state|test-artifacts)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
