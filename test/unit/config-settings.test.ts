// Plugins declare their settings; loadConfig validates them with the core ones, in one pass, naming the variable.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  ConfigError,
  loadConfig,
  pluginSettings,
  wholeNumberSetting,
  type SettingsOwner,
} from '../../services/config.js';
import { pluginModules } from '../../services/cli/plugins.js';
import { revocationsModule } from '../../services/revocations/plugin.js';

const base = { LEDGER_DATA_DIR: tmpdir() };

describe('configuration: settings the plugins declare', () => {
  it('reads every registered plugin setting, with its default when unset or blank', () => {
    const config = loadConfig(
      {
        ...base,
        LEDGER_KAFKA_HEARTBEAT_MS: '250',
        LEDGER_KAFKA_PARTITIONS: ' ',
        LEDGER_CLOUDEVENTS_SOURCE: 'urn:ledger:eu',
      },
      pluginModules,
    );
    expect(pluginSettings(config, revocationsModule)).to.deep.equal({
      heartbeatMs: 15_000,
      retryMs: 1000,
      kafkaPartitions: null,
      maxBatchMessages: 500,
      kafkaHeartbeatMs: 250,
      source: 'urn:ledger:eu',
    });
    expect(Object.keys(config.plugins)).to.deep.equal(pluginModules.map((m) => m.name));
  });

  it('refuses a bad value with a ConfigError naming the variable', () => {
    for (const [name, value] of [
      ['LEDGER_KAFKA_HEARTBEAT_MS', 'abc'],
      ['LEDGER_KAFKA_PARTITIONS', '0'],
      ['LEDGER_KAFKA_BATCH_MESSAGES', '2.5'],
      ['LEDGER_REVOCATIONS_HEARTBEAT_MS', '-5'],
      ['LEDGER_REVOCATIONS_RETRY_MS', 'soon'],
      ['LEDGER_CLOUDEVENTS_SOURCE', 'two words'],
    ] as const) {
      expect(() => loadConfig({ ...base, [name]: value }, pluginModules), name)
        .to.throw(ConfigError)
        .with.property('message')
        .that.matches(new RegExp(`^${name} must be .*"${value}"`));
    }
  });

  it('gives a plugin its defaults when the configuration was loaded without it', () => {
    const config = loadConfig({ ...base, LEDGER_KAFKA_HEARTBEAT_MS: 'abc' });
    expect(pluginSettings(config, revocationsModule).kafkaHeartbeatMs).to.equal(5000);
  });

  it('refuses two plugins declaring the same variable, or the same name', () => {
    const a: SettingsOwner = {
      name: 'a',
      settings: { n: wholeNumberSetting('LEDGER_X', { default: 1, min: 0, max: 9, description: 'x' }) },
    };
    const b: SettingsOwner = {
      name: 'b',
      settings: { m: wholeNumberSetting('LEDGER_X', { default: 1, min: 0, max: 9, description: 'x' }) },
    };
    expect(() => loadConfig(base, [a, b])).to.throw('LEDGER_X is declared by both a and b');
    expect(() => loadConfig(base, [a, { ...a, settings: {} }])).to.throw('two plugins are named "a"');
  });

  it('documents every registered plugin setting in the README configuration table', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const m of pluginModules)
      for (const s of Object.values(m.settings)) expect(readme, s.env).to.match(new RegExp(`^\\| \`${s.env}\``, 'm'));
  });
});
