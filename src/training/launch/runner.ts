/**
 * The launch runner (effectful): starts every process of a plan, each in its own process group,
 * streams its output line by line (prefixed with its label), collects telemetry, and applies the
 * lifecycle of lifecycle.ts (a pure state machine):
 *
 * - every other process is stopped as soon as one fails (non-zero exit, signal, or cannot start),
 *   or prints a rank's `MARSHAL_RANK_FAILED` line (the rank-side entry prints it when the script
 *   raises or exits non-zero; under torchrun the process exits only minutes later);
 * - a rank that makes no progress for max(stall factor x the median step time, the minimum) is
 *   flagged `stalled` and the run stopped (stall.ts tells it from the ranks waiting for it, from
 *   the `MARSHAL_HEARTBEAT` lines; the watch is stall-watch.ts);
 * - once a process finished cleanly, the rest get `graceMs` to finish too, then are stopped and
 *   flagged (`teardown_hang`: torch 1.13's gloo can hang in destroy_process_group);
 * - on abort (SIGINT/SIGTERM) everything is stopped.
 *
 * The grace period and the stall watch are core `deadline()`s (strongly held timers, cleared when
 * the launch ends), so they fire under garbage collection. Every process is reaped before this
 * returns.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../core/atomic-file.ts';
import { type Deadline, deadline } from '../../core/deadline.ts';
import { assertNever, MarshalError } from '../../core/errors.ts';
import { type ExitInfo, type ManagedProcess, spawnProcess, waitForExit } from '../../core/process.ts';
import type { Plan, PlanProcess } from '../plan-schema.ts';
import { TRAINING_SETTINGS } from '../settings.ts';
import { type PreparedCommand, prepareCommand, SSH_FAILURE_EXIT } from '../transport.ts';
import { mpirunHostfiles } from './commands.ts';
import { withMlxEnv } from './launch-env.ts';
import {
  initialLaunchState,
  type LaunchEffect,
  type LaunchEvent,
  type LaunchState,
  step,
} from './lifecycle.ts';
import {
  OUTLIER_WINDOW_STEPS,
  type RankObservation,
  type RankStall,
  type RejectedTelemetry,
  type StepValue,
  type StopReason,
} from './run-report.ts';
import { ProgressTracker, rankStall, type StallPolicy } from './stall.ts';
import { startStallWatch } from './stall-watch.ts';
import { createStdoutReader, rankOf } from './stdout-reader.ts';
import { emptyTally, type RejectionTally, tallyRejections } from './suspects.ts';
import { type Metric, readMetricLine, readRankFailedLine } from './telemetry.ts';

/** A process whose rank reported a failure gets this long to exit on its own (its exit code is kept), then is stopped. */
export const FAILED_SETTLE_MS = 2000;

export interface PreparedProcess {
  process: PlanProcess;
  command: PreparedCommand;
}

/** The exact command each plan process runs, after the transport (what --dry-run prints). */
export function prepareProcesses(plan: Plan, planPath: string): PreparedProcess[] {
  return plan.distributed_config.processes.map((p) => {
    const env = { ...p.env, MARSHAL_PLAN: planPath };
    // mlx.launch forwards to its ssh ranks only its --env words, not its own environment.
    if (p.on === 'coordinator')
      return {
        process: p,
        command: { argv: withMlxEnv(p.argv, { MARSHAL_PLAN: planPath }), cwd: p.cwd, env },
      };
    const rank = plan.distributed_config.ranks.find((r) => r.node === p.node)!;
    // Tied to its ssh session: stopping (or losing) the connection stops the remote process group.
    const node = { host: rank.host, transport: rank.transport, workdir: p.cwd, ssh: plan.cluster.ssh };
    return { process: p, command: prepareCommand(node, p.argv, env, { tie: { python: rank.python } }) };
  });
}

/**
 * Stops a tied remote process: closing its stdin makes the node-side supervisor stop the rank's
 * group (SIGTERM, 5 s, SIGKILL) and exit, and ssh with it, so the remote side is gone when this
 * resolves. A node that does not answer in time (its link is down) gets the local ssh stopped.
 */
