/**
 * One XY chart as a standalone SVG document: title, axes with nice ticks and grid lines, axis labels, series drawn
 * as a polyline or as points, an optional legend and note. Pure: data in, string out (no fastify, no I/O), so it is
 * tested alone and reused by every plot endpoint.
 */
import { escapeXml, el, num, text } from './svg.js';
import { formatTick, linearScale, logScale, project, type Scale } from './ticks.js';

export interface Series {
  /** Shown in the legend and used as the group's data-series attribute. */
  label: string;
  kind: 'line' | 'points';
  points: Array<[number, number]>;
  color: string;
  /** A dashed line (the validation loss next to the training loss). */
  dashed?: boolean;
  /** false: drawn but not listed in the legend (default true). */
  legend?: boolean;
}

export interface ChartOptions {
  title: string;
  /** A sentence for screen readers (the SVG's <desc>). */
  description: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  xLog?: boolean;
  yLog?: boolean;
  /** A remark under the plot area: what was left out, why the plot is empty. */
  note?: string;
  /** The legend under the plot, one row per entry, instead of over the plot's top-left corner (long labels). */
  legendBelow?: boolean;
  width?: number;
  height?: number;
}

export const DEFAULT_WIDTH = 640;
export const DEFAULT_HEIGHT = 400;
/** Above this many points a line is reduced per pixel column (first, min, max, last), which keeps its look. */
export const MAX_LINE_POINTS = 2000;

const MARGIN = { top: 44, right: 24, bottom: 64, left: 76 };
const INK = '#1a1a1a';
const GRID = '#d9d9d9';
const MUTED = '#4d4d4d'; // 8.5:1 on white
const LEGEND_ROW = 18;
const DASH = '6 4';

