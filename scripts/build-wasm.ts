/**
 * `npm run build:wasm`: regenerates src/engine/kernels/wasm/gemm.generated.ts from scripts/gemm-wat.ts.
 * The bytes are committed so that the engine needs no compiler at run time (and runs in a browser as is).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateGemmModuleSource } from './gemm-wat.js';

const target = fileURLToPath(new URL('../src/engine/kernels/wasm/gemm.generated.ts', import.meta.url));
const source = await generateGemmModuleSource();
writeFileSync(target, source);
console.log(`wrote ${target} (${source.length} chars)`);
