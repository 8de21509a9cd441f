/**
 * Stall detection (pure: the clock is an input). A rank that makes no progress for
 * max(factor x the median step time, minimum) is stalled; the ones waiting for it in a collective
 * are not to blame.
 *
 * Progress is a higher step (a metric line for step s means s + 1 steps done; a heartbeat saying
 * `steps()` yielded s means s steps done), or a change in what the rank's heartbeat sees it doing
 * (entering or leaving a torch.distributed call, finishing its steps). A rank whose heartbeat is
 * fresh and says it is blocked in a collective is *waiting*; one that is idle and not waiting (its
 * heartbeat says it is outside any collective, or it went silent: a SIGSTOP stops the heartbeat
 * thread too) is the culprit. When every rank still training is idle and waiting (a deadlock, or
 * no heartbeat information), the ranks at the lowest step are blamed.
 *
 * Detection starts once a step time has been measured (two step observations of one rank), so
 * start-up (imports, rendezvous) is left to torch's own timeouts; ranks past their last step
 * (`done`) and ranks whose process ended are not judged.
 */
import { median } from '../robust-stats.ts';
import type { RankStall } from './run-report.ts';
import type { Heartbeat } from './telemetry.ts';

export interface StallPolicy {
  /** No progress for this many median step times is a stall; 0 turns the watch off. */
  factor: number;
  /** The limit is never below this (ms). */
  minMs: number;
}

/** Step-time samples kept (over all ranks, the latest). */
export const STEP_SAMPLES = 64;
/** The watch never rechecks sooner than this (ms). */
export const MIN_RECHECK_MS = 100;

/** What the watch knows of one rank. Times are ms on one monotonic clock. */
export interface RankProgress {
  rank: number;
  /** Steps done as far as seen (null before any step observation). */
  step: number | null;
  /** When it last made progress (its start, before any). */
  progressAt: number;
  /** When its last heartbeat arrived (null: none yet). */
  heartbeatAt: number | null;
  /** The collective its last heartbeat saw it blocked in. */
  collective: string | null;
  /** Its last heartbeat said `steps()` ran through. */
  done: boolean;
  /** Its process ended. */
  ended: boolean;
}

/** Per-rank progress and the run's step-time samples, fed from the ranks' lines. */
export class ProgressTracker {
  readonly #ranks = new Map<number, RankProgress & { stepAt: number | null }>();
  readonly #samples: number[] = [];

  constructor(ranks: readonly number[], now: number) {
    for (const rank of ranks)
      this.#ranks.set(rank, {
        rank,
        step: null,
        progressAt: now,
        heartbeatAt: null,
        collective: null,
        done: false,
        ended: false,
        stepAt: null,
      });
  }

  /** A counted metric line for `step` (step + 1 steps done). */
  metric(rank: number, step: number, now: number): void {
    this.#advance(rank, step + 1, now);
  }

  heartbeat(rank: number, hb: Heartbeat, now: number): void {
    const r = this.#ranks.get(rank);
    if (!r) return;
    r.heartbeatAt = now;
    if (hb.step !== null) this.#advance(rank, hb.step, now);
    if (hb.collective !== r.collective || hb.done !== r.done) r.progressAt = now;
    r.collective = hb.collective;
    r.done = hb.done;
  }

  ended(rank: number): void {
    const r = this.#ranks.get(rank);
    if (r) r.ended = true;
  }

  /** The median time per step over the latest samples; null before any. */
  stepMs(): number | null {
    return this.#samples.length === 0 ? null : median(this.#samples);
  }

  snapshot(): RankProgress[] {
    return [...this.#ranks.values()].map(({ stepAt: _, ...r }) => ({ ...r }));
  }

  #advance(rank: number, step: number, now: number): void {
    const r = this.#ranks.get(rank);
    if (!r || (r.step !== null && step <= r.step)) return;
    if (r.stepAt !== null && r.step !== null) {
      this.#samples.push((now - r.stepAt) / (step - r.step));
      if (this.#samples.length > STEP_SAMPLES) this.#samples.shift();
    }
    r.step = step;
    r.stepAt = now;
    r.progressAt = now;
  }
}

/** One rank in a stall verdict. */
export interface StalledRank {
  rank: number;
  step: number | null;
  /** How long it had made no progress (ms). */
  idleMs: number;
  /** The collective its fresh heartbeat saw it waiting in, else null. */
  waitingIn: string | null;
}

export type StallVerdict =
  | { kind: 'ok'; recheckInMs: number }
  | {
      kind: 'stalled';
      limitMs: number;
      stepMs: number;
      /** The ranks that stopped making progress. */
      culprits: number[];
      /** Every judged rank, culprits included. */
      ranks: StalledRank[];
    };

/** The limit for a measured step time: max(factor x stepMs, minMs). */
export function stallLimitMs(stepMs: number, policy: StallPolicy): number {
  return Math.max(policy.factor * stepMs, policy.minMs);
}

/** Judges the ranks at `now` (pure). */
export function judgeStall(
  ranks: readonly RankProgress[],
  stepMs: number | null,
  policy: StallPolicy,
  now: number,
): StallVerdict {
  const recheck = (ms: number): StallVerdict => ({ kind: 'ok', recheckInMs: Math.max(MIN_RECHECK_MS, ms) });
  if (stepMs === null) return recheck(policy.minMs);
  const limitMs = stallLimitMs(stepMs, policy);
  const live = ranks.filter((r) => !r.ended && !r.done);
  if (live.length === 0) return recheck(limitMs);
  const idle = live.filter((r) => now - r.progressAt >= limitMs);
  const waitingIn = (r: RankProgress) =>
    r.heartbeatAt !== null && now - r.heartbeatAt < limitMs ? r.collective : null;
  const stuck = idle.filter((r) => waitingIn(r) === null);
  let culprits: RankProgress[];
  if (stuck.length > 0) culprits = lowestStep(stuck);
  else if (idle.length === live.length) culprits = lowestStep(idle);
  else
    return recheck(
      Math.min(...live.filter((r) => !idle.includes(r)).map((r) => r.progressAt + limitMs - now)),
    );
  return {
    kind: 'stalled',
    limitMs,
    stepMs,
    culprits: culprits.map((r) => r.rank),
    ranks: live.map((r) => ({
      rank: r.rank,
      step: r.step,
      idleMs: now - r.progressAt,
      waitingIn: waitingIn(r),
    })),
  };
}

/** What the run report records of rank `r` in a stall verdict. */
export function rankStall(verdict: Extract<StallVerdict, { kind: 'stalled' }>, r: StalledRank): RankStall {
  return {
    stalled: verdict.culprits.includes(r.rank),
    step: r.step,
    idleMs: r.idleMs,
    limitMs: verdict.limitMs,
    stepMs: verdict.stepMs,
    waitingIn: r.waitingIn,
  };
}

function lowestStep(ranks: readonly RankProgress[]): RankProgress[] {
  const low = Math.min(...ranks.map((r) => r.step ?? -1));
  return ranks.filter((r) => (r.step ?? -1) === low);
}
