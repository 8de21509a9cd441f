/**
 * ComfyGit's file protocol under `<workspace>/.metadata/`: names, JSON shapes, tolerant readers
 * and atomic writers. Shapes follow ComfyGit exactly (snake_case, float seconds since the epoch for
 * `timestamp` and `updated_at`), so ComfyGit's panel and CLI understand what marshal writes and
 * marshal understands what they write.
 *
 * Reading never throws for content problems: a missing file is `missing`, an unreadable, truncated,
 * non-JSON or wrongly shaped one is `bad` with a one-line `problem`. One-shot messages (`.cmd`,
 * `.switch_request.json`) are *taken*: renamed to a private name first, so a message written while
 * we read is never lost or consumed twice, then deleted whatever their content.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '../core/atomic-file.ts';
import { describeCappedRead, readCappedFile } from '../core/files.ts';
import type { Workspace } from './workspace.ts';

/** Paths of every protocol file of a workspace. */
export interface MetadataPaths {
  dir: string;
  switchRequest: string;
  switchStatus: string;
  switchLock: string;
  orchestratorPid: string;
  cmd: string;
  controlPort: string;
  controlToken: string;
  switchLog: string;
  orchestratorLog: string;
}

/** The protocol file paths under `<root>/.metadata/`. */
export function metadataPaths(root: string): MetadataPaths {
  const dir = join(root, '.metadata');
  return {
    dir,
    switchRequest: join(dir, '.switch_request.json'),
    switchStatus: join(dir, '.switch_status.json'),
    switchLock: join(dir, '.switch.lock'),
    orchestratorPid: join(dir, '.orchestrator.pid'),
    cmd: join(dir, '.cmd'),
    controlPort: join(dir, '.control_port'),
    controlToken: join(dir, '.control_token'),
    switchLog: join(dir, 'supervisor-switch.log'),
    orchestratorLog: join(dir, 'orchestrator.log'),
  };
}

/** Seconds since the epoch as a float, ComfyGit's `time.time()`. */
export function epochSeconds(ms: number = Date.now()): number {
  return ms / 1000;
}

/** `.switch_request.json`: written by the requester (panel, CLI), taken by the supervisor. */
export const SwitchRequestSchema = z.looseObject({
  target_env: z.string().min(1),
  /** Added by ComfyGit in 28e316e; older requesters omit it. */
  source_env: z.string().nullable().optional(),
  timestamp: z.number(),
});
/** A parsed `.switch_request.json`. */
export type SwitchRequest = z.infer<typeof SwitchRequestSchema>;

/** Switch states marshal writes (ComfyGit's set). */
export const SWITCH_STATES = [
  'preparing',
  'syncing',
  'starting',
  'validating',
  'complete',
  'rolling_back',
  'rolled_back',
  'failed',
  'critical_failure',
  'aborted',
  /** Not a switch: a crash with `comfyui.extra_args`, retried without them (ComfyGit's). */
  'recovering',
] as const;
/** A switch state marshal writes. */
export type SwitchState = (typeof SWITCH_STATES)[number];

/** Terminal switch states: a switch always ends in one of these. */
export const TERMINAL_SWITCH_STATES: ReadonlySet<string> = new Set([
  'complete',
  'rolled_back',
  'failed',
  'critical_failure',
  'aborted',
]);

/** Progress per state, as ComfyGit's (terminal states are 100). */
export const SWITCH_PROGRESS: Record<SwitchState, number> = {
  preparing: 10,
  syncing: 30,
  starting: 60,
  validating: 80,
  rolling_back: 90,
  complete: 100,
  rolled_back: 100,
  failed: 100,
  critical_failure: 100,
  aborted: 100,
  recovering: 50,
};

/** `.switch_status.json`. Read loosely (ComfyGit also writes `idle`, `recovering`, ...). */
export const SwitchStatusSchema = z.looseObject({
  state: z.string(),
  progress: z.number(),
  message: z.string(),
  updated_at: z.number(),
  target_env: z.string().nullable().optional(),
  source_env: z.string().nullable().optional(),
  error: z.string().nullable().optional(),
  recovery_command: z.string().optional(),
});
/** A parsed `.switch_status.json`. */
export type SwitchStatus = z.infer<typeof SwitchStatusSchema>;

/** `.cmd` commands. */
export const COMMANDS = ['restart', 'shutdown', 'abort_switch'] as const;
/** A `.cmd` command name. */
export type CommandName = (typeof COMMANDS)[number];

