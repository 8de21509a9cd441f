/**
 * The MCP stdio transport over the core's child processes: the server runs as argv (never a
 * shell) in its own process group, under pdeathsig where available, so stopping it (or marshal
 * dying) takes its whole group down: no orphaned grandchildren (`npx` -> node, a wrapper script).
 * Framing is the SDK's (newline-delimited JSON-RPC, `ReadBuffer` / `serializeMessage`), as in its
 * own `StdioClientTransport`, which signals only the direct child.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { ExitInfo, ManagedProcess } from '../../core/process.ts';
import { spawnProcess, waitForExit } from '../../core/process.ts';

type StdioModule = typeof import('@modelcontextprotocol/sdk/shared/stdio.js');

/** Lines of the server's stderr kept for error messages. */
const STDERR_LINES = 20;

export interface ProcessTransportOptions {
  cwd: string;
  env: Record<string, string>;
  /** How long the server gets to exit after its stdin closes, before SIGTERM/SIGKILL to its group. */
  graceMs?: number;
}

export class ProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  readonly #argv: readonly string[];
  readonly #options: ProcessTransportOptions;
  readonly #stdio: StdioModule;
  #proc: ManagedProcess | undefined;
  #stderr: string[] = [];
  #exit: ExitInfo | undefined;
  #closed = false;

  constructor(argv: readonly string[], options: ProcessTransportOptions, stdio: StdioModule) {
    this.#argv = argv;
    this.#options = options;
    this.#stdio = stdio;
  }

  /** PID (and process group) of the server once started. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** How it exited, once it did. */
  get exit(): ExitInfo | undefined {
    return this.#exit;
  }

  /** Settles when it has exited (undefined before start). */
  get exited(): Promise<ExitInfo> | undefined {
    return this.#proc?.exited;
  }

  /** The last lines it wrote on stderr. */
  get stderrTail(): readonly string[] {
    return this.#stderr;
  }

  async start(): Promise<void> {
    const buffer = new this.#stdio.ReadBuffer();
    // Throws E_PROCESS (program not found / not executable) synchronously: start() rejects.
    const proc = spawnProcess(this.#argv, {
      cwd: this.#options.cwd,
      env: this.#options.env,
      stdin: 'pipe',
      pdeathsig: true,
      onStdoutData: (chunk) => {
        try {
          // Throws past 10 MiB without a newline (the buffer is dropped).
          buffer.append(chunk);
        } catch (error) {
          this.onerror?.(error as Error);
          return;
        }
        for (;;) {
          let message: JSONRPCMessage | null;
          try {
            message = buffer.readMessage();
          } catch (error) {
            this.onerror?.(error as Error);
            continue;
          }
          if (message === null) break;
          this.onmessage?.(message);
        }
      },
      onStderrLine: (line) => {
        this.#stderr.push(line);
        if (this.#stderr.length > STDERR_LINES) this.#stderr.shift();
      },
    });
    this.#proc = proc;
    // A write to a dead server's stdin fails with EPIPE: the exit (below) reports it.
    proc.stdin?.on('error', () => {});
    void proc.exited.then((info) => {
      this.#exit = info;
      this.#closed = true;
      this.onclose?.();
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.#proc?.stdin;
    if (!stdin || this.#closed || stdin.destroyed)
      return Promise.reject(new Error('the server is not running'));
    return new Promise((resolve, reject) => {
      stdin.write(this.#stdio.serializeMessage(message), (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Closes its stdin (the stdio convention for "exit"), then stops its process group after the grace. */
  async close(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    proc.stdin?.end();
    const graceMs = this.#options.graceMs ?? 1000;
    await waitForExit(proc, { timeoutMs: graceMs }).catch(() => {});
    // Always through stop(): it also waits until no member of the group is left.
    await proc.stop({ graceMs });
  }
}
