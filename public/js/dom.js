// @ts-check
/** Small DOM helpers shared by the views. */

/** @returns {HTMLElement} */
export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`no element ${selector}`);
  return /** @type {HTMLElement} */ (el);
}

/** Creates an element with text content and attributes (text is never parsed as HTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = String(v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children) if (child !== null && child !== undefined) el.append(child);
  return el;
}

/** Shows a message in a role=status/alert element; empty text hides it. */
export function say(el, message) {
  el.textContent = message ?? '';
}
