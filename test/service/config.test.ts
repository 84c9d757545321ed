import { availableParallelism } from 'node:os';
import { expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../../src/service/config.js';

test('defaults serve the embedded setup', () => {
  const c = loadConfig({});
  expect(c).toMatchObject({ port: 8080, host: '127.0.0.1', dataDir: './data', workers: availableParallelism(), logLevel: 'info' });
  expect(c.workerResourceLimits).toEqual({ maxOldGenerationSizeMb: 512, stackSizeMb: 4 });
  expect(loadConfig({ WORKER_MAX_OLD_GENERATION_MB: '256', WORKER_MAX_YOUNG_GENERATION_MB: '16' }).workerResourceLimits).toEqual({
    maxOldGenerationSizeMb: 256,
    maxYoungGenerationSizeMb: 16,
    stackSizeMb: 4,
  });
  expect(() => loadConfig({ WORKER_MAX_OLD_GENERATION_MB: '8' })).toThrow(/WORKER_MAX_OLD_GENERATION_MB="8": must be >= 16/);
  expect(c.limits.maxRunningJobs).toBe(c.workers);
  expect(c.limits.maxJobMemoryBytes).toBe(1024 ** 3);
  expect(c.limits.maxBodyBytes).toBe(16 * 1024 ** 2);
});

test('values are read, with 1_000 and 1e6 spellings', () => {
  const c = loadConfig({ PORT: '0', HOST: '0.0.0.0', WORKERS: '4', MAX_RUNNING_JOBS: '3', MAX_EPOCHS: '1_000', MAX_DATASET_ROWS: '1e6', LOG_LEVEL: 'debug' });
  expect(c).toMatchObject({ port: 0, host: '0.0.0.0', workers: 4, logLevel: 'debug' });
  expect(c.limits).toMatchObject({ maxRunningJobs: 3, maxEpochs: 1000, maxDatasetRows: 1_000_000 });
});

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no error');
}

test('an invalid variable is a startup error that names it, its value and what is expected', () => {
  const e = configError({ PORT: '80a', WORKERS: '0', LOG_LEVEL: 'loud' });
  expect(e.variables.sort()).toEqual(['LOG_LEVEL', 'PORT', 'WORKERS']);
  expect(e.message).toContain('PORT="80a": must be an integer');
  expect(e.message).toContain('WORKERS="0": must be >= 1');
  expect(e.message).toContain('LOG_LEVEL="loud"');
  expect(configError({ PORT: '70000' }).message).toContain('PORT="70000": must be a TCP port (0..65535)');
  expect(configError({ MAX_EPOCHS: '2.5' }).message).toContain('MAX_EPOCHS="2.5": must be an integer');
  expect(configError({ MAX_JOB_MEMORY_BYTES: '-1' }).variables).toEqual(['MAX_JOB_MEMORY_BYTES']);
});

test('MAX_RUNNING_JOBS cannot exceed WORKERS', () => {
  const e = configError({ WORKERS: '2', MAX_RUNNING_JOBS: '8' });
  expect(e.variables).toEqual(['MAX_RUNNING_JOBS']);
  expect(e.message).toBe(
    'invalid configuration: MAX_RUNNING_JOBS=8 cannot exceed WORKERS=2 (each running job needs its own worker thread)',
  );
});

test('DATABASE_URL chooses PostgreSQL (empty means unset), is never echoed, and ROLE=api|worker needs it', () => {
  expect(loadConfig({}).databaseUrl).toBeUndefined();
  expect(loadConfig({ DATABASE_URL: '' }).databaseUrl).toBeUndefined();
  const url = 'postgres://gradloom:s3cret-password@db:5432/gradloom';
  expect(loadConfig({ DATABASE_URL: url, ROLE: 'worker' })).toMatchObject({ databaseUrl: url, role: 'worker', leaseMs: 15_000 });
  let err: ConfigError | undefined;
  try {
    loadConfig({ DATABASE_URL: 'mysql://root:s3cret-password@db/x' });
  } catch (e) {
    err = e as ConfigError;
  }
  expect(err?.message).toMatch(/DATABASE_URL=<redacted>: must be a postgres:\/\/ or postgresql:\/\/ connection string/);
  expect(err?.message).not.toContain('s3cret-password');
  expect(() => loadConfig({ ROLE: 'api' })).toThrow(/ROLE=api needs DATABASE_URL/);
  expect(() => loadConfig({ ROLE: 'mixed' })).toThrow(/ROLE="mixed"/);
  expect(() => loadConfig({ LEASE_MS: '10' })).toThrow(/LEASE_MS="10": must be >= 1000/);
});
