/**
 * `read_file {path, head?, tail?}` and `write_file {path, content, append?}`, confined to the
 * workspace root with core `resolveInside` (no `..`, absolute or symlink escape) and size-bounded;
 * writes go through `writeFileAtomic` (which keeps the file's mode). Secret files (protected-paths.ts)
 * are not read unless `allowSecretFiles`; nothing under `.git/` and no secret file is ever written.
 * Whether write_file is offered at all is the caller's choice (`allowWrite`, builtin-tools.ts).
 */

import { mkdir, open, realpath, stat } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../core/atomic-file.ts';
import { CORE_ERRORS, MarshalError } from '../../core/errors.ts';
import { resolveInside } from '../../core/safe-path.ts';
import { AGENT_ERRORS } from '../errors.ts';
import { noWriteReason, secretReason } from './protected-paths.ts';
import type { ToolDefinition } from './tool.ts';

export interface FileToolLimits {
  /** read_file may read files of the protected list (`.env`, `*.pem`, ...). Default false. */
  allowSecretFiles?: boolean;
  /** Bytes read at most; larger files are truncated with a note. Default 1 MiB. */
  maxReadBytes?: number;
  /** Bytes a file may have after a write (content, or existing + content on append). Default 1 MiB. */
  maxWriteBytes?: number;
}

const MiB = 1024 * 1024;

function toolError(message: string, cause?: unknown): MarshalError {
  return new MarshalError(AGENT_ERRORS.E_TOOL, message, cause === undefined ? {} : { cause });
}

/** An fs failure named by the workspace-relative path only (Node's messages hold absolute paths). */
function fsMessage(error: unknown, shown: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `file not found: ${shown}`;
  if (code === 'EACCES' || code === 'EPERM') return `permission denied: ${shown}`;
  if (code === 'EISDIR') return `is a directory: ${shown}`;
  if (code === 'ENOTDIR') return `a parent of ${shown} is not a directory`;
  return `${shown}: ${typeof code === 'string' ? code : 'cannot be accessed'}`;
}

/**
 * `resolveInside` for a tool: the same checks, but its refusal names the path as the model gave
 * it and "the workspace", never the workspace's absolute path on this machine (issue 14).
 */
async function insideWorkspace(workspace: string, path: string): Promise<string> {
  try {
    return await resolveInside(workspace, path);
  } catch (error) {
    if (error instanceof MarshalError && error.code === CORE_ERRORS.E_PATH_ESCAPE.code) {
      const reason = String(error.details?.reason ?? 'is outside the workspace').replace(
        'the root',
        'the workspace',
      );
      // Same code as core's refusal; only the message changes (no absolute workspace path).
      throw new MarshalError(
        CORE_ERRORS.E_PATH_ESCAPE,
        `path ${JSON.stringify(path)} ${reason}; use a path relative to the workspace`,
        { details: { path, reason } },
      );
    }
    throw error;
  }
}

/**
 * Refuses `abs` when `reasonOf` names a reason for its workspace-relative path, checking both the
 * path as resolved and its real path (a symlink `notes.txt -> .env` inside the workspace).
 */
async function refuseProtected(
  workspace: string,
  abs: string,
  reasonOf: (rel: string) => string | undefined,
  verb: string,
): Promise<void> {
  const shown = relative(workspace, abs) || '.';
  const real = await realpath(abs).catch(() => undefined);
  const realRoot = await realpath(workspace).catch(() => workspace);
  for (const rel of [shown, real === undefined ? undefined : relative(realRoot, real)]) {
    const why = rel === undefined ? undefined : reasonOf(rel);
    if (why !== undefined) {
      throw toolError(
        `refusing to ${verb} ${shown}: it ${why} (protected files are off limits to the model)`,
      );
    }
  }
}

const readParameters = z
  .strictObject({
    path: z.string().min(1).describe('Path of the file to read, relative to the workspace'),
    head: z.number().int().positive().optional().describe('Read only the first N lines'),
    tail: z.number().int().positive().optional().describe('Read only the last N lines'),
  })
  .refine((a) => a.head === undefined || a.tail === undefined, { message: 'give head or tail, not both' });

