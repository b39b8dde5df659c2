// The publisher without a broker: with the bus unreachable and the log reader failed, both back off at once, and
// stop() still returns promptly (one stop signal ends every backoff wait). No heartbeat can vouch meanwhile.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import { SqliteCheckpointStore } from '../../services/revocations/checkpoint.js';
import { createKafkaSink } from '../../services/revocations/kafka-sink.js';
import { KafkaPublisher } from '../../services/workers/publisher.js';
import { waitUntil } from '../support/async.js';
import { tempDir } from '../support/tmp.js';

describe('unit: Kafka publisher stop and reader failure', () => {
  it('stops within a second while the sender and the reader both sit in 5 s backoffs', async function () {
    this.timeout(20_000);
    const dir = tempDir('publisher');
    const store = new SqliteEventStore(join(dir.path, 'events.db'));
    const checkpoints = new SqliteCheckpointStore(join(dir.path, 'publisher.db'));
    const logged: string[] = [];
    // Nothing listens on port 1: every connect is refused.
    const sink = createKafkaSink({
      brokers: ['127.0.0.1:1'],
      clientId: 'unit',
      topics: [{ name: 'e' }, { name: 'r', compact: true }],
    });
    const publisher = new KafkaPublisher({
      store,
      sink,
      checkpoints,
      eventsTopic: 'e',
      revocationsTopic: 'r',
      backoff: { initialMs: 5000, maxMs: 5000 },
      heartbeatMs: 50,
      log: (_level, msg) => logged.push(msg),
    });
    try {
      const metadata = {
        eventId: randomUUID(),
        occurredAt: new Date().toISOString(),
        schemaVersion: 1,
        correlationId: 'c',
        causationId: null,
        request: {},
      };
      await store.append('apikey-key_1', [
        { id: randomUUID(), type: 'ApiKeyRevoked', data: { keyId: 'key_1', reason: null }, metadata },
      ]);
      publisher.start();
      // First the sender fails and backs off ...
      await waitUntil(() => logged.includes('publishing failed; retrying'), 10_000, 'the send to fail');
      // ... then the reader meets a record it cannot read (no metadata) and backs off too.
      await store.append('apikey-key_2', [
        { id: randomUUID(), type: 'ApiKeyRevoked', data: { keyId: 'key_2', reason: null }, metadata: null },
      ]);
      await waitUntil(() => logged.includes('reading the ledger failed'), 5000, 'the reader to fail');
      const st = publisher.status();
      expect(st).to.include({
        state: 'retrying',
        readerOk: false,
        connected: false,
        lagEvents: 1,
        lastHeartbeatAt: null,
      });
      expect(st.lagMs).to.be.above(0);

      const t0 = Date.now();
      await publisher.stop();
      expect(Date.now() - t0, 'stop() duration').to.be.below(1000);
      expect(publisher.status().state).to.equal('stopped');
    } finally {
      await publisher.stop();
      checkpoints.close();
      await store.close();
      dir.cleanup();
    }
  });
});
