/**
 * Which store errors mean "the store cannot serve right now" (a full or read-only disk, a database that went away)
 * rather than a bug: those are answered 503 with the cause, so a client retries later or elsewhere instead of
 * seeing a generic 500, and operators read the cause in the answer and the log.
 */
const SQLITE_CAUSES: Record<string, string> = {
  SQLITE_FULL: 'the disk holding the database is full',
  SQLITE_READONLY: 'the database is read-only (a read-only DATA_DIR or file)',
  SQLITE_IOERR: 'the disk holding the database reported an I/O error',
  SQLITE_CANTOPEN: 'the database file cannot be opened',
  SQLITE_BUSY: 'the database is locked by another process',
};

/** PostgreSQL SQLSTATE classes and codes that are the server's condition, not the request's. */
const PG_CAUSES: [RegExp, string][] = [
  [/^53100$/, 'the PostgreSQL server is out of disk space'],
  [/^53/, 'the PostgreSQL server is out of resources'],
  [/^25006$/, 'the PostgreSQL server is read-only'],
  [/^57P0[1-3]$/, 'the PostgreSQL server is shutting down or restarting'],
  [/^08/, 'the connection to PostgreSQL failed'],
];

const NET_CAUSES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE']);

/** A sentence naming why the store cannot serve, or null when `err` is not such a failure. */
export function storeFailureCause(err: unknown): string | null {
  if (!err || typeof err !== 'object') return null;
  const code = String((err as { code?: unknown }).code ?? '');
  const message = err instanceof Error ? err.message : '';
  for (const [prefix, cause] of Object.entries(SQLITE_CAUSES)) {
    if (code === prefix || code.startsWith(`${prefix}_`)) return `${cause} (${code}: ${message})`;
  }
  if (/^[0-9A-Z]{5}$/.test(code)) {
    for (const [re, cause] of PG_CAUSES) if (re.test(code)) return `${cause} (${code}: ${message})`;
  }
  if (NET_CAUSES.has(code)) return `the database cannot be reached (${code}: ${message})`;
  if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message)) {
    return `the database cannot be reached (${message})`;
  }
  return null;
}
