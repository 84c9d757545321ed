/**
 * A job spec as a runnable PyTorch program (GET /v1/jobs/:id/pytorch): the same data, seed, model, loss, optimizer,
 * schedule, validation and early stopping as gradloom's trainer, in the style of the tutorials, printing one
 * `epoch loss [valLoss]` line per epoch. Pure: spec in, Python source out (no I/O); the script itself fetches what
 * it cannot embed (large inline rows, warm-start weights) from the API, and reads dataset rows from a file, since
 * the API does not give a dataset's rows back.
 *
 * What must match gradloom's trainer for the numbers to match (src/training/*): x then y drawn before the weights;
 * the tutorial's manual `w -= lr * w.grad` for the tutorial net with plain SGD and no schedule (isTutorialSgd),
 * torch.optim otherwise; 'sse' as `(y_pred - y).pow(2).sum()`; mini-batches in row order, the epoch's loss their
 * mean; per epoch after the steps: valLoss (no grad, one batch), scheduler.step(), early stopping's bookkeeping;
 * the validation fraction split by randperm on a generator of its own.
 */
import type { TrainableSpec } from '../spec/job-spec.js';
import { isTutorialSgd } from './optimizer.js';

/** Inline rows above this many numbers (x and y together) are fetched from GET /v1/jobs/:id/data instead of embedded. */
export const EMBED_MAX_VALUES = 10_000;

/**
 * The issue-12 fields the script reads (validation, early stopping, schedule, warm start), all optional: they are
 * read from the spec object as it is, so this compiles before the spec schema has them and works once it does.
 */
type Rows = { x: number[][]; y: number[][] };
/** Inline rows in the spec (as submitted) or their summary (as a job keeps them, the rows given in options.rows). */
type InlineRows = { kind: 'inline' } & (Rows | { rows: number });
interface ExperimentFields {
  training?: {
    validation?: { kind: 'fraction'; fraction: number } | InlineRows | { kind: 'dataset'; id: string };
    earlyStopping?: { patience: number; minDelta?: number };
    scheduler?: { kind: 'step'; stepSize: number; gamma?: number } | { kind: 'cosine'; tMax: number; etaMin?: number };
  };
  warmStart?: { jobId: string; epoch?: number };
}

export interface PytorchScriptOptions {
  jobId: string;
  /** The API the script downloads from (default http://127.0.0.1:8080; GRADLOOM_URL overrides it when run). */
  baseUrl?: string;
  /** Embedding limit for inline rows (default EMBED_MAX_VALUES). */
  embedMaxValues?: number;
  /** A stored spec's inline rows, when they are small enough to embed (see inlineValues); fetched otherwise. */
  rows?: { data?: Rows; validation?: Rows };
}

const rowCount = (d: InlineRows): number => ('x' in d ? d.x.length : d.rows);

/** Numbers (x and y together) of a spec's inline rows: whether they are embedded or fetched. */
export function inlineValues(d: InlineRows, model: { inputDim: number; outputDim: number }): number {
  return rowCount(d) * (model.inputDim + model.outputDim);
}

/** A Python number literal for a finite JS number (shortest round-trip form, so Python reads the same double). */
export function pyNumber(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`not a finite number: ${v}`);
  if (Object.is(v, -0)) return '-0.0';
  return String(v); // '1e-7', '1e+21', '0.5', '3': all valid Python literals
}

/** A Python string literal, ASCII only (JSON's escapes are Python's). */
export function pyString(s: string): string {
  return asciiOnly(JSON.stringify(s));
}

/** Non-ASCII characters as \\uXXXX escapes: the script is ASCII, whatever a job's name holds. */
const asciiOnly = (s: string) => s.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const pyBool = (b: boolean) => (b ? 'True' : 'False');

function pyMatrix(rows: number[][], indent: string): string {
  if (rows.length === 0) return '[]';
  return `[\n${rows.map((r) => `${indent}    [${r.map(pyNumber).join(', ')}],`).join('\n')}\n${indent}]`;
}


