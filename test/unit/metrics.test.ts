// The metrics registry: one per app instance (no collisions between servers in one process), the default Node metrics
// on each, exact label escaping, and gauges read at scrape time.
import { expect } from 'chai';
import { HttpMetrics } from '../../services/metrics/http.js';
import { Metrics } from '../../services/metrics/registry.js';

/** The value of one sample line, e.g. `name{a="b"}`, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('unit: metrics registry', () => {
  it('carries the default Node metrics: CPU, heap, event-loop lag and GC', async () => {
    const text = await new Metrics().render();
    for (const name of [
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_gc_duration_seconds',
    ]) {
      expect(text, name).to.match(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(sample(text, 'process_cpu_user_seconds_total')).to.be.a('number').and.at.least(0);
  });

  it('keeps instances apart: the same names in two registries count separately', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.counter('ledger_things_total', 'things').inc(3);
    b.counter('ledger_things_total', 'things').inc();
    a.counter('ledger_things_total', 'things').inc(); // the same counter again, not a second registration
    expect(sample(await a.render(), 'ledger_things_total')).to.equal(4);
    expect(sample(await b.render(), 'ledger_things_total')).to.equal(1);
  });

  it('escapes label values exactly: quotes, newlines and backslashes survive the round trip', async () => {
    const m = new Metrics();
    m.counter('ledger_odd_total', 'odd labels', ['v']).inc({ v: 'a"b\nc\\d' });
    const text = await m.render();
    expect(text).to.include('ledger_odd_total{v="a\\"b\\nc\\\\d"} 1');
  });

  it('reads gauges at scrape time, and a second registration replaces the reader', async () => {
    const m = new Metrics();
    let n = 1;
    m.gauge('ledger_open_things', 'open things', () => n);
    expect(sample(await m.render(), 'ledger_open_things')).to.equal(1);
    n = 7;
    expect(sample(await m.render(), 'ledger_open_things')).to.equal(7);
    m.gauge('ledger_open_things', 'open things', () => -1);
    expect(sample(await m.render(), 'ledger_open_things')).to.equal(-1);
  });

  it('renders what another process reports after its own metrics, until the source is removed; without process metrics on request', async () => {
    const m = new Metrics();
    m.counter('ledger_own_total', 'own').inc(2);
    const child = new Metrics({ processMetrics: false });
    child.counter('ledger_child_total', 'from a child process').inc(5);
    expect(await child.render()).to.not.include('process_cpu_user_seconds_total');
    let text = await child.render();
    const remove = m.addSource(() => Promise.resolve(text));
    const both = await m.render();
    expect(sample(both, 'ledger_own_total')).to.equal(2);
    expect(sample(both, 'ledger_child_total')).to.equal(5);
    expect(both.match(/^# TYPE ledger_child_total /gm)).to.have.length(1);
    expect(both.endsWith('\n') && !both.endsWith('\n\n'), 'one final newline').to.equal(true);
    text = ''; // a source with nothing to say (its process is not running) adds nothing
    expect(sample(await m.render(), 'ledger_child_total')).to.equal(undefined);
    remove();
    text = await child.render();
    expect(sample(await m.render(), 'ledger_child_total')).to.equal(undefined);
  });

  it('HTTP metrics: every login outcome and throttle kind starts at 0; requests land in the latency histogram', async () => {
    const m = new Metrics();
    const h = new HttpMetrics(m);
    h.request('GET', '/v1/keys/:id', 200, 0.002);
    h.request('GET', '/v1/keys/:id', 200, 0.3);
    h.login('bad_password');
    h.authentication('api-key', 'invalid');
    const text = await m.render();
    for (const o of ['success', 'unknown_user', 'inactive', 'throttled'])
      expect(sample(text, `ledger_logins_total{outcome="${o}"}`), o).to.equal(0);
    expect(sample(text, 'ledger_logins_total{outcome="bad_password"}')).to.equal(1);
    expect(sample(text, 'ledger_throttled_total{kind="login"}')).to.equal(0);
    expect(sample(text, 'ledger_throttled_total{kind="password_change"}')).to.equal(0);
    expect(sample(text, 'ledger_authentications_total{presentation="api-key",outcome="invalid"}')).to.equal(1);
    const series = 'method="GET",route="/v1/keys/:id",status="200"';
    expect(sample(text, `http_request_duration_seconds_count{${series}}`)).to.equal(2);
    expect(sample(text, `http_request_duration_seconds_bucket{le="0.0025",${series}}`)).to.equal(1);
    expect(sample(text, `http_request_duration_seconds_bucket{le="+Inf",${series}}`)).to.equal(2);
  });
});
