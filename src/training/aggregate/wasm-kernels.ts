/**
 * Two aggregation kernels in WebAssembly SIMD (f64x2), emitted as bytes here (no toolchain, no
 * runtime dependency); wasm.ts instantiates them.
 *
 * pairs(x, n, stride, end, out): for a block of coordinates already converted to float64 in the
 * module's memory, out[i n + j] += sum_t (x_i[t] - x_j[t])^2 for every pair i < j. Direct
 * differences, never a Gram matrix: each pair's rounding error is relative to its own distance.
 * One row i against four rows j per pass, so each load of x_i serves four pairs. Rows at x,
 * `stride` bytes apart, each `end` bytes long (a multiple of 16: the caller pads a row with zeros,
 * which adds nothing to any distance); the n x n float64 accumulators at `out`.
 *
 * combine(x, n, stride, end, out, w, divisor): weighted sums of float32 rows (see below).
 *
 * Longer than the usual file: the formatter puts every instruction on its own line, and the two
 * bodies read top to bottom like the .wat they replace.
 */

const I32 = 0x7f;
const V128 = 0x7b;

function leb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let b = v & 127;
    v >>>= 7;
    if (v !== 0) b |= 128;
    out.push(b);
  } while (v !== 0);
  return out;
}

const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
const name = (s: string) => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

// Instructions (wasm core and the SIMD proposal as standardised).
const get = (l: number) => [0x20, ...leb(l)];
const set = (l: number) => [0x21, ...leb(l)];
const tee = (l: number) => [0x22, ...leb(l)];
/** i32.const takes a signed LEB128: 64 and above need a second byte (0x40 alone is -64). */
function sleb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const b = v & 127;
    v >>= 7;
    if ((v === 0 && (b & 64) === 0) || (v === -1 && (b & 64) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 128);
  }
}
const i32 = (v: number) => [0x41, ...sleb(v)];
const ADD = [0x6a];
const MUL = [0x6c];
const GE_S = [0x4e];
const F64_ADD = [0xa0];
const f64Load = (offset: number) => [0x2b, 3, ...leb(offset)];
const f64Store = (offset: number) => [0x39, 3, ...leb(offset)];
const simd = (op: number) => [0xfd, ...leb(op)];
const vLoad = [...simd(0x00), 4, 0];
const vZero = [...simd(0x0c), ...new Array(16).fill(0)];
const vSub = simd(0xf1);
const vMul = simd(0xf2);
const vAdd = simd(0xf0);
const lane = (k: number) => [...simd(0x21), k];
const block = (body: number[]) => [0x02, 0x40, ...body, 0x0b];
const loop = (body: number[]) => [0x03, 0x40, ...body, 0x0b];
const brIf = (depth: number) => [0x0d, ...leb(depth)];
const br = (depth: number) => [0x0c, ...leb(depth)];

// Parameters and locals of pairs(x, n, stride, end, out).
const X = 0;
const N = 1;
const STRIDE = 2;
const END = 3;
const OUT = 4;
const I = 5;
const J = 6;
const T = 7;
const PI = 8;
const P0 = 9;
const P1 = 10;
const P2 = 11;
const P3 = 12;
const CELL = 13;
const I32_LOCALS = 9; // I .. CELL
const V = 14;
const A0 = 15;
const A1 = 16;
const A2 = 17;
const A3 = 18;
const DIFF = 19;
const V128_LOCALS = 6;

/** acc += (v - x_p[t])^2, the difference kept in a local (tee) and squared. */
function squareInto(acc: number, p: number): number[] {
  return [
    ...get(acc),
    ...get(V),
    ...get(p),
    ...get(T),
    ...ADD,
    ...vLoad,
    ...vSub,
    ...tee(DIFF),
    ...get(DIFF),
    ...vMul,
    ...vAdd,
    ...set(acc),
  ];
}

/** out[cell] += lane0(acc) + lane1(acc), cell = (i n + j) * 8 + out, plus `offset` bytes. */
const flush = (acc: number, offset: number) => [
  ...get(CELL),
  ...get(CELL),
  ...f64Load(offset),
  ...get(acc),
  ...lane(0),
  ...get(acc),
  ...lane(1),
  ...F64_ADD,
  ...F64_ADD,
  ...f64Store(offset),
];

