// The Kafka publisher against a real broker: topics, keys, types and ids; heartbeats; a broker outage while keys
// are revoked; a publisher SIGKILLed mid-stream and restarted; the watcher reading the revocations topic; the
// compaction check. Each test uses its own topics and data folder. Without LEDGER_TEST_KAFKA_BROKERS the suite
// says why it skips.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import kafkajs, { Kafka, logLevel } from 'kafkajs';
import {
  createOfflineVerifier,
  createRevocationWatcher,
  HEARTBEAT_KEY,
  HEARTBEAT_TYPE,
  REVOCATION_TYPES,
  type HeartbeatEvent,
  type RevocationEvent,
} from '../../clients/index.js';
import type { StoredEvent } from '../../events/catalog.js';
import { toStoredEvent } from '../../events/serialization.js';
import { SYSTEM } from '../../services/ledger.js';
import { SqliteCheckpointStore } from '../../services/revocations/checkpoint.js';
import { createKafkaSink } from '../../services/revocations/kafka-sink.js';
import { revocationsPlugin } from '../../services/revocations/plugin.js';
import { waitUntil } from '../support/async.js';
import {
  describeKafka,
  kafkaScript,
  publisherCaughtUp,
  REPO_ROOT,
  TopicReader,
  uniqueTopics,
  type ReadMessage,
} from '../support/kafka.js';
import { makeLedger, seedOwner } from '../support/ledger.js';
import { startTestServer, type TestServer } from '../support/server.js';

async function lastEvent(s: TestServer, streamId: string): Promise<StoredEvent> {
  const events = await s.running.ledger.store.readStream(streamId);
  return toStoredEvent(events[events.length - 1]!)!;
}

/** Per key, the order in which distinct revocation events (by id) first arrived. */
function perKeyOrder(msgs: ReadMessage[]): Map<string, Array<{ id: string; type: string; position: number }>> {
  const seen = new Set<string>();
  const out = new Map<string, Array<{ id: string; type: string; position: number }>>();
  for (const m of msgs) {
    const ev = m.value as RevocationEvent;
    if (seen.has(ev.id)) continue;
    seen.add(ev.id);
    let list = out.get(ev.subject);
    if (!list) out.set(ev.subject, (list = []));
    list.push({ id: ev.id, type: ev.type, position: ev.ledgerposition });
  }
  return out;
}

