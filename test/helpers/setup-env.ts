/**
 * Runs before every test file (vitest setupFiles). DATABASE_URL (exported by .ci/run, or by a developer) is for the
 * suites that test PostgreSQL on purpose: it is moved to TEST_DATABASE_URL so that no other test, and no server a
 * test starts in a child process, silently runs on a shared database instead of its own temporary SQLite file.
 */
if (process.env.DATABASE_URL !== undefined) {
  process.env.TEST_DATABASE_URL ??= process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
}
