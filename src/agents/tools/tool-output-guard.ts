/**
 * Keeps plug-in tools (`--tools-dir`) off stdout: `--json` must stay one document, so whatever a
 * tool module writes to stdout (console.log at import, inside execute, in a timer it started) goes
 * to stderr instead. Scoped with AsyncLocalStorage: only code started from a tool module's import
 * or execute is redirected, and everything it schedules inherits that; marshal's own output and a
 * library caller's are untouched. console.* reach stdout through `process.stdout.write`, so
 * replacing that one method (once, on first use) covers both.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const inToolCode = new AsyncLocalStorage<true>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  const stdout = process.stdout;
  const write = stdout.write;
  stdout.write = function (this: unknown, ...args: unknown[]) {
    const target = inToolCode.getStore() === true ? process.stderr : stdout;
    const original = target === stdout ? write : process.stderr.write;
    return (original as (...a: unknown[]) => boolean).apply(target, args);
  } as typeof stdout.write;
}

/** Runs `f` (a tool module's import or execute) with its stdout writes sent to stderr. */
export function runAsToolCode<T>(f: () => T): T {
  install();
  return inToolCode.run(true, f);
}
