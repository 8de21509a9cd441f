/**
 * Several real hosts on one machine, for the multi-host training tests: N Linux network namespaces
 * on a bridge in the root namespace (where the coordinator runs), each with its own address from
 * a private test range, its own interface name, its own OpenSSH server (host key, authorized key
 * and known_hosts generated here) and its own workdir. The coordinator reaches the hosts only
 * through ssh and the addresses given here; traffic never leaves the bridge.
 *
 * Topology (X picked so that 10.213.X.0/24 collides with no route or address of the machine):
 *
 *   root namespace: bridge mb<id> 10.213.X.1/24
 *        ├── veth mv<id>h0 ── [netns marshal-mh-<pid>-<n>-h0] mhnet0 10.213.X.10, sshd
 *        ├── veth mv<id>h1 ── [netns ...-h1]                  mhnet1 10.213.X.11, sshd
 *        └── ...
 *
 * Teardown always runs (an explicit `teardown()`, meant for after() hooks, plus a process 'exit'
 * safety net): every process in each namespace is killed (`ip netns pids`), then the namespaces,
 * the bridge, the lock on the subnet and the temp dir are removed. `leftovers()` says what is left.
 *
 * Needs root and `ip netns`; `netnsPrerequisites()` says what is missing. Without them the tests
 * fail with that message unless MARSHAL_SKIP_NETNS=1 is set.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadline } from '../../src/core/deadline.ts';

export const SSHD = '/usr/sbin/sshd';
const PYTHON = '/usr/bin/python3';

/**
 * Runs argv[3:] with directory argv[1] bind-mounted over the home directory argv[2], inside the
 * private mount namespace `ip netns exec` creates: each host gets its own empty home, as a fresh
 * machine has (this machine's root dotfiles, e.g. a pyenv init in ~/.bashrc, would otherwise run
 * on every ssh command and cost seconds each).
 */
// argv: <host name> <home> <mount point> <program> <args...>. Each host also gets its own host
// name, in its own UTS namespace, as a real host has one: the hosts share this machine's /tmp,
// and Open MPI keys a daemon's session directory on the host name (<tmp>/ompi.<host>.<uid>/jf.N,
// where rtc/hwloc writes hwloc.sm). Under one shared name every host's daemon and mpirun itself
// wrote and mapped the same hwloc.sm at once, and a daemon now and then died of SIGSEGV in
// hwloc_shmem_topology_write ("ORTE was unable to reliably start one or more daemons").
const WITH_OWN_HOME = `import ctypes, os, sys
MS_BIND = 4096
CLONE_NEWUTS = 0x04000000
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(sys.argv[2].encode(), sys.argv[3].encode(), None, MS_BIND, None) != 0:
    sys.exit("bind mount of the host home failed: " + os.strerror(ctypes.get_errno()))
name = sys.argv[1].encode()
if libc.unshare(CLONE_NEWUTS) != 0 or libc.sethostname(name, len(name)) != 0:
    sys.exit("own host name failed: " + os.strerror(ctypes.get_errno()))
os.execv(sys.argv[4], sys.argv[4:])
`;
const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';

export interface NetnsHost {
  /** `h0`, `h1`, ...: also the Host alias in the ssh config. */
  alias: string;
  /** Network namespace name. */
  ns: string;
  /** The host's address on the bridge. */
  addr: string;
  /** The host's interface name inside its namespace (differs per host on purpose). */
  ifname: string;
  /** Root-namespace end of the host's veth pair (on the bridge): `linkDown` cuts it. */
  rootVeth: string;
  /** The host's own workdir (the hosts share this machine's filesystem). */
  workdir: string;
  sshd: ChildProcess | null;
}

export interface NetnsHosts {
  id: string;
  /** Temp dir holding keys, configs, logs and the workdirs. */
  dir: string;
  bridge: string;
  subnet: string;
  /** The coordinator's address (the bridge's). */
  coordinatorAddr: string;
  hosts: NetnsHost[];
  /** ssh_config with one Host alias per host, the test's key, known_hosts and BatchMode. */
  sshConfig: string;
  knownHosts: string;
  clientKey: string;
  /** PIDs in a host's namespace. */
  pids(host: NetnsHost): number[];
  /** PIDs in a host's namespace other than its sshd listener. */
  strayPids(host: NetnsHost): number[];
  /** Command lines of {@link strayPids} (for assertion messages). */
  describeStrays(host: NetnsHost): string[];
  linkDown(host: NetnsHost): void;
  linkUp(host: NetnsHost): void;
  teardown(): Promise<void>;
}

/** Why the harness cannot run here, or null when it can. */
export function netnsPrerequisites(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root';
  if (!existsSync(SSHD)) return `${SSHD} is missing (Debian package openssh-server)`;
  for (const tool of ['ssh', 'ssh-keygen', 'rsync']) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error) return `${tool} is missing`;
  }
  const r = spawnSync(IP, ['netns', 'list'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `ip netns is unavailable (${r.error?.message ?? r.stderr.trim()})`;
  return null;
}

/** The message a multi-host test fails with when prerequisites are missing. */
export function netnsUnavailableMessage(reason: string): string {
  return `multi-host tests need root, ip netns and openssh-server: ${reason} (set MARSHAL_SKIP_NETNS=1 to skip them explicitly)`;
}

function run(args: string[], { check = true } = {}): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (check && (r.error || r.status !== 0)) {
    throw new Error(`${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`);
  }
  return r.stdout ?? '';
}

