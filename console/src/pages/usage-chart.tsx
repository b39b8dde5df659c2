// Uses of a key over time, from its ApiKeyUsed events, bucketed and drawn with uPlot.
import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { AuditItem } from '../types';
import { Empty } from '../ui';

/** Bucket width: about 40 buckets over the span, at least one minute. */
export function bucketUses(uses: Array<[number, number]>): { data: [number[], number[]]; width: number } {
  if (uses.length === 0) return { data: [[], []], width: 60_000 };
  const times = uses.map(([t]) => t);
  const min = Math.min(...times);
  const max = Math.max(...times);
  const width = Math.max(60_000, Math.ceil((max - min + 1) / 40 / 60_000) * 60_000);
  const start = Math.floor(min / width) * width;
  const n = Math.floor((max - start) / width) + 1;
  const counts = new Array<number>(n).fill(0);
  for (const [t, c] of uses) counts[Math.floor((t - start) / width)]! += c;
  return { data: [counts.map((_, i) => (start + i * width) / 1000), counts], width };
}

export function UsageChart(props: { uses: AuditItem[] }): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  // Uses are coalesced: each event carries how many uses it stands for.
  const uses = props.uses.map((u): [number, number] => [
    Date.parse(u.occurredAt),
    typeof u.event.data.count === 'number' ? u.event.data.count : 1,
  ]);
  const total = uses.reduce((n, [, c]) => n + c, 0);
  useEffect(() => {
    const el = host.current;
    if (!el || uses.length === 0) return;
    const { data, width } = bucketUses(uses);
    const pad = width / 1000;
    const chart = new uPlot(
      {
        width: Math.max(280, el.clientWidth),
        height: 220,
        series: [{}, { label: 'Uses', stroke: '#0b5cad', fill: 'rgba(11,92,173,0.15)', paths: uPlot.paths.bars?.() }],
        // A bucket of margin each side: one bucket alone would otherwise stretch over the whole axis.
        scales: { x: { time: true, range: (_u, min, max) => [min - pad, max + pad] } },
        axes: [{}, { label: 'uses' }],
        legend: { show: true },
      },
      data,
      el,
    );
    const resize = (): void => chart.setSize({ width: Math.max(280, el.clientWidth), height: 220 });
    addEventListener('resize', resize);
    return () => {
      removeEventListener('resize', resize);
      chart.destroy();
    };
  }, [uses.join(';')]);
  if (uses.length === 0) return <Empty>No recorded uses yet.</Empty>;
  return (
    <figure class="panel chart" aria-label={`Usage chart: ${total} uses`}>
      <div ref={host} />
      <figcaption class="hint">{total} uses over time, from ApiKeyUsed events</figcaption>
    </figure>
  );
}
