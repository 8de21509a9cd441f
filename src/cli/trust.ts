/**
 * `marshal trust [file]`: trust a marshal.yaml found in a directory (default ./marshal.yaml), as
 * it is now. The file's SHA-256 goes into the user's trust store
 * ($XDG_CONFIG_HOME/marshal/trusted.json, else ~/.config/marshal/trusted.json); an edited file is
 * untrusted again. `--list` shows what is trusted, `--remove` forgets a file.
 */
import {
  configTrustStorePath,
  listTrustedConfigs,
  trustConfigFile,
  untrustConfigFile,
} from '../agents/index.ts';
import { ExitCode, sanitizeForTerminal, UsageError } from '../core/index.ts';
import type { CommandSpec } from './command.ts';
import { printJson } from './io.ts';

export const trustCommand: CommandSpec = {
  name: 'trust',
  summary: 'trust a marshal.yaml found in a directory (records its SHA-256; an edit untrusts it)',
  usage: 'trust [--list | --remove] [file]',
  description: [
    'A marshal.yaml discovered in the current directory may come from a cloned repository, so until',
    'you trust it, it may set plain options only: tools.dir, tools.allowWrite, tools.allowSecretFiles,',
    'mcp.servers, provider.claudeBinary, provider.apiKeyEnv, provider.baseUrl, perAgent baseUrl/apiKeyEnv,',
    '${VAR} interpolation and paths outside its directory are ignored. A file given with -c is trusted.',
    'The trust store is $XDG_CONFIG_HOME/marshal/trusted.json (else ~/.config/marshal/trusted.json).',
  ].join('\n'),
  options: {
    list: { type: 'boolean', description: 'list trusted files (unchanged, changed or missing)' },
    remove: { type: 'boolean', description: 'forget the file instead of trusting it' },
    json: { type: 'boolean', description: 'print one JSON document on stdout' },
  },
  positionals: { min: 0, max: 1, names: '[file]' },
  examples: ['marshal trust', 'marshal trust ./marshal.yaml', 'marshal trust --list'],
  run: async (ctx) => {
    const { io, values } = ctx;
    const json = values.json === true;
    const file = ctx.positionals[0] ?? 'marshal.yaml';
    const opts = { cwd: io.cwd, env: io.env };
    if (values.list === true && values.remove === true) {
      throw new UsageError('marshal trust: --list and --remove exclude each other');
    }
    if (values.list === true) {
      const entries = await listTrustedConfigs(io.env);
      if (json) printJson(io, { store: configTrustStorePath(io.env) ?? null, files: entries });
      else
        for (const e of entries)
          io.stdout.write(`${e.state.padEnd(9)} ${e.sha256.slice(0, 12)} ${sanitizeForTerminal(e.path)}\n`);
      return ExitCode.ok;
    }
    if (values.remove === true) {
      const removed = await untrustConfigFile(file, opts);
      if (json) printJson(io, { removed, file });
      else
        io.stdout.write(
          `${removed ? 'no longer trusted' : 'was not trusted'}: ${sanitizeForTerminal(file)}\n`,
        );
      return ExitCode.ok;
    }
    const entry = await trustConfigFile(file, opts);
    if (json) printJson(io, entry);
    else
      io.stdout.write(`trusted ${sanitizeForTerminal(entry.path)} (sha256 ${entry.sha256.slice(0, 12)})\n`);
    return ExitCode.ok;
  },
};
