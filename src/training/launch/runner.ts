/**
 * The launch runner (effectful): starts every process of a plan, each in its own process group,
 * streams its output line by line (prefixed with its label), collects telemetry, and applies the
 * lifecycle of lifecycle.ts (a pure state machine):
 *
 * - every other process is stopped as soon as one fails (non-zero exit, signal, or cannot start);
 * - once a process finished cleanly, the rest get `graceMs` to finish too, then are stopped and
 *   flagged (`teardown_hang`: torch 1.13's gloo can hang in destroy_process_group);
 * - on abort (SIGINT/SIGTERM) everything is stopped.
 *
 * The grace period is a core `deadline()` (a strongly held timer, cleared when the launch ends),
 * so it fires under garbage collection. Every process is reaped before this returns.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../../core/atomic-file.ts';
import { type Deadline, deadline } from '../../core/deadline.ts';
import { assertNever, MarshalError } from '../../core/errors.ts';
import { type ExitInfo, type ManagedProcess, spawnProcess } from '../../core/process.ts';
import type { Plan, PlanProcess } from '../plan-schema.ts';
import { TRAINING_SETTINGS } from '../settings.ts';
import { type PreparedCommand, prepareCommand } from '../transport.ts';
import {
  initialLaunchState,
  type LaunchEffect,
  type LaunchEvent,
  type LaunchState,
  step,
} from './lifecycle.ts';
import type { RankObservation } from './run-report.ts';
import { type Metric, parseMetricLine } from './telemetry.ts';

export interface PreparedProcess {
  process: PlanProcess;
  command: PreparedCommand;
}

/** The exact command each plan process runs, after the transport (what --dry-run prints). */
export function prepareProcesses(plan: Plan, planPath: string): PreparedProcess[] {
  return plan.distributed_config.processes.map((p) => {
    const env = { ...p.env, MARSHAL_PLAN: planPath };
    if (p.on === 'coordinator') return { process: p, command: { argv: [...p.argv], cwd: p.cwd, env } };
    const rank = plan.distributed_config.ranks.find((r) => r.node === p.node)!;
    return {
      process: p,
      command: prepareCommand({ host: rank.host, transport: rank.transport, workdir: p.cwd }, p.argv, env),
    };
  });
}

export interface RunOptions {
  planPath: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  /** How long the others may take after one process finished cleanly (default: the `graceS` setting). */
  graceMs?: number;
  /** SIGTERM-to-SIGKILL grace when stopping a process (default 5 s). */
  stopGraceMs?: number;
  onLine?: (label: string, stream: 'stdout' | 'stderr', line: string) => void;
  /** Every state the lifecycle enters, in order (for tests and traces). */
  onState?: (state: LaunchState) => void;
}

interface Slot {
  proc: ManagedProcess | null;
  exit: ExitInfo | null;
  started: number;
  ended: number | null;
}

type MetricSlot = { sum: number; lines: number; last: Metric | null; hash: string | null };

