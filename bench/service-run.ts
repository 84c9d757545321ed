/**
 * `npm run bench:service`: only the service cases of `npm run bench` (bench/service.ts: service_job_latency,
 * service_burst), one JSON line each, after an environment line. BENCH_QUICK=1 shortens them (numbers not comparable).
 */
import os from 'node:os';
import { registerNativeKernels } from '../src/runtime/native-kernels.js';
import { serviceCases } from './service.js';

const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const native = registerNativeKernels();
emit({
  case: 'environment',
  node: process.version,
  cpu: os.cpus()[0]?.model,
  cores: os.cpus().length,
  nativeIsa: native.ok ? native.kernels.isa() : null,
  native: native.ok ? 'loaded' : native.reason,
  loadAverage: os.loadavg().map((x) => +x.toFixed(2)),
  quick: process.env.BENCH_QUICK === '1',
});
await serviceCases({ quick: process.env.BENCH_QUICK === '1', emit });
emit({ case: 'end', loadAverage: os.loadavg().map((x) => +x.toFixed(2)) });
