/**
 * PostgreSQL for the tests that need it: TEST_DATABASE_URL (from DATABASE_URL, see setup-env.ts). CI always has it
 * (.ci/run starts the server and sets GRADLOOM_REQUIRE_POSTGRES=1, so a missing server fails there instead of
 * skipping); a user's fresh clone without PostgreSQL skips these tests and says why.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const postgresUrl: string | undefined = process.env.TEST_DATABASE_URL;

export const NO_POSTGRES_REASON =
  'PostgreSQL tests skipped: set DATABASE_URL=postgres://user@host:port/db to run them (CI always does, see .ci/run)';

if (!postgresUrl && process.env.GRADLOOM_REQUIRE_POSTGRES === '1') {
  throw new Error('GRADLOOM_REQUIRE_POSTGRES=1 but DATABASE_URL is not set: the PostgreSQL tests cannot be skipped here');
}
if (!postgresUrl) console.warn(NO_POSTGRES_REASON);

/** A fresh schema name for one test file; dropSchema removes it and everything in it. */
export function uniqueSchema(prefix = 'gl_test'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  if (!postgresUrl) return;
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}