/** Runs a plan's processes to completion; returns one observation per planned rank. */
export async function runPlan(plan: Plan, options: RunOptions): Promise<RankObservation[]> {
  const dc = plan.distributed_config;
  if (plan.checkpoint_strategy.enabled && plan.checkpoint_strategy.dir) {
    await mkdir(plan.checkpoint_strategy.dir, { recursive: true });
  }
  if (dc.hostfile) await writeJsonAtomic(join(dc.processes[0]!.cwd, 'hostfile.json'), dc.hostfile);
  const metrics = new Map<number, MetricSlot>(
    dc.ranks.map((r) => [r.rank, { sum: 0, lines: 0, last: null, hash: null }]),
  );
  const record = (m: Metric, fallbackRank: number | undefined) => {
    const rank = m.rank ?? fallbackRank;
    const slot = rank === undefined ? undefined : metrics.get(rank);
    if (!slot) return;
    slot.sum += m.examples;
    slot.lines++;
    // Flags judge the last step that trained something: an empty tail step reports loss 0.
    if (m.examples > 0 || slot.last === null || slot.last.examples === 0) slot.last = m;
    if (m.param_hash) slot.hash = m.param_hash;
  };
  const prepared = prepareProcesses(plan, options.planPath);
  const slots: Slot[] = prepared.map(() => ({ proc: null, exit: null, started: Date.now(), ended: null }));
  const stopGraceMs = options.stopGraceMs ?? 5000;
  const stops: Promise<unknown>[] = [];
  let grace: Deadline | undefined;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });

  // Events are queued so an effect that produces an event (a spawn) never re-enters step().
  let state = initialLaunchState(prepared.length);
  const queue: LaunchEvent[] = [];
  let draining = false;
  const dispatch = (event: LaunchEvent): void => {
    queue.push(event);
    if (draining) return;
    draining = true;
    try {
      for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
        const next = step(state, e);
        if (next.state !== state) options.onState?.(next.state);
        state = next.state;
        for (const effect of next.effects) perform(effect);
      }
    } finally {
      draining = false;
    }
  };

  const spawn = (index: number): void => {
    const { process: p, command } = prepared[index]!;
    const slot = slots[index]!;
    const single = p.ranks.length === 1 ? p.ranks[0] : undefined;
    slot.started = Date.now();
    try {
      slot.proc = spawnProcess(command.argv, {
        ...(command.cwd ? { cwd: command.cwd } : {}),
        env: { ...options.env, ...command.env },
        pdeathsig: true,
        onStdoutLine: (line) => {
          const m = parseMetricLine(line);
          if (m) record(m, single);
          options.onLine?.(p.label, 'stdout', line);
        },
        onStderrLine: (line) => options.onLine?.(p.label, 'stderr', line),
      });
    } catch (err) {
      if (!(err instanceof MarshalError)) throw err;
      slot.exit = { code: null, signal: null };
      slot.ended = Date.now();
      options.onLine?.(p.label, 'stderr', err.message);
      queue.push({ type: 'spawn_failed', index });
      return;
    }
    void slot.proc.exited.then((info) => {
      slot.exit ??= info;
      slot.ended ??= Date.now();
      dispatch({ type: 'exited', index, code: info.code });
    });
    queue.push({ type: 'spawned', index });
  };

  const perform = (effect: LaunchEffect): void => {
    switch (effect.type) {
      case 'spawn':
        spawn(effect.index);
        return;
      case 'stop':
        for (const i of effect.indices) {
          const proc = slots[i]!.proc;
          if (proc) stops.push(proc.stop({ graceMs: stopGraceMs }));
        }
        return;
      case 'start_grace':
        grace = deadline(
          options.graceMs ?? TRAINING_SETTINGS.graceS.default * 1000,
          [],
          'launch grace period',
        );
        grace.signal.addEventListener('abort', () => dispatch({ type: 'grace_expired' }), { once: true });
        return;
      case 'clear_grace':
        grace?.clear();
        return;
      case 'finish':
        finished();
        return;
      default:
        assertNever(effect);
    }
  };

  const onAbort = () => dispatch({ type: 'aborted' });
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.signal?.aborted) dispatch({ type: 'aborted' });
    dispatch({ type: 'start' });
    await done;
    // Stopping resolves once each group is reaped (SIGKILL after stopGraceMs if need be).
    await Promise.all(stops);
  } finally {
    grace?.clear();
    options.signal?.removeEventListener('abort', onAbort);
  }
  const end = Date.now();
  return dc.ranks.map((rank) => {
    const index = prepared.findIndex((x) => x.process.ranks.includes(rank.rank));
    const slot = slots[index]!;
    const m = metrics.get(rank.rank)!;
    return {
      rank: rank.rank,
      node: rank.node,
      expectedExamples: rank.examples,
      exitCode: slot.exit?.code ?? null,
      signal: slot.exit?.signal ?? null,
      durationMs: (slot.ended ?? end) - slot.started,
      examplesProcessed: m.sum,
      metricLines: m.lines,
      lastTelemetry: m.last,
      finalParamHash: m.hash,
      stopped: state.procs[index]!.stopped,
    };
  });
}
