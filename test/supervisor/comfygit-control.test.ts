/**
 * The control server as ComfyGit's clients use it, against a real `marshal supervise`: the panel's
 * proxy (`orchestrator_proxy.py`: aiohttp, no token, no Origin) calls GET /health, GET /status,
 * POST /restart and POST /kill; the switch observer routes and `.supervisor_control.json`. A
 * browser (any Origin) and another user of the machine still need the token.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cleanupAfter, startSupervise, statusJson, waitRunning } from './cli-harness.ts';
import { fixtureInfo, freePort, makeWorkspace, SYSTEM_PYTHON, waitFor } from './helpers.ts';

const run = promisify(execFile);
const { workspaces } = cleanupAfter();

/** A stdlib Python HTTP client like the panel's proxy: no token, no Origin unless given. */
const CLIENT = `
import json, sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
headers = {"Origin": sys.argv[3]} if len(sys.argv) > 3 else {}
req = urllib.request.Request(url, method=method, headers=headers, data=b"" if method == "POST" else None)
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(json.dumps({"status": r.status, "body": json.loads(r.read() or b"null")}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": None}))
`;

async function python(
  method: 'GET' | 'POST',
  url: string,
  options: { origin?: string; asNobody?: boolean } = {},
): Promise<{ status: number; body: unknown }> {
  const argv = [SYSTEM_PYTHON, '-c', CLIENT, method, url, ...(options.origin ? [options.origin] : [])];
  const [cmd, ...args] = options.asNobody
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv]
    : argv;
  const { stdout } = await run(cmd!, args, { timeout: 15_000 });
  return JSON.parse(stdout);
}

describe("the control server as ComfyGit's panel and observer call it", () => {
  it('answers the proxy without a token, refuses browsers and other users, advertises itself', async () => {
    const tw = await makeWorkspace({ envs: { a: {} } });
    workspaces.push(tw);
    const port = await freePort();
    const sup = startSupervise(tw.root, 'a', port);
    const first = await waitRunning(tw.root);
    const apiPort = Number((await readFile(join(tw.metadataDir, '.control_port'), 'utf8')).trim());
    const base = `http://127.0.0.1:${apiPort}`;
    const advert = join(tw.metadataDir, '.supervisor_control.json');
    assert.deepEqual(JSON.parse(await readFile(advert, 'utf8')), {
      host: '127.0.0.1',
      port: apiPort,
      kind: 'manager_orchestrator',
    });

    // The proxy's and the observer's reads.
    assert.deepEqual(await python('GET', `${base}/health`), {
      status: 200,
      body: { status: 'alive', port: apiPort, pid: sup.pid },
    });
    assert.deepEqual((await python('GET', `${base}/v2/comfygit/supervisor/health`)).status, 200);
    const idle = { state: 'idle', progress: 0, message: 'No switch in progress', current_env: 'a' };
    assert.deepEqual(await python('GET', `${base}/status`), { status: 200, body: idle });
    assert.deepEqual(await python('GET', `${base}/v2/comfygit/switch_status`), { status: 200, body: idle });
    const logs = await python('GET', `${base}/v2/comfygit/switch_logs`);
    assert.equal(logs.status, 200);
    assert.ok(Array.isArray((logs.body as { logs: unknown[] }).logs));

    // A browser page (Origin) and another uid need the token; nothing changes.
    assert.equal((await python('POST', `${base}/restart`, { origin: 'http://evil.example' })).status, 401);
    assert.equal((await python('GET', `${base}/status`, { origin: 'http://evil.example' })).status, 401);
    assert.equal((await python('POST', `${base}/restart`, { asNobody: true })).status, 401);
    assert.equal((await python('GET', `${base}/status`, { asNobody: true })).status, 401);
    assert.equal((await python('GET', `${base}/health`, { asNobody: true })).status, 200);
    assert.equal((await statusJson(tw.root)).childPid, first.childPid);

    // The Restart dialog: a new child answers.
    const restart = await python('POST', `${base}/restart`);
    assert.equal(restart.status, 200);
    assert.equal((restart.body as { status: string }).status, 'restart_requested');
    await waitFor('a new child', async () => {
      const s = await statusJson(tw.root);
      return (
        s.state === 'running' &&
        s.childPid !== first.childPid &&
        (await fixtureInfo(port))?.pid === s.childPid
      );
    });

    // Kill: the supervisor ends and withdraws its advertisement.
    const kill = await python('POST', `${base}/kill`);
    assert.equal(kill.status, 200);
    assert.equal((kill.body as { status: string }).status, 'shutting_down');
    const end = await sup.exited;
    assert.equal(end.code, 0, end.stderr);
    assert.equal(existsSync(advert), false);
    assert.equal(existsSync(join(tw.metadataDir, '.control_port')), false);
  });
});
