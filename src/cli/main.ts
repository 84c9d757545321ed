#!/usr/bin/env node
/**
 * `gradloom`: the command-line client (and `gradloom serve`, the server in-process). Arguments with node:util
 * parseArgs; HTTP with Node's fetch; streams with `ws`. Exit codes: 0 ok, 1 an error from or reaching the server
 * (its message is printed), 2 a usage error, 3 a followed job failed, 4 a followed job was cancelled.
 */
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CliError, Client } from './client.js';
import { exitCodeFor, follow, summary, type JobView } from './follow.js';
import { formatLoss } from './progress.js';

export const USAGE = `gradloom: train models on a gradloom server and watch them learn

Usage:
  gradloom serve [--port N] [--host H] [--data-dir DIR] [--workers N]   start a server in this process
  gradloom submit SPEC.json [--follow] [--idempotency-key K]           submit a job ('-' reads stdin)
  gradloom follow ID                                                     progress bar until the job ends
  gradloom jobs [--status S] [--tag T] [--name N] [--limit N] [--cursor C]  list jobs, newest first
  gradloom status ID                                                     one job
  gradloom metrics ID                                                    the loss of every epoch
  gradloom cancel ID                                                     cancel a queued or running job
  gradloom predict ID --x '[[1.5]]'                                      run the trained model ('@file.json' reads a file)
  gradloom checkpoint ID -o model.safetensors [--epoch N] [--format json]
  gradloom plot ID -o loss.svg [--fit] [--log]                           server-made SVG (loss curve, or --fit line)

Options:
  --url URL        server (default $GRADLOOM_URL or http://127.0.0.1:8080)
  --api-key KEY    sent as Authorization: Bearer (default $GRADLOOM_API_KEY)
  --json           machine-readable output (one JSON document; NDJSON stream messages with --follow)
  -h, --help       this text

Exit codes: 0 ok, 1 server or connection error, 2 usage error, 3 job failed, 4 job cancelled.`;

const OPTIONS = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  follow: { type: 'boolean', short: 'f', default: false },
  'idempotency-key': { type: 'string' },
  status: { type: 'string' },
  tag: { type: 'string' },
  name: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  x: { type: 'string' },
  output: { type: 'string', short: 'o' },
  epoch: { type: 'string' },
  format: { type: 'string' },
  fit: { type: 'boolean', default: false },
  log: { type: 'boolean', default: false },
  port: { type: 'string' },
  host: { type: 'string' },
  'data-dir': { type: 'string' },
  workers: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export interface Io {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream;
  env: Record<string, string | undefined>;
  readStdin: () => string;
}

const usage = (message: string) => new CliError(`${message}\nRun 'gradloom --help' for usage.`, 2);

function needId(positionals: string[], command: string): string {
  const id = positionals[1];
  if (!id) throw usage(`gradloom ${command}: missing the job ID`);
  if (positionals.length > 2) throw usage(`gradloom ${command}: unexpected argument ${JSON.stringify(positionals[2])}`);
  return id;
}

function jobPath(id: string, rest = ''): string {
  return `/v1/jobs/${encodeURIComponent(id)}${rest}`;
}

function readJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw usage(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw usage(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

function printJob(io: Io, job: JobView & { createdAt?: string; spec?: { model: { kind: string } } }): void {
  const rows: Array<[string, string]> = [
    ['id', job.id],
    ['name', job.name ?? '—'],
    ['status', job.status],
    ['progress', `${job.epoch}/${job.epochs}`],
    ['last loss', formatLoss(job.lastLoss)],
    ['model', job.spec?.model.kind ?? '—'],
    ['created', job.createdAt ?? '—'],
    ['started', job.startedAt ?? '—'],
    ['finished', job.finishedAt ?? '—'],
  ];
  if (job.error) rows.push(['error', `${job.error.code}: ${job.error.message}`]);
  for (const [k, v] of rows) io.out.write(`${k.padEnd(10)} ${v}\n`);
}

async function serve(values: Values, io: Io): Promise<number> {
  // main.ts reads its configuration from the environment; the flags are shorthands for those variables.
  const env: Record<string, string | undefined> = { PORT: values.port, HOST: values.host, DATA_DIR: values['data-dir'], WORKERS: values.workers };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
  void io;
  await import(new URL('../service/main.js', import.meta.url).href);
  return -1; // keep running: the server owns the process until a signal
}

async function followAndReport(client: Client, job: JobView, values: Values, io: Io): Promise<number> {
  const done = await follow(client, job, { json: values.json, out: io.out, err: io.err });
  if (values.json) io.out.write(`${JSON.stringify(done)}\n`);
  else (done.status === 'succeeded' ? io.out : io.err).write(`${summary(done)}\n`);
  return exitCodeFor(done.status);
}

export async function run(argv: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || command === undefined || command === 'help') {
    io.out.write(`${USAGE}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (command === 'serve') return serve(values, io);

  const client = new Client({
    url: values.url ?? io.env.GRADLOOM_URL ?? 'http://127.0.0.1:8080',
    apiKey: values['api-key'] ?? io.env.GRADLOOM_API_KEY,
  });
  const print = (body: unknown, human: () => void) => {
    if (values.json) io.out.write(`${JSON.stringify(body, null, 2)}\n`);
    else human();
  };

  switch (command) {
    case 'submit': {
      const file = positionals[1];
      if (!file) throw usage('gradloom submit: missing the spec file (a JSON job spec, or - for stdin)');
      let text: string;
      try {
        text = file === '-' ? io.readStdin() : readFileSync(file, 'utf8');
      } catch (err) {
        throw usage(`cannot read ${file}: ${(err as Error).message}`);
      }
      const spec = readJson(text, file);
      const key = values['idempotency-key'];
      const job = await client.json<JobView>('POST', '/v1/jobs', spec, key ? { 'idempotency-key': key } : undefined);
      if (!values.follow) {
        print(job, () => io.out.write(`${job.id}\n`));
        return 0;
      }
      if (!values.json) io.err.write(`submitted ${job.id}${job.name ? ` (${job.name})` : ''}\n`);
      return followAndReport(client, job, values, io);
    }
    case 'follow': {
      const job = await client.json<JobView>('GET', jobPath(needId(positionals, command)));
      return followAndReport(client, job, values, io);
    }
    case 'jobs': {
      const query = new URLSearchParams();
      if (values.status) query.set('status', values.status);
      if (values.tag) query.set('tag', values.tag);
      if (values.name) query.set('name', values.name);
      if (values.limit) query.set('limit', String(positiveInt(values.limit, 'limit')));
      if (values.cursor) query.set('cursor', values.cursor);
      const page = await client.json<{ items: JobView[]; nextCursor: string | null }>('GET', `/v1/jobs${query.size ? `?${query}` : ''}`);
      print(page, () => {
        const rows = page.items.map((j) => [j.id, j.status, `${j.epoch}/${j.epochs}`, formatLoss(j.lastLoss), j.name ?? '']);
        const header = ['ID', 'STATUS', 'EPOCH', 'LOSS', 'NAME'];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
        for (const r of [header, ...rows]) io.out.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}\n`);
        if (page.nextCursor) io.out.write(`more: gradloom jobs --cursor ${page.nextCursor}\n`);
      });
      return 0;
    }
    case 'status': {
      const job = await client.json<JobView>('GET', jobPath(needId(positionals, command)));
      print(job, () => printJob(io, job));
      return 0;
    }
    case 'metrics': {
      const metrics = await client.json<{ epochs: Array<{ epoch: number; loss: number | null; elapsedMs: number }> }>(
        'GET',
        jobPath(needId(positionals, command), '/metrics'),
      );
      print(metrics, () => {
        io.out.write('epoch\tloss\telapsedMs\n');
        for (const e of metrics.epochs) io.out.write(`${e.epoch}\t${e.loss}\t${e.elapsedMs}\n`);
      });
      return 0;
    }
    case 'cancel': {
      const job = await client.json<JobView>('POST', jobPath(needId(positionals, command), '/cancel'));
      print(job, () =>
        io.out.write(job.status === 'cancelled' ? `job ${job.id} cancelled\n` : `job ${job.id}: cancel requested (stops at the end of its epoch)\n`),
      );
      return 0;
    }
    case 'predict': {
      const id = needId(positionals, command);
      if (values.x === undefined) throw usage("gradloom predict: missing --x, the input rows as JSON, e.g. --x '[[1.5]]'");
      let text = values.x;
      if (text.startsWith('@')) {
        try {
          text = readFileSync(text.slice(1), 'utf8');
        } catch (err) {
          throw usage(`cannot read ${text.slice(1)}: ${(err as Error).message}`);
        }
      }
      const x = readJson(text, '--x');
      const result = await client.json<{ y: number[][] }>('POST', jobPath(id, '/predictions'), { x });
      print(result, () => io.out.write(`${JSON.stringify(result.y)}\n`));
      return 0;
    }
    case 'checkpoint': {
      const id = needId(positionals, command);
      if (values.format !== undefined && values.format !== 'json' && values.format !== 'safetensors')
        throw usage(`--format must be json or safetensors, got ${JSON.stringify(values.format)}`);
      const query = new URLSearchParams();
      const epoch = positiveInt(values.epoch, 'epoch');
      if (epoch !== undefined) query.set('epoch', String(epoch));
      if (values.format === 'json') query.set('format', 'json');
      const response = await client.raw('GET', jobPath(id, `/checkpoint${query.size ? `?${query}` : ''}`));
      const bytes = new Uint8Array(await response.arrayBuffer());
      const output = values.output ?? `${id}${values.format === 'json' ? '.json' : '.safetensors'}`;
      if (output === '-') io.out.write(bytes);
      else {
        writeFileSync(output, bytes);
        print({ file: output, bytes: bytes.byteLength }, () => io.err.write(`wrote ${output} (${bytes.byteLength} bytes)\n`));
      }
      return 0;
    }
    case 'plot': {
      const id = needId(positionals, command);
      const path = values.fit ? jobPath(id, '/plots/fit.svg') : jobPath(id, `/plots/loss.svg${values.log ? '?log=1' : ''}`);
      const svg = await (await client.raw('GET', path)).text();
      const output = values.output ?? `${id}-${values.fit ? 'fit' : 'loss'}.svg`;
      if (output === '-') io.out.write(svg);
      else {
        writeFileSync(output, svg);
        print({ file: output, bytes: Buffer.byteLength(svg) }, () => io.err.write(`wrote ${output}\n`));
      }
      return 0;
    }
    default:
      throw usage(`unknown command ${JSON.stringify(command)}`);
  }
}

/** Runs when executed as the bin (not when a test imports `run`). */
async function main(): Promise<void> {
  // `gradloom jobs | head -1`: the reader has gone, so the rest of the output has nowhere to go. Stop quietly, as
  // a command killed by SIGPIPE would, instead of crashing on the write's EPIPE.
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    });
  const io: Io = { out: process.stdout, err: process.stderr, env: process.env, readStdin: () => readFileSync(0, 'utf8') };
  try {
    const code = await run(process.argv.slice(2), io);
    if (code >= 0) process.exitCode = code;
  } catch (err) {
    if (err instanceof CliError) {
      // Scripts asked for JSON: give them the server's error document (or one shaped like it) instead of prose.
      const json = process.argv.includes('--json');
      const body = err.body ?? { error: err.exitCode === 2 ? 'usage' : 'client_error', message: err.message };
      process.stderr.write(json ? `${JSON.stringify(body)}\n` : `gradloom: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`gradloom: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  }
}

const entry = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (entry === realpathSync(fileURLToPath(import.meta.url))) await main();
