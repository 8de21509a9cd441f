#!/usr/bin/env node
// The only file that touches `process`: it turns SIGINT/SIGTERM into an abort of the running
// command, runs main(argv, io) and sets the exit code. TypeScript sources load through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');

const controller = new AbortController();
let interrupts = 0;
const onSignal = (sig) => {
  interrupts++;
  if (interrupts > 1) {
    // A second Ctrl-C while shutting down: leave now.
    process.exit(130);
  }
  controller.abort(new Error(`received ${sig}`));
};
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));

const io = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  isTTY: {
    stdin: Boolean(process.stdin.isTTY),
    stdout: Boolean(process.stdout.isTTY),
    stderr: Boolean(process.stderr.isTTY),
  },
  columns: process.stdout.columns ?? process.stderr.columns,
};

process.exitCode = await main(process.argv.slice(2), io, { signal: controller.signal });
