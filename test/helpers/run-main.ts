import type { Io } from '../../src/cli/io.ts';
import { type MainOptions, main } from '../../src/cli/main.ts';
import { memoryIo } from './memory-io.ts';

export interface MainResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI's `main(argv, io)` in this process, with captured streams: for tests of argument
 * parsing, usage errors, help and rendering, which need no real process. Tests of signals, exit
 * of the process, or real children keep `runCli` (test/helpers/run-cli.ts).
 */
export async function runMain(
  args: string[],
  options: {
    env?: Record<string, string | undefined>;
    cwd?: string;
    stdinText?: string;
    signal?: AbortSignal;
    /** Commands to dispatch instead of the real ones (frame tests). */
    commands?: MainOptions['commands'];
  } & Partial<Pick<Io, 'isTTY' | 'columns'>> = {},
): Promise<MainResult> {
  const { signal, stdinText, commands, ...rest } = options;
  const mem = memoryIo({ env: {}, ...rest, ...(stdinText === undefined ? {} : { stdinText }) });
  const code = await main(args, mem.io, {
    signal: signal ?? new AbortController().signal,
    ...(commands === undefined ? {} : { commands }),
  });
  return { code, stdout: mem.stdout, stderr: mem.stderr };
}