/** read_file: UTF-8 text only, at most `maxReadBytes` bytes. */
export function readFileTool(
  workspace: string,
  limits: FileToolLimits = {},
): ToolDefinition<z.infer<typeof readParameters>> {
  const maxBytes = limits.maxReadBytes ?? MiB;
  return {
    name: 'read_file',
    description:
      'Read a UTF-8 text file inside the workspace. Use head or tail to read only the first or last N lines.',
    parameters: readParameters,
    async execute({ path, head, tail }, ctx) {
      const abs = await insideWorkspace(workspace, path);
      const shown = relative(workspace, abs) || '.';
      if (limits.allowSecretFiles !== true) await refuseProtected(workspace, abs, secretReason, 'read');
      let text: string;
      let size: number;
      try {
        const info = await stat(abs);
        if (!info.isFile()) throw toolError(`not a regular file: ${shown}`);
        size = info.size;
        const handle = await open(abs, 'r');
        try {
          const buffer = Buffer.alloc(Math.min(size, maxBytes));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
          text = new TextDecoder('utf-8', { fatal: true }).decode(
            trimPartialUtf8(buffer.subarray(0, bytesRead)),
          );
        } finally {
          await handle.close();
        }
      } catch (error) {
        if (error instanceof MarshalError) throw error;
        if (error instanceof TypeError) throw toolError(`not a UTF-8 text file: ${shown}`, error);
        throw toolError(fsMessage(error, shown), error);
      }
      ctx.signal.throwIfAborted();
      const truncated = size > maxBytes;
      let lines = text.split('\n');
      if (head !== undefined) lines = lines.slice(0, head);
      if (tail !== undefined) lines = lines.slice(-tail);
      const result: Record<string, unknown> = { path, content: lines.join('\n'), success: true };
      if (truncated) result.note = `file is ${size} bytes; only the first ${maxBytes} bytes were read`;
      return JSON.stringify(result);
    },
  };
}

/** A byte cap may cut a multi-byte character; drop the incomplete tail so decoding stays strict. */
function trimPartialUtf8(bytes: Buffer): Buffer {
  let end = bytes.length;
  let back = 0;
  while (end > 0 && back < 4 && (bytes[end - 1]! & 0xc0) === 0x80) {
    end--;
    back++;
  }
  if (end > 0) {
    const lead = bytes[end - 1]!;
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (need > back + 1) return bytes.subarray(0, end - 1);
  }
  return bytes;
}

const writeParameters = z.strictObject({
  path: z.string().min(1).describe('Path of the file to write, relative to the workspace'),
  content: z.string().describe('Content to write'),
  append: z.boolean().optional().describe('Append to the file instead of replacing it (default false)'),
});

/** write_file: atomic replace (or append), parents created, at most `maxWriteBytes` bytes. */
export function writeFileTool(
  workspace: string,
  limits: FileToolLimits = {},
): ToolDefinition<z.infer<typeof writeParameters>> {
  const maxBytes = limits.maxWriteBytes ?? MiB;
  return {
    name: 'write_file',
    description:
      'Write text to a file inside the workspace (atomically; creates parent directories). Overwrites unless append is true.',
    parameters: writeParameters,
    async execute({ path, content, append }, ctx) {
      const abs = await insideWorkspace(workspace, path);
      const shown = relative(workspace, abs) || '.';
      await refuseProtected(workspace, abs, noWriteReason, 'write');
      let data = Buffer.from(content, 'utf8');
      try {
        if (append) {
          const existing = await readExisting(abs, maxBytes, shown);
          data = Buffer.concat([existing, data]);
        }
        if (data.length > maxBytes) {
          throw toolError(`${shown} would be ${data.length} bytes; the limit is ${maxBytes} bytes`);
        }
        ctx.signal.throwIfAborted();
        await mkdir(dirname(abs), { recursive: true });
        // Re-check after mkdir: a directory created meanwhile must not have become an escape route.
        await refuseProtected(workspace, await insideWorkspace(workspace, path), noWriteReason, 'write');
        await writeFileAtomic(abs, data);
      } catch (error) {
        if (error instanceof MarshalError || ctx.signal.aborted) throw error;
        throw toolError(fsMessage(error, shown), error);
      }
      return JSON.stringify({
        path,
        bytes_written: Buffer.byteLength(content, 'utf8'),
        success: true,
        message: `${append ? 'Appended to' : 'Wrote'} ${shown}`,
      });
    },
  };
}

async function readExisting(abs: string, maxBytes: number, shown: string): Promise<Buffer> {
  let size: number;
  try {
    const info = await stat(abs);
    if (!info.isFile()) throw toolError(`not a regular file: ${shown}`);
    size = info.size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw error;
  }
  if (size > maxBytes) throw toolError(`${shown} is already ${size} bytes; the limit is ${maxBytes} bytes`);
  const handle = await open(abs, 'r');
  try {
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buffer, 0, size, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