/** `.cmd`: one command for the running supervisor. */
export const CommandSchema = z.looseObject({
  command: z.enum(COMMANDS),
  timestamp: z.number(),
  reason: z.string().optional(),
  pid: z.number().int().optional(),
});
/** A parsed `.cmd`. */
export type Command = z.infer<typeof CommandSchema>;

/** Result of a tolerant read. */
export type ProtocolRead<T> =
  | { status: 'ok'; value: T }
  | { status: 'missing' }
  | { status: 'bad'; problem: string };

/** Largest protocol file read (ComfyGit's are under 1 KiB). */
export const MAX_PROTOCOL_FILE_BYTES = 64 * 1024;

/**
 * Reads a protocol file without changing it. The file is untrusted input (any program can write
 * `.metadata/`): it is opened without following a symlink and without blocking (a FIFO cannot
 * wedge the reader), must be a regular file and at most {@link MAX_PROTOCOL_FILE_BYTES}.
 */
export async function readProtocolFile<T>(path: string, schema: z.ZodType<T>): Promise<ProtocolRead<T>> {
  const read = await readCappedFile(path, { maxBytes: MAX_PROTOCOL_FILE_BYTES, noFollow: true });
  if (read.kind === 'missing') return { status: 'missing' };
  if (read.kind !== 'ok') return { status: 'bad', problem: describeCappedRead(read) };
  if (read.text.trim() === '') return { status: 'bad', problem: 'empty or truncated' };
  let raw: unknown;
  try {
    raw = JSON.parse(read.text);
  } catch (err) {
    return { status: 'bad', problem: `not JSON (${(err as Error).message})` };
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { status: 'ok', value: parsed.data };
  const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  return { status: 'bad', problem: `unexpected shape (${issues.join('; ')})` };
}

/**
 * Takes a one-shot protocol file: renames it to a private name (atomic claim), reads it, deletes it.
 * Bad content is deleted too and reported through the result.
 */
export async function takeProtocolFile<T>(path: string, schema: z.ZodType<T>): Promise<ProtocolRead<T>> {
  const claimed = `${path}.taken.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, claimed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    return { status: 'bad', problem: `cannot claim (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  try {
    return await readProtocolFile(claimed, schema);
  } finally {
    await unlink(claimed).catch(() => undefined);
  }
}

async function ensureDir(ws: Workspace): Promise<void> {
  await mkdir(ws.metadataDir, { recursive: true });
}

/** Writes `.switch_request.json` atomically; `timestamp` defaults to now. */
export async function writeSwitchRequest(
  ws: Workspace,
  req: { target_env: string; source_env?: string | null; timestamp?: number },
): Promise<SwitchRequest> {
  await ensureDir(ws);
  const value: SwitchRequest = {
    target_env: req.target_env,
    source_env: req.source_env ?? null,
    timestamp: req.timestamp ?? epochSeconds(),
  };
  await writeJsonAtomic(metadataPaths(ws.root).switchRequest, value);
  return value;
}

/** Takes (claims, reads, deletes) `.switch_request.json`. */
export function takeSwitchRequest(ws: Workspace): Promise<ProtocolRead<SwitchRequest>> {
  return takeProtocolFile(metadataPaths(ws.root).switchRequest, SwitchRequestSchema);
}

/** Writes `.switch_status.json` atomically. */
export async function writeSwitchStatus(ws: Workspace, status: SwitchStatus): Promise<void> {
  await ensureDir(ws);
  await writeJsonAtomic(metadataPaths(ws.root).switchStatus, status);
}

/** The content of `.switch_status.json`, or null when missing or unusable (never throws for content). */
export async function readSwitchStatus(ws: Workspace): Promise<SwitchStatus | null> {
  const read = await readProtocolFile(metadataPaths(ws.root).switchStatus, SwitchStatusSchema);
  return read.status === 'ok' ? read.value : null;
}

/** Writes `.cmd` atomically; `timestamp` defaults to now. */
export async function writeCommand(
  ws: Workspace,
  cmd: { command: CommandName; timestamp?: number; reason?: string; pid?: number },
): Promise<Command> {
  await ensureDir(ws);
  const value: Command = { ...cmd, timestamp: cmd.timestamp ?? epochSeconds() };
  await writeJsonAtomic(metadataPaths(ws.root).cmd, value);
  return value;
}

/** Takes (claims, reads, deletes) `.cmd`. */
export function takeCommand(ws: Workspace): Promise<ProtocolRead<Command>> {
  return takeProtocolFile(metadataPaths(ws.root).cmd, CommandSchema);
}

/** Deletes a file, ignoring "already gone". */
export async function removeQuietly(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
