export { renderChart, decimate, MAX_LINE_POINTS, type ChartOptions, type Series } from './chart.js';
export { renderLossPlot, type LossPlotInput } from './loss-plot.js';
export { renderFitPlot, type FitPlotInput } from './fit-plot.js';
export { linearScale, logScale, formatTick, project, type Scale } from './ticks.js';
export { escapeXml } from './svg.js';
export { renderComparePlot, spansDecades, COMPARE_COLORS, type ComparePlotInput, type CompareRun } from './compare-plot.js';
