/**
 * The launch runner (effectful): starts every process of a plan, each in its own process group,
 * streams its output line by line (prefixed with its label), collects telemetry, and:
 *
 * - stops every other process as soon as one fails (non-zero exit, signal, or cannot start);
 * - once a process finished cleanly, gives the rest `graceMs` to finish too, then stops and flags
 *   them (`teardown_hang`: torch 1.13's gloo can hang in destroy_process_group);
 * - on abort (SIGINT/SIGTERM) stops everything.
 * Every process is reaped before this returns.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../../core/atomic-file.ts';
import { MarshalError } from '../../core/errors.ts';
import { type ExitInfo, type ManagedProcess, spawnProcess } from '../../core/process.ts';
import type { Plan, PlanProcess } from '../plan-schema.ts';
import { type PreparedCommand, prepareCommand } from '../transport.ts';
import type { RankObservation, StopReason } from './run-report.ts';
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
  /** How long the others may take after one process finished cleanly (default 60 s). */
  graceMs?: number;
  /** SIGTERM-to-SIGKILL grace when stopping a process (default 5 s). */
  stopGraceMs?: number;
  onLine?: (label: string, stream: 'stdout' | 'stderr', line: string) => void;
}

interface Running {
  prepared: PreparedProcess;
  proc: ManagedProcess | null;
  started: number;
  ended: number | null;
  exit: ExitInfo | null;
  stopped: StopReason | null;
}

/** Runs a plan's processes to completion; returns one observation per planned rank. */
export async function runPlan(plan: Plan, options: RunOptions): Promise<RankObservation[]> {
  const dc = plan.distributed_config;
  if (plan.checkpoint_strategy.enabled && plan.checkpoint_strategy.dir) {
    await mkdir(plan.checkpoint_strategy.dir, { recursive: true });
  }
  if (dc.hostfile)
    await writeJsonAtomic(join(plan.distributed_config.processes[0]!.cwd, 'hostfile.json'), dc.hostfile);
  const metrics = new Map<number, { sum: number; lines: number; last: Metric | null; hash: string | null }>();
  for (const r of dc.ranks) metrics.set(r.rank, { sum: 0, lines: 0, last: null, hash: null });
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
  const running: Running[] = prepareProcesses(plan, options.planPath).map((prepared) => ({
    prepared,
    proc: null,
    started: Date.now(),
    ended: null,
    exit: null,
    stopped: null,
  }));
  const stopGraceMs = options.stopGraceMs ?? 5000;
  const stopOthers = async (reason: StopReason) => {
    await Promise.all(
      running.map(async (r) => {
        if (r.proc && r.exit === null) {
          r.stopped = reason;
          const info = await r.proc.stop({ graceMs: stopGraceMs });
          r.exit ??= info;
          r.ended ??= Date.now();
        }
      }),
    );
  };
  for (const r of running) {
    const { process: p, command } = r.prepared;
    const single = p.ranks.length === 1 ? p.ranks[0] : undefined;
    try {
      r.started = Date.now();
      r.proc = spawnProcess(command.argv, {
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
      r.stopped = 'spawn_failed';
      r.exit = { code: null, signal: null };
      r.ended = Date.now();
      options.onLine?.(p.label, 'stderr', err.message);
      await stopOthers('peer_failed');
      // The rest never start: they count as stopped because a peer failed.
      for (const rest of running)
        if (rest.proc === null && rest.stopped === null) rest.stopped = 'peer_failed';
      break;
    }
  }
  await supervise(running, options, stopOthers);
  return dc.ranks.map((rank) => {
    const r = running.find((x) => x.prepared.process.ranks.includes(rank.rank))!;
    const m = metrics.get(rank.rank)!;
    return {
      rank: rank.rank,
      node: rank.node,
      expectedExamples: rank.examples,
      exitCode: r.exit?.code ?? null,
      signal: r.exit?.signal ?? null,
      durationMs: (r.ended ?? Date.now()) - r.started,
      examplesProcessed: m.sum,
      metricLines: m.lines,
      lastTelemetry: m.last,
      finalParamHash: m.hash,
      stopped: r.stopped,
    };
  });
}

/** Waits for every process, applying the fail-fast, grace and abort rules. */
async function supervise(
  running: Running[],
  options: RunOptions,
  stopOthers: (r: StopReason) => Promise<void>,
) {
  const live = () => running.filter((r) => r.proc && r.exit === null);
  let graceTimer: NodeJS.Timeout | undefined;
  let wake: () => void = () => {};
  const onAbort = () => wake();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (const r of running) {
      void r.proc?.exited.then((info) => {
        r.exit ??= info;
        r.ended ??= Date.now();
        wake();
      });
    }
    let graceExpired = false;
    while (live().length > 0) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (
          options.signal?.aborted ||
          graceExpired ||
          running.some((r) => r.exit && r.exit.code !== 0 && r.stopped === null)
        )
          resolve();
      });
      if (options.signal?.aborted) {
        await stopOthers('aborted');
        break;
      }
      if (running.some((r) => r.exit && r.exit.code !== 0 && r.stopped === null)) {
        await stopOthers('peer_failed');
        break;
      }
      if (graceExpired) {
        await stopOthers('teardown_hang');
        break;
      }
      if (graceTimer === undefined && running.some((r) => r.exit?.code === 0) && live().length > 0) {
        graceTimer = setTimeout(() => {
          graceExpired = true;
          wake();
        }, options.graceMs ?? 60_000);
      }
    }
  } finally {
    clearTimeout(graceTimer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
