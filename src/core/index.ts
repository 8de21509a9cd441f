export * from './errors.ts';
export * from './log-hygiene.ts';
