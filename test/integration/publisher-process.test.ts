// The server's Kafka publisher runs in a child process below the server's CPU priority. It reports its status and
// metrics to the server, is started again when it dies (a crash, the OOM killer) and names why, stops only by
// exiting, and never outlives its server, even a kill -9. Against a real broker: a publisher process killed mid-stream
// is replaced and the events topic has every position.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import { revocationsPlugin } from '../../services/revocations/plugin.js';
import { PUBLISHER_NICE, PublisherProcess } from '../../services/workers/publisher-process.js';
import { waitUntil } from '../support/async.js';
import { describeKafka, publisherCaughtUp, TopicReader, uniqueTopics } from '../support/kafka.js';
import { autogroupNiceOf, childrenRunning, niceOf, programOf, running } from '../support/processes.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/tmp.js';

const SCRIPT = 'publisher-child';
const PARENT = fileURLToPath(new URL('../support/children/publisher-parent.js', import.meta.url));
/** Loopback, and nothing listens there: the publisher keeps retrying, which is all these cases need. */
const NO_BROKER = ['127.0.0.1:1'];

/** A data folder holding a ledger file with one event, as a server leaves it. */
async function ledgerFolder(label: string): Promise<ReturnType<typeof tempDir>> {
  const dir = tempDir(label);
  const store = new SqliteEventStore(join(dir.path, 'ledger.db'));
  await store.append('s', [{ id: crypto.randomUUID(), type: 'T', data: {}, metadata: null }]);
  await store.close();
  return dir;
}

function publisherProcess(dataDir: string, errors: string[] = []): PublisherProcess {
  return new PublisherProcess({
    child: {
      config: {
        dataDir,
        databaseUrl: null,
        eventStoreUrl: null,
        kafkaBrokers: NO_BROKER,
        kafkaClientId: 'publisher-process-test',
        kafkaEventsTopic: 'ledger.events',
        kafkaRevocationsTopic: 'ledger.revocations',
      },
      settings: {
        kafkaPartitions: null,
        maxBatchMessages: 500,
        kafkaHeartbeatMs: 5000,
        source: '/token-ledger',
        backoff: { initialMs: 50, maxMs: 200 },
      },
    },
    log: (level, msg) => void (level === 'error' && errors.push(msg)),
  });
}