describeKafka('integration: Kafka publisher (real broker)', (brokers) => {
  const plugin = revocationsPlugin({ heartbeatMs: 200, kafkaHeartbeatMs: 200, backoff: { initialMs: 50, maxMs: 500 } });
  const kafkaEnv = (topics: { events: string; revocations: string }): Record<string, string> => ({
    LEDGER_KAFKA_BROKERS: brokers.join(','),
    LEDGER_KAFKA_EVENTS_TOPIC: topics.events,
    LEDGER_KAFKA_REVOCATIONS_TOPIC: topics.revocations,
  });

  it('revoke → the message is on the revocations topic with the key id as key, the right type and the ledger event id; no secrets anywhere', async function () {
    this.timeout(60_000);
    const topics = uniqueTopics('revoke');
    const reader = await TopicReader.start(brokers, [topics.events, topics.revocations]);
    const s = await startTestServer(kafkaEnv(topics), [plugin]);
    try {
      const admin = await s.login();
      const created = await s.request('POST', '/v1/keys', { token: admin, body: { name: 'k', retrievable: true } });
      const key = created.body as { id: string; token: string };
      expect(
        (await s.request('POST', `/v1/keys/${key.id}/revoke`, { token: admin, body: { reason: 'leaked' } })).status,
      ).to.equal(200);
      const revokedEvent = await lastEvent(s, `apikey-${key.id}`);
      expect(revokedEvent.type).to.equal('ApiKeyRevoked');

      await reader.waitFor(
        (r) => r.on(topics.revocations).some((m) => m.key === key.id),
        15_000,
        'the revocation message',
      );
      const msg = reader.on(topics.revocations).find((m) => m.key === key.id)!;
      const ce = msg.value as RevocationEvent;
      expect(ce).to.include({
        specversion: '1.0',
        id: revokedEvent.metadata.eventId,
        type: REVOCATION_TYPES.revoked,
        subject: key.id,
        source: '/token-ledger',
      });
      expect(ce.ledgerposition).to.equal(revokedEvent.position);
      expect(ce.data).to.include({
        keyId: key.id,
        action: 'revoke',
        cause: 'revoked',
        terminal: true,
        reason: 'leaked',
      });
      expect(msg.headers).to.include({
        ce_id: ce.id,
        ce_type: ce.type,
        ce_subject: key.id,
        ce_specversion: '1.0',
        ce_source: '/token-ledger',
        ce_ledgerposition: String(ce.ledgerposition),
      });
      // Structured mode: content-type names the envelope; datacontenttype is not repeated as a header.
      expect(msg.headers['content-type']).to.match(/^application\/cloudevents\+json/);
      expect(msg.headers).to.not.have.property('ce_datacontenttype');

      // Every ledger event reaches the events topic, keyed by its aggregate, in log order.
      const head = await s.running.ledger.store.headPosition();
      expect(await reader.positionsMissingAfterWait(topics.events, head, 15_000), 'missing positions').to.deep.equal(
        [],
      );
      const events = reader.distinct(topics.events);
      expect(events.map((m) => m.value.ledgerposition as number).sort((a, b) => a - b)).to.deep.equal(
        Array.from({ length: head }, (_, i) => i + 1),
      );
      // Within a partition (and so for each aggregate), in log order.
      for (const p of new Set(events.map((m) => m.partition))) {
        const l = events.filter((m) => m.partition === p).map((m) => m.value.ledgerposition as number);
        expect(l).to.deep.equal([...l].sort((a, b) => a - b));
      }
      const createdMsg = events.find((m) => m.value.type === 'io.token-ledger.ApiKeyCreated')!;
      expect(createdMsg.key).to.equal(key.id);
      expect(createdMsg.value.data).to.not.have.any.keys('digest', 'sealed');
      const everything = JSON.stringify(reader.messages);
      for (const word of ['"digest"', '"sealed"', '"passwordHash"', key.token, key.token.slice(-16)])
        expect(everything).not.to.include(word);

      // Lag and readiness are reported: events waiting (a count) and positions (the store's own unit), apart.
      await publisherCaughtUp(s);
      await waitUntil(
        async () => /ledger_publisher_lag_positions 0\b/.test((await s.request('GET', '/metrics')).text),
        10_000,
        'lag 0 in /metrics',
      );
      const metrics = (await s.request('GET', '/metrics')).text;
      expect(metrics).to.match(/^ledger_publisher_lag_events 0$/m);
      const ready = await s.request('GET', '/readyz');
      const check = (ready.body.checks as Array<{ name: string; ok: boolean; detail: any }>).find(
        (c) => c.name === 'kafka_publisher',
      );
      expect(check?.ok).to.equal(true);
      expect(check?.detail).to.include({
        state: 'publishing',
        connected: true,
        lagEvents: 0,
        lagPositions: 0,
        readerOk: true,
      });

      // Heartbeats: on the revocations topic under one key, with the acknowledged checkpoint, and nothing secret.
      await reader.waitFor(
        (r) => r.heartbeats(topics.revocations).some((m) => m.value.data.checkpoint >= head),
        10_000,
        'a heartbeat at the head',
      );
      const beat = reader.heartbeats(topics.revocations).find((m) => m.value.data.checkpoint >= head)!;
      const hb = beat.value as HeartbeatEvent;
      expect(beat.key).to.equal(HEARTBEAT_KEY);
      expect(hb).to.include({
        specversion: '1.0',
        type: HEARTBEAT_TYPE,
        subject: HEARTBEAT_KEY,
        source: '/token-ledger',
      });
      expect(hb.data).to.have.all.keys('checkpoint', 'head', 'lagEvents', 'lagMs', 'intervalMs');
      expect(hb.data).to.include({ intervalMs: 200, lagEvents: 0 });
      expect(hb.data.head).to.be.at.least(head);
      expect(beat.headers).to.include({ ce_type: HEARTBEAT_TYPE, ce_id: hb.id });
      expect(new Set(reader.heartbeats(topics.revocations).map((m) => m.value.id)).size).to.equal(
        reader.heartbeats(topics.revocations).length,
      );
    } finally {
      await s.dispose();
      await reader.stop();
    }
  });

  it('fans out an owner deactivation and a workspace removal: one message per affected key, stable ids', async function () {
    this.timeout(60_000);
    const topics = uniqueTopics('fanout');
    const reader = await TopicReader.start(brokers, [topics.revocations]);
    const s = await startTestServer(kafkaEnv(topics), [plugin]);
    try {
      const ledger = s.running.ledger;
      const { userId, workspaceId } = await seedOwner(ledger, 'fan@example.com');
      const boss = await seedOwner(ledger, 'boss@example.com');
      await ledger.workspaces.setMemberRole(boss.workspaceId, userId, 'member', SYSTEM);
      const own = [];
      for (let i = 0; i < 3; i++)
        own.push((await ledger.keys.create({ userId, workspaceId, name: `o${i}` }, SYSTEM)).key.id);
      const shared = (await ledger.keys.create({ userId, workspaceId: boss.workspaceId, name: 's' }, SYSTEM)).key.id;
      await ledger.workspaces.removeMember(boss.workspaceId, userId, SYSTEM);
      const removed = await lastEvent(s, `workspace-${boss.workspaceId}`);
      await ledger.users.deactivate(userId, 'left', SYSTEM);
      const deactivated = await lastEvent(s, `user-${userId}`);
      const expected = [
        `${removed.metadata.eventId}:${shared}`,
        ...[...own, shared].map((k) => `${deactivated.metadata.eventId}:${k}`),
      ];
      await reader.waitFor(
        (r) => expected.every((id) => r.events(topics.revocations).some((m) => m.value.id === id)),
        15_000,
        'the fan-out',
      );
      const msgs = reader.distinct(topics.revocations);
      expect(msgs.map((m) => m.value.id)).to.have.members(expected);
      for (const m of msgs) {
        expect(m.key).to.equal(m.value.subject);
        expect(m.value.type).to.equal(REVOCATION_TYPES.suspended);
      }
    } finally {
      await s.dispose();
      await reader.stop();
    }
  });

  it('broker stopped while keys are revoked, then started: API calls never block, and every revocation arrives in per-key order', async function () {
    this.timeout(150_000);
    const status = await kafkaScript('status');
    if (status.code !== 0 || !/127\.0\.0\.1:/.test(status.out) || !brokers.some((b) => status.out.includes(b))) {
      this.skip(); // the broker is not the local one scripts/kafka/kafka.sh manages
    }
    const topics = uniqueTopics('outage');
    const s = await startTestServer(kafkaEnv(topics), [plugin]);
    let reader: TopicReader | null = null;
    let brokerDown = false;
    try {
      const ledger = s.running.ledger;
      const admin = await s.login();
      const users = [];
      for (let i = 0; i < 3; i++) users.push(await seedOwner(ledger, `u${i}@example.com`));
      const keys: Array<{ id: string; userId: string }> = [];
      for (const u of users)
        for (let i = 0; i < 4; i++)
          keys.push({
            id: (await ledger.keys.create({ userId: u.userId, workspaceId: u.workspaceId, name: `k${i}` }, SYSTEM)).key
              .id,
            userId: u.userId,
          });
      await publisherCaughtUp(s);

      expect((await kafkaScript('stop')).code).to.equal(0);
      brokerDown = true;
      // With the broker down: a user is deactivated (suspends their keys), reactivated, and keys are revoked.
      const t0 = Date.now();
      await ledger.users.deactivate(users[0]!.userId, 'audit', SYSTEM);
      await ledger.users.reactivate(users[0]!.userId, SYSTEM);
      for (const k of keys) {
        const r = await s.request('POST', `/v1/keys/${k.id}/revoke`, { token: admin, body: {} });
        expect(r.status).to.equal(200);
      }
      expect(Date.now() - t0, 'API calls while Kafka is down').to.be.below(5000);
      await waitUntil(
        async () => /ledger_publisher_lag_events [1-9]/.test((await s.request('GET', '/metrics')).text),
        10_000,
        'lag to show in /metrics',
      );
      const ready = await s.request('GET', '/readyz');
      expect(ready.status).to.equal(200);
      expect(
        ready.body.checks.find((c: { name: string }) => c.name === 'kafka_publisher').detail.lagEvents,
      ).to.be.above(0);

      expect((await kafkaScript('start')).code).to.equal(0);
      brokerDown = false;
      reader = await TopicReader.start(brokers, [topics.revocations]);
      const revokedIds = new Set(keys.map((k) => k.id));
      await reader.waitFor(
        (r) =>
          new Set(
            r
              .events(topics.revocations)
              .filter((m) => m.value.type === REVOCATION_TYPES.revoked)
              .map((m) => m.key),
          ).size === revokedIds.size,
        60_000,
        'every revocation after the broker came back',
      );
      const order = perKeyOrder(reader.events(topics.revocations));
      for (const k of keys) {
        const seq = order.get(k.id)!.map((e) => e.type);
        if (k.userId === users[0]!.userId)
          expect(seq, k.id).to.deep.equal([
            REVOCATION_TYPES.suspended,
            REVOCATION_TYPES.reinstated,
            REVOCATION_TYPES.revoked,
          ]);
        else expect(seq, k.id).to.deep.equal([REVOCATION_TYPES.revoked]);
        const positions = order.get(k.id)!.map((e) => e.position);
        expect(positions, 'per-key order').to.deep.equal([...positions].sort((a, b) => a - b));
      }
      // Per partition, messages arrive in ledger order (duplicates from retries allowed).
      const byPartition = new Map<number, number[]>();
      for (const m of reader.distinct(topics.revocations)) {
        const l = byPartition.get(m.partition) ?? [];
        l.push(m.value.ledgerposition);
        byPartition.set(m.partition, l);
      }
      for (const l of byPartition.values()) expect(l).to.deep.equal([...l].sort((a, b) => a - b));
    } finally {
      if (brokerDown) await kafkaScript('start');
      await s.dispose();
      await reader?.stop();
    }
  });

  it('publisher SIGKILLed mid-stream and restarted resumes from its checkpoint with no gap (duplicates allowed)', async function () {
    this.timeout(90_000);
    const topics = uniqueTopics('kill');
    const t = await makeLedger({ usageFlushMs: 0 });
    const reader = await TopicReader.start(brokers, [topics.events, topics.revocations]);
    let child: ChildProcess | null = null;
    const startChild = (): ChildProcess => {
      const c = spawn(process.execPath, [join(REPO_ROOT, 'dist/services/workers/run-publisher.js')], {
        env: {
          ...process.env,
          ...kafkaEnv(topics),
          LEDGER_DATA_DIR: t.dir,
          LOG_LEVEL: 'silent',
          LEDGER_KAFKA_BATCH_MESSAGES: '10',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      c.once('exit', (code, signal) => {
        if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM')
          console.error(`publisher exited ${code}: ${err}`);
      });
      return c;
    };
    const exited = (c: ChildProcess): Promise<void> =>
      new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
    try {
      const { userId, workspaceId } = await seedOwner(t.ledger);
      const keys: string[] = [];
      for (let i = 0; i < 300; i++)
        keys.push((await t.ledger.keys.create({ userId, workspaceId, name: `k${i}` }, SYSTEM)).key.id);
      child = startChild();
      // Small batches, so the kill lands between acknowledged batches with more in flight.
      const half = keys.length / 2;
      for (const k of keys.slice(0, half)) await t.ledger.keys.revoke(k, null, SYSTEM);
      await reader.waitFor((r) => r.events(topics.revocations).length >= 40, 30_000, 'part of the stream');
      child.kill('SIGKILL');
      await exited(child);
      const cp = new SqliteCheckpointStore(join(t.dir, 'publisher.db'));
      const atKill = cp.get(`kafka:${topics.events}:${topics.revocations}`);
      cp.close();
      expect(atKill).to.be.above(0);
      // More revocations while no publisher runs.
      for (const k of keys.slice(half)) await t.ledger.keys.revoke(k, null, SYSTEM);
      const head = await t.ledger.store.headPosition();
      expect(atKill).to.be.below(head);

      child = startChild();
      await reader.waitFor(
        (r) => r.on(topics.events).some((m) => m.value.ledgerposition === head),
        30_000,
        'the publisher to reach the head again',
      );
      await reader.waitFor(
        (r) => new Set(r.events(topics.revocations).map((m) => m.key)).size === keys.length,
        30_000,
        'every revocation',
      );
      // No gap: every ledger position reaches the events topic.
      expect(await reader.positionsMissingAfterWait(topics.events, head, 30_000), 'missing positions').to.deep.equal(
        [],
      );
      const revocations = reader.distinct(topics.revocations);
      expect(revocations.map((m) => m.key).sort()).to.deep.equal([...keys].sort());
      child.kill('SIGTERM');
      await exited(child);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited(child);
      }
      await reader.stop();
      await t.dispose();
    }
  });

  it('a watcher on the revocations topic rejects a revoked JWT key offline, stays fresh on heartbeats, and fails closed when the publisher stops (broker up) or the broker is unreachable', async function () {
    this.timeout(60_000);
    const topics = uniqueTopics('watch');
    const s = await startTestServer(kafkaEnv(topics), [plugin]);
    const admin = await s.login();
    const jwtKey = (await s.request('POST', '/v1/keys', { token: admin, body: { name: 'j', format: 'jwt' } })).body as {
      id: string;
      token: string;
    };
    const early = (await s.request('POST', '/v1/keys', { token: admin, body: { name: 'e', format: 'jwt' } })).body as {
      id: string;
      token: string;
    };
    const live = (await s.request('POST', '/v1/keys', { token: admin, body: { name: 'l', format: 'jwt' } })).body as {
      id: string;
      token: string;
    };
    await s.request('POST', `/v1/keys/${early.id}/revoke`, { token: admin, body: {} });
    await publisherCaughtUp(s);
    const watcher = createRevocationWatcher({ kafka: { brokers, topic: topics.revocations }, staleAfterMs: 1500 });
    // A second watcher pointed at a port where nothing listens never becomes fresh.
    const orphan = createRevocationWatcher({
      kafka: { brokers: ['127.0.0.1:1'], topic: topics.revocations },
      staleAfterMs: 500,
    });
    try {
      await watcher.ready;
      expect(watcher.isKnownRevoked(early.id)).to.equal(true); // history is read from the beginning
      const verifier = createOfflineVerifier({
        jwksUrl: `${s.url}/.well-known/jwks.json`,
        issuer: 'token-ledger',
        audience: 'token-ledger-api',
        watcher,
      });
      expect((await verifier.verify(jwtKey.token)).code).to.equal('VALID');
      expect((await verifier.verify(early.token)).code).to.equal('REVOKED');
      await s.request('POST', `/v1/keys/${jwtKey.id}/revoke`, { token: admin, body: {} });
      await waitUntil(() => watcher.isKnownRevoked(jwtKey.id), 10_000, 'the watcher to see the revocation');
      expect((await verifier.verify(jwtKey.token)).code).to.equal('REVOKED');
      expect(Object.keys(watcher.check().offsets ?? {})).to.not.be.empty;

      const orphanVerifier = createOfflineVerifier({
        jwksUrl: `${s.url}/.well-known/jwks.json`,
        issuer: 'token-ledger',
        audience: 'token-ledger-api',
        watcher: orphan,
      });
      expect(orphan.check().stale).to.equal(true);
      expect(orphan.isRevoked(jwtKey.id)).to.equal(true);
      expect((await orphanVerifier.verify(early.token)).code).to.equal('STALE');

      // Idle: no revocations, only heartbeats, for longer than the bound; the watcher stays fresh.
      const t0 = Date.now();
      await waitUntil(() => Date.now() - t0 > 2000, 5000, 'two idle seconds');
      expect(watcher.check().fresh).to.equal(true);
      expect(watcher.check().publisher).to.include({ intervalMs: 200 });
      expect((await verifier.verify(live.token)).code).to.equal('VALID');

      // The ledger (and its publisher) stops; the broker stays up and keeps answering the watcher's fetches.
      // Fetches are not a sign of life from the ledger: after the bound, every key is refused.
      await s.stop();
      await waitUntil(() => watcher.check().stale, 5000, 'the watcher to go stale');
      expect(watcher.check()).to.include({ caughtUp: true, connected: true });
      expect(watcher.check().silentForMs).to.be.above(1500);
      expect(watcher.isKnownRevoked(live.id)).to.equal(false);
      expect(watcher.isRevoked(live.id)).to.equal(true);
      expect((await verifier.verify(live.token)).code).to.equal('STALE'); // the JWKS is cached: the signature still checks
    } finally {
      await watcher.close();
      await orphan.close();
      await s.dispose();
    }
  });

  it('an existing revocations topic that is not compact-only is reported and corrected, keeping its other overrides', async function () {
    this.timeout(30_000);
    const topics = uniqueTopics('compact');
    const kafka = new Kafka({ clientId: 'test-admin', brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const logged: Array<{ level: string; msg: string; extra: Record<string, unknown> }> = [];
    const sink = createKafkaSink({
      brokers,
      clientId: 'test-sink',
      topics: [{ name: topics.revocations, compact: true }],
      log: (level, msg, extra) => logged.push({ level, msg, extra }),
    });
    const policy = async (): Promise<Record<string, string>> => {
      const d = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topics.revocations }],
      });
      return Object.fromEntries((d.resources[0]?.configEntries ?? []).map((e) => [e.configName, e.configValue]));
    };
    try {
      // Made by someone else, with retention-based deletion: old revocations would vanish from the topic.
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: topics.revocations,
            configEntries: [
              { name: 'cleanup.policy', value: 'compact,delete' },
              { name: 'retention.ms', value: '86400000' },
            ],
          },
        ],
      });
      await sink.connect();
      expect(
        logged.some(
          (l) => l.level === 'warn' && /not compacted/.test(l.msg) && l.extra.cleanupPolicy === 'compact,delete',
        ),
      ).to.equal(true);
      const after = await policy();
      expect(after['cleanup.policy']).to.equal('compact');
      expect(after['retention.ms']).to.equal('86400000');
      // Once right, a reconnect says nothing more.
      logged.length = 0;
      await sink.close();
      const again = createKafkaSink({
        brokers,
        clientId: 'test-sink',
        topics: [{ name: topics.revocations, compact: true }],
        log: (l, m, e) => logged.push({ level: l, msg: m, extra: e }),
      });
      await again.connect();
      await again.close();
      expect(logged.filter((l) => /cleanup\.policy|compacted/.test(l.msg))).to.deep.equal([]);
    } finally {
      await sink.close();
      await admin.disconnect();
    }
  });
});
