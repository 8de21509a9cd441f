/**
 * The netns harness itself: hosts reachable only over ssh at their own address, strict host key
 * checking against the test's known_hosts, and nothing left after teardown.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCommand } from '../../../src/core/run-command.ts';
import { leftovers, type NetnsHosts, startNetnsHosts } from '../../helpers/netns-hosts.ts';
import { multihostSuite } from './suite.ts';

multihostSuite('netns hosts harness', () => {
  describe('three hosts', () => {
    it('each host answers over ssh from its own namespace and address, and teardown leaves nothing', async () => {
      const hosts: NetnsHosts = await startNetnsHosts(3);
      try {
        for (const h of hosts.hosts) {
          const r = await runCommand(
            ['ssh', '-F', hosts.sshConfig, h.alias, '--', 'ip', '-o', '-4', 'addr', 'show'],
            {
              timeoutMs: 30_000,
            },
          );
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, new RegExp(`${h.ifname}\\s+inet ${h.addr.replaceAll('.', '\\.')}/24`));
          for (const other of hosts.hosts.filter((o) => o !== h))
            assert.doesNotMatch(r.stdout, new RegExp(other.ifname));
          // Its own host name, as a real host (Open MPI keys its session directory on it).
          const name = await runCommand(['ssh', '-F', hosts.sshConfig, h.alias, '--', 'uname', '-n'], {
            timeoutMs: 30_000,
          });
          assert.equal(name.stdout.trim(), h.ns, name.stderr);
        }
        // A host key that is not the one known_hosts holds is refused (StrictHostKeyChecking=yes).
        const wrong = await runCommand(
          [
            'ssh',
            '-F',
            hosts.sshConfig,
            '-o',
            `HostKeyAlias=${hosts.hosts[1]!.addr}`,
            hosts.hosts[0]!.alias,
            '--',
            'true',
          ],
          { timeoutMs: 30_000 },
        );
        assert.equal(wrong.code, 255);
        assert.match(wrong.stderr, /host key/i);
      } finally {
        await hosts.teardown();
      }
      assert.deepEqual(leftovers(hosts), []);
    });
  });
});
