/** marshal-kit: the library (the package entry). Named re-exports only. */

export type { Io } from './cli/io.ts';
export { main, VERSION } from './cli/main.ts';
export * from './core/index.ts';
