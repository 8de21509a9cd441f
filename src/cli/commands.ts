import type { CommandSpec } from './command.ts';

/**
 * Every command the CLI dispatches, in the order `marshal --help` lists them. A command is added
 * here only once it works end to end.
 */
export const commands: readonly CommandSpec[] = [];
