// @ts-check
/** The submit form: presets, fields that appear with the kinds they belong to, and API issues next to their field. */
import { api, ApiError } from './api.js';
import { $, h, say } from './dom.js';
import { buildSpec, fieldApplies, fieldForPath, FIELD_PATHS, PRESETS, valuesFromSpec } from './spec.js';

/** @returns {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} */
function control(path) {
  return /** @type {any} */ ($(`#submit-form [data-path="${path}"]`));
}

function readValues() {
  /** @type {Record<string, string | boolean>} */
  const values = {};
  for (const path of FIELD_PATHS) {
    const el = control(path);
    values[path] = el instanceof HTMLInputElement && el.type === 'checkbox' ? el.checked : el.value;
  }
  return values;
}

function writeValues(values) {
  for (const path of FIELD_PATHS) {
    const el = control(path);
    if (el instanceof HTMLInputElement && el.type === 'checkbox') el.checked = values[path] === true;
    else el.value = String(values[path] ?? '');
  }
  syncVisibility();
}

/** Shows the fields that apply to the chosen model, data and optimizer kinds. */
function syncVisibility() {
  const values = readValues();
  for (const field of document.querySelectorAll('#submit-form .field[data-when]')) {
    /** @type {HTMLElement} */ (field).hidden = !fieldApplies(field.getAttribute('data-when'), values);
  }
}

function fieldBox(path) {
  return /** @type {HTMLElement} */ ($(`#submit-form .field[data-field="${path}"]`));
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    el.removeAttribute('aria-describedby');
  }
}

/**
 * Puts each issue under its field (aria-invalid + aria-describedby, so screen readers read it with the field); issues
 * with no visible field go to the form's alert. Focuses the first field with a problem.
 * @returns {string[]} the messages that had no field
 */
export function showIssues(form, issues, fieldFor) {
  const general = [];
  let first = null;
  const byField = new Map();
  for (const issue of issues) {
    const path = fieldFor(issue.path);
    const box = path ? form.querySelector(`.field[data-field="${path}"]`) : null;
    if (!box || box.hidden) {
      general.push(issue.path ? `${issue.path}: ${issue.message}` : issue.message);
      continue;
    }
    const list = byField.get(path) ?? [];
    list.push(issue.path === path ? issue.message : `${issue.path}: ${issue.message}`);
    byField.set(path, list);
  }
  for (const [path, messages] of byField) {
    const box = form.querySelector(`.field[data-field="${path}"]`);
    const input = box.querySelector('[data-path]');
    const id = `err-${path.replaceAll('.', '-')}`;
    box.append(h('p', { class: 'field-error', id, text: messages.join('; ') }));
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', id);
    first ??= input;
  }
  first?.focus();
  return general;
}

/**
 * The Idempotency-Key of the last submission that did not succeed. Sending the same spec again reuses it, so a retry
 * after a lost answer (the server may have created the job) returns that job instead of training a second one; a
 * retry after a refusal made no job, so the key is new to the server anyway. A success forgets it: submitting the
 * same spec again afterwards is a new job. Hex from getRandomValues: crypto.randomUUID exists only on https and
 * localhost pages.
 * @type {{ body: string, key: string } | null}
 */
let lastAttempt = null;

function idempotencyKey(body) {
  const last = lastAttempt;
  if (last && last.body === body) return last.key;
  const key = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
  lastAttempt = { body, key };
  return key;
}

export function initSubmitForm(onCreated) {
  const form = /** @type {HTMLFormElement} */ ($('#submit-form'));
  for (const button of document.querySelectorAll('[data-preset]')) {
    button.addEventListener('click', () => {
      const preset = PRESETS[/** @type {'regression'|'twoLayer'} */ (button.getAttribute('data-preset'))];
      writeValues(valuesFromSpec(preset));
      clearErrors(form);
      say($('#form-error'), '');
    });
  }
  for (const path of ['model.kind', 'data.kind', 'training.optimizer.kind']) control(path).addEventListener('change', syncVisibility);
  writeValues(valuesFromSpec(PRESETS.regression));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    say($('#form-error'), '');
    const { spec, issues } = buildSpec(readValues());
    if (issues.length > 0) {
      const general = showIssues(form, issues, fieldForPath);
      say($('#form-error'), general.join(' · ') || 'Fix the highlighted fields.');
      return;
    }
    const submit = /** @type {HTMLButtonElement} */ (form.querySelector('button[type=submit]'));
    submit.disabled = true;
    const body = JSON.stringify(spec);
    try {
      const job = await api('POST', '/v1/jobs', spec, { 'idempotency-key': idempotencyKey(body) });
      lastAttempt = null;
      onCreated(job);
    } catch (err) {
      if (err instanceof ApiError && err.issues.length > 0) {
        const general = showIssues(form, err.issues, fieldForPath);
        say($('#form-error'), general.length ? `${err.message} · ${general.join(' · ')}` : 'The API refused the job: see the highlighted fields.');
      } else if (err instanceof ApiError) {
        say($('#form-error'), err.message);
      } else {
        // No answer: the job may exist. The retry carries the same Idempotency-Key, so saying so is true.
        say($('#form-error'), `Could not reach the server (${err instanceof Error ? err.message : String(err)}). Submitting again is safe: it will not make a second job.`);
      }
    } finally {
      submit.disabled = false;
    }
  });
}
