// The serving process bounds V8's old-generation growth: the setting is validated, and V8 knows the flag it sets.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { ConfigError, loadConfig } from '../../services/config.js';
import { heapGrowingFlag } from '../../services/heap-tuning.js';

const base = { LEDGER_DATA_DIR: tmpdir() };

/** stderr of a node process that imports the tuning module and runs `call` (V8 reports an unknown flag there). */
function stderrOf(call: string): string {
  const module = new URL('../../services/heap-tuning.js', import.meta.url).href;
  const script = `import * as t from ${JSON.stringify(module)}; import { setFlagsFromString } from 'node:v8'; ${call}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(r.status, r.stderr).to.equal(0);
  return r.stderr;
}

describe('heap tuning of the serving process', () => {
  it("defaults to 50%, takes 0 for V8's own heuristic, and refuses anything else with a ConfigError", () => {
    expect(loadConfig(base).heapGrowingPercent).to.equal(50);
    expect(loadConfig({ ...base, LEDGER_HEAP_GROWING_PERCENT: '0' }).heapGrowingPercent).to.equal(0);
    expect(loadConfig({ ...base, LEDGER_HEAP_GROWING_PERCENT: '200' }).heapGrowingPercent).to.equal(200);
    for (const value of ['-1', '1001', '2.5', 'half']) {
      expect(() => loadConfig({ ...base, LEDGER_HEAP_GROWING_PERCENT: value }), value)
        .to.throw(ConfigError)
        .with.property('message')
        .that.matches(new RegExp(`^LEDGER_HEAP_GROWING_PERCENT must be .*"${value}"`));
    }
  });

  it('turns a percentage into the V8 flag, and 0 into none', () => {
    expect(heapGrowingFlag(50)).to.equal('--heap-growing-percent=50');
    expect(heapGrowingFlag(0)).to.equal(null);
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => heapGrowingFlag(bad), String(bad)).to.throw(TypeError);
  });

  it('sets a flag this V8 recognizes (it reports an unknown one on stderr)', () => {
    expect(stderrOf('t.applyHeapGrowing(50);')).to.equal('');
    expect(stderrOf('t.applyHeapGrowing(0);')).to.equal('');
    // The check can fail: a flag V8 does not know is reported.
    expect(stderrOf("setFlagsFromString('--heap-growing-percentage=50');")).to.include('unrecognized flag');
  });
});