/** Bounds of usable values in one pass (no intermediate arrays: a curve can have 100k points). */
function bounds(series: Series[], axis: 0 | 1): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const s of series) {
    for (const p of s.points) {
      const v = p[axis];
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return { min, max };
}

function scaleFor(range: { min: number; max: number }, log: boolean): Scale {
  if (!(range.min <= range.max)) return log ? logScale(0.1, 1) : linearScale(0, 1);
  return log ? logScale(range.min, range.max) : linearScale(range.min, range.max);
}

/** Keeps the shape of a long line at a fraction of the points: per pixel column, its first, lowest, highest and last point. */
export function decimate(points: Array<[number, number]>, columns: number): Array<[number, number]> {
  if (points.length <= MAX_LINE_POINTS) return points;
  const x0 = points[0][0];
  const span = points[points.length - 1][0] - x0 || 1;
  const out: Array<[number, number]> = [];
  let bucket: Array<[number, number]> = [];
  let current = -1;
  const flush = () => {
    if (bucket.length === 0) return;
    let lo = bucket[0];
    let hi = bucket[0];
    for (const p of bucket) {
      if (p[1] < lo[1]) lo = p;
      if (p[1] > hi[1]) hi = p;
    }
    const keep = new Set([bucket[0], lo, hi, bucket[bucket.length - 1]]);
    for (const p of bucket) if (keep.has(p)) out.push(p);
    bucket = [];
  };
  for (const p of points) {
    const column = Math.min(columns - 1, Math.floor(((p[0] - x0) / span) * columns));
    if (column !== current) {
      flush();
      current = column;
    }
    bucket.push(p);
  }
  flush();
  return out;
}

export function renderChart(options: ChartOptions): string {
  const width = options.width ?? DEFAULT_WIDTH;
  const height = options.height ?? DEFAULT_HEIGHT;
  const listed = options.series.filter((s) => s.legend !== false);
  const showLegend = listed.length > 0 && options.series.length > 1;
  // A legend below takes its rows out of the plot area.
  const legendBelowHeight = showLegend && options.legendBelow ? listed.length * LEGEND_ROW + 14 : 0;
  const left = MARGIN.left;
  const right = width - MARGIN.right;
  const top = MARGIN.top;
  const bottom = height - MARGIN.bottom - legendBelowHeight;
  const xLog = options.xLog ?? false;
  const yLog = options.yLog ?? false;

  const usable = (p: [number, number]) =>
    Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!xLog || p[0] > 0) && (!yLog || p[1] > 0);
  const series = options.series.map((s) => ({ ...s, points: s.points.filter(usable) }));
  const xs = scaleFor(bounds(series, 0), xLog);
  const ys = scaleFor(bounds(series, 1), yLog);
  const px = (x: number) => project(xs, x, left, right);
  const py = (y: number) => project(ys, y, bottom, top);

  const parts: string[] = [];
  parts.push(el('title', { id: 'title' }, escapeXml(options.title)));
  parts.push(el('desc', { id: 'desc' }, escapeXml(options.description)));
  parts.push(el('rect', { x: 0, y: 0, width, height, fill: '#ffffff' }));
  parts.push(text({ x: width / 2, y: 26, 'text-anchor': 'middle', 'font-size': 16, 'font-weight': 'bold', fill: INK }, options.title));

  const xTicks = xs.ticks.map((t) =>
    el('g', { class: 'tick', 'data-value': String(t) }, [
      el('line', { x1: px(t), x2: px(t), y1: top, y2: bottom, stroke: GRID, 'stroke-width': 1 }),
      el('line', { x1: px(t), x2: px(t), y1: bottom, y2: bottom + 5, stroke: INK }),
      text({ x: px(t), y: bottom + 20, 'text-anchor': 'middle', 'font-size': 12, fill: MUTED }, formatTick(t)),
    ]),
  );
  const yTicks = ys.ticks.map((t) =>
    el('g', { class: 'tick', 'data-value': String(t) }, [
      el('line', { x1: left, x2: right, y1: py(t), y2: py(t), stroke: GRID, 'stroke-width': 1 }),
      el('line', { x1: left - 5, x2: left, y1: py(t), y2: py(t), stroke: INK }),
      text({ x: left - 8, y: py(t) + 4, 'text-anchor': 'end', 'font-size': 12, fill: MUTED }, formatTick(t)),
    ]),
  );
  parts.push(el('g', { class: 'x-axis', 'data-scale': xLog ? 'log' : 'linear' }, xTicks));
  parts.push(el('g', { class: 'y-axis', 'data-scale': yLog ? 'log' : 'linear' }, yTicks));
  parts.push(el('rect', { x: left, y: top, width: right - left, height: bottom - top, fill: 'none', stroke: INK }));
  parts.push(text({ x: (left + right) / 2, y: bottom + 42, 'text-anchor': 'middle', 'font-size': 13, fill: INK }, options.xLabel));
  const yLabelX = 18;
  const yLabelY = (top + bottom) / 2;
  parts.push(
    text(
      { x: yLabelX, y: yLabelY, 'text-anchor': 'middle', 'font-size': 13, fill: INK, transform: `rotate(-90 ${num(yLabelX)} ${num(yLabelY)})` },
      options.yLabel + (yLog ? ' (log scale)' : ''),
    ),
  );

  const body: string[] = [];
  for (const s of series) {
    if (s.kind === 'line') {
      const pts = decimate(s.points, Math.max(1, Math.round(right - left)));
      const d = pts.map((p) => `${num(px(p[0]))},${num(py(p[1]))}`).join(' ');
      body.push(
        el('g', { class: 'series', 'data-series': s.label, 'data-count': s.points.length }, [
          pts.length > 1
            ? el('polyline', { points: d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-linejoin': 'round', 'stroke-dasharray': s.dashed ? DASH : undefined })
            : pts.length === 1
              ? el('circle', { cx: px(pts[0][0]), cy: py(pts[0][1]), r: 3, fill: s.color })
              : '',
        ]),
      );
    } else {
      body.push(
        el(
          'g',
          { class: 'series', 'data-series': s.label, 'data-count': s.points.length, fill: s.color },
          s.points.map((p) => el('circle', { cx: px(p[0]), cy: py(p[1]), r: 4 })),
        ),
      );
    }
  }
  parts.push(el('clipPath', { id: 'plot-area' }, el('rect', { x: left, y: top, width: right - left, height: bottom - top })));
  parts.push(el('g', { 'clip-path': 'url(#plot-area)' }, body));

  if (showLegend) {
    const below = options.legendBelow ?? false;
    const x0 = below ? left - 6 : left + 6;
    const y0 = below ? bottom + 52 : top + 4;
    const legend = listed.map((s, i) => {
      const y = y0 + 12 + i * LEGEND_ROW;
      const swatch =
        s.kind === 'line'
          ? el('line', { x1: x0 + 6, x2: x0 + 26, y1: y - 4, y2: y - 4, stroke: s.color, 'stroke-width': 2, 'stroke-dasharray': s.dashed ? DASH : undefined })
          : el('circle', { cx: x0 + 16, cy: y - 4, r: 4, fill: s.color });
      return swatch + text({ x: x0 + 32, y, 'font-size': 12, fill: INK }, s.label);
    });
    const boxWidth = 52 + 7 * Math.max(...listed.map((s) => s.label.length));
    const box = below
      ? ''
      : el('rect', { x: x0, y: y0, width: boxWidth, height: listed.length * LEGEND_ROW + 8, fill: '#ffffff', 'fill-opacity': 0.9, stroke: GRID });
    parts.push(el('g', { class: 'legend' }, [box, ...legend]));
  }
  if (options.note) {
    parts.push(text({ class: 'note', x: left, y: height - 6, 'font-size': 11, fill: MUTED }, options.note));
  }

  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    el(
      'svg',
      {
        xmlns: 'http://www.w3.org/2000/svg',
        width,
        height,
        viewBox: `0 0 ${width} ${height}`,
        role: 'img',
        'aria-labelledby': 'title desc',
        'font-family': 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif',
      },
      parts,
    ) +
    '\n'
  );
}
