/** Every regular file under `dir`, as paths relative to `dir`, sorted. */
export function filesUnder(dir: string): string[];
/** Moves the files of `from` over `to`, one atomic rename each, then removes what `from` lacks. */
export function swapIn(from: string, to: string): void;
