/**
 * Terminal display width of text, measured per grapheme (Intl.Segmenter): 2 columns for East
 * Asian Wide and Fullwidth characters (UAX #11; the table below) and for emoji shown as emoji
 * (Emoji_Presentation, or a pictograph with VS16), 0 for combining marks, format and control
 * characters and ANSI escape sequences, 1 otherwise. Cutting to a width never splits a grapheme
 * and never leaves half of a wide character.
 */

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

// East Asian Width W and F ranges outside the emoji ones (Unicode 15 EastAsianWidth.txt, merged).
const WIDE: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f],
  [0x2329, 0x232a],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff],
  [0x1aff0, 0x1b2ff],
  [0x1f200, 0x1f202],
  [0x1f210, 0x1f23b],
  [0x1f240, 0x1f248],
  [0x1f250, 0x1f251],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

function isWide(cp: number): boolean {
  let lo = 0;
  let hi = WIDE.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = WIDE[mid]!;
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\p{Cc}]+$/u; // variation selectors are Mn, ZWSP and ZWJ Cf
const EMOJI = /\p{Emoji_Presentation}|\p{Extended_Pictographic}\ufe0f|\p{Regional_Indicator}{2}/u;
// CSI and OSC sequences (colours, hyperlinks): zero width.
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;

/** Columns one grapheme takes. */
function graphemeWidth(g: string): number {
  if (ZERO_WIDTH.test(g)) return 0;
  if (EMOJI.test(g)) return 2;
  const cp = g.codePointAt(0)!;
  return isWide(cp) ? 2 : 1;
}

/** Display width of `text` in terminal columns (ANSI sequences count 0). */
export function displayWidth(text: string): number {
  let w = 0;
  for (const { segment } of segmenter.segment(text.replace(ANSI, ''))) w += graphemeWidth(segment);
  return w;
}

/**
 * `text` (no ANSI sequences) fitted to exactly `width` columns: padded with spaces, or cut with
 * `…` at a grapheme boundary (a wide character that would straddle the edge is left out).
 */
export function fitWidth(text: string, width: number): string {
  if (width <= 0) return '';
  const total = displayWidth(text);
  if (total <= width) return text + ' '.repeat(width - total);
  let out = '';
  let used = 0;
  for (const { segment } of segmenter.segment(text)) {
    const w = graphemeWidth(segment);
    if (used + w > width - 1) break;
    out += segment;
    used += w;
  }
  return `${out}…${' '.repeat(Math.max(0, width - 1 - used))}`;
}