const API_HELPERS = `import json
import os
import urllib.request

GRADLOOM_URL = os.environ.get("GRADLOOM_URL", BASE_URL).rstrip("/")
API_KEY = os.environ.get("GRADLOOM_API_KEY")


def api_get(path):
    """GET from the gradloom API (with GRADLOOM_API_KEY as a bearer token when set): the response's bytes."""
    headers = {"authorization": "Bearer " + API_KEY} if API_KEY else {}
    with urllib.request.urlopen(urllib.request.Request(GRADLOOM_URL + path, headers=headers)) as response:
        return response.read()


def api_rows(part):
    """A job's inline rows (part "data" or "validation") from GET /v1/jobs/:id/data, page by page: (x, y)."""
    x, y, offset = [], [], 0
    while offset is not None:
        page = json.loads(api_get(f"/v1/jobs/{JOB_ID}/data?part={part}&offset={offset}"))
        x += page["x"]
        y += page["y"]
        offset = page["nextOffset"]
    return x, y
`;

const SAFETENSORS_READER = `import struct


def read_safetensors(data):
    """A safetensors file as {name: tensor} (gradloom writes F32 only): u64 header size, JSON header, raw data."""
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {info['dtype']}, only F32 is read here")
        begin, end = info["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.float32).reshape(info["shape"])
    return tensors
`;

const ROWS_READER = `import csv


def load_rows(path, dataset_id, width_x, width_y):
    """A dataset's rows from the file you uploaded: JSON {"x": [[...]], "y": [[...]]}, or CSV (a header row; the
    columns named in GRADLOOM_TARGET=a,b are the targets, else the last column, as POST /v1/datasets reads it)."""
    if not os.path.exists(path):
        raise SystemExit(f"dataset {dataset_id}: the API does not give a dataset's rows back; save the rows you "
                         f"uploaded as {path} (JSON with x and y, or the CSV) or point GRADLOOM_DATA at them")
    if path.endswith(".csv"):
        with open(path, newline="") as f:
            lines = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
        header = [name.strip() for name in lines[0]]
        targets = [t.strip() for t in os.environ.get("GRADLOOM_TARGET", "").split(",") if t.strip()] or header[-1:]
        xs = [i for i, name in enumerate(header) if name not in targets]
        ys = [i for i, name in enumerate(header) if name in targets]
        rows = [[float(cell) for cell in row] for row in lines[1:]]
        x, y = [[r[i] for i in xs] for r in rows], [[r[i] for i in ys] for r in rows]
    else:
        with open(path) as f:
            doc = json.load(f)
        x, y = doc["x"], doc["y"]
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    if x.shape[1] != width_x or y.shape[1] != width_y:
        raise SystemExit(f"{path}: rows of {x.shape[1]} inputs and {y.shape[1]} targets, the job's model takes "
                         f"{width_x} and {width_y}")
    return x, y
`;