const cellAddress = [
  ...get(I),
  ...get(N),
  ...MUL,
  ...get(J),
  ...ADD,
  ...i32(8),
  ...MUL,
  ...get(OUT),
  ...ADD,
  ...set(CELL),
];

const rowAddress = (row: number, into: number) => [
  ...get(X),
  ...get(row),
  ...get(STRIDE),
  ...MUL,
  ...ADD,
  ...set(into),
];

function pairsBody(): number[] {
  const fourColumns = block(
    loop([
      // while (j + 4 <= n)
      ...get(J),
      ...i32(4),
      ...ADD,
      ...get(N),
      0x4a, // i32.gt_s
      ...brIf(1),
      ...rowAddress(J, P0),
      ...get(P0),
      ...get(STRIDE),
      ...ADD,
      ...set(P1),
      ...get(P1),
      ...get(STRIDE),
      ...ADD,
      ...set(P2),
      ...get(P2),
      ...get(STRIDE),
      ...ADD,
      ...set(P3),
      ...vZero,
      ...set(A0),
      ...vZero,
      ...set(A1),
      ...vZero,
      ...set(A2),
      ...vZero,
      ...set(A3),
      ...i32(0),
      ...set(T),
      ...loop([
        ...get(PI),
        ...get(T),
        ...ADD,
        ...vLoad,
        ...set(V),
        ...squareInto(A0, P0),
        ...squareInto(A1, P1),
        ...squareInto(A2, P2),
        ...squareInto(A3, P3),
        ...get(T),
        ...i32(16),
        ...ADD,
        ...set(T),
        ...get(T),
        ...get(END),
        0x48, // i32.lt_s
        ...brIf(0),
      ]),
      ...cellAddress,
      ...flush(A0, 0),
      ...flush(A1, 8),
      ...flush(A2, 16),
      ...flush(A3, 24),
      ...get(J),
      ...i32(4),
      ...ADD,
      ...set(J),
      ...br(0),
    ]),
  );
  const oneColumn = block(
    loop([
      ...get(J),
      ...get(N),
      ...GE_S,
      ...brIf(1),
      ...rowAddress(J, P0),
      ...vZero,
      ...set(A0),
      ...i32(0),
      ...set(T),
      ...loop([
        ...get(PI),
        ...get(T),
        ...ADD,
        ...vLoad,
        ...set(V),
        ...squareInto(A0, P0),
        ...get(T),
        ...i32(16),
        ...ADD,
        ...set(T),
        ...get(T),
        ...get(END),
        0x48,
        ...brIf(0),
      ]),
      ...cellAddress,
      ...flush(A0, 0),
      ...get(J),
      ...i32(1),
      ...ADD,
      ...set(J),
      ...br(0),
    ]),
  );
  return [
    ...i32(0),
    ...set(I),
    ...block(
      loop([
        // while (i + 1 < n)
        ...get(I),
        ...i32(1),
        ...ADD,
        ...get(N),
        ...GE_S,
        ...brIf(1),
        ...rowAddress(I, PI),
        ...get(I),
        ...i32(1),
        ...ADD,
        ...set(J),
        ...fourColumns,
        ...oneColumn,
        ...get(I),
        ...i32(1),
        ...ADD,
        ...set(I),
        ...br(0),
      ]),
    ),
  ];
}

// Parameters and locals of combine(x, n, stride, end, out, w, divisor) -> f64.
const CX = 0;
const CN = 1;
const CSTRIDE = 2;
const CEND = 3;
const COUT = 4;
const CW = 5;
const CDIV = 6;
const CT = 7;
const CP = 8;
const CR = 9;
const CWP = 10;
const CO = 11;
const C_I32_LOCALS = 5; // CT .. CO
const CBAD = 13;
const CD = 14;
const CW2 = 15;
const CACCS = [12, 16, 17, 18];
const C_V128_LOCALS = 7;
const F64 = 0x7c;