describe('integration: the publisher process', function () {
  this.timeout(60_000);

  it('runs niced in a process of its own, reports its status and metrics, and stop() returns once it has exited', async () => {
    const dir = await ledgerFolder('pub-proc');
    const pub = publisherProcess(dir.path);
    try {
      expect(pub.status().state).to.equal('stopped');
      pub.start();
      await waitUntil(() => childrenRunning(process.pid, SCRIPT).length === 1, 15_000, 'the publisher process');
      const [pid] = childrenRunning(process.pid, SCRIPT);
      expect(pid).to.equal(pub.pid);
      // Read once `nice` has run node: until then the process is `nice` itself, not yet niced.
      await waitUntil(() => programOf(pid!) !== 'nice', 5000, 'nice to start node');
      expect(niceOf(pid!)).to.equal(PUBLISHER_NICE).and.be.greaterThan(0);
      // Its own session is its own autogroup, which the scheduler weighs against the server's whatever the nice:
      // the group is niced too (retried for a while, as unprivileged changes are rate-limited).
      if (autogroupNiceOf(process.pid) !== null)
        await waitUntil(() => autogroupNiceOf(pid!) === PUBLISHER_NICE, 5000, "the publisher's autogroup niced");
      // No broker: its own failures come back as its status, and its counters through the server's metrics.
      await waitUntil(() => pub.status().lastError !== null, 30_000, 'the publisher to report the broker down');
      expect(pub.status().state).to.equal('retrying');
      const text = await pub.metricsText();
      expect(Number(/^ledger_publisher_errors_total (\d+)$/m.exec(text)?.[1])).to.be.greaterThan(0);
      expect(text).to.not.match(/^process_cpu/m);
      await pub.stop();
      expect(running(pid!)).to.equal(false);
      expect(pub.status().state).to.equal('stopped');
      expect(await pub.metricsText()).to.equal('');
    } finally {
      await pub.stop();
      dir.cleanup();
    }
  });

  it('a publisher process that dies is started again, and the status says why', async () => {
    const dir = await ledgerFolder('pub-proc-kill');
    const errors: string[] = [];
    const pub = publisherProcess(dir.path, errors);
    try {
      pub.start();
      await waitUntil(() => pub.pid !== null, 15_000, 'the publisher process');
      const first = pub.pid!;
      process.kill(first, 'SIGKILL');
      await waitUntil(() => pub.pid !== null && pub.pid !== first, 15_000, 'a new publisher process');
      expect(running(first)).to.equal(false);
      expect(
        errors.some((e) => e.includes('exited (SIGKILL)')),
        errors.join('; '),
      ).to.equal(true);
      expect(childrenRunning(process.pid, SCRIPT)).to.deep.equal([pub.pid]);
    } finally {
      await pub.stop();
      dir.cleanup();
    }
    expect(childrenRunning(process.pid, SCRIPT)).to.deep.equal([]);
  });

  it('one that cannot open the store names the cause and is tried again; stop() ends the retries', async () => {
    const dir = tempDir('pub-proc-nostore'); // no ledger file: a reader never creates one
    const pub = publisherProcess(dir.path);
    try {
      pub.start();
      await waitUntil(() => /cannot open the ledger/.test(pub.status().lastError ?? ''), 15_000, 'the cause');
      expect(pub.status().state).to.equal('retrying');
      await pub.stop();
      expect(pub.status().state).to.equal('stopped');
      expect(childrenRunning(process.pid, SCRIPT)).to.deep.equal([]);
      expect(readFileSync.bind(null, join(dir.path, 'ledger.db'))).to.throw(/ENOENT/);
    } finally {
      await pub.stop();
      dir.cleanup();
    }
  });

  it('a server killed with -9 takes its publisher process with it', async () => {
    const dir = await ledgerFolder('pub-proc-orphan');
    let parent: ChildProcess | null = null;
    try {
      parent = spawn(process.execPath, [PARENT, dir.path, NO_BROKER.join(',')], { stdio: ['ignore', 'pipe', 'pipe'] });
      const p = parent;
      const pid = await new Promise<number>((resolve, reject) => {
        let out = '';
        p.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /ready (\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        p.once('exit', (code) => reject(new Error(`publisher-parent exited (${code})`)));
      });
      expect(running(pid)).to.equal(true);
      p.kill('SIGKILL');
      await waitUntil(() => !running(pid), 10_000, 'the orphaned publisher process to exit');
    } finally {
      parent?.kill('SIGKILL');
      dir.cleanup();
    }
  });
});

describeKafka('integration: the server publisher process (real broker)', (brokers) => {
  const plugin = revocationsPlugin({ kafkaHeartbeatMs: 200, backoff: { initialMs: 50, maxMs: 500 } });

  it('killed mid-stream, it is replaced, and the events topic still has every position', async function () {
    this.timeout(90_000);
    const topics = uniqueTopics('proc-kill');
    const reader = await TopicReader.start(brokers, [topics.events, topics.revocations]);
    const s = await startTestServer(
      {
        LEDGER_KAFKA_BROKERS: brokers.join(','),
        LEDGER_KAFKA_EVENTS_TOPIC: topics.events,
        LEDGER_KAFKA_REVOCATIONS_TOPIC: topics.revocations,
      },
      [plugin],
    );
    try {
      const admin = await s.login();
      const revokeSome = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) {
          const k = (await s.request('POST', '/v1/keys', { token: admin, body: { name: `k${i}` } })).body as {
            id: string;
          };
          await s.request('POST', `/v1/keys/${k.id}/revoke`, { token: admin, body: { reason: 'test' } });
        }
      };
      await waitUntil(() => childrenRunning(process.pid, SCRIPT).length === 1, 15_000, 'the publisher process');
      const [first] = childrenRunning(process.pid, SCRIPT);
      await revokeSome(20);
      process.kill(first!, 'SIGKILL');
      await revokeSome(20);
      await waitUntil(
        () => childrenRunning(process.pid, SCRIPT).some((p) => p !== first),
        15_000,
        'a new publisher process',
      );
      await publisherCaughtUp(s);
      const head = await s.running.ledger.store.headPosition();
      expect(await reader.positionsMissingAfterWait(topics.events, head, 15_000), 'missing positions').to.deep.equal(
        [],
      );
      const metrics = (await s.request('GET', '/metrics')).text;
      expect(metrics).to.match(/^ledger_publisher_messages_total\{topic="[^"]+"\} [1-9]/m);
      expect(metrics).to.match(/^ledger_publisher_checkpoint_position [1-9]/m);
      expect(metrics.match(/^# TYPE process_cpu_user_seconds_total /gm)).to.have.length(1);
    } finally {
      await s.dispose();
      await reader.stop();
    }
    expect(childrenRunning(process.pid, SCRIPT)).to.deep.equal([]);
  });
});
