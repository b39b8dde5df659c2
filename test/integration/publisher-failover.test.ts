// The Kafka publisher as a failover singleton: two instances on one PostgreSQL store, one publishes; when the holder
// stops, the other takes the lease and resumes from the shared checkpoint. Every revocation made before, during and
// after the hand-over reaches the revocations topic, in per-key order, and no ledger position is missing.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PostgresLeases } from '../../events/store/postgres-leases.js';
import { REVOCATION_TYPES, type RevocationEvent } from '../../clients/index.js';
import type { Ledger } from '../../services/ledger.js';
import { SYSTEM } from '../../services/ledger.js';
import { revocationsPlugin } from '../../services/revocations/plugin.js';
import { waitUntil } from '../support/async.js';
import {
  describeKafka,
  publisherCaughtUp,
  REPO_ROOT,
  TopicReader,
  uniqueTopics,
  type ReadMessage,
} from '../support/kafka.js';
import { seedOwner } from '../support/ledger.js';
import type { TestServer } from '../support/server.js';
import { startSharedServers, type SharedServers } from '../support/shared-servers.js';
import { tempDir } from '../support/tmp.js';

const LEASE = 'kafka-publisher';

async function metricsOf(s: TestServer): Promise<string> {
  return (await s.request('GET', '/metrics')).text;
}

/** Whether /metrics of `s` says it holds the publisher lease. */
async function holds(s: TestServer): Promise<boolean> {
  return new RegExp(`^ledger_lease_held\\{lease="${LEASE}"\\} 1$`, 'm').test(await metricsOf(s));
}

/** Messages this instance's publisher had acknowledged, summed over topics. */
async function published(s: TestServer): Promise<number> {
  let n = 0;
  for (const m of (await metricsOf(s)).matchAll(/^ledger_publisher_messages_total\{[^}]*\} (\d+)$/gm))
    n += Number(m[1]);
  return n;
}

/** Per key, the types and positions of its distinct revocation events, in the order they first arrived. */
function perKey(msgs: readonly ReadMessage[]): Map<string, Array<{ type: string; position: number }>> {
  const out = new Map<string, Array<{ type: string; position: number }>>();
  for (const m of msgs) {
    const ev = m.value as RevocationEvent;
    const list = out.get(ev.subject) ?? [];
    list.push({ type: ev.type, position: ev.ledgerposition });
    out.set(ev.subject, list);
  }
  return out;
}

interface Owner {
  readonly userId: string;
  readonly keys: string[];
}

async function owners(ledger: Ledger, count: number, keysEach: number): Promise<Owner[]> {
  const out: Owner[] = [];
  for (let i = 0; i < count; i++) {
    const o = await seedOwner(ledger, `owner${i}@example.com`);
    const keys: string[] = [];
    for (let k = 0; k < keysEach; k++)
      keys.push(
        (await ledger.keys.create({ userId: o.userId, workspaceId: o.workspaceId, name: `k${k}` }, SYSTEM)).key.id,
      );
    out.push({ userId: o.userId, keys });
  }
  return out;
}

/** Who holds the publisher lease, as the database says. */
async function leaseHolder(url: string): Promise<string | null> {
  const observer = new PostgresLeases(url, 'observer');
  try {
    return (await observer.list()).find((l) => l.name === LEASE)?.holder ?? null;
  } finally {
    await observer.close();
  }
}

/** The per-key types every key of `owners[i]` must show: suspended ones were reinstated before their revocation. */
function expectPerKeyOrder(
  msgs: readonly ReadMessage[],
  groups: ReadonlyArray<{ keys: string[]; types: string[] }>,
): void {
  const order = perKey(msgs);
  for (const g of groups)
    for (const k of g.keys) {
      const seq = order.get(k)!;
      expect(
        seq.map((e) => e.type),
        k,
      ).to.deep.equal(g.types);
      const ps = seq.map((e) => e.position);
      expect(ps, `per-key order of ${k}`).to.deep.equal([...ps].sort((x, y) => x - y));
    }
}

