/**
 * An https endpoint end to end: the real CLI (bin/marshal.js, a child process) asks a real TLS
 * server on 127.0.0.1 whose certificate (made here with openssl) is trusted through
 * NODE_EXTRA_CA_CERTS; without it the certificate is refused once, with the hint, not retried.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/run-cli.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;
let server: Server;
let base: string;
const seen: Array<{ auth: string | undefined; body: string }> = [];

before(async () => {
  if (process.env.MARSHAL_SKIP_BUILD !== '1' || !existsSync(join(root, 'dist/cli/main.js'))) {
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
  }
  dir = await mkdtemp(join(tmpdir(), 'marshal-https-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  server = createServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        seen.push({ auth: req.headers.authorization, body });
        const text = JSON.stringify({
          id: 'x',
          object: 'chat.completion',
          model: 'tls-model',
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: 'Answered over TLS.' },
              finish_reason: 'stop',
            },
          ],
          usage: { prompt_tokens: 3, completion_tokens: 4 },
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
after(async () => {
  server.closeAllConnections();
  server.close();
  await rm(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => ({
  PATH: process.env.PATH,
  HOME: dir,
  XDG_CONFIG_HOME: join(dir, 'config'),
  NO_COLOR: '1',
  TLS_TEST_KEY: 'sk-tls-test-0123456789abcdef',
  ...extra,
});

describe('an https endpoint (real TLS)', { timeout: 60_000 }, () => {
  it('answers through a certificate trusted with NODE_EXTRA_CA_CERTS; the key goes only there', async () => {
    seen.length = 0;
    const r = await runCli(
      ['ask', '--base-url', base, '--api-key-env', 'TLS_TEST_KEY', '--model', 'm', 'Q?'],
      {
        cwd: dir,
        env: env({ NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') }),
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Answered over TLS.\n');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.auth, 'Bearer sk-tls-test-0123456789abcdef');
    assert.doesNotMatch(r.stderr, /sk-tls-test/);
  });

  it('an untrusted certificate is refused once (no retries), with the NODE_EXTRA_CA_CERTS hint', async () => {
    seen.length = 0;
    const r = await runCli(
      ['ask', '--base-url', base, '--api-key-env', 'TLS_TEST_KEY', '--model', 'm', 'Q?'],
      {
        cwd: dir,
        env: env({}),
      },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /TLS certificate was refused \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\)/,
    );
    assert.match(r.stderr, /NODE_EXTRA_CA_CERTS/);
    assert.doesNotMatch(r.stderr, /retry/i);
    assert.equal(seen.length, 0, 'no request body reached the server');
    assert.doesNotMatch(r.stderr, /sk-tls-test/);
  });
});
