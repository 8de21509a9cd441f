import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

// What a user gets from the registry: `npm pack`, then an install of the tarball into a scratch
// project outside this tree, run with plain node (no tsx, no NODE_OPTIONS). The install is
// offline: the scratch project's lockfile is ours, cut down to the runtime dependencies, so npm
// needs no registry metadata, only the tarballs that `npm ci` left in the npm cache, at exactly
// the versions the suite tests.

const root = fileURLToPath(new URL('..', import.meta.url));

interface Manifest {
  name: string;
  version: string;
  license: string;
  bin: Record<string, string>;
  engines: Record<string, string>;
  exports: Record<string, string | { types: string; default: string }>;
  dependencies: Record<string, string>;
}
interface LockEntry {
  dev?: boolean;
  devOptional?: boolean;
}
interface PackResult {
  filename: string;
  integrity: string;
  files: Array<{ path: string }>;
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockEntry>;
};

/** The environment of a user's shell: no npm script variables, no loader options. */
function plainEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_/i.test(k) && k !== 'NODE_OPTIONS' && k !== 'MARSHAL_DEBUG') env[k] = v;
  }
  return env;
}

function run(cmd: string, args: string[], cwd: string): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, env: plainEnv(), encoding: 'utf8', timeout: 120_000 });
  assert.equal(
    r.status,
    0,
    `${cmd} ${args.join(' ')} in ${cwd} exited ${r.status ?? r.signal}\n${r.stdout}${r.stderr}`,
  );
  return { stdout: r.stdout, stderr: r.stderr };
}

const npm = 'npm';
let work = '';
let scratch = '';
let packed: PackResult;
let paths: string[] = [];

