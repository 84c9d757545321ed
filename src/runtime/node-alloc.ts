/**
 * Node's allocator of uninitialised storage for the engine's op results (src/engine/kernels/alloc.ts):
 * `Buffer.allocUnsafeSlow` returns memory that is not zeroed (and, unlike allocUnsafe, not a slice of a shared pool),
 * so a result the op overwrites entirely costs no memset. Results are bit-identical either way; only the time differs.
 */
import { Buffer } from 'node:buffer';
import { setResultAllocator } from '../engine/kernels/alloc.js';

function allocUninitialized(n: number): Float32Array {
  const bytes = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(bytes.buffer, bytes.byteOffset, n);
}

/** Idempotent; `GRADLOOM_UNINIT_ALLOC=0` keeps zeroed allocation (for comparisons). */
export function installNodeAllocator(): boolean {
  if (process.env.GRADLOOM_UNINIT_ALLOC === '0') {
    setResultAllocator(null);
    return false;
  }
  setResultAllocator(allocUninitialized);
  return true;
}