/**
 * combine: for each group of eight float32 coordinates (byte offset 32 g < end) of the n rows,
 * out[t] = (sum_i w_i x_i[t]) / divisor, each sum in row order (w_i float64 at w + 8 i, the rows
 * converted exactly to float64), and returns lane0 + lane1 of sum_t out[t] * 0: 0 when every
 * output is finite, NaN otherwise. Four f64x2 sums run side by side (eight coordinates), so the
 * additions of one row do not wait for each other. With w = 1 and divisor n it is the reference
 * kernel's mean to the last bit (((0 + x_0) + x_1) + ...) / n.
 */
function combineBody(): number[] {
  const zeroAll = CACCS.flatMap((acc) => [...vZero, ...set(acc)]);
  const addRow = CACCS.flatMap((acc, q) => [
    ...get(acc),
    ...get(CP),
    ...simd(0x5d), // v128.load64_zero
    3,
    ...leb(8 * q),
    ...simd(0x5f), // f64x2.promote_low_f32x4
    ...get(CW2),
    ...vMul,
    ...vAdd,
    ...set(acc),
  ]);
  const storeAll = CACCS.flatMap((acc, q) => [
    ...get(CO),
    ...get(acc),
    ...get(CD),
    ...simd(0xf3), // f64x2.div
    ...tee(acc),
    ...simd(0x0b), // v128.store
    4,
    ...leb(16 * q),
    ...get(CBAD),
    ...get(acc),
    ...vZero,
    ...vMul,
    ...vAdd,
    ...set(CBAD),
  ]);
  return [
    ...get(CDIV),
    ...simd(0x14), // f64x2.splat
    ...set(CD),
    ...vZero,
    ...set(CBAD),
    ...i32(0),
    ...set(CT),
    ...get(COUT),
    ...set(CO),
    ...loop([
      ...zeroAll,
      ...get(CX),
      ...get(CT),
      ...ADD,
      ...set(CP),
      ...get(CW),
      ...set(CWP),
      ...get(CN),
      ...set(CR),
      ...loop([
        ...get(CWP),
        ...simd(0x0a), // v128.load64_splat
        3,
        0,
        ...set(CW2),
        ...addRow,
        ...get(CP),
        ...get(CSTRIDE),
        ...ADD,
        ...set(CP),
        ...get(CWP),
        ...i32(8),
        ...ADD,
        ...set(CWP),
        ...get(CR),
        ...i32(1),
        0x6b, // i32.sub
        ...tee(CR),
        ...brIf(0),
      ]),
      ...storeAll,
      ...get(CO),
      ...i32(64),
      ...ADD,
      ...set(CO),
      ...get(CT),
      ...i32(32),
      ...ADD,
      ...tee(CT),
      ...get(CEND),
      0x48, // i32.lt_s
      ...brIf(0),
    ]),
    ...get(CBAD),
    ...lane(0),
    ...get(CBAD),
    ...lane(1),
    ...F64_ADD,
  ];
}

/**
 * The module's bytes: memory "mem" (exported, growable), pairs(x, n, stride, end, out) and
 * combine(x, n, stride, end, out, w, divisor) -> f64.
 */
export function kernelModuleBytes(): Uint8Array {
  const types = [
    2,
    ...[0x60, 5, I32, I32, I32, I32, I32, 0],
    ...[0x60, 7, I32, I32, I32, I32, I32, I32, F64, 1, F64],
  ];
  const pairs = [2, ...leb(I32_LOCALS), I32, ...leb(V128_LOCALS), V128, ...pairsBody(), 0x0b];
  const combine = [2, ...leb(C_I32_LOCALS), I32, ...leb(C_V128_LOCALS), V128, ...combineBody(), 0x0b];
  const code = [2, ...leb(pairs.length), ...pairs, ...leb(combine.length), ...combine];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...section(1, types),
    ...section(3, [2, 0, 1]),
    ...section(5, [1, 0, 1]),
    ...section(7, [3, ...name('pairs'), 0, 0, ...name('combine'), 0, 1, ...name('mem'), 2, 0]),
    ...section(10, code),
  ]);
}
