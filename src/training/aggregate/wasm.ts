/**
 * The WebAssembly kernels of wasm-kernels.ts, instantiated once per process on first use, with the
 * module's memory as the scratch space they work in (grown on demand, never shrunk: the blocks it
 * holds are a few hundred KB). Null when the runtime has no WebAssembly SIMD: callers then run
 * the TypeScript loops that compute the same sums.
 */
import { kernelModuleBytes } from './wasm-kernels.ts';

// The few WebAssembly declarations used here (the project's lib settings leave the namespace out).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

export interface Kernels {
  pairs(x: number, n: number, stride: number, end: number, out: number): void;
  combine(x: number, n: number, stride: number, end: number, out: number, w: number, divisor: number): number;
  /** The memory, at least `bytes` long (views taken before a call to this may be detached). */
  memory(bytes: number): ArrayBuffer;
}

let kernels: Kernels | null | undefined;

/**
 * The kernels (null without WebAssembly SIMD). A few calls on a small block at start let V8's
 * tiering move them from the baseline compiler to the optimising one before real data arrives.
 */
export function wasmKernels(): Kernels | null {
  if (kernels !== undefined) return kernels;
  kernels = null;
  const bytes = kernelModuleBytes();
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(bytes)) return kernels;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const mem = exports.mem as WasmMemory;
  const k: Kernels = {
    pairs: exports.pairs as Kernels['pairs'],
    combine: exports.combine as Kernels['combine'],
    memory(need: number): ArrayBuffer {
      const have = mem.buffer.byteLength;
      if (have < need) mem.grow(Math.ceil((need - have) / 65536));
      return mem.buffer;
    },
  };
  k.memory(8 * 512 * 8 + 64 * 8 + 64);
  for (let r = 0; r < 4; r++) {
    k.pairs(0, 8, 512 * 8, 512 * 8, 8 * 512 * 8);
    k.combine(0, 8, 512 * 4, 512 * 4, 8 * 512 * 8, 8 * 512 * 8 + 64 * 8 - 64, 1);
  }
  kernels = k;
  return kernels;
}

/** Turns the kernels off (tests compare the TypeScript loops with them) or back on. */
export function setWasmKernels(on: boolean): void {
  kernels = on ? undefined : null;
}
