/**
 * The one POSIX shell-quoting helper, for every command line marshal prints for a human to paste
 * (`--dry-run`, recovery hints, status files) and for the one place a remote shell is involved
 * (ssh). A word made only of safe characters stays as it is; anything else is wrapped in single
 * quotes, inside which a POSIX shell expands nothing (`$`, backquotes, `\`, `!` are literal); a `'`
 * becomes `'\''`. JSON quoting is not shell quoting: `"$HOME"` would be expanded.
 */

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word for a POSIX shell. */
export function quoteShellWord(word: string): string {
  if (word !== '' && SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Quotes an argv into one pasteable POSIX command line. */
export function quoteShellCommand(argv: readonly string[]): string {
  return argv.map(quoteShellWord).join(' ');
}
