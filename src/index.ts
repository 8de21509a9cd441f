/** marshal: the library. Named re-exports only. */
export * from './core/index.ts';
export { main, VERSION } from './cli/main.ts';
export type { Io } from './cli/io.ts';