before(() => {
  // scripts/run-tests.mjs built dist/ before any test ran; --ignore-scripts keeps `prepare` from
  // building it again in the middle of the suite.
  assert.ok(existsSync(join(root, 'dist', 'index.js')), 'dist/ is missing: run npm run build');
  work = mkdtempSync(join(tmpdir(), 'marshal-pack-'));
  const out = run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], root).stdout;
  [packed] = JSON.parse(out) as [PackResult];
  paths = packed.files.map((f) => f.path);

  scratch = join(work, 'scratch');
  const tgz = `file:../${packed.filename}`;
  const packages: Record<string, unknown> = {
    '': { name: 'scratch', version: '1.0.0', dependencies: { [pkg.name]: tgz } },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: tgz,
      integrity: packed.integrity,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path !== '' && !entry.dev && !entry.devOptional) packages[path] = entry;
  }
  mkdirSync(scratch);
  writeFileSync(
    join(scratch, 'package.json'),
    JSON.stringify({
      name: 'scratch',
      version: '1.0.0',
      private: true,
      type: 'module',
      dependencies: { [pkg.name]: tgz },
    }),
  );
  writeFileSync(
    join(scratch, 'package-lock.json'),
    JSON.stringify({ name: 'scratch', version: '1.0.0', lockfileVersion: 3, requires: true, packages }),
  );
  const r = spawnSync(npm, ['ci', '--offline', '--no-audit', '--no-fund'], {
    cwd: scratch,
    env: plainEnv(),
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(
    r.status,
    0,
    `offline install failed (ENOTCACHED means the npm cache lacks a runtime dependency: run npm ci here first)\n${r.stdout}${r.stderr}`,
  );
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('is named marshal-kit and installs the marshal binary', () => {
    assert.equal(pkg.name, 'marshal-kit');
    assert.deepEqual(Object.keys(pkg.bin), ['marshal']);
    assert.ok(paths.includes(pkg.bin.marshal!), `tarball lacks ${pkg.bin.marshal}`);
  });

  it('holds the licence, the docs, the python helpers and every export target', () => {
    for (const p of [
      'LICENSE',
      'README.md',
      'ARCHITECTURE.md',
      'package.json',
      'python/marshal_train.py',
      'python/marshal_robust.py',
    ]) {
      assert.ok(paths.includes(p), `tarball lacks ${p}`);
    }
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      const files = typeof target === 'string' ? [target] : [target.types, target.default];
      for (const f of files)
        assert.ok(paths.includes(f.replace(/^\.\//, '')), `${subpath}: tarball lacks ${f}`);
    }
    assert.match(
      readFileSync(join(root, 'LICENSE'), 'utf8'),
      /^MIT License\n\nCopyright \(c\) 2026 marshal contributors/,
    );
  });

  it('holds nothing twice and nothing only the repository needs', () => {
    assert.equal(new Set(paths).size, paths.length);
    const extra = paths.filter(
      (p) =>
        /^(src|test|bench|scripts|node_modules|\.tmp|\.ci)\//.test(p) ||
        (p.endsWith('.ts') && !p.endsWith('.d.ts')) ||
        p.endsWith('.map') ||
        p.endsWith('.tsbuildinfo') ||
        p.includes('__pycache__') ||
        /^tsconfig.*\.json$/.test(p),
    );
    assert.deepEqual(extra, []);
    for (const p of paths) {
      if (p.startsWith('dist/') || p.startsWith('python/') || p.startsWith('bin/')) continue;
      assert.ok(['LICENSE', 'README.md', 'ARCHITECTURE.md', 'package.json'].includes(p), `unexpected ${p}`);
    }
  });
});

describe('installed from the tarball into a scratch project', () => {
  it('installs only the runtime dependencies (no TypeScript loader)', () => {
    for (const dep of Object.keys(pkg.dependencies)) {
      assert.ok(existsSync(join(scratch, 'node_modules', dep, 'package.json')), `${dep} not installed`);
    }
    for (const dev of ['tsx', 'typescript', 'esbuild']) {
      assert.equal(existsSync(join(scratch, 'node_modules', dev)), false, `${dev} was installed`);
    }
  });

  it('runs node_modules/.bin/marshal --version and --help', () => {
    const bin = join(scratch, 'node_modules', '.bin', 'marshal');
    // Executed directly, as a shell would: the shebang and the executable bit must work.
    assert.equal(run(bin, ['--version'], scratch).stdout, `${pkg.version}\n`);
    const help = run(process.execPath, [bin, '--help'], scratch).stdout;
    assert.match(help, /^Usage: marshal /m);
    for (const command of ['heavy', 'supervise', 'train plan']) assert.ok(help.includes(command), command);
    const heavy = run(process.execPath, [bin, 'heavy', '--help'], scratch).stdout;
    assert.match(heavy, /^Usage: marshal heavy /m);
  });

  it('imports every subpath with plain node', () => {
    const expected: Record<string, string[]> = {
      [pkg.name]: ['main', 'VERSION', 'MarshalError', 'loadConfigFile'],
      [`${pkg.name}/agents`]: ['runHeavy', 'runAgent', 'createOpenAICompatibleModel', 'ToolRegistry'],
      [`${pkg.name}/supervisor`]: ['startSupervisor', 'findWorkspace', 'transition'],
      [`${pkg.name}/training`]: ['shard', 'aggregate', 'buildPlan', 'preflight'],
      [`${pkg.name}/testing`]: ['startFakeOpenAIServer', 'createScriptedModel'],
    };
    const subpaths = Object.keys(pkg.exports)
      .filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? pkg.name : `${pkg.name}/${k.slice(2)}`));
    assert.deepEqual(subpaths.sort(), Object.keys(expected).sort());
    const script = [
      `const out = {};`,
      `for (const s of ${JSON.stringify(subpaths)}) out[s] = Object.keys(await import(s));`,
      `out.version = (await import(${JSON.stringify(pkg.name)})).VERSION;`,
      `out.resolved = import.meta.resolve(${JSON.stringify(pkg.name)});`,
      `console.log(JSON.stringify(out));`,
    ].join('\n');
    const out = JSON.parse(
      run(process.execPath, ['--input-type=module', '-e', script], scratch).stdout,
    ) as Record<string, string[] | string>;
    assert.equal(out.version, pkg.version);
    assert.ok(String(out.resolved).includes(`/scratch/node_modules/${pkg.name}/dist/`), String(out.resolved));
    for (const [specifier, names] of Object.entries(expected)) {
      for (const name of names) assert.ok(out[specifier]?.includes(name), `${specifier} lacks ${name}`);
    }
  });

  it('type-checks a TypeScript import of every subpath against the shipped .d.ts', () => {
    const source = [
      `import { MarshalError, VERSION } from '${pkg.name}';`,
      `import { runHeavy } from '${pkg.name}/agents';`,
      `import { startSupervisor } from '${pkg.name}/supervisor';`,
      `import { createScriptedModel } from '${pkg.name}/testing';`,
      `import { shard } from '${pkg.name}/training';`,
      'const version: string = VERSION;',
      '// @ts-expect-error VERSION is typed (a string), not any',
      'const wrong: number = VERSION;',
      'export const used = [version, wrong, MarshalError, runHeavy, startSupervisor, createScriptedModel, shard];',
    ].join('\n');
    writeFileSync(join(scratch, 'check.ts'), `${source}\n`);
    // Our TypeScript and @types/node, the scratch project's modules: strict NodeNext resolution
    // reports a subpath without types (TS7016) or a missing export.
    run(
      process.execPath,
      [
        join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '--noEmit',
        '--strict',
        '--skipLibCheck',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--types',
        'node',
        '--typeRoots',
        join(root, 'node_modules', '@types'),
        'check.ts',
      ],
      scratch,
    );
  });
});
