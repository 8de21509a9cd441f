import { PassThrough, Readable } from 'node:stream';
import type { Io } from '../../src/cli/io.ts';

/** An Io whose streams are captured in memory, for running `main()` in-process. */
export function memoryIo(overrides: Partial<Io> & { stdinText?: string } = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const io: Io = {
    stdout,
    stderr,
    stdin: Readable.from(overrides.stdinText === undefined ? [] : [overrides.stdinText]),
    env: {},
    cwd: process.cwd(),
    isTTY: { stdin: false, stdout: false, stderr: false },
    ...overrides,
  };
  return {
    io,
    get stdout() {
      return out;
    },
    get stderr() {
      return err;
    },
  };
}