async function stopTied(proc: ManagedProcess, graceMs: number): Promise<unknown> {
  proc.stdin?.end();
  try {
    await waitForExit(proc, { timeoutMs: graceMs + 10_000 });
  } catch {
    // Not answered in time: stop the local ssh (the remote sshd drops the session, which ends stdin there).
  }
  return proc.stop({ graceMs });
}

/**
 * Writes the Open MPI hostfile of each node ({@link mpirunHostfiles}: derived from the plan's
 * sealed ranks) next to the plan, in mpirun's directory, atomically and 0644 (no secret: user and
 * host names). The names are fixed (`mpi-hostfile.<node name>`, node names checked), so nothing
 * is written outside that directory, and a symlink there is replaced, not followed.
 */
export async function writeMpirunHostfiles(plan: Plan): Promise<string[]> {
  const dc = plan.distributed_config;
  const dir = dc.processes[0]?.cwd;
  if (dir === undefined) return [];
  const written: string[] = [];
  for (const f of mpirunHostfiles(dc.ranks)) {
    const path = join(dir, f.name);
    await writeFileAtomic(path, f.text, { mode: 0o644 });
    written.push(path);
  }
  return written;
}

export interface RunOptions {
  planPath: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  /** How long the others may take after one process finished cleanly (default: the `graceS` setting). */
  graceMs?: number;
  /** SIGTERM-to-SIGKILL grace when stopping a process (default 5 s). */
  stopGraceMs?: number;
  /** The stall watch (default: the `stallFactor` and `stallMinS` settings; factor 0 turns it off). */
  stall?: StallPolicy;
  onLine?: (label: string, stream: 'stdout' | 'stderr', line: string) => void;
  /** Every state the lifecycle enters, in order (for tests and traces). */
  onState?: (state: LaunchState) => void;
}

interface Slot {
  proc: ManagedProcess | null;
  exit: ExitInfo | null;
  started: number;
  ended: number | null;
  /** The ssh destination whose connection failed or went silent (exit 255), if any. */
  lostHost?: string;
  /** The rank whose failure line stopped the run, when this process printed it. */
  failure?: { rank: number; exit: number | null; error: string };
}

type MetricSlot = {
  sum: number;
  lines: number;
  last: Metric | null;
  hash: string | null;
  /** The last OUTLIER_WINDOW_STEPS * 2 training steps (bounded memory, whatever the run length). */
  window: StepValue[];
  nonFinite: { loss: number; grad_norm: number };
  rejected: RejectedTelemetry;
  /** The rank's planned shard size: a line claiming more examples is refused. */
  shard: number;
  /** What the rank's lines said robust_all_reduce rejected (Byzantine suspects). */
  tally: RejectionTally;
};

