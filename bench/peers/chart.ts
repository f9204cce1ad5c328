import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Report } from './report.js';

const PANEL = { width: 320, height: 190 } as const;
const CAPSYNC = '#e45756';
const OTHERS = '#4c78a8';

/** The report as a vega-lite specification: four panels, every figure from peers.json. */
export function chartSpec(report: Report): TopLevelSpec {
  const order = report.calls.map((r) => r.label);
  const x = { field: 'label', type: 'nominal', sort: order, title: null, axis: { labelAngle: 0 } } as const;
  const highlight = { condition: { test: "datum.system === 'capsync'", value: CAPSYNC }, value: OTHERS } as const;
  const latency = report.calls.flatMap((r) => [
    { label: r.label, system: r.system, metric: 'p50', ms: r.p50Ms },
    { label: r.label, system: r.system, metric: 'p99', ms: r.p99Ms },
  ]);
  const fanout = report.fanout.map((r) => ({ ...r, size: `${r.connections.toLocaleString('en-US')} connections` }));
  const sizes = [...new Set(fanout.map((r) => r.size))];
  const o = report.options;
  /** Grouped bars, one group per system and one bar per fan-out size, each labelled with its value. */
  const bySize = (field: string, title: string, unit: string, digits: string) => ({
    ...PANEL,
    title,
    data: { values: fanout },
    encoding: { x, xOffset: { field: 'size', type: 'nominal', sort: sizes } },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          y: { field, type: 'quantitative', title: unit },
          color: { field: 'size', type: 'nominal', sort: sizes, title: null, legend: { orient: 'top' }, scale: { range: ['#9ecae9', '#3182bd'] } },
          opacity: { condition: { test: "datum.system === 'capsync'", value: 1 }, value: 0.75 },
        },
      },
      {
        mark: { type: 'text', dy: -5, fontSize: 9 },
        encoding: { y: { field, type: 'quantitative' }, text: { field, type: 'quantitative', format: digits } },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'capsync against the systems a user would pick instead',
      subtitle: `${report.machine.cpus} CPUs, Node ${report.machine.node}, ${report.date.slice(0, 10)}; medians of ${o.rounds} (calls) and ${o.fanoutRounds} (fan-out) interleaved rounds; npm run bench:peers`,
      anchor: 'start',
    },
    config: { font: 'sans-serif', view: { stroke: null }, axis: { grid: true, gridOpacity: 0.4 }, title: { fontSize: 13 } },
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    spacing: 30,
    vconcat: [
      {
        hconcat: [
          {
            ...PANEL,
            // Bars are the paired ratios, the robust figure on a shared machine; labels give the median calls/s.
            title: `Calls/s against the raw floor, ${o.connections} connections x 1 call in flight`,
            data: { values: report.calls },
            layer: [
              { mark: { type: 'bar' }, encoding: { x, y: { field: 'ratio', type: 'quantitative', title: 'x raw floor', scale: { domain: [0, 1.1] } }, color: highlight } },
              {
                mark: { type: 'text', dy: -6, fontSize: 11 },
                transform: [{ calculate: "format(datum.ratio, '.2f') + 'x  (' + format(datum.callsPerSecond, ',.0f') + '/s)'", as: 'caption' }],
                encoding: { x, y: { field: 'ratio', type: 'quantitative' }, text: { field: 'caption' } },
              },
            ],
          },
          {
            ...PANEL,
            title: 'Call latency, ms (lower is better)',
            data: { values: latency },
            mark: 'bar',
            encoding: {
              x,
              xOffset: { field: 'metric', type: 'nominal' },
              y: { field: 'ms', type: 'quantitative', title: 'ms' },
              color: { field: 'metric', type: 'nominal', title: null, legend: { orient: 'top' }, scale: { range: ['#72b7b2', '#f58518'] } },
            },
          },
        ],
      },
      {
        hconcat: [
          bySize('lastDeliveryMs', 'Fan-out: ms until the last connection has the update', 'ms', '.0f'),
          bySize('memoryPerConnectionKb', 'Server memory per connection, KB of RSS', 'KB', '.1f'),
        ],
      },
    ],
  } as TopLevelSpec;
}

/** Renders the chart to SVG headless (no canvas, no browser). */
export async function renderChart(report: Report): Promise<string> {
  const view = new vega.View(vega.parse(compile(chartSpec(report)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