const LOCK_DIR = tmpdir();
const lockPath = (x: number) => join(LOCK_DIR, `marshal-netns-10.213.${x}.lock`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims a /24 in 10.213.0.0/16 no route or address uses, by exclusive lock file (stale locks taken over). */
function claimSubnet(): number {
  const used = `${run([IP, '-4', 'route', 'show', 'table', 'all'], { check: false })}\n${run([IP, '-4', 'addr'], { check: false })}`;
  const start = 20 + (process.pid % 200);
  for (let k = 0; k < 230; k++) {
    const x = 20 + ((start - 20 + k) % 230);
    if (used.includes(`10.213.${x}.`) || /10\.213\.0\.0\/16|10\.0\.0\.0\/8/.test(used)) continue;
    const lock = lockPath(x);
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return x;
    } catch {
      const owner = Number(readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) continue;
      rmSync(lock, { force: true });
      try {
        writeFileSync(lock, String(process.pid), { flag: 'wx' });
        return x;
      } catch {}
    }
  }
  throw new Error('no free 10.213.X.0/24 test subnet');
}

let counter = 0;

/** Waits until `addr:22` accepts TCP connections, bounded. */
async function waitListening(addr: string, ms: number): Promise<void> {
  const bound = deadline(ms, [], `sshd on ${addr}`);
  try {
    while (!bound.expired) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect({ host: addr, port: 22 });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise<void>((r) => setTimeout(r, 50));
    }
    throw new Error(`sshd on ${addr} did not listen within ${ms} ms`);
  } finally {
    bound.clear();
  }
}

