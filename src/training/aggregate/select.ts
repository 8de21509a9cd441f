/**
 * In-place selection on a slice of a Float64Array, the kernel of the coordinate-wise rules. It
 * allocates nothing: the rules transpose a block of coordinates into one reusable scratch buffer
 * and select inside each coordinate's slice.
 */

/** Below this length a slice is finished with insertion sort. */
const SMALL = 4;

/**
 * Rearranges a[lo..hi) so that a[k] holds the value of rank k - lo, everything in [lo, k) is
 * <= a[k] and everything in (k, hi) is >= a[k]. Values must not be NaN.
 *
 * Quickselect with a median-of-three pivot and a branch-free Lomuto partition: on the short
 * random columns of the coordinate-wise rules, the mispredicted branches of a classic partition
 * cost more than the comparisons (measured about 1.9x slower for n = 32). Lomuto is quadratic on
 * many equal values, so after a few rounds that do not finish, the Hoare partition (which splits
 * runs of equal values evenly) takes over.
 */
export function selectInPlace(a: Float64Array, lo: number, hi: number, k: number): number {
  let l = lo;
  let r = hi - 1;
  for (let budget = 2 * Math.ceil(Math.log2(hi - lo + 1)) + 2; r - l >= SMALL; budget--) {
    if (budget === 0) return hoareSelect(a, l, r, k);
    const p = medianOfThree(a, l, r);
    // Pivot to the end; every value below it is swapped forward without a branch.
    swap(a, (l + r) >>> 1, r);
    let s = l;
    for (let i = l; i < r; i++) {
      const x = a[i]!;
      a[i] = a[s]!;
      a[s] = x;
      s += +(x < p);
    }
    swap(a, s, r);
    if (k === s) return p;
    if (k < s) r = s - 1;
    else l = s + 1;
  }
  insertionSort(a, l, r + 1);
  return a[k]!;
}

/**
 * Selects ranks k1 <= k2 of a[lo..hi): afterwards [lo, k1) <= a[k1] <= [k1 + 1, k2) <= a[k2] <= (k2, hi),
 * so the values of ranks k1..k2 occupy positions k1..k2 (what a trimmed mean sums).
 */
export function selectTwoInPlace(a: Float64Array, lo: number, hi: number, k1: number, k2: number): void {
  selectInPlace(a, lo, hi, k1);
  if (k2 > k1) selectInPlace(a, k1 + 1, hi, k2);
}

/** Orders a[l], a[mid], a[r] and returns the middle one (left at mid). */
function medianOfThree(a: Float64Array, l: number, r: number): number {
  const mid = (l + r) >>> 1;
  if (a[mid]! < a[l]!) swap(a, mid, l);
  if (a[r]! < a[l]!) swap(a, r, l);
  if (a[r]! < a[mid]!) swap(a, r, mid);
  return a[mid]!;
}

/** Quickselect with Hoare's partition over a[l..r] (inclusive): robust to runs of equal values. */
function hoareSelect(a: Float64Array, l: number, r: number, k: number): number {
  while (r - l >= SMALL) {
    const pivot = medianOfThree(a, l, r);
    let i = l;
    let j = r;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) r = j;
    else if (k >= i) l = i;
    else return a[k]!;
  }
  insertionSort(a, l, r + 1);
  return a[k]!;
}

/** Largest value of a[lo..hi) (hi > lo). */
export function maxOf(a: Float64Array, lo: number, hi: number): number {
  let m = a[lo]!;
  for (let i = lo + 1; i < hi; i++) {
    const x = a[i]!;
    if (x > m) m = x;
  }
  return m;
}

/** Sorts a[lo..hi) by insertion: the fastest way to order a handful of values. */
export function insertionSort(a: Float64Array, lo: number, hi: number): void {
  for (let i = lo + 1; i < hi; i++) {
    const x = a[i]!;
    let j = i - 1;
    while (j >= lo && a[j]! > x) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = x;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}
