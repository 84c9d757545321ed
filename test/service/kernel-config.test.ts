/**
 * KERNEL picks the matrix kernel of the worker threads, and the manager says at start which one they will run on:
 * an operator must see when the native accelerator did not load (training then takes about twice as long).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNativeKernels } from '../../src/runtime/native-kernels.js';
import { ConfigError, loadConfig } from '../../src/service/config.js';
import { createJobManager } from '../../src/service/jobs/manager.js';
import { describeKernel } from '../../src/service/pool/pool.js';
import { createSqliteStore } from '../../src/service/store/sqlite.js';

describe('KERNEL', () => {
  it("defaults to 'auto' and refuses names it does not know", () => {
    expect(loadConfig({}).kernel).toBe('auto');
    expect(loadConfig({ KERNEL: 'relaxed' }).kernel).toBe('relaxed');
    expect(() => loadConfig({ KERNEL: 'avx512' })).toThrow(ConfigError);
    expect(() => loadConfig({ KERNEL: 'avx512' })).toThrow(/KERNEL="avx512"/);
  });

  it("resolves 'auto' and 'native' to the addon when it loads, else to plain SIMD with the reason", () => {
    const native = loadNativeKernels();
    for (const wanted of ['auto', 'native'] as const) {
      const d = describeKernel(wanted);
      if (native.ok) expect(d).toEqual({ kernel: 'native', isa: native.kernels.isa() });
      else expect(d).toEqual({ kernel: 'simd', nativeUnavailable: native.reason });
    }
    expect(describeKernel('relaxed')).toEqual({ kernel: 'relaxed' });
    expect(describeKernel('js')).toEqual({ kernel: 'js' });
  });

  it('the manager logs the kernel once when it starts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gradloom-kernel-'));
    const lines: { level: string; obj: object; msg?: string }[] = [];
    const log = (level: string) => (obj: object, msg?: string) => lines.push({ level, obj, msg });
    const store = createSqliteStore({ dataDir });
    const manager = createJobManager({
      store,
      logger: { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') },
      workers: 1,
      maxQueued: 1,
      streamBufferMessages: 10,
      jobTimeoutMs: 10_000,
      cancelGraceMs: 1000,
      kernel: 'auto',
    });
    try {
      await manager.start();
      await manager.start();
      const kernelLines = lines.filter((l) => l.msg?.startsWith('training kernel: '));
      expect(kernelLines).toHaveLength(1);
      const native = loadNativeKernels();
      if (native.ok) {
        expect(kernelLines[0]).toMatchObject({ level: 'info', msg: `training kernel: native (${native.kernels.isa()})` });
      } else {
        expect(kernelLines[0]).toMatchObject({ level: 'warn', obj: { kernel: 'simd', nativeUnavailable: native.reason } });
        expect(kernelLines[0]!.msg).toContain('native accelerator not loaded');
      }
    } finally {
      await manager.stop({ deadlineMs: 1000 });
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
