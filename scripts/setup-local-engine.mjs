#!/usr/bin/env node
// `npm run setup:local-engine`: installs node-llama-cpp with only this platform's CPU binary
// (about 85 MB, instead of the GPU variants' hundreds) into node_modules/.cache/marshal-llama, where
// the local provider's tests find it (they name it in MARSHAL_NODE_LLAMA_CPP). CI runs it after
// `npm ci`. Users of `provider: local` run `npm install node-llama-cpp@3` instead (README).
// Install scripts are skipped: the prebuilt binary needs no build, and nothing is downloaded later.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The engine version the tests run against. */
const VERSION = '3.22.1';
const ENGINE_DIR = fileURLToPath(new URL('../node_modules/.cache/marshal-llama', import.meta.url));

/** node-llama-cpp's CPU-only prebuilt binary package for this platform. */
const BINARIES = {
  'linux-x64': 'linux-x64',
  'linux-arm64': 'linux-arm64',
  'linux-arm': 'linux-armv7l',
  'linux-riscv64': 'linux-riscv64',
  'darwin-arm64': 'mac-arm64-metal',
  'darwin-x64': 'mac-x64',
  'win32-x64': 'win-x64',
  'win32-arm64': 'win-arm64',
};
const binary = BINARIES[`${process.platform}-${process.arch}`];
if (binary === undefined) {
  process.stderr.write(
    `setup:local-engine: no prebuilt node-llama-cpp binary for ${process.platform}-${process.arch}\n`,
  );
  process.exit(1);
}

mkdirSync(ENGINE_DIR, { recursive: true });
const manifest = `${ENGINE_DIR}/package.json`;
if (!existsSync(manifest)) writeFileSync(manifest, '{ "name": "marshal-llama-engine", "private": true }\n');
const args = [
  'install',
  '--prefix',
  ENGINE_DIR,
  '--no-audit',
  '--no-fund',
  '--ignore-scripts',
  '--save-exact',
  '--omit=optional',
  `node-llama-cpp@${VERSION}`,
  `@node-llama-cpp/${binary}@${VERSION}`,
];
process.stderr.write(`setup:local-engine: npm ${args.join(' ')}\n`);
// Under `npm run`, npm_execpath is npm's own script: run it with this node (no shell, any platform).
const npmCli = process.env.npm_execpath;
const result = npmCli?.endsWith('.js')
  ? spawnSync(process.execPath, [npmCli, ...args], { stdio: 'inherit' })
  : spawnSync('npm', args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
