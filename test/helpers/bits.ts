/** Bit-level comparison of float32 results, for the kernels whose contract is "the same bits". */

/** Equal bits, except that any NaN equals any NaN (WebAssembly leaves NaN payloads unspecified). */
export function firstDifference(got: Float32Array, want: Float32Array): string | null {
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < got.length; i++) {
    if (g[i] === w[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i]))) continue;
    return `element ${i}: ${got[i]} (0x${g[i].toString(16)}) vs expected ${want[i]} (0x${w[i].toString(16)})`;
  }
  return null;
}
