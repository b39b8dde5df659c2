// One Prometheus registry per app instance (several servers share a test process), carrying the default Node metrics.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';

/** Latency buckets in seconds, shared by every histogram. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

let nodeMetrics: Metric[] | null = null;

/** CPU, memory, GC, handles and event-loop lag, collected once per process: each collection starts monitors that never stop. */
function defaultNodeMetrics(): Metric[] {
  if (nodeMetrics === null) {
    const own = new Registry();
    collectDefaultMetrics({ register: own });
    // The registry hands back the metric objects themselves, typed as their descriptions.
    nodeMetrics = own.getMetricsAsArray() as unknown as Metric[];
  }
  return nodeMetrics;
}

export class Metrics {
  /** Never the prom-client global registry: each instance renders only its own metrics plus the process's. */
  readonly registry = new Registry();
  /** Exposition text of metrics kept by child processes (see addSource). */
  private readonly sources = new Set<() => Promise<string>>();

  /** `processMetrics: false` leaves out the Node process's own (a child process's would clash with its server's). */
  constructor(opts: { readonly processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) for (const m of defaultNodeMetrics()) this.registry.registerMetric(m);
  }

  /**
   * Adds the exposition text `read` gives (metrics another process keeps, under names of its own) to every render;
   * returns its removal.
   */
  addSource(read: () => Promise<string>): () => void {
    this.sources.add(read);
    return () => void this.sources.delete(read);
  }

  /** The counter of this name, created on first use. */
  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing instanceof Counter) return existing;
    return new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  /** The histogram of this name, created on first use. */
  histogram<L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets = LATENCY_BUCKETS,
  ): Histogram<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing instanceof Histogram) return existing;
    return new Histogram<L>({ name, help, labelNames, buckets: [...buckets], registers: [this.registry] });
  }

  /** A gauge read at scrape time; registering the name again replaces the reader (e.g. a restarted component). */
  gauge(name: string, help: string, read: () => number): void {
    this.registry.removeSingleMetric(name);
    const gauge = new Gauge({
      name,
      help,
      registers: [],
      collect() {
        this.set(read());
      },
    });
    this.registry.registerMetric(gauge);
  }

  /** The Prometheus text exposition of everything registered. */
  async render(): Promise<string> {
    const own = this.registry.metrics();
    if (this.sources.size === 0) return own;
    const texts = await Promise.all([own, ...[...this.sources].map((read) => read())]);
    return `${texts
      .map((t) => t.trimEnd())
      .filter((t) => t !== '')
      .join('\n')}\n`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