/** Runs a plan's processes to completion; returns one observation per planned rank. */
export async function runPlan(plan: Plan, options: RunOptions): Promise<RankObservation[]> {
  const dc = plan.distributed_config;
  if (plan.checkpoint_strategy.enabled && plan.checkpoint_strategy.dir) {
    await mkdir(plan.checkpoint_strategy.dir, { recursive: true });
  }
  if (dc.hostfile) await writeJsonAtomic(join(dc.processes[0]!.cwd, 'hostfile.json'), dc.hostfile);
  if (dc.launcher === 'mpirun') await writeMpirunHostfiles(plan);
  const metrics = new Map<number, MetricSlot>(
    dc.ranks.map((r) => [
      r.rank,
      {
        sum: 0,
        lines: 0,
        last: null,
        hash: null,
        window: [],
        nonFinite: { loss: 0, grad_norm: 0 },
        rejected: { rank_mismatch: 0, invalid: 0 },
        shard: r.examples,
        tally: emptyTally(),
      },
    ]),
  );
  /**
   * One metric line of the process running `ranks`. Its `rank` field must name one of them (with
   * `direct`, the one rank the process runs), and `examples` must fit in that rank's shard;
   * otherwise the line is not counted and the rejection is recorded (on the named rank, or on
   * the process's first rank when it names another one).
   */
  const reject = (
    slot: { rejected: RejectedTelemetry } | undefined,
    kind: 'rank_mismatch' | 'invalid',
    why: string,
  ) => {
    if (!slot) return;
    slot.rejected[kind]++;
    slot.rejected.first ??= why.length > 200 ? `${why.slice(0, 199)}…` : why;
  };
  const record = (line: string, ranks: readonly number[]) => {
    const read = readMetricLine(line);
    if (read === null) return;
    const own = ranks.length === 1 ? ranks[0] : undefined;
    const blame = metrics.get(own ?? ranks[0]!);
    if (read.kind === 'invalid') {
      reject(blame, 'invalid', read.reason);
      return;
    }
    const m = read.metric;
    if (m.rank !== null && !ranks.includes(m.rank)) {
      reject(
        blame,
        'rank_mismatch',
        `rank ${m.rank} is not run by this process (it runs ${ranks.join(', ')})`,
      );
      return;
    }
    const rank = m.rank ?? own;
    const slot = rank === undefined ? undefined : metrics.get(rank);
    if (!slot) return;
    if (m.examples > slot.shard) {
      reject(slot, 'invalid', `examples ${m.examples} exceed the rank's shard of ${slot.shard}`);
      return;
    }
    tracker.metric(rank!, m.step, clock());
    slot.sum += m.examples;
    slot.lines++;
    tallyRejections(slot.tally, m.robust);
    if (!Number.isFinite(m.loss)) slot.nonFinite.loss++;
    if (!Number.isFinite(m.grad_norm)) slot.nonFinite.grad_norm++;
    if (m.examples > 0) {
      slot.window.push({ step: m.step, loss: m.loss, grad_norm: m.grad_norm });
      if (slot.window.length > OUTLIER_WINDOW_STEPS * 2) slot.window.shift();
    }
    // Flags judge the last step that trained something: an empty tail step reports loss 0.
    if (m.examples > 0 || slot.last === null || slot.last.examples === 0) slot.last = m;
    if (m.param_hash) slot.hash = m.param_hash;
  };
  const clock = () => performance.now();
  const tracker = new ProgressTracker(
    dc.ranks.map((r) => r.rank),
    clock(),
  );
  /** A rank's failure line: stops the run (the first one only, see below). */
  const failure = (line: string, index: number, ranks: readonly number[]): void => {
    const failed = readRankFailedLine(line);
    const rank = failed ? rankOf(failed.rank, ranks) : undefined;
    // Only the first report counts: the others' errors once it failed are consequences.
    if (failed && rank !== undefined && state.kind !== 'stopping' && state.kind !== 'done') {
      slots[index]!.failure = { rank, exit: failed.exit, error: failed.error };
      dispatch({ type: 'rank_failed', index });
    }
  };
  let stalls: Map<number, RankStall> | undefined;
  let stalledRanks = new Set<number>();
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
    slot.started = Date.now();
    const stdout = createStdoutReader({
      ranks: p.ranks,
      onHeartbeat: (rank, hb) => tracker.heartbeat(rank, hb, clock()),
      onLine: (line) => {
        failure(line, index, p.ranks);
        record(line, p.ranks);
        options.onLine?.(p.label, 'stdout', line);
      },
    });
    try {
      slot.proc = spawnProcess(command.argv, {
        ...(command.cwd ? { cwd: command.cwd } : {}),
        env: { ...options.env, ...command.env },
        pdeathsig: true,
        onStdoutLine: (line) => stdout.line(line),
        onStderrLine: (line) => options.onLine?.(p.label, 'stderr', line),
        ...(command.stdin === 'pipe' ? { stdin: 'pipe' as const } : {}),
      });
      // A tied ssh process: its stdin stays open while it should run (an EPIPE once ssh is gone is expected).
      slot.proc.stdin?.on('error', () => {});
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
      stdout.end();
      for (const r of p.ranks) tracker.ended(r);
      // ssh's own failure (255) on a process marshal was not stopping: the host is unreachable or
      // its link went silent for ServerAliveInterval x ServerAliveCountMax seconds.
      if (command.stdin === 'pipe' && info.code === SSH_FAILURE_EXIT && state.procs[index]?.stopped == null) {
        const host = command.argv[command.argv.indexOf('--') - 1] ?? '?';
        slot.lostHost = host;
        options.onLine?.(
          p.label,
          'stderr',
          `marshal: lost node ${p.node}: ssh to ${host} failed or its connection went silent (exit 255); stopping the run`,
        );
      }
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
          if (!proc) continue;
          stops.push(stopOne(proc, effect.reason));
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

  const stopOne = async (proc: ManagedProcess, reason: StopReason): Promise<unknown> => {
    if (reason === 'rank_failed') {
      // A direct rank is exiting already: let it, so its own exit code is reported.
      await waitForExit(proc, { timeoutMs: FAILED_SETTLE_MS }).catch(() => {});
    }
    const stopping = proc.stdin ? stopTied(proc, stopGraceMs) : proc.stop({ graceMs: stopGraceMs });
    // A SIGSTOPped rank acts on the SIGTERM only once continued.
    if (reason === 'stalled' && !proc.stdin) proc.signalGroup('SIGCONT');
    return stopping;
  };

  const watch = startStallWatch({
    tracker,
    policy: options.stall ?? {
      factor: TRAINING_SETTINGS.stallFactor.default,
      minMs: TRAINING_SETTINGS.stallMinS.default * 1000,
    },
    now: clock,
    ...(options.signal ? { signal: options.signal } : {}),
    onStall: (verdict) => {
      stalledRanks = new Set(verdict.culprits);
      stalls = new Map(verdict.ranks.map((r) => [r.rank, rankStall(verdict, r)]));
      const indices = prepared.flatMap((x, i) =>
        x.process.ranks.some((r) => stalledRanks.has(r)) ? [i] : [],
      );
      for (const i of indices)
        options.onLine?.(
          prepared[i]!.process.label,
          'stderr',
          `marshal: rank(s) ${verdict.culprits.join(', ')} made no progress for more than ${(verdict.limitMs / 1000).toFixed(1)} s; stopping the run`,
        );
      dispatch({ type: 'stalled', indices });
    },
  });
  const onAbort = () => dispatch({ type: 'aborted' });
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.signal?.aborted) dispatch({ type: 'aborted' });
    dispatch({ type: 'start' });
    await done;
    watch.stop();
    // Stopping resolves once each group is reaped (SIGKILL after stopGraceMs if need be).
    await Promise.all(stops);
  } finally {
    watch.stop();
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
      stopped: rankStop(state.procs[index]!.stopped, rank.rank, slot, stalledRanks),
      ...(slot.failure?.rank === rank.rank
        ? { failure: { exit: slot.failure.exit, error: slot.failure.error } }
        : {}),
      ...(stalls?.has(rank.rank) ? { stall: stalls.get(rank.rank)! } : {}),
      ...(slot.lostHost ? { lostHost: slot.lostHost } : {}),
      window: m.window,
      nonFinite: m.nonFinite,
      rejected: m.rejected,
      tally: m.tally,
    };
  });
}

/**
 * A rank's stop reason from its process's: in a process that reported one rank's failure (or was
 * blamed for a stall), that rank failed on its own (null, with its `failure` / `stall`); its other
 * ranks were stopped because of it.
 */
function rankStop(
  procStop: StopReason | null,
  rank: number,
  slot: Slot,
  stalledRanks: ReadonlySet<number>,
): StopReason | null {
  if (procStop === 'rank_failed') return slot.failure?.rank === rank ? null : 'peer_failed';
  if (procStop === 'stalled') return stalledRanks.has(rank) ? null : 'peer_stalled';
  return procStop;
}
