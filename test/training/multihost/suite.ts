/**
 * The multi-host suites need root and `ip netns`. Without them a suite FAILS with the reason,
 * unless MARSHAL_SKIP_NETNS=1 says to skip it explicitly (then it is reported as skipped).
 */
import { describe, it } from 'node:test';
import { netnsPrerequisites, netnsUnavailableMessage } from '../../helpers/netns-hosts.ts';

export function multihostSuite(name: string, body: () => void): void {
  const missing = netnsPrerequisites();
  if (missing === null) {
    describe(name, body);
    return;
  }
  if (process.env.MARSHAL_SKIP_NETNS === '1') {
    describe(name, { skip: `MARSHAL_SKIP_NETNS=1: ${missing}` }, body);
    return;
  }
  describe(name, () => {
    it('can run here', () => {
      throw new Error(netnsUnavailableMessage(missing));
    });
  });
}
