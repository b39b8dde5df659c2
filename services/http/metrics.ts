// Minimal Prometheus registry: counters, gauges read at scrape time, and latency histograms.
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

type Labels = Record<string, string>;
const key = (l: Labels): string =>
  Object.entries(l)
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
    .join(',');

export class Metrics {
  private readonly counters = new Map<string, { help: string; values: Map<string, number> }>();
  private readonly gauges = new Map<string, { help: string; read: () => number | Array<[Labels, number]> }>();
  private readonly histograms = new Map<string, { help: string; series: Map<string, { buckets: number[]; sum: number; count: number }> }>();

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = { help, values: new Map() }));
    const k = key(labels);
    c.values.set(k, (c.values.get(k) ?? 0) + by);
  }

  gauge(name: string, help: string, read: () => number | Array<[Labels, number]>): void {
    this.gauges.set(name, { help, read });
  }

  observe(name: string, help: string, labels: Labels, seconds: number): void {
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = { help, series: new Map() }));
    const k = key(labels);
    let s = h.series.get(k);
    if (!s) h.series.set(k, (s = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
  }

  private readonly requestSeries = new Map<string, { buckets: number[]; sum: number; count: number }>();

  /** The per-request histogram, keyed cheaply: this runs on every request. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const k = `method="${method}",route="${route}",status="${status}"`;
    let s = this.requestSeries.get(k);
    if (!s) this.requestSeries.set(k, (s = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    if (i < BUCKETS.length) s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
  }

  render(): string {
    const out: string[] = [];
    for (const [name, c] of this.counters) {
      out.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      for (const [k, v] of c.values) out.push(`${name}${k ? `{${k}}` : ''} ${v}`);
    }
    for (const [name, g] of this.gauges) {
      out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`);
      const v = g.read();
      if (typeof v === 'number') out.push(`${name} ${v}`);
      else for (const [l, n] of v) out.push(`${name}{${key(l)}} ${n}`);
    }
    for (const [name, h] of this.histograms) {
      out.push(`# HELP ${name} ${h.help}`, `# TYPE ${name} histogram`);
      for (const [k, s] of h.series) {
        const pre = k ? `${k},` : '';
        BUCKETS.forEach((b, i) => out.push(`${name}_bucket{${pre}le="${b}"} ${s.buckets[i]}`));
        out.push(`${name}_bucket{${pre}le="+Inf"} ${s.count}`, `${name}_sum${k ? `{${k}}` : ''} ${s.sum}`, `${name}_count${k ? `{${k}}` : ''} ${s.count}`);
      }
    }
    if (this.requestSeries.size > 0) {
      const name = 'http_request_duration_seconds';
      out.push(`# HELP ${name} HTTP request latency`, `# TYPE ${name} histogram`);
      for (const [k, s] of this.requestSeries) {
        let cum = 0;
        BUCKETS.forEach((b, i) => out.push(`${name}_bucket{${k},le="${b}"} ${(cum += s.buckets[i]!)}`));
        out.push(`${name}_bucket{${k},le="+Inf"} ${s.count}`, `${name}_sum{${k}} ${s.sum}`, `${name}_count{${k}} ${s.count}`);
      }
    }
    return out.join('\n') + '\n';
  }
}
