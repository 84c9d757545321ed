// @ts-check
/**
 * The submit form's model, without the DOM: presets, form values → job spec, job spec → form values, and which field
 * an API issue path (`training.optimizer.lr`, `data.x.3.0`) belongs to. Pure, so vitest imports it as it is.
 */

const TUTORIAL_X = [[3.3], [4.4], [5.5], [6.71], [6.93], [4.168], [9.779], [6.182], [7.59], [2.167], [7.042], [10.791], [5.313], [7.997], [3.1]];
const TUTORIAL_Y = [[1.7], [2.76], [2.09], [3.19], [1.694], [1.573], [3.366], [2.596], [2.53], [1.221], [2.827], [3.465], [1.65], [2.904], [1.3]];

/**
 * The tutorial's two programs. The regression keeps a checkpoint every 5 epochs so that the dashboard can redraw the
 * fitted line while it trains (checkpoints do not change the losses).
 */
export const PRESETS = {
  regression: {
    name: 'tutorial: linear regression',
    model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
    data: { kind: 'inline', x: TUTORIAL_X, y: TUTORIAL_Y },
    training: { epochs: 60, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.001 } },
    seed: 0,
    checkpointEvery: 5,
  },
  twoLayer: {
    name: 'tutorial: two-layer net',
    model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
    data: { kind: 'random', n: 64 },
    training: { epochs: 500, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
    seed: 0,
  },
};

/** Every form field, by the dotted path of the spec value it edits. */
export const FIELD_PATHS = [
  'name',
  'model.kind', 'model.inputDim', 'model.hiddenDim', 'model.outputDim', 'model.init', 'model.bias',
  'data.kind', 'data.n', 'data.id', 'data.x', 'data.y',
  'training.epochs', 'training.loss', 'training.optimizer.kind', 'training.optimizer.lr', 'training.optimizer.momentum',
  'training.batchSize', 'seed', 'checkpointEvery',
];

/** Numbers stay numbers; anything else is sent as typed, so the API's own validation names the field. */
function number(text) {
  const trimmed = String(text ?? '').trim();
  if (trimmed === '') return undefined;
  const n = Number(trimmed);
  return Number.isFinite(n) ? n : trimmed;
}

function text(value) {
  const trimmed = String(value ?? '').trim();
  return trimmed === '' ? undefined : trimmed;
}

/** Drops undefined members so that absent fields take the API's defaults. */
function compact(obj) {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

/**
 * Form values (path → string, or boolean for checkboxes) → `{spec, issues}`. Issues here are only what the API
 * cannot see: JSON that does not parse. Everything else is left to the API, whose issues map back to the fields.
 */
export function buildSpec(values) {
  const issues = [];
  const v = (path) => values[path];
  const json = (path) => {
    const raw = String(v(path) ?? '').trim();
    if (raw === '') return undefined;
    try {
      return JSON.parse(raw);
    } catch (err) {
      issues.push({ path, message: `not valid JSON (${err instanceof Error ? err.message : String(err)}); write rows like [[1.5], [2]]` });
      return undefined;
    }
  };
  const modelKind = v('model.kind');
  const model =
    modelKind === 'two_layer_net'
      ? compact({
          kind: modelKind,
          inputDim: number(v('model.inputDim')),
          hiddenDim: number(v('model.hiddenDim')),
          outputDim: number(v('model.outputDim')),
          bias: v('model.bias') === true ? true : undefined,
          init: text(v('model.init')),
        })
      : compact({ kind: modelKind, inputDim: number(v('model.inputDim')), outputDim: number(v('model.outputDim')) });
  const dataKind = v('data.kind');
  const data =
    dataKind === 'random'
      ? compact({ kind: dataKind, n: number(v('data.n')) })
      : dataKind === 'dataset'
        ? compact({ kind: dataKind, id: text(v('data.id')) })
        : compact({ kind: dataKind, x: json('data.x'), y: json('data.y') });
  const optKind = v('training.optimizer.kind');
  const optimizer = compact({
    kind: optKind,
    lr: number(v('training.optimizer.lr')),
    momentum: optKind === 'sgd' ? number(v('training.optimizer.momentum')) : undefined,
  });
  const spec = compact({
    name: text(v('name')),
    model,
    data,
    training: compact({
      epochs: number(v('training.epochs')),
      loss: text(v('training.loss')),
      optimizer,
      batchSize: number(v('training.batchSize')),
    }),
    seed: number(v('seed')),
    checkpointEvery: number(v('checkpointEvery')),
  });
  return { spec, issues };
}

function get(obj, path) {
  return path.split('.').reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
}

/** A spec (a preset) → form values, the inverse of buildSpec for the fields the form has. */
export function valuesFromSpec(spec) {
  const values = {};
  for (const path of FIELD_PATHS) {
    const value = get(spec, path);
    if (path === 'model.bias') values[path] = value === true;
    else if (path === 'data.x' || path === 'data.y') values[path] = value === undefined ? '' : JSON.stringify(value);
    else if (value === undefined) values[path] = path === 'model.init' ? 'randn' : path === 'training.optimizer.momentum' ? '' : '';
    else values[path] = String(value);
  }
  return values;
}

/**
 * The field an issue belongs to: the longest field path that is a prefix of the issue path ('data.x.3.0' → 'data.x');
 * failing that, the first field under it ('training.optimizer' → 'training.optimizer.kind'); null for the form as a
 * whole (an unknown top-level key, an empty path).
 */
export function fieldForPath(path, fields = FIELD_PATHS) {
  const p = String(path ?? '');
  if (p === '') return null;
  let best = null;
  for (const f of fields) {
    if ((p === f || p.startsWith(`${f}.`)) && (best === null || f.length > best.length)) best = f;
  }
  if (best) return best;
  return fields.find((f) => f.startsWith(`${p}.`)) ?? null;
}

/** Whether a field applies, from its data-when rule ("model.kind=two_layer_net") and the current values. */
export function fieldApplies(when, values) {
  if (!when) return true;
  const [path, expected] = when.split('=');
  return values[path] === expected;
}
