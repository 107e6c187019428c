/**
 * Plain SVG line charts (no dependency: a chart here is a few polylines, axes and a legend).
 * Used for the latency CDF per shape and the throughput over time.
 */

export interface Series {
  readonly label: string;
  /** [x, y] points in data units, x ascending. */
  readonly points: readonly (readonly [number, number])[];
}

export interface Chart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Log scale on x (latency CDFs span orders of magnitude). */
  readonly logX?: boolean;
  /** Shaded x ranges (the spike, the outage), in data units. */
  readonly bands?: readonly { readonly from: number; readonly to: number; readonly label: string }[];
}

const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { left: 70, right: 150, top: 40, bottom: 50 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

export function lineChart(chart: Chart): string {
  const all = chart.series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x).filter((x) => !chart.logX || x > 0);
  const ys = all.map(([, y]) => y);
  let xMin = xs.length > 0 ? Math.min(...xs) : 0;
  const xMax = xs.length > 0 ? Math.max(...xs) : 1;
  if (!chart.logX) xMin = Math.min(0, xMin);
  const yMax = ys.length > 0 ? Math.max(...ys, 0) : 1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const fx = (x: number): number => {
    if (chart.logX) {
      const lo = Math.log10(Math.max(xMin, 1e-6));
      const hi = Math.log10(Math.max(xMax, xMin * 10));
      return MARGIN.left + ((Math.log10(Math.max(x, 1e-6)) - lo) / (hi - lo || 1)) * plotW;
    }
    return MARGIN.left + ((x - xMin) / (xMax - xMin || 1)) * plotW;
  };
  const fy = (y: number): number => MARGIN.top + plotH - (y / (yMax || 1)) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  parts.push(`<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${escape(chart.title)}</text>`);
  for (const band of chart.bands ?? []) {
    const x1 = fx(band.from);
    const x2 = fx(band.to);
    parts.push(`<rect x="${num(x1)}" y="${MARGIN.top}" width="${num(Math.max(1, x2 - x1))}" height="${plotH}" fill="#888" fill-opacity="0.15"/>`);
    parts.push(`<text x="${num(x1 + 3)}" y="${MARGIN.top + 14}" fill="#555">${escape(band.label)}</text>`);
  }
  // Axes and ticks.
  parts.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top + plotH}" x2="${MARGIN.left + plotW}" y2="${MARGIN.top + plotH}" stroke="black"/>`);
  parts.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${MARGIN.top + plotH}" stroke="black"/>`);
  for (const x of xTicks(xMin, xMax, chart.logX === true)) {
    parts.push(`<line x1="${num(fx(x))}" y1="${MARGIN.top + plotH}" x2="${num(fx(x))}" y2="${MARGIN.top + plotH + 5}" stroke="black"/>`);
    parts.push(`<text x="${num(fx(x))}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${tickLabel(x)}</text>`);
  }
  for (let i = 0; i <= 4; i += 1) {
    const y = (yMax * i) / 4;
    parts.push(`<line x1="${MARGIN.left - 5}" y1="${num(fy(y))}" x2="${MARGIN.left + plotW}" y2="${num(fy(y))}" stroke="#ddd"/>`);
    parts.push(`<text x="${MARGIN.left - 8}" y="${num(fy(y) + 4)}" text-anchor="end">${tickLabel(y)}</text>`);
  }
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">${escape(chart.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(chart.yLabel)}</text>`);
  chart.series.forEach((series, index) => {
    const colour = COLOURS[index % COLOURS.length]!;
    const points = series.points.filter(([x]) => !chart.logX || x > 0).map(([x, y]) => `${num(fx(x))},${num(fy(y))}`);
    if (points.length > 0) parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.join(' ')}"/>`);
    const ly = MARGIN.top + 10 + index * 18;
    parts.push(`<line x1="${WIDTH - MARGIN.right + 15}" y1="${ly}" x2="${WIDTH - MARGIN.right + 35}" y2="${ly}" stroke="${colour}" stroke-width="3"/>`);
    parts.push(`<text x="${WIDTH - MARGIN.right + 40}" y="${ly + 4}">${escape(series.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function xTicks(min: number, max: number, log: boolean): number[] {
  if (log) {
    const ticks: number[] = [];
    for (let p = Math.floor(Math.log10(Math.max(min, 1e-6))); 10 ** p <= max * 1.0001; p += 1) if (10 ** p >= min) ticks.push(10 ** p);
    return ticks;
  }
  return [0, 1, 2, 3, 4, 5].map((i) => min + ((max - min) * i) / 5);
}

function tickLabel(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 1) return Number(value.toFixed(1)).toString();
  return Number(value.toPrecision(2)).toString();
}

function num(value: number): string {
  return value.toFixed(1);
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
