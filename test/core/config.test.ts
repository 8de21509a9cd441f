import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import {
  ConfigError,
  configJsonSchema,
  loadConfigFile,
  MAX_CONFIG_BYTES,
  parseConfigText,
} from '../../src/core/config.ts';
import { exitCodeFor } from '../../src/core/errors.ts';

const Schema = z.strictObject({
  name: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  nodes: z
    .array(z.strictObject({ host: z.string(), slots: z.number().int().positive().default(1) }))
    .default([]),
  token: z.string().optional(),
});

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function expectConfigError(fn: () => unknown, ...parts: string[]): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'E_CONFIG');
    assert.equal(exitCodeFor(err), 2);
    for (const p of parts)
      assert.ok(err.message.includes(p), `message ${JSON.stringify(err.message)} lacks ${p}`);
    return err;
  }
  assert.fail('expected an error');
}

describe('config loading', () => {
  it('loads YAML with defaults applied', async () => {
    const file = join(dir, 'ok.yaml');
    await writeFile(file, 'name: a\nport: 8080\nnodes:\n  - host: local\n');
    const cfg = await loadConfigFile(file, Schema);
    assert.deepEqual(cfg, { name: 'a', port: 8080, nodes: [{ host: 'local', slots: 1 }] });
  });

  it('with interpolate: false keeps ${VAR} and ${VAR:-default} as written and names them', () => {
    const Text = z.strictObject({ a: z.string(), b: z.string() });
    const referenced = new Set<string>();
    const cfg = parseConfigText('a: "x ${GITHUB_TOKEN} y"\nb: "${HOME_DIR:-/tmp}"\n', 'c.yaml', Text, {
      env: { GITHUB_TOKEN: 'ghp_secret', HOME_DIR: '/root' },
      interpolate: false,
      referenced,
    });
    assert.deepEqual(cfg, { a: 'x ${GITHUB_TOKEN} y', b: '${HOME_DIR:-/tmp}' });
    assert.deepEqual([...referenced].sort(), ['GITHUB_TOKEN', 'HOME_DIR']);
    // An unset variable is no error when nothing is interpolated.
    assert.deepEqual(parseConfigText('a: "${NOPE}"\nb: c\n', 'c.yaml', Text, { interpolate: false }), {
      a: '${NOPE}',
      b: 'c',
    });
  });

  it('loads JSON files', async () => {
    const file = join(dir, 'ok.json');
    await writeFile(file, JSON.stringify({ name: 'b', port: 1 }));
    assert.equal((await loadConfigFile(file, Schema)).name, 'b');
  });

  it('names file, line, key path, value and expectation for a bad value', () => {
    const err = expectConfigError(
      () => parseConfigText('name: a\nport: 8080\nnodes:\n  - host: x\n    slots: -3\n', 'c.yaml', Schema),
      'c.yaml:5',
      'nodes[0].slots',
      '-3',
    );
    assert.equal(err.details?.path, 'nodes[0].slots');
    assert.equal(err.details?.value, -3);
  });

  it('rejects unknown keys and suggests the near one', () => {
    expectConfigError(
      () => parseConfigText('name: a\nPort: 1\n', 'c.yaml', Schema),
      'c.yaml:2',
      'unknown key "Port"',
      'did you mean "port"',
    );
    expectConfigError(
      () => parseConfigText('name: a\nport: 1\nnodes:\n  - host: x\n    cores: 2\n', 'c.yaml', Schema),
      'nodes[0].cores',
      'allowed: host, slots',
    );
  });

  it('reports YAML and JSON syntax errors with a position', () => {
    expectConfigError(
      () => parseConfigText('name: [a\nport: 1\n', 'bad.yaml', Schema),
      'bad.yaml:',
      'invalid YAML',
    );
    expectConfigError(
      () => parseConfigText('{"name": "a",, }', 'bad.json', Schema),
      'bad.json:1',
      'invalid JSON',
    );
  });

  it('rejects duplicate keys', () => {
    expectConfigError(() => parseConfigText('name: a\nname: b\nport: 1\n', 'dup.yaml', Schema), 'dup.yaml:');
  });

  it('interpolates ${VAR} and ${VAR:-default} from the given env only', () => {
    const cfg = parseConfigText('name: ${NAME}\nport: 2\ntoken: ${TOKEN:-none}\n', 'e.yaml', Schema, {
      env: { NAME: 'from-env' },
    });
    assert.equal(cfg.name, 'from-env');
    assert.equal(cfg.token, 'none');
    expectConfigError(
      () => parseConfigText('name: ${MISSING_VAR}\nport: 2\n', 'e.yaml', Schema, { env: {} }),
      'e.yaml:1',
      'name',
      'MISSING_VAR is not set',
    );
    assert.equal(parseConfigText('name: $${X}\nport: 2\n', 'e.yaml', Schema).name, '${X}');
  });

  it('names missing, unreadable and directory files', async () => {
    await assert.rejects(loadConfigFile(join(dir, 'nope.yaml'), Schema), /nope\.yaml: config file not found/);
    await mkdir(join(dir, 'adir.yaml'));
    await assert.rejects(
      loadConfigFile(join(dir, 'adir.yaml'), Schema),
      /adir\.yaml: config file is not a regular file \(a directory\)/,
    );
  });

  // Bounded so that a read which blocks (the old plain readFile on a FIFO) fails instead of hanging.
  it('refuses a FIFO without blocking on it', { timeout: 20_000 }, async () => {
    const fifo = join(dir, 'fifo.yaml');
    const made = spawnSync('mkfifo', [fifo]);
    assert.equal(made.status, 0, String(made.stderr));
    const err = await loadConfigFile(fifo, Schema).catch((e: unknown) => e);
    assert.ok(err instanceof ConfigError);
    assert.equal(exitCodeFor(err), 2);
    assert.match(err.message, /fifo\.yaml: config file is not a regular file \(a FIFO\)/);
    assert.equal(err.details?.reason, 'not-regular');
  });

  it('refuses /dev/urandom without reading it', { timeout: 20_000 }, async () => {
    const err = await loadConfigFile('/dev/urandom', Schema).catch((e: unknown) => e);
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^\/dev\/urandom: config file is not a regular file \(a character device\)$/);
  });

  it(`refuses a file over the ${MAX_CONFIG_BYTES} byte cap, naming the limit`, async () => {
    const big = join(dir, 'big.yaml');
    await writeFile(big, `name: a\nport: 1\n#${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    const err = await loadConfigFile(big, Schema).catch((e: unknown) => e);
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /big\.yaml: config file is larger than the 1 MiB limit/);
    assert.equal(exitCodeFor(err), 2);
  });

  it('refuses a YAML alias bomb (billion laughs) with a ConfigError naming the file', async () => {
    const rows = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [prev, name] of ['ab', 'bc', 'cd', 'de', 'ef', 'fg', 'gh', 'hi'].map((p) => [...p])) {
      rows.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const bomb = join(dir, 'bomb.yaml');
    await writeFile(bomb, `${rows.join('\n')}\n`);
    const err = await loadConfigFile(bomb, Schema).catch((e: unknown) => e);
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(exitCodeFor(err), 2);
    assert.match(err.message, /bomb\.yaml: too many YAML alias expansions \(more than 100\)/);
  });

  it('neutralises control characters of hostile file content in messages', () => {
    const err = expectConfigError(() =>
      parseConfigText('name: a\nport: 1\n"evil\\nkey": 1\n', 'x.yaml', Schema),
    );
    assert.ok(!err.message.includes('\n'), 'message must stay on one line');
  });

  it('prints a JSON Schema', () => {
    const schema = configJsonSchema(Schema);
    assert.equal(schema.type, 'object');
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(Object.keys(schema.properties as object).sort(), ['name', 'nodes', 'port', 'token']);
  });
});
