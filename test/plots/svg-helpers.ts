/** Reading the SVG the plots produce: a real XML parser (fast-xml-parser), then simple queries on the tree. */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { expect } from 'vitest';

export interface Node {
  name: string;
  attrs: Record<string, string>;
  text: string;
  children: Node[];
}

/** Fails the test with the parser's message when the document is not well-formed XML. */
export function parseSvg(svg: string): Node {
  const valid = XMLValidator.validate(svg);
  expect(valid, typeof valid === 'object' ? JSON.stringify(valid.err) : '').toBe(true);
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', preserveOrder: true, trimValues: false });
  const tree = parser.parse(svg) as unknown[];
  const convert = (entry: Record<string, unknown>): Node | null => {
    const name = Object.keys(entry).find((k) => k !== ':@');
    if (!name || name === '?xml') return null;
    const kids = (entry[name] as Array<Record<string, unknown>>) ?? [];
    const children: Node[] = [];
    let text = '';
    for (const kid of kids) {
      if ('#text' in kid) text += String(kid['#text']);
      else {
        const node = convert(kid);
        if (node) children.push(node);
      }
    }
    return { name, attrs: (entry[':@'] as Record<string, string>) ?? {}, text, children };
  };
  const roots = (tree as Array<Record<string, unknown>>).map(convert).filter((n): n is Node => n !== null);
  expect(roots).toHaveLength(1);
  expect(roots[0].name).toBe('svg');
  return roots[0];
}

export function findAll(node: Node, test: (n: Node) => boolean, out: Node[] = []): Node[] {
  if (test(node)) out.push(node);
  for (const child of node.children) findAll(child, test, out);
  return out;
}

export function series(root: Node, label: string): Node {
  const found = findAll(root, (n) => n.name === 'g' && n.attrs['data-series'] === label);
  expect(found, `series ${label}`).toHaveLength(1);
  return found[0];
}

/** The polyline's vertices as [x, y] pixel pairs. */
export function polylinePoints(group: Node): Array<[number, number]> {
  const line = findAll(group, (n) => n.name === 'polyline');
  expect(line).toHaveLength(1);
  return line[0].attrs.points.split(' ').map((pair) => pair.split(',').map(Number) as [number, number]);
}

export function tickValues(root: Node, axis: 'x-axis' | 'y-axis'): number[] {
  const group = findAll(root, (n) => n.name === 'g' && n.attrs.class === axis)[0];
  return findAll(group, (n) => n.name === 'g' && n.attrs.class === 'tick').map((t) => Number(t.attrs['data-value']));
}