/** Creates `count` hosts. Always call `teardown()` (in an after() hook); an exit hook backs it up. */
export async function startNetnsHosts(
  count: number,
  options: { sshdWaitMs?: number } = {},
): Promise<NetnsHosts> {
  const missing = netnsPrerequisites();
  if (missing) throw new Error(netnsUnavailableMessage(missing));
  const tag = `${process.pid.toString(36)}${(counter++).toString(36)}`;
  const id = `mh-${process.pid}-${counter - 1}`;
  const dir = mkdtempSync(join(tmpdir(), `${id}-`));
  const x = claimSubnet();
  const subnet = `10.213.${x}.0/24`;
  const bridge = `mb${tag}`;
  const hosts: NetnsHost[] = Array.from({ length: count }, (_, i) => ({
    alias: `h${i}`,
    ns: `marshal-${id}-h${i}`,
    addr: `10.213.${x}.${10 + i}`,
    ifname: `mhnet${i}`,
    rootVeth: `mv${tag}h${i}`,
    workdir: join(dir, `host${i}`),
    sshd: null,
  }));

  let tornDown = false;
  const cleanupSync = (): void => {
    if (tornDown) return;
    tornDown = true;
    for (const h of hosts) {
      for (let round = 0; round < 50; round++) {
        const pids = nsPids(h.ns);
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        }
        spawnSync('sleep', ['0.02']);
      }
      run([IP, 'netns', 'del', h.ns], { check: false });
      run([IP, 'link', 'del', h.rootVeth], { check: false });
    }
    run([IP, 'link', 'del', bridge], { check: false });
    rmSync(dir, { recursive: true, force: true });
    rmSync(lockPath(x), { force: true });
    process.removeListener('exit', cleanupSync);
  };
  process.on('exit', cleanupSync);

  try {
    // sshd refuses to start without its privilege separation directory (made by the service unit).
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    run([IP, 'link', 'add', bridge, 'type', 'bridge']);
    run([IP, 'addr', 'add', `10.213.${x}.1/24`, 'dev', bridge]);
    run([IP, 'link', 'set', bridge, 'up']);
    run([
      'ssh-keygen',
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'marshal-test-client',
      '-f',
      join(dir, 'client_key'),
    ]);
    const known: string[] = [];
    const config: string[] = [];
    for (const [i, h] of hosts.entries()) {
      mkdirSync(h.workdir, { recursive: true });
      const peer = `mp${tag}h${i}`;
      run([IP, 'netns', 'add', h.ns]);
      run([IP, 'link', 'add', h.rootVeth, 'type', 'veth', 'peer', 'name', peer]);
      run([IP, 'link', 'set', peer, 'netns', h.ns]);
      run([IP, '-n', h.ns, 'link', 'set', peer, 'name', h.ifname]);
      run([IP, 'link', 'set', h.rootVeth, 'master', bridge]);
      run([IP, 'link', 'set', h.rootVeth, 'up']);
      run([IP, '-n', h.ns, 'addr', 'add', `${h.addr}/24`, 'dev', h.ifname]);
      run([IP, '-n', h.ns, 'link', 'set', h.ifname, 'up']);
      run([IP, '-n', h.ns, 'link', 'set', 'lo', 'up']);
      const hostKey = join(dir, `${h.alias}_host_key`);
      run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `marshal-test-${h.alias}`, '-f', hostKey]);
      const sshdConfig = join(dir, `${h.alias}_sshd_config`);
      writeFileSync(
        sshdConfig,
        [
          `ListenAddress ${h.addr}`,
          'Port 22',
          `HostKey ${hostKey}`,
          `PidFile ${join(dir, `${h.alias}_sshd.pid`)}`,
          `AuthorizedKeysFile ${join(dir, 'client_key.pub')}`,
          'PermitRootLogin prohibit-password',
          'PubkeyAuthentication yes',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'StrictModes no',
          'UsePAM no',
          'PrintMotd no',
          'MaxStartups 50:30:100',
          'MaxSessions 50',
          // A session whose client went silent (its link cut, the coordinator gone) ends within ~3 s,
          // which closes the tied rank's stdin so its supervisor stops it.
          'ClientAliveInterval 1',
          'ClientAliveCountMax 3',
          '',
        ].join('\n'),
      );
      const log = openSync(join(dir, `${h.alias}_sshd.log`), 'a');
      const home = join(dir, `${h.alias}_home`);
      mkdirSync(home, { mode: 0o700 });
      h.sshd = spawn(
        IP,
        [
          'netns',
          'exec',
          h.ns,
          PYTHON,
          '-c',
          WITH_OWN_HOME,
          h.ns,
          home,
          homedir(),
          SSHD,
          '-D',
          '-e',
          '-f',
          sshdConfig,
        ],
        {
          stdio: ['ignore', log, log],
        },
      );
      closeSync(log);
      h.sshd.on('error', () => {});
      known.push(
        `${h.addr} ${readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')}`,
      );
      config.push(`Host ${h.alias}`, `  HostName ${h.addr}`);
    }
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `${known.join('\n')}\n`);
    const clientKey = join(dir, 'client_key');
    const sshConfig = join(dir, 'ssh_config');
    writeFileSync(
      sshConfig,
      [
        ...config,
        'Host *',
        '  User root',
        `  IdentityFile ${clientKey}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${knownHosts}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        '  BatchMode yes',
        '  LogLevel ERROR',
        '',
      ].join('\n'),
    );
    await Promise.all(hosts.map((h) => waitListening(h.addr, options.sshdWaitMs ?? 20_000)));
    const listener = (h: NetnsHost): number | null => {
      const raw = existsSync(join(dir, `${h.alias}_sshd.pid`))
        ? Number(readFileSync(join(dir, `${h.alias}_sshd.pid`), 'utf8').trim())
        : Number.NaN;
      return Number.isInteger(raw) ? raw : null;
    };
    const strayPids = (h: NetnsHost): number[] => nsPids(h.ns).filter((p) => p !== listener(h));
    return {
      id,
      dir,
      bridge,
      subnet,
      coordinatorAddr: `10.213.${x}.1`,
      hosts,
      sshConfig,
      knownHosts,
      clientKey,
      pids: (h) => nsPids(h.ns),
      strayPids,
      describeStrays: (h) =>
        strayPids(h).map((p) => {
          try {
            return `${p}: ${readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 200)}`;
          } catch {
            return `${p}: (gone)`;
          }
        }),
      linkDown: (h) => run([IP, 'link', 'set', h.rootVeth, 'down']),
      linkUp: (h) => run([IP, 'link', 'set', h.rootVeth, 'up']),
      teardown: async () => cleanupSync(),
    };
  } catch (err) {
    cleanupSync();
    throw err;
  }
}

/** PIDs in namespace `ns` (empty when it does not exist). */
export function nsPids(ns: string): number[] {
  const r = spawnSync(IP, ['netns', 'pids', ns], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** What is left of a harness with this id: namespaces, links, dirs, lock files. */
export function leftovers(h: Pick<NetnsHosts, 'id' | 'dir' | 'bridge' | 'hosts' | 'subnet'>): string[] {
  const left: string[] = [];
  const namespaces = run([IP, 'netns', 'list'], { check: false });
  for (const host of h.hosts) if (namespaces.includes(host.ns)) left.push(`namespace ${host.ns}`);
  const links = run([IP, '-o', 'link'], { check: false });
  for (const name of [h.bridge, ...h.hosts.map((x) => x.rootVeth)]) {
    if (new RegExp(`: ${name}[@:]`).test(links)) left.push(`link ${name}`);
  }
  if (existsSync(h.dir)) left.push(`dir ${h.dir}`);
  const x = Number(h.subnet.split('.')[2]);
  if (existsSync(lockPath(x))) left.push(`lock ${lockPath(x)}`);
  if (run([IP, '-4', 'addr'], { check: false }).includes(h.subnet.replace('0/24', '1/24'))) {
    left.push(`address ${h.subnet}`);
  }
  return left;
}
