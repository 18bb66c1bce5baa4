// The run's state as its clients see it: the `progress` answer, its search attributes and its current
// details in the Web UI. Pure workflow code (no I/O): `publish` only records what changed.
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import {
  RECENT_ITERATIONS,
  RUN_SEARCH_ATTRIBUTES as SA,
  type IterationSummary,
  type Progress,
  type RunCarry,
  type RunControls,
  type RunTotals,
  type TopConcept,
  type WaitingForWorker,
} from '../lib/contract';
import { runDetails } from './details';

const NO_CONTROLS: RunControls = { paused: false, stopRequested: false, temperature: null, addedConcepts: 0 };
const NO_TOTALS: RunTotals = { iterationsDone: 0, imagesDownloaded: 0, imagesKept: 0, bestKnn: null };

/**
 * What one execution of the run knows. Its size is bounded whatever the run's length: totals, the last
 * RECENT_ITERATIONS summaries and the top of the distribution; every iteration's figures are in PostgreSQL.
 */
export class RunState {
  readonly progress: Progress;
  readonly controls: RunControls;
  target: string | undefined;
  mode: string | undefined;
  distributionTop: TopConcept[];
  /** Totals over the iterations finished before this one. */
  private totals: RunTotals;
  /** Search attribute values last upserted (each upsert is an event in the history). */
  private readonly upserted = new Map<string, unknown>();

  constructor(runId: string, resume: RunCarry | undefined) {
    this.controls = { ...NO_CONTROLS, ...resume?.controls };
    this.target = resume?.target;
    this.mode = resume?.mode;
    this.distributionTop = resume?.distributionTop ?? [];
    const recent = resume ? carriedRecent(resume) : [];
    this.totals = resume ? carriedTotals(resume, recent) : { ...NO_TOTALS };
    this.progress = {
      runId,
      status: resume ? 'running' : 'preparing',
      iteration: resume?.nextIteration ?? 0,
      iterations: resume?.iterations ?? 0,
      stage: 'prepare',
      iterationsDone: this.totals.iterationsDone,
      imagesDownloaded: 0,
      imagesKept: 0,
      meanReward: null,
      topConcepts: [],
      evaluation: null,
      history: recent,
      controls: this.controls,
      failed: null,
    };
    this.refresh();
  }

  /** The state a control validator judges. */
  controlState() {
    return { status: this.progress.status, controls: this.controls, failed: this.progress.failed };
  }

  /** An iteration's stage changed; `downloaded`/`kept` are the iteration's own counts so far. */
  stageChanged(stage: string, downloaded?: number, kept?: number, waitingFor?: WaitingForWorker | null): void {
    this.progress.stage = stage;
    this.progress.waitingFor = waitingFor ?? null;
    if (downloaded !== undefined) this.progress.imagesDownloaded = this.totals.imagesDownloaded + downloaded;
    if (kept !== undefined) this.progress.imagesKept = this.totals.imagesKept + kept;
    this.publish();
  }

  /** Adds a finished iteration to the totals and the recent window. */
  iterationFinished(summary: IterationSummary): void {
    this.distributionTop = summary.topConcepts;
    const knn = summary.knnAccuracy;
    this.totals = {
      iterationsDone: this.totals.iterationsDone + 1,
      imagesDownloaded: this.totals.imagesDownloaded + summary.downloaded,
      imagesKept: this.totals.imagesKept + summary.kept,
      bestKnn: knn === null ? this.totals.bestKnn : Math.max(knn, this.totals.bestKnn ?? -Infinity),
    };
    this.progress.history = [
      ...this.progress.history,
      { ...summary, topConcepts: summary.topConcepts.slice(0, 10) },
    ].slice(-RECENT_ITERATIONS);
    this.refresh();
  }

  /** What the next execution carries (Continue-As-New): bounded, as the state is. */
  carry(
    base: Omit<RunCarry, 'recent' | 'totals' | 'controls' | 'distributionTop' | 'nextIteration'>,
    next: number,
  ): RunCarry {
    return {
      ...base,
      nextIteration: next,
      recent: this.progress.history,
      totals: this.totals,
      controls: this.controls,
      distributionTop: this.distributionTop,
    };
  }

  /** Sets current details and upserts the search attributes that changed. */
  publish(): void {
    setCurrentDetails(runDetails(this.progress, this.target));
    const p = this.progress;
    const wanted: SearchAttributeUpdatePair[] = [
      { key: SA.status, value: p.status },
      { key: SA.iteration, value: p.iteration },
      { key: SA.images, value: p.imagesDownloaded },
    ];
    if (this.target !== undefined) wanted.push({ key: SA.target, value: this.target });
    if (this.mode !== undefined) wanted.push({ key: SA.mode, value: this.mode });
    if (this.totals.bestKnn !== null) wanted.push({ key: SA.bestKnn, value: this.totals.bestKnn });
    const changed = wanted.filter((pair) => this.upserted.get(pair.key.name) !== pair.value);
    if (changed.length === 0) return;
    for (const pair of changed) this.upserted.set(pair.key.name, pair.value);
    upsertSearchAttributes(changed);
  }

  /** Progress figures derived from the totals and the last finished iteration. */
  private refresh(): void {
    const p = this.progress;
    const last = p.history[p.history.length - 1];
    p.iterationsDone = this.totals.iterationsDone;
    p.imagesDownloaded = this.totals.imagesDownloaded;
    p.imagesKept = this.totals.imagesKept;
    p.bestKnn = this.totals.bestKnn;
    if (last) {
      p.meanReward = last.meanReward;
      p.topConcepts = last.topConcepts;
      p.evaluation =
        last.evaluation ??
        (last.knnAccuracy === null ? null : { knnAccuracy: last.knnAccuracy, linearProbeAccuracy: null });
    }
  }
}

/** The recent window a resumed execution starts from (executions before the window existed carried all). */
function carriedRecent(resume: RunCarry): IterationSummary[] {
  return (resume.recent ?? resume.history ?? []).slice(-RECENT_ITERATIONS);
}

function carriedTotals(resume: RunCarry, recent: IterationSummary[]): RunTotals {
  if (resume.totals) return resume.totals;
  const all = resume.history ?? recent;
  const knns = all.map((h) => h.knnAccuracy).filter((k): k is number => k !== null);
  return {
    iterationsDone: all.length,
    imagesDownloaded: all.reduce((s, h) => s + h.downloaded, 0),
    imagesKept: all.reduce((s, h) => s + h.kept, 0),
    bestKnn: knns.length ? Math.max(...knns) : null,
  };
}
