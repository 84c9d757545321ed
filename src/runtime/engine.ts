/**
 * The engine for Node: everything `src/engine/index.js` exports, with the fastest kernel this machine loads already
 * active. Importing it registers the optional native accelerator (native/, AVX-512/AVX2 C; see native-kernels.ts),
 * which then runs every product and the large elementwise passes; where the addon is missing or fails to load it
 * changes nothing and the engine keeps its WebAssembly SIMD kernels. Either way the numbers are the same bits.
 *
 * The engine itself (src/engine) stays free of Node so that it runs in browsers: Node programs import this module,
 * browser bundles import src/engine/index.js. `nativeKernels` says what happened (`ok`, or the `reason` it did not
 * load); `GRADLOOM_NATIVE=0` keeps the WebAssembly path.
 */
import { registerNativeKernels } from './native-kernels.js';

export * from '../engine/index.js';

/** The result of loading the native accelerator at import (`{ ok: true, kernels }` or `{ ok: false, reason }`). */
export const nativeKernels = registerNativeKernels();
