/**
 * Storage for op results that the op overwrites completely before anyone reads them (elementwise results, products
 * in overwrite mode). `new Float32Array(n)` zeroes its memory first: for the tutorial's 400 KB `w1.grad.mul(lr)`
 * that memset is a pass of its own (~5% of the native step). A host may supply an allocator that skips it (Node:
 * `Buffer.allocUnsafeSlow`, see src/runtime/node-alloc.ts); the engine itself has no such API, so by default it is
 * `new Float32Array`. Only large arrays go to the host's allocator: below HOST_ALLOC_MIN elements the memset costs
 * less than the allocator's extra objects.
 */
export const HOST_ALLOC_MIN = 4096;

let hostAlloc: ((n: number) => Float32Array) | null = null;

/** A Float32Array of n elements with unspecified contents: the caller must write every element. */
export function allocResult(n: number): Float32Array {
  return hostAlloc !== null && n >= HOST_ALLOC_MIN ? hostAlloc(n) : new Float32Array(n);
}

/**
 * Installs (or, with null, removes) the host's allocator of uninitialised storage. It must return a Float32Array of
 * exactly n elements that nothing else references.
 */
export function setResultAllocator(alloc: ((n: number) => Float32Array) | null): void {
  hostAlloc = alloc;
}
