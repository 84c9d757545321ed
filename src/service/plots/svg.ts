/** Just enough of an SVG writer: escaped text and attributes, elements as strings. */

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/**
 * Text safe inside an element or a double-quoted attribute. Characters XML 1.0 forbids (C0 controls other than tab,
 * newline, carriage return; lone surrogates) are dropped: a job name is user input and must not break the document.
 */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
    .replace(/[&<>"']/g, (c) => XML_ESCAPES[c]);
}

export type Attrs = Record<string, string | number | undefined>;

/** Numbers in coordinates: two decimals are below a pixel's worth and keep files small. */
export function num(value: number): string {
  return String(Math.round(value * 100) / 100);
}

function attrs(a: Attrs): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : escapeXml(v as string)}"`)
    .join('');
}

/** An element; `children` are already-serialised strings (use `text()` for user text). */
export function el(name: string, a: Attrs = {}, children: string[] | string = []): string {
  const inner = Array.isArray(children) ? children.join('') : children;
  return inner === '' ? `<${name}${attrs(a)}/>` : `<${name}${attrs(a)}>${inner}</${name}>`;
}

export function text(a: Attrs, content: string): string {
  return el('text', a, escapeXml(content));
}