/** Every ledger position up to the head is on the events topic (duplicates allowed, gaps not). */
async function expectNoGap(reader: TopicReader, topic: string, ledger: Ledger): Promise<void> {
  const head = await ledger.store.headPosition();
  expect(await reader.positionsMissingAfterWait(topic, head, 30_000), 'missing positions').to.deep.equal([]);
}

async function allRevoked(reader: TopicReader, topic: string, keys: readonly string[]): Promise<void> {
  await reader.waitFor(
    (r) =>
      new Set(
        r
          .distinct(topic)
          .filter((m) => m.value.type === REVOCATION_TYPES.revoked)
          .map((m) => m.key),
      ).size === keys.length,
    30_000,
    'every revocation on the revocations topic',
  );
}

async function revokeAll(ledger: Ledger, keys: readonly string[]): Promise<void> {
  for (const k of keys) await ledger.keys.revoke(k, null, SYSTEM);
}

describeKafka('integration: Kafka publisher failover on a shared PostgreSQL store', (brokers) => {
  const plugin = revocationsPlugin({ kafkaHeartbeatMs: 200, backoff: { initialMs: 50, maxMs: 500 } });
  let c: SharedServers | null = null;
  let reader: TopicReader | null = null;
  afterEach(async () => {
    await c?.dispose();
    await reader?.stop();
    c = null;
    reader = null;
  });

  it('one instance publishes; stopping it hands over; every revocation before, during and after is on the topic in per-key order', async function () {
    this.timeout(120_000);
    const topics = uniqueTopics('failover');
    reader = await TopicReader.start(brokers, [topics.events, topics.revocations]);
    c = await startSharedServers(
      'failover',
      2,
      {
        LEDGER_KAFKA_BROKERS: brokers.join(','),
        LEDGER_KAFKA_EVENTS_TOPIC: topics.events,
        LEDGER_KAFKA_REVOCATIONS_TOPIC: topics.revocations,
      },
      [plugin],
    );
    const [a, b] = c.servers as [TestServer, TestServer];
    await waitUntil(async () => (await holds(a)) || (await holds(b)), 15_000, 'one instance to take the lease');
    const holder = (await holds(a)) ? a : b;
    const standby = holder === a ? b : a;
    const ledger = standby.running.ledger;
    const idOf = (s: TestServer): string => (s === a ? 'inst-1' : 'inst-2');

    // Four owners: 0 and 1 are suspended and reinstated across the hand-over, 2 after it; 3 has revocations only.
    const [o0, o1, o2, o3] = (await owners(ledger, 4, 4)) as [Owner, Owner, Owner, Owner];
    await ledger.users.deactivate(o0.userId, null, SYSTEM);
    await ledger.users.reactivate(o0.userId, SYSTEM);
    await ledger.users.deactivate(o1.userId, null, SYSTEM);
    await revokeAll(ledger, o3.keys.slice(0, 2));
    await publisherCaughtUp(holder);

    // Only the holder publishes; the standby says so, and both name the holder.
    expect(await holds(standby)).to.equal(false);
    expect(await published(holder)).to.be.above(0);
    expect(await published(standby)).to.equal(0);
    const ready = (await standby.request('GET', '/readyz')).body as {
      checks: Array<{ name: string; ok: boolean; detail: any }>;
    };
    expect(ready.checks.find((x) => x.name === 'kafka_publisher')).to.deep.include({
      ok: true,
      detail: { state: 'standby', lease: LEASE },
    });
    const leases = ready.checks.find((x) => x.name === 'leases')!;
    expect(leases.ok).to.equal(true);
    expect(leases.detail.instance).to.equal(idOf(standby));
    const row = (leases.detail.leases as Array<{ name: string; holder: string | null; since: string | null }>).find(
      (l) => l.name === LEASE,
    )!;
    expect(row.holder).to.equal(idOf(holder));
    expect(Date.parse(row.since!)).to.be.below(Date.now() + 1);
    expect(await metricsOf(standby)).to.match(
      new RegExp(`^ledger_instance_info\\{instance="${idOf(standby)}"\\} 1$`, 'm'),
    );

    // During: the holder stops while the standby goes on writing.
    const stopping = holder.stop();
    await ledger.users.reactivate(o1.userId, SYSTEM);
    await revokeAll(ledger, o0.keys);
    await revokeAll(ledger, o3.keys.slice(2, 3));
    await stopping;

    // After: the standby took the lease over and publishes what is left.
    await waitUntil(() => holds(standby), 15_000, 'the standby to take the lease over');
    await revokeAll(ledger, o1.keys);
    await ledger.users.deactivate(o2.userId, null, SYSTEM);
    await ledger.users.reactivate(o2.userId, SYSTEM);
    await revokeAll(ledger, o2.keys);
    await revokeAll(ledger, o3.keys.slice(3));
    await publisherCaughtUp(standby);

    await allRevoked(
      reader,
      topics.revocations,
      [o0, o1, o2, o3].flatMap((o) => o.keys),
    );
    await expectNoGap(reader, topics.events, ledger);
    const cycled = [REVOCATION_TYPES.suspended, REVOCATION_TYPES.reinstated, REVOCATION_TYPES.revoked];
    expectPerKeyOrder(reader.distinct(topics.revocations), [
      { keys: [o0, o1, o2].flatMap((o) => o.keys), types: cycled },
      { keys: o3.keys, types: [REVOCATION_TYPES.revoked] },
    ]);
  });

  it('the stand-alone publisher shares the lease: the server waits while it runs, and takes over within 10 s of its kill -9', async function () {
    this.timeout(120_000);
    const topics = uniqueTopics('standalone');
    const kafkaEnv = {
      LEDGER_KAFKA_BROKERS: brokers.join(','),
      LEDGER_KAFKA_EVENTS_TOPIC: topics.events,
      LEDGER_KAFKA_REVOCATIONS_TOPIC: topics.revocations,
    };
    reader = await TopicReader.start(brokers, [topics.events, topics.revocations]);
    c = await startSharedServers('standalone', 0, kafkaEnv, [plugin]);
    const dir = tempDir('standalone');
    let child: ChildProcess | null = null;
    try {
      child = spawn(process.execPath, [join(REPO_ROOT, 'dist/services/workers/run-publisher.js')], {
        env: {
          ...process.env,
          ...kafkaEnv,
          LEDGER_DATABASE_URL: c.db.url,
          LEDGER_MASTER_KEY: c.masterKey,
          LEDGER_INSTANCE_ID: 'standalone',
          LEDGER_DATA_DIR: dir.path,
          LEDGER_KAFKA_BATCH_MESSAGES: '5',
          LOG_LEVEL: 'silent',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const db = c.db;
      await waitUntil(
        async () => (await leaseHolder(db.url)) === 'standalone',
        20_000,
        'the stand-alone publisher to hold the lease',
      );
      const s = await c.add('server');
      const ledger = s.running.ledger;
      const [o0, o1] = (await owners(ledger, 2, 10)) as [Owner, Owner];
      await ledger.users.deactivate(o0.userId, null, SYSTEM);
      await ledger.users.reactivate(o0.userId, SYSTEM);
      await revokeAll(ledger, o0.keys.slice(0, 5));
      await allRevoked(reader, topics.revocations, o0.keys.slice(0, 5));
      // The stand-alone publisher published that; the server has not, and knows who does.
      expect(await holds(s)).to.equal(false);
      expect(await published(s)).to.equal(0);

      // kill -9 while revocations go on: the server takes the lease within 10 s and publishes from the checkpoint.
      const revoking = revokeAll(ledger, o0.keys.slice(5));
      child.kill('SIGKILL');
      const killedAt = Date.now();
      await revoking;
      await waitUntil(() => holds(s), 10_000, 'the server to take the lease over');
      const failoverMs = Date.now() - killedAt;
      expect(failoverMs).to.be.below(10_000);
      await revokeAll(ledger, o1.keys);
      await publisherCaughtUp(s);
      await allRevoked(reader, topics.revocations, [...o0.keys, ...o1.keys]);
      await expectNoGap(reader, topics.events, ledger);
      expectPerKeyOrder(reader.distinct(topics.revocations), [
        { keys: o0.keys, types: [REVOCATION_TYPES.suspended, REVOCATION_TYPES.reinstated, REVOCATION_TYPES.revoked] },
        { keys: o1.keys, types: [REVOCATION_TYPES.revoked] },
      ]);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      dir.cleanup();
    }
  });
});
