/**
 * Why the data directory cannot be used, in words an operator can act on. SQLite says "unable to open database
 * file" or "attempt to write a readonly database" without a path; this names the path, the variable and the cause.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export class DataDirError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DataDirError';
  }
}

function canWrite(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The error to report when opening the database `file` in `dataDir` (DATA_DIR) failed with `cause`. */
export function dataDirError(dataDir: string, file: string, cause: unknown): DataDirError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const who = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
  let diagnosis: string;
  if (!existsSync(dataDir)) {
    diagnosis = `the directory does not exist and could not be created: is ${dirname(dataDir)} writable${who}?`;
  } else if (!statSync(dataDir).isDirectory()) {
    diagnosis = `${dataDir} is not a directory`;
  } else if (!canWrite(dataDir)) {
    diagnosis = `the directory is not writable by this process${who} (read-only mount or permissions); SQLite needs to create its journal files next to the database`;
  } else if (existsSync(file) && !canWrite(file)) {
    diagnosis = `the database file is not writable by this process${who}`;
  } else {
    diagnosis = 'check that the disk has space and the file is not locked or corrupt';
  }
  return new DataDirError(`cannot open the database ${file} in DATA_DIR=${dataDir}: ${reason}; ${diagnosis}`, { cause });
}
