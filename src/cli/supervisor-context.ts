/**
 * What the supervisor commands share: the --workspace option and locating the workspace.
 */
import { homedir } from 'node:os';
import { MarshalError } from '../core/index.ts';
import { findWorkspace, SUPERVISOR_ERRORS, type Workspace } from '../supervisor/index.ts';
import { type CommandContext, type OptionSpec, stringOption } from './command.ts';

/** `--workspace <dir>`, accepted by every supervisor command. */
export const WORKSPACE_OPTION: OptionSpec = {
  type: 'string',
  valueName: 'dir',
  description: 'the workspace (default: $COMFYGIT_HOME, ~/comfygit, or the nearest folder with .metadata/)',
};

/** Locates the workspace from --workspace, the environment and the current directory. */
export async function resolveWorkspace(ctx: CommandContext): Promise<Workspace> {
  try {
    return await findWorkspace({
      explicit: stringOption(ctx.values, 'workspace'),
      env: ctx.io.env,
      cwd: ctx.io.cwd,
      home: ctx.io.env.HOME ?? homedir(),
    });
  } catch (err) {
    if (!(err instanceof MarshalError) || err.code !== 'E_NO_WORKSPACE') throw err;
    // The library's hint does not know the command line; this one names its option.
    throw new MarshalError(SUPERVISOR_ERRORS.E_NO_WORKSPACE, err.message, {
      cause: err,
      ...(err.details === undefined ? {} : { details: err.details }),
      hint: 'pass --workspace <dir>, set COMFYGIT_HOME, or run inside a folder that has .metadata/',
    });
  }
}
