#!/usr/bin/env node
// The only file that touches `process`: it turns SIGINT/SIGTERM into an abort of the running
// command, runs main(argv, io) from the compiled dist/ and sets the exit code. No TypeScript
// loader runs here: `npm run build` (also run by `npm ci` and `npm test`) writes dist/.
import { existsSync, readFileSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
const argv = process.argv.slice(2);

if (!existsSync(entry)) {
  process.stderr.write('marshal: dist/ is missing; run npm run build\n');
  process.exitCode = 1;
} else if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  // What main() prints for these, without loading the CLI frame and the core it imports
  // (bench/startup.bench.ts holds `--version` to 1.5x of `node -e 0`).
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${pkg.version}\n`);
} else {
  const { main } = await import(entry.href);

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

  process.exitCode = await main(argv, io, { signal: controller.signal });
}
