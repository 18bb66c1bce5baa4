import { sleep } from '../../lib/yield';

/** Per-host politeness: at most `concurrency` requests in flight and `rps` started per second to each host. */
export interface HostLimits {
  concurrency: number;
  /** 0 = unlimited. */
  rps: number;
}

interface HostState {
  active: number;
  waiting: (() => void)[];
  /** Earliest time the next request to this host may start. */
  nextStart: number;
}

export class HostLimiter {
  private readonly hosts = new Map<string, HostState>();

  constructor(
    private readonly limits: HostLimits,
    /** Hosts (host:port) with no per-host limits, e.g. the run's own local engine. */
    private readonly exempt: Set<string> = new Set(),
  ) {}

  /** Runs `fn` once the host has a free slot and its rate allows; the slot is held while `fn` runs. */
  async run<T>(host: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.exempt.has(host)) return fn();
    const state = this.state(host);
    if (state.active >= this.limits.concurrency) {
      await new Promise<void>((resolve) => state.waiting.push(resolve));
    }
    state.active++;
    try {
      if (this.limits.rps > 0) {
        const now = Date.now();
        const start = Math.max(now, state.nextStart);
        state.nextStart = start + 1000 / this.limits.rps;
        if (start > now) await sleep(start - now, signal);
      }
      return await fn();
    } finally {
      state.active--;
      const next = state.waiting.shift();
      if (next) next();
      else if (state.active === 0 && state.nextStart <= Date.now()) this.hosts.delete(host);
    }
  }

  private state(host: string): HostState {
    let state = this.hosts.get(host);
    if (!state) {
      state = { active: 0, waiting: [], nextStart: 0 };
      this.hosts.set(host, state);
    }
    return state;
  }
}
