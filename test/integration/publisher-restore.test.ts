// The Kafka publisher resuming from its checkpoint with the fan-out index restored from a revocation-feed image (the
// snapshot's) sends exactly what a publisher that replayed the whole log sends; an image past the checkpoint is not used.
import { expect } from 'chai';
import { HEARTBEAT_KEY } from '../../clients/protocol.js';
import { join } from 'node:path';
import { FeedState, type FeedImage } from '../../projections/revocations/feed-state.js';
import { RevocationIndex } from '../../projections/revocations/fanout.js';
import type { MessageSink, OutgoingMessage } from '../../services/revocations/bus.js';
import { SqliteCheckpointStore } from '../../services/revocations/checkpoint.js';
import { SYSTEM } from '../../services/ledger.js';
import { KafkaPublisher, type PublisherOptions } from '../../services/workers/publisher.js';
import { waitUntil } from '../support/async.js';
import { makeLedger, seedOwner, type TestLedger } from '../support/ledger.js';

/** Keeps every acknowledged message, in order. */
function memorySink(): MessageSink & { readonly sent: OutgoingMessage[] } {
  const sent: OutgoingMessage[] = [];
  return {
    sent,
    connect: () => Promise.resolve(),
    send: (messages) => {
      sent.push(...messages);
      return Promise.resolve();
    },
    reset: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

/** A history with every kind of fan-out: revocations, a deactivation and reactivation, role changes, a removal. */
async function history(t: TestLedger): Promise<void> {
  const l = t.ledger;
  const owner = await seedOwner(l);
  const member = await l.users.register(
    { email: 'm@example.com', name: 'M', password: 'correct horse battery staple' },
    SYSTEM,
  );
  await l.workspaces.setMemberRole(owner.workspaceId, member.id, 'admin', SYSTEM);
  const keys: string[] = [];
  for (let i = 0; i < 6; i++) {
    const userId = i % 2 ? member.id : owner.userId;
    const scopes = i % 3 === 0 ? ['keys:read', 'keys:create'] : null;
    keys.push((await l.keys.create({ userId, workspaceId: owner.workspaceId, name: `k${i}`, scopes }, SYSTEM)).key.id);
  }
  await l.keys.revoke(keys[0]!, 'leaked', SYSTEM);
  await l.users.deactivate(member.id, 'left', SYSTEM);
  await l.users.reactivate(member.id, SYSTEM);
  await l.workspaces.setMemberRole(owner.workspaceId, member.id, 'member', SYSTEM);
  await l.workspaces.removeMember(owner.workspaceId, member.id, SYSTEM);
  await l.keys.revoke(keys[2]!, null, SYSTEM);
}

describe('Kafka publisher: the fan-out index restored from a revocation-feed image', function () {
  this.timeout(30_000);
  let t: TestLedger;
  beforeEach(async () => {
    t = await makeLedger();
    await history(t);
  });
  afterEach(async () => t?.dispose());

  /** Publishes from `checkpoint` to the head; returns the messages and what the publisher logged. */
  async function publish(
    name: string,
    checkpoint: number,
    restoreIndex?: PublisherOptions['restoreIndex'],
  ): Promise<{ sent: OutgoingMessage[]; logged: Array<[string, Record<string, unknown> | undefined]> }> {
    const checkpoints = new SqliteCheckpointStore(join(t.dir, `${name}.db`));
    const sink = memorySink();
    const logged: Array<[string, Record<string, unknown> | undefined]> = [];
    const publisher = new KafkaPublisher({
      store: t.ledger.store,
      sink,
      checkpoints,
      eventsTopic: 'events',
      revocationsTopic: 'revocations',
      checkpointName: 'p',
      log: (_level, msg, extra) => void logged.push([msg, extra]),
      ...(restoreIndex ? { restoreIndex } : {}),
    });
    checkpoints.set('p', checkpoint);
    const head = await t.ledger.store.headPosition();
    try {
      publisher.start();
      await waitUntil(() => publisher.status().checkpoint === head, 10_000, 'the publisher to reach the head');
    } finally {
      await publisher.stop();
      checkpoints.close();
    }
    // Heartbeats carry their own time and lag: only the ledger's messages are compared.
    return { sent: sink.sent.filter((m) => m.key !== HEARTBEAT_KEY), logged };
  }

  /** The feed's state at `position`, through its JSON image as the snapshot file holds it. */
  async function imageAt(position: number): Promise<FeedImage> {
    const feed = new FeedState();
    for (const r of (await t.ledger.store.readAll({ after: -1, maxCount: 10_000 })).events)
      if (r.position <= position) feed.apply(r);
    return JSON.parse(JSON.stringify(feed.toImage())) as FeedImage;
  }

  it('sends, after its checkpoint, exactly what a full replay sends, having read the log only from the image on', async () => {
    const head = await t.ledger.store.headPosition();
    const all = await publish('all', -1);
    expect(all.sent.filter((m) => m.topic === 'revocations').length, 'the history fans out').to.be.greaterThan(5);
    for (const checkpoint of [Math.floor(head / 2), head - 3]) {
      const replayed = await publish(`full-${checkpoint}`, checkpoint);
      expect(replayed.sent.length).to.be.greaterThan(0);
      for (const at of [1, Math.floor(checkpoint / 2), checkpoint]) {
        const img = await imageAt(at);
        const resumed = await publish(`c${checkpoint}-${at}`, checkpoint, (atMost) =>
          Promise.resolve(
            atMost >= img.position ? { index: RevocationIndex.fromImage(img.index), position: img.position } : null,
          ),
        );
        expect(resumed.sent, `checkpoint ${checkpoint}, image at ${at}`).to.deep.equal(replayed.sent);
        expect(resumed.logged.find(([msg]) => msg === 'publisher index restored')?.[1]).to.deep.include({
          position: at,
          checkpoint,
        });
      }
    }
  });

  it('an image past the checkpoint is not used: the log is replayed from the start', async () => {
    const head = await t.ledger.store.headPosition();
    const img = await imageAt(head);
    const full = await publish('full', 3);
    const resumed = await publish('late', 3, () =>
      Promise.resolve({ index: RevocationIndex.fromImage(img.index), position: img.position }),
    );
    expect(resumed.sent).to.deep.equal(full.sent);
    expect(resumed.logged.map(([msg]) => msg)).to.not.include('publisher index restored');
  });

  it('a failing restore costs a full replay, with a warning, never a stopped publisher', async () => {
    const full = await publish('full', 3);
    const resumed = await publish('failing', 3, () => Promise.reject(new Error('disk on fire')));
    expect(resumed.sent).to.deep.equal(full.sent);
    expect(resumed.logged.find(([msg]) => msg.startsWith('restoring the fan-out index failed'))?.[1]).to.deep.equal({
      err: 'disk on fire',
    });
  });
});