/** The Python source of a runnable PyTorch program that trains `spec` as gradloom does. */
export function pytorchScript(spec: TrainableSpec, options: PytorchScriptOptions): string {
  const extra = spec as unknown as ExperimentFields;
  const validation = extra.training?.validation;
  const earlyStopping = validation ? extra.training?.earlyStopping : undefined;
  const scheduler = extra.training?.scheduler;
  const warmStart = extra.warmStart;
  const embedMax = options.embedMaxValues ?? EMBED_MAX_VALUES;
  const { model, data, training } = spec;
  const opt = training.optimizer;
  const tutorialSgd = isTutorialSgd(model, opt) && !scheduler;
  const tutorialNet = model.kind === 'two_layer_net' && (model.init ?? 'randn') === 'randn';
  const bias = model.kind === 'two_layer_net' && (model.bias ?? false);

  // Rows to embed: the spec's own, or those the caller read for a stored spec; fetched at run time otherwise.
  const embedded = (d: InlineRows, given: Rows | undefined): Rows | null =>
    inlineValues(d, model) > embedMax ? null : 'x' in d ? d : (given ?? null);
  const dataRows = data.kind === 'inline' ? embedded(data, options.rows?.data) : null;
  const validationRows = validation?.kind === 'inline' ? embedded(validation, options.rows?.validation) : null;
  const fetchInline = data.kind === 'inline' && dataRows === null;
  const fetchValidation = validation?.kind === 'inline' && validationRows === null;
  const needsApi = fetchInline || fetchValidation || warmStart !== undefined;
  const needsRows = data.kind === 'dataset' || validation?.kind === 'dataset';

  // Rows known before the script runs (null: read from a dataset file at run time).
  const n = data.kind === 'random' ? data.n : data.kind === 'inline' ? rowCount(data) : null;
  const valRows = validation?.kind === 'fraction' && n !== null ? Math.floor(validation.fraction * n + 0.5) : null;
  const trainRows = n === null ? null : validation?.kind === 'fraction' ? n - valRows! : n;
  const miniBatches = training.batchSize !== undefined && (trainRows === null || training.batchSize < trainRows);

  const out: string[] = [];
  const line = (s = '') => out.push(s);
  const summarise = (d: InlineRows) => ('x' in d ? { kind: 'inline', rows: d.x.length } : d);
  const summary = { ...spec, data: data.kind === 'inline' ? summarise(data) : data } as Record<string, unknown>;
  if (validation?.kind === 'inline') summary.training = { ...training, validation: summarise(validation) };
  delete summary.webhook; // not part of training, and a URL may carry a token

  line('#!/usr/bin/env python3');
  line(`# gradloom job ${pyString(options.jobId)}${spec.name ? ` (${pyString(spec.name)})` : ''}, reproduced in PyTorch.`);
  line(`# Generated by GET /v1/jobs/${options.jobId}/pytorch from the job's spec:`);
  for (const l of JSON.stringify(summary, null, 1).split('\n')) line(`#   ${asciiOnly(l)}`);
  line('#');
  line("# It trains that spec as gradloom does and prints one line per epoch: `epoch loss` (then valLoss when the job");
  line('# has validation data), the numbers of GET /v1/jobs/<id>/metrics. With Debian\'s python3-torch (reference BLAS,');
  line('# one thread) the tutorial jobs\' losses equal gradloom\'s to the bit; a BLAS that sums in another order (MKL,');
  line('# OpenBLAS) moves the last digits, which long runs near float32\'s rounding floor can amplify.');
  line('#');
  line('#   pip install torch          (or: apt-get install python3-torch)');
  line(`#   python3 ${options.jobId}.py`);
  if (needsApi) line('# It downloads from GRADLOOM_URL (default below) with GRADLOOM_API_KEY as the bearer token when set.');
  if (needsRows) line('# Dataset rows come from a file (GRADLOOM_DATA, GRADLOOM_VALIDATION_DATA): the API does not serve them back.');
  line('import math');
  line();
  line('import torch');
  if (!tutorialNet || training.loss === 'mse') line('import torch.nn as nn');
  line();
  if (needsApi || needsRows) {
    line(`BASE_URL = ${pyString(options.baseUrl ?? 'http://127.0.0.1:8080')}`);
    line(`JOB_ID = ${pyString(options.jobId)}`);
    line(needsApi ? API_HELPERS : 'import json\nimport os\n');
    if (needsRows) line(ROWS_READER);
    if (warmStart) line(SAFETENSORS_READER);
  }
  line('torch.set_num_threads(1)  # reductions in one order every run, as gradloom\'s fixtures were made');
  line();
  line(`seed = ${spec.seed}`);
  line('torch.manual_seed(seed)');
  line();

  // ---- data
  const dims = model.kind === 'two_layer_net'
    ? { names: 'D_in, H, D_out', values: `${model.inputDim}, ${model.hiddenDim}, ${model.outputDim}` }
    : { names: 'D_in, D_out', values: `${model.inputDim}, ${model.outputDim}` };
  line(`${dims.names} = ${dims.values}`);
  if (data.kind === 'random') {
    line('# The data: x [N, D_in] then y [N, D_out] from N(0, 1), drawn before the weights (the tutorial\'s order)');
    line(`N = ${data.n}`);
    line('x = torch.randn(N, D_in)');
    line('y = torch.randn(N, D_out)');
  } else if (data.kind === 'inline') {
    if (dataRows === null) {
      line(`# The job's ${rowCount(data)} inline rows (${inlineValues(data, model)} numbers, too many to embed here), from GET /v1/jobs/:id/data`);
      line('x, y = api_rows("data")');
      line('x = torch.tensor(x, dtype=torch.float32)');
      line('y = torch.tensor(y, dtype=torch.float32)');
    } else {
      line('# The job\'s inline rows, as float32');
      line(`x = torch.tensor(${pyMatrix(dataRows.x, '')}, dtype=torch.float32)`);
      line(`y = torch.tensor(${pyMatrix(dataRows.y, '')}, dtype=torch.float32)`);
    }
  } else {
    line(`# The rows of dataset ${pyString(data.id)}`);
    line(`x, y = load_rows(os.environ.get("GRADLOOM_DATA", ${pyString(`${data.id}.json`)}), ${pyString(data.id)}, D_in, D_out)`);
  }
  line();

  // ---- model
  const sdKeys = model.kind === 'linear_regression' ? [] : bias ? ['0.weight', '0.bias', '2.weight', '2.bias'] : ['0.weight', '2.weight'];
  if (model.kind === 'two_layer_net' && tutorialNet) {
    line('# The tutorial\'s net: raw tensors w1 [D_in, H], w2 [H, D_out] drawn from N(0, 1) after the data');
    line('w1 = torch.randn(D_in, H, requires_grad=True)');
    line('w2 = torch.randn(H, D_out, requires_grad=True)');
    if (bias) {
      line('b1 = torch.zeros(H, requires_grad=True)  # biases start at zero and draw nothing');
      line('b2 = torch.zeros(D_out, requires_grad=True)');
    }
    line(`params = [${bias ? 'w1, w2, b1, b2' : 'w1, w2'}]`);
    line();
    line();
    line('def model(x):');
    line(bias ? '    return (x.mm(w1) + b1).clamp(min=0).mm(w2) + b2' : '    return x.mm(w1).clamp(min=0).mm(w2)');
    if (earlyStopping || warmStart) {
      line();
      line();
      line('def state_dict():');
      line('    """The weights as gradloom\'s checkpoint names them: nn.Sequential(Linear, ReLU, Linear)."""');
      line('    with torch.no_grad():');
      const t = { '0.weight': 'w1.t()', '0.bias': 'b1', '2.weight': 'w2.t()', '2.bias': 'b2' } as Record<string, string>;
      line(`        return {${sdKeys.map((k) => `"${k}": ${t[k]}.clone()`).join(', ')}}`);
      line();
      line();
      line('def load_state_dict(sd):');
      line('    with torch.no_grad():');
      const from = { '0.weight': 'w1.copy_(sd["0.weight"].t())', '0.bias': 'b1.copy_(sd["0.bias"])', '2.weight': 'w2.copy_(sd["2.weight"].t())', '2.bias': 'b2.copy_(sd["2.bias"])' } as Record<string, string>;
      for (const k of sdKeys) line(`        ${from[k]}`);
    }
  } else {
    if (model.kind === 'linear_regression') {
      line('model = nn.Linear(D_in, D_out)  # its initialisation draws from the seeded generator');
    } else {
      line('# nn.Linear\'s initialisation, drawn from the seeded generator after the data, layer by layer');
      line(`model = nn.Sequential(nn.Linear(D_in, H, bias=${pyBool(bias)}), nn.ReLU(), nn.Linear(H, D_out, bias=${pyBool(bias)}))`);
    }
    line('params = list(model.parameters())');
    if (earlyStopping) {
      line();
      line();
      line('def state_dict():');
      line('    return {k: v.detach().clone() for k, v in model.state_dict().items()}');
      line();
      line();
    }
    if (earlyStopping || warmStart) line('load_state_dict = model.load_state_dict');
  }
  line();
  if (warmStart) {
    const epochPart = warmStart.epoch !== undefined ? `?epoch=${warmStart.epoch}` : '';
    line(`# Warm start: the weights of job ${pyString(warmStart.jobId)} (${warmStart.epoch !== undefined ? `its checkpoint at epoch ${warmStart.epoch}` : 'its final checkpoint'}) replace the ones just drawn`);
    line(`load_state_dict(read_safetensors(api_get(${pyString(`/v1/jobs/${encodeURIComponent(warmStart.jobId)}/checkpoint${epochPart}`)})))`);
    line();
  }

  // ---- validation
  if (validation) {
    if (validation.kind === 'fraction') {
      line(`# Validation: round(${pyNumber(validation.fraction)} * n) rows held out, chosen by randperm on a generator of its own`);
      line('# seeded with the job\'s seed (the data and weights above are drawn as without validation); both parts keep');
      line('# the rows\' order');
      line(`k = math.floor(${pyNumber(validation.fraction)} * len(x) + 0.5)`);
      line('perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))');
      line('val_rows, train_rows = perm[:k].sort().values, perm[k:].sort().values');
      line('x_val, y_val = x[val_rows], y[val_rows]');
      line('x, y = x[train_rows], y[train_rows]');
    } else if (validation.kind === 'inline') {
      if (validationRows === null) {
        line(`# The job's ${rowCount(validation)} validation rows (too many to embed here), from GET /v1/jobs/:id/data`);
        line('x_val, y_val = api_rows("validation")');
        line('x_val = torch.tensor(x_val, dtype=torch.float32)');
        line('y_val = torch.tensor(y_val, dtype=torch.float32)');
      } else {
        line('# Validation rows given with the job');
        line(`x_val = torch.tensor(${pyMatrix(validationRows.x, '')}, dtype=torch.float32)`);
        line(`y_val = torch.tensor(${pyMatrix(validationRows.y, '')}, dtype=torch.float32)`);
      }
    } else {
      line(`# Validation rows: dataset ${pyString(validation.id)}`);
      line(`x_val, y_val = load_rows(os.environ.get("GRADLOOM_VALIDATION_DATA", ${pyString(`${validation.id}.json`)}), ${pyString(validation.id)}, D_in, D_out)`);
    }
    line();
  }

  // ---- loss, optimizer, schedule
  if (training.loss === 'sse') {
    line();
    line();
    line('def loss_fn(y_pred, y):');
    line('    return (y_pred - y).pow(2).sum()  # the tutorial\'s sum of squared errors');
    line();
    line();
  } else {
    line('loss_fn = nn.MSELoss()');
  }
  if (tutorialSgd) {
    line(`learning_rate = ${pyNumber(opt.lr)}  # the tutorial's update w -= learning_rate * w.grad (not torch.optim.SGD's fused one)`);
  } else if (opt.kind === 'sgd') {
    line(
      `optimizer = torch.optim.SGD(params, lr=${pyNumber(opt.lr)}, momentum=${pyNumber(opt.momentum ?? 0)}, ` +
        `dampening=${pyNumber(opt.dampening ?? 0)}, weight_decay=${pyNumber(opt.weightDecay ?? 0)}, nesterov=${pyBool(opt.nesterov ?? false)})`,
    );
  } else {
    const [b1, b2] = opt.betas ?? [0.9, 0.999];
    line(
      `optimizer = torch.optim.Adam(params, lr=${pyNumber(opt.lr)}, betas=(${pyNumber(b1)}, ${pyNumber(b2)}), ` +
        `eps=${pyNumber(opt.eps ?? 1e-8)}, weight_decay=${pyNumber(opt.weightDecay ?? 0)}, amsgrad=${pyBool(opt.amsgrad ?? false)})`,
    );
  }
  if (scheduler?.kind === 'step') {
    line(`scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=${scheduler.stepSize}, gamma=${pyNumber(scheduler.gamma ?? 0.1)})`);
  } else if (scheduler?.kind === 'cosine') {
    line(`scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=${scheduler.tMax}, eta_min=${pyNumber(scheduler.etaMin ?? 0)})`);
  }
  if (earlyStopping) {
    line(`patience, min_delta = ${earlyStopping.patience}, ${pyNumber(earlyStopping.minDelta ?? 0)}`);
    line('best_val_loss, best_epoch, wait, best_state = math.inf, 0, 0, None');
  }
  if (miniBatches) line(`batch_size = ${training.batchSize}  # mini-batches in row order (DataLoader with shuffle=False)`);
  line(`epochs = ${training.epochs}`);
  line();

  // ---- the loop
  /** One optimizer step on (xb, yb); `nonFinite` runs when the loss is not finite, before any update (as gradloom). */
  const step = (ind: string, xb: string, yb: string, nonFinite: string[]) => {
    if (!tutorialSgd) line(`${ind}optimizer.zero_grad()`);
    line(`${ind}y_pred = model(${xb})`);
    line(`${ind}loss = loss_fn(y_pred, ${yb})`);
    line(`${ind}value = loss.item()`);
    line(`${ind}if not math.isfinite(value):`);
    for (const l of nonFinite) line(`${ind}    ${l}`);
    line(`${ind}loss.backward()`);
    if (tutorialSgd) {
      const names = bias ? ['w1', 'w2', 'b1', 'b2'] : ['w1', 'w2'];
      line(`${ind}with torch.no_grad():`);
      for (const w of names) line(`${ind}    ${w} -= learning_rate * ${w}.grad`);
      for (const w of names) line(`${ind}    ${w}.grad.zero_()`);
    } else {
      line(`${ind}optimizer.step()`);
    }
  };
  const diverged = ['print(f"diverged at epoch {epoch} (loss={value})")  # the weights stay those of the last finite epoch', 'break'];
  line('for epoch in range(1, epochs + 1):');
  if (miniBatches) {
    line('    total, batches = 0.0, 0');
    line('    for start in range(0, len(x), batch_size):');
    step('        ', 'x[start:start + batch_size]', 'y[start:start + batch_size]', ['break']);
    line('        total += value');
    line('        batches += 1');
    line('    if not math.isfinite(value):');
    for (const l of diverged) line(`        ${l}`);
    line('    epoch_loss = total / batches if batches > 1 else total  # the mean of the batch losses');
  } else {
    step('    ', 'x', 'y', diverged);
    line('    epoch_loss = value');
  }
  if (validation) {
    line('    with torch.no_grad():');
    line('        val_loss = loss_fn(model(x_val), y_val).item()');
  }
  if (scheduler) line('    scheduler.step()  # once per epoch, after the optimizer');
  line(validation ? '    print(epoch, epoch_loss, val_loss)' : '    print(epoch, epoch_loss)');
  if (earlyStopping) {
    line('    if val_loss + min_delta < best_val_loss:');
    line('        best_val_loss, best_epoch, wait, best_state = val_loss, epoch, 0, state_dict()');
    line('    else:');
    line('        wait += 1');
    line('        if wait >= patience:');
    line('            print(f"stopped early at epoch {epoch}: best epoch {best_epoch}, valLoss {best_val_loss}")');
    line('            break');
    line();
    line('if best_state is not None:');
    line('    load_state_dict(best_state)  # gradloom\'s final checkpoint is the best epoch\'s weights');
  }
  return `${out.join('\n').replace(/\n{4,}/g, '\n\n\n')}\n`; // at most two blank lines in a row, as PEP 8 has it
}
