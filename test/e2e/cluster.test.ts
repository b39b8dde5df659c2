// Three real `token-ledger serve` processes on one PostgreSQL database: a revocation on one is refused on the others;
// uniqueness and races hold across instances; mismatched keys refuse to start; the Kafka publisher fails over under
// kill -9 with every revocation published; audit queries and read models agree everywhere. The same on an empty
// EventStoreDB server when LEDGER_TEST_ESDB_URL names one. SQLite stays single-instance.
import { expect } from 'chai';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { REVOCATION_TYPES } from '../../clients/protocol.js';
import { waitUntil } from '../support/async.js';
import {
  cleanEnv,
  Cluster,
  esdbUnusable,
  launch,
  listening,
  postgresUnreachable,
  type Instance,
} from '../support/cluster.js';
import { describeKafka, TopicReader, uniqueTopics } from '../support/kafka.js';
import type { Res } from '../support/server.js';
import { tempDir } from '../support/tmp.js';

/** How long a change made on one instance may take to show on another before the test fails (not a speed figure). */
const PROPAGATION_MS = 10_000;

const eventually = (cond: () => Promise<boolean>, what: string, ms = PROPAGATION_MS): Promise<void> =>
  waitUntil(cond, ms, what);

const codeOf = (r: Res): string | undefined => (r.body as { errors?: Array<{ code: string }> })?.errors?.[0]?.code;

/** Creates a key as `token`'s user on `inst`; fails the test on anything but 201. */
async function createKey(inst: Instance, token: string, body: Record<string, unknown> = {}) {
  const r = await inst.request('POST', '/v1/keys', {
    token,
    body: { name: `k-${randomBytes(3).toString('hex')}`, ...body },
  });
  expect(r.status, `create on ${inst.name}: ${r.text}`).to.equal(201);
  return r.body as { id: string; token: string };
}

/** Whether `key` authenticates on `inst` right now. */
async function accepted(inst: Instance, key: string): Promise<boolean> {
  const r = await inst.request('GET', '/v1/auth/me', { token: key });
  if (r.status !== 200 && r.status !== 401) throw new Error(`GET /v1/auth/me on ${inst.name}: ${r.status} ${r.text}`);
  return r.status === 200;
}

/** Waits until every instance returns the key, then returns what each says about it. */
async function keyEverywhere(insts: Instance[], tokens: string[], keyId: string): Promise<unknown[]> {
  const views: unknown[] = [];
  for (const [i, inst] of insts.entries()) {
    let last: Res | null = null;
    await eventually(
      async () => (last = await inst.request('GET', `/v1/keys/${keyId}`, { token: tokens[i]! })).status === 200,
      `${keyId} on ${inst.name}`,
    );
    views.push(last!.body);
  }
  return views;
}

/** The read model's position as /readyz reports it. */
async function readPosition(inst: Instance): Promise<number> {
  const r = await inst.request('GET', '/readyz');
  const check = (r.body as { checks: Array<{ name: string; detail?: { position?: number } }> }).checks.find(
    (c) => c.name === 'read_model',
  );
  return check?.detail?.position ?? -1;
}

async function head(c: Cluster): Promise<number> {
  const [row] = await c.query<{ p: string | null }>('SELECT max(position) AS p FROM ledger_events');
  return Number(row?.p ?? 0);
}

/** Runs `fn` on every instance at the same moment (each with its own session) and returns the answers in order. */
const onEach = (insts: Instance[], fn: (inst: Instance, i: number) => Promise<Res>): Promise<Res[]> =>
  Promise.all(insts.map((inst, i) => fn(inst, i)));

/** The instance holding lease `name`, as `inst`'s /readyz lists leases; null when nobody does. */
async function leaseHolder(inst: Instance, name: string): Promise<string | null> {
  const r = await inst.request('GET', '/readyz');
  const leases = (
    r.body as { checks?: Array<{ name: string; detail?: { leases?: Array<{ name: string; holder: string | null }> } }> }
  ).checks?.find((c) => c.name === 'leases')?.detail?.leases;
  return leases?.find((l) => l.name === name)?.holder ?? null;
}

const publisherHolder = (inst: Instance): Promise<string | null> => leaseHolder(inst, 'kafka-publisher');

/** A key created on `a` verifies on `others`; revoked on `a`, it is refused there at once and on `others` soon after. */
async function revokedEverywhere(a: Instance, others: Instance[]): Promise<void> {
  const key = await createKey(a, await a.login());
  expect(await accepted(a, key.token), 'read-your-writes on A').to.equal(true);
  for (const other of others) await eventually(() => accepted(other, key.token), `the key to verify on ${other.name}`);
  expect((await a.request('DELETE', `/v1/keys/${key.id}`, { token: await a.login() })).status).to.equal(200);
  expect(await accepted(a, key.token), 'read-your-writes on A').to.equal(false);
  for (const other of others)
    await eventually(async () => !(await accepted(other, key.token)), `the revoked key to be refused on ${other.name}`);
}

/** The statuses, sorted: a race's outcome whatever the order it resolved in. */
const statuses = (rs: Res[]): number[] => rs.map((r) => r.status).sort();

describe('e2e: several instances on one PostgreSQL store', function () {
  // Three processes on two shared cores: a loaded machine takes over a minute for the write storm.
  this.timeout(150_000);
  let cluster: Cluster | null = null;

  before(async function () {
    const why = await postgresUnreachable();
    if (why !== null) {
      console.log(`    skipped: ${why}`);
      this.skip();
    }
  });
  afterEach(async () => {
    await cluster?.dispose();
    cluster = null;
  });

  it('a key created on A verifies on B and C; revoked on A, it is refused on B and C', async () => {
    cluster = await Cluster.start({ label: 'revoke' });
    const [a, b, c] = cluster.instances as [Instance, Instance, Instance];
    await revokedEverywhere(a, [b, c]);
  });

  it('three instances started at once on an empty database create exactly one admin and one default workspace', async () => {
    cluster = await Cluster.start({ label: 'bootstrap', together: true });
    const admins = await cluster.query<{ n: string }>(
      `SELECT count(*) AS n FROM ledger_events WHERE type = 'UserRegistered' AND data::jsonb->>'email' = 'admin@example.com'`,
    );
    expect(Number(admins[0]!.n)).to.equal(1);
    const workspaces = await cluster.query<{ name: string }>(
      `SELECT data::jsonb->>'name' AS name FROM ledger_events WHERE type = 'WorkspaceCreated'`,
    );
    expect(workspaces.map((w) => w.name)).to.deep.equal(['default']);
    expect(cluster.instances.filter((i) => i.stdout().includes('Created the first admin'))).to.have.length(1);
    for (const inst of cluster.instances) {
      const me = await inst.request('GET', '/v1/auth/me', { token: await inst.login() });
      expect(me.status, inst.name).to.equal(200);
    }
  });

  it('the same handle created on three instances at once: one 201, two 409 handle_taken, the same key everywhere', async () => {
    cluster = await Cluster.start({ label: 'handle' });
    const insts = cluster.instances;
    const tokens = await Promise.all(insts.map((i) => i.login()));
    const rs = await onEach(insts, (inst, i) =>
      inst.request('POST', '/v1/keys', {
        token: tokens[i]!,
        body: { name: `from ${inst.name}`, handle: 'deploy-bot' },
      }),
    );
    expect(statuses(rs)).to.deep.equal([201, 409, 409]);
    for (const r of rs.filter((x) => x.status === 409)) expect(codeOf(r)).to.equal('handle_taken');
    const winner = (rs.find((r) => r.status === 201)!.body as { id: string }).id;
    const views = await keyEverywhere(insts, tokens, 'deploy-bot');
    for (const v of views) expect((v as { id: string }).id).to.equal(winner);
  });

  it('the same e-mail registered on three instances at once: one 201, two 409 email_taken, the same user everywhere', async () => {
    cluster = await Cluster.start({ label: 'email' });
    const insts = cluster.instances;
    const tokens = await Promise.all(insts.map((i) => i.login()));
    const rs = await onEach(insts, (inst, i) =>
      inst.request('POST', '/v1/users', {
        token: tokens[i]!,
        body: { email: 'Race@Example.com', name: `from ${inst.name}`, password: 'a long enough password 1' },
      }),
    );
    expect(statuses(rs)).to.deep.equal([201, 409, 409]);
    for (const r of rs.filter((x) => x.status === 409)) expect(codeOf(r)).to.equal('email_taken');
    const winner = rs.find((r) => r.status === 201)!.body as { id: string; name: string };
    for (const [i, inst] of insts.entries()) {
      let r: Res | null = null;
      await eventually(
        async () => (r = await inst.request('GET', `/v1/users/${winner.id}`, { token: tokens[i]! })).status === 200,
        `the user on ${inst.name}`,
      );
      expect((r!.body as { name: string }).name).to.equal(winner.name);
    }
    const stored = await cluster.query(
      `SELECT 1 FROM ledger_events WHERE type = 'UserRegistered' AND lower(data::jsonb->>'email') = 'race@example.com'`,
    );
    expect(stored).to.have.length(1);
  });

  it('one key rotated on three instances at once: one 201, two 409 key_already_rotated; every instance answers the same', async () => {
    cluster = await Cluster.start({ label: 'rotate' });
    const insts = cluster.instances;
    const tokens = await Promise.all(insts.map((i) => i.login()));
    const key = await createKey(insts[0]!, tokens[0]!);
    await keyEverywhere(insts, tokens, key.id);
    const rs = await onEach(insts, (inst, i) =>
      inst.request('POST', `/v1/keys/${key.id}/rotate`, { token: tokens[i]!, body: { gracePeriod: '1h' } }),
    );
    expect(statuses(rs)).to.deep.equal([201, 409, 409]);
    for (const r of rs.filter((x) => x.status === 409)) expect(codeOf(r)).to.equal('key_already_rotated');
    const successor = (rs.find((r) => r.status === 201)!.body as { id: string }).id;
    await eventually(async () => {
      const views = await keyEverywhere(insts, tokens, key.id);
      return views.every((v) => (v as { rotatedTo: string | null }).rotatedTo === successor);
    }, 'every instance to name the one successor');
    const rotations = await cluster.query(
      `SELECT 1 FROM ledger_events WHERE type = 'ApiKeyRotated' AND stream_id = $1`,
      [`apikey-${key.id}`],
    );
    expect(rotations).to.have.length(1);
  });

  it('rotations on two instances against a revocation on the third: at most one rotation wins, the key ends revoked everywhere', async () => {
    cluster = await Cluster.start({ label: 'rotrev' });
    const insts = cluster.instances;
    const tokens = await Promise.all(insts.map((i) => i.login()));
    const key = await createKey(insts[0]!, tokens[0]!);
    await keyEverywhere(insts, tokens, key.id);
    const [r1, r2, revoke] = await onEach(insts, (inst, i) =>
      i < 2
        ? inst.request('POST', `/v1/keys/${key.id}/rotate`, { token: tokens[i]!, body: { gracePeriod: '1h' } })
        : inst.request('DELETE', `/v1/keys/${key.id}`, { token: tokens[i]! }),
    );
    expect(revoke!.status, revoke!.text).to.equal(200);
    const rotations = [r1!, r2!];
    const won = rotations.filter((r) => r.status === 201);
    expect(won.length).to.be.at.most(1);
    // A loser lost to the other rotation or to the revocation: exactly those two answers.
    for (const r of rotations.filter((x) => x.status !== 201)) {
      expect(r.status, r.text).to.equal(409);
      expect(codeOf(r)).to.be.oneOf(['key_already_rotated', 'key_revoked']);
    }
    const successor = won.length === 1 ? (won[0]!.body as { id: string }).id : null;
    await eventually(async () => {
      const views = (await keyEverywhere(insts, tokens, key.id)) as Array<{ status: string; rotatedTo: string | null }>;
      return views.every((v) => v.status === 'revoked' && v.rotatedTo === successor);
    }, 'every instance to agree the key is revoked, with the same successor');
    const stored = await cluster.query(`SELECT 1 FROM ledger_events WHERE type = 'ApiKeyRotated' AND stream_id = $1`, [
      `apikey-${key.id}`,
    ]);
    expect(stored).to.have.length(won.length);
  });

  it('an instance whose keys do not match the ledger refuses to start with one line; two stores is a start-up error', async () => {
    cluster = await Cluster.start({ label: 'keys', size: 1 });
    const refused = async (extra: Record<string, string>): Promise<string> => {
      const l = cluster!.spawn('z', extra);
      const e = await l.exited;
      expect(e.code, l.stderr()).to.equal(1);
      const lines = l.stderr().trimEnd().split('\n');
      expect(lines, l.stderr()).to.have.length(1);
      expect(l.stdout()).to.not.include('listening on');
      return lines[0]!;
    };
    expect(await refused({ LEDGER_MASTER_KEY: randomBytes(32).toString('base64') })).to.match(
      /^token-ledger: LEDGER_MASTER_KEY does not open this ledger's signing key \(kid [\w-]+\)/,
    );
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(await refused({ LEDGER_SIGNING_KEY: pem })).to.match(
      /^token-ledger: LEDGER_SIGNING_KEY \(kid [\w-]+\) is not this ledger's signing key \(kid [\w-]+\)$/,
    );
    expect(await refused({ LEDGER_EVENTSTORE_URL: 'esdb://127.0.0.1:2113?tls=false' })).to.equal(
      'token-ledger: LEDGER_DATABASE_URL and LEDGER_EVENTSTORE_URL select two stores: set one of them',
    );
    // The instance that holds the right keys was never disturbed.
    expect((await cluster.instances[0]!.request('GET', '/readyz')).status).to.equal(200);
  });

  it('shared audit: a key created and revoked on A is in GET /v1/audit and its history on B and C', async () => {
    cluster = await Cluster.start({ label: 'audit' });
    const [a, ...others] = cluster.instances as [Instance, Instance, Instance];
    const ta = await a.login();
    const key = await createKey(a, ta);
    expect(
      (await a.request('DELETE', `/v1/keys/${key.id}`, { token: ta, body: { reason: 'leaked' } })).status,
    ).to.equal(200);
    for (const inst of others) {
      const t = await inst.login();
      let audit: string[] = [];
      await eventually(async () => {
        const r = await inst.request('GET', `/v1/audit?keyId=${key.id}&order=asc`, { token: t });
        audit = r.status === 200 ? (r.body as { items: Array<{ type: string }> }).items.map((e) => e.type) : [];
        return audit.includes('ApiKeyRevoked');
      }, `the revocation in /v1/audit on ${inst.name}`);
      expect(audit.slice(0, 1)).to.deep.equal(['ApiKeyCreated']);
      const h = await inst.request('GET', `/v1/keys/${key.id}/history`, { token: t });
      expect(h.status, h.text).to.equal(200);
      const types = (h.body as { events: Array<{ type: string }> }).events.map((e) => e.type);
      expect(types).to.include.members(['ApiKeyCreated', 'ApiKeyRevoked']);
      expect((h.body as { key: { status: string } }).key.status).to.equal('revoked');
    }
  });

  it('three instances writing at once: every read model reaches the same position and the same keys, with no gap', async () => {
    cluster = await Cluster.start({ label: 'gaps' });
    const insts = cluster.instances;
    const tokens = await Promise.all(insts.map((i) => i.login()));
    const PER = 60;
    const IN_FLIGHT = 8;
    const created = new Map<string, string>(); // key id → expected status
    await Promise.all(
      insts.map(async (inst, i) => {
        let next = 0;
        await Promise.all(
          Array.from({ length: IN_FLIGHT }, async () => {
            while (next < PER) {
              const n = next++;
              const k = await createKey(inst, tokens[i]!, { name: `${inst.name}-${n}` });
              // Every third key is revoked at once, by the instance that made it: more appenders, two kinds of event.
              if (n % 3 === 0) {
                const r = await inst.request('DELETE', `/v1/keys/${k.id}`, { token: tokens[i]! });
                expect(r.status, r.text).to.equal(200);
              }
              created.set(k.id, n % 3 === 0 ? 'revoked' : 'active');
            }
          }),
        );
      }),
    );
    expect(created.size).to.equal(3 * PER);
    let positions: number[] = [];
    await eventually(
      async () => {
        const h = await head(cluster!);
        positions = await Promise.all(insts.map(readPosition));
        return positions.every((p) => p === h);
      },
      `every read model to reach the head (at ${positions.join(', ')})`,
    );
    const expected = [...created].sort();
    for (const [i, inst] of insts.entries()) {
      const r = await inst.request('GET', '/v1/keys?limit=1000', { token: tokens[i]! });
      expect(r.status).to.equal(200);
      const seen = (r.body as { items: Array<{ id: string; status: string }> }).items.map((k) => [k.id, k.status]);
      expect(seen.sort(), `keys on ${inst.name}`).to.deep.equal(expected);
    }
    const positionsStored = await cluster.query<{ n: string; max: string }>(
      'SELECT count(*) AS n, max(position) AS max FROM ledger_events',
    );
    expect(positionsStored[0]!.n, 'dense positions').to.equal(positionsStored[0]!.max);
  });

  describeKafka('with Kafka', (brokers) => {
    it('the publisher holder killed with -9 while revocations continue: another takes the lease within 10 s, and every revocation is on the topic', async () => {
      const topics = uniqueTopics('cluster-failover');
      const reader = await TopicReader.start(brokers, [topics.revocations]);
      try {
        cluster = await Cluster.start({
          label: 'failover',
          env: {
            LEDGER_KAFKA_BROKERS: brokers.join(','),
            LEDGER_KAFKA_EVENTS_TOPIC: topics.events,
            LEDGER_KAFKA_REVOCATIONS_TOPIC: topics.revocations,
          },
        });
        const insts = cluster.instances;
        let first: string | null = null;
        await eventually(async () => (first = await publisherHolder(insts[0]!)) !== null, 'a publisher lease holder');
        const holder = insts.find((i) => i.name === first)!;
        const survivors = insts.filter((i) => i !== holder);
        const tokens = await Promise.all(survivors.map((i) => i.login()));
        const revoked: string[] = [];
        let takenOver = false;
        // Each survivor creates and revokes keys, one after another, until a few more follow the takeover.
        const revoking = Promise.all(
          survivors.map(async (inst, s) => {
            for (let n = 0, after = 0; after < 10 && n < 2000; n++) {
              const k = await createKey(inst, tokens[s]!);
              const r = await inst.request('DELETE', `/v1/keys/${k.id}`, { token: tokens[s]! });
              expect(r.status, r.text).to.equal(200);
              revoked.push(k.id);
              if (takenOver) after++;
            }
          }),
        );
        await eventually(async () => revoked.length >= 10, 'revocations before the kill');
        expect((await cluster.kill(holder)).signal).to.equal('SIGKILL');
        let next: string | null = null;
        await waitUntil(
          async () => {
            next = await publisherHolder(survivors[0]!);
            return next !== null && next !== holder.name;
          },
          10_000,
          'another instance to take the kafka-publisher lease',
        );
        takenOver = true;
        expect(survivors.map((i) => i.name)).to.include(next);
        await revoking;
        const stored = await cluster.query<{ id: string }>(
          `SELECT event_id AS id FROM ledger_events WHERE type = 'ApiKeyRevoked' ORDER BY position`,
        );
        expect(stored).to.have.length(revoked.length);
        const onTopic = (): Map<string, string> =>
          new Map(
            reader
              .distinct(topics.revocations)
              .filter((m) => m.value?.type === REVOCATION_TYPES.revoked)
              .map((m) => [String(m.value.id), String(m.value.subject)]),
          );
        await reader.waitFor(
          () => stored.every((e) => onTopic().has(e.id)),
          20_000,
          `all ${stored.length} revocations on the topic (${onTopic().size} so far)`,
        );
        expect([...new Set(onTopic().values())].sort()).to.deep.equal([...revoked].sort());
      } finally {
        await reader.stop();
      }
    });
  });
});

describe('e2e: several instances on one EventStoreDB server', function () {
  this.timeout(120_000);
  const url = process.env.LEDGER_TEST_ESDB_URL;
  // One ledger for the whole describe: on EventStoreDB a ledger is the server's whole $all, so it needs an empty
  // server, and the cases below share it (each with its own keys and handles).
  let cluster: Cluster | null = null;

  before(async function () {
    const why = url
      ? await esdbUnusable(url)
      : 'LEDGER_TEST_ESDB_URL is not set (e.g. esdb://127.0.0.1:2113?tls=false)';
    if (why !== null) {
      console.log(`    skipped: ${why}; this suite needs an EventStoreDB server that holds no events yet`);
      this.skip();
    }
    cluster = await Cluster.start({ label: 'esdb', eventStoreUrl: url, together: true });
  });
  after(async () => {
    await cluster?.dispose();
    cluster = null;
  });

  it('three instances started at once create one admin; a key revoked on A is refused on B and C', async () => {
    expect(cluster!.instances.filter((i) => i.stdout().includes('Created the first admin'))).to.have.length(1);
    const [a, b, c] = cluster!.instances as [Instance, Instance, Instance];
    await revokedEverywhere(a, [b, c]);
  });

  it('the same handle created on three instances at once: one 201, two 409 handle_taken', async () => {
    const insts = cluster!.instances;
    const tokens = await Promise.all(insts.map((i) => i.login()));
    const handle = `bot-${randomBytes(4).toString('hex')}`;
    const rs = await onEach(insts, (inst, i) =>
      inst.request('POST', '/v1/keys', { token: tokens[i]!, body: { name: `from ${inst.name}`, handle } }),
    );
    expect(statuses(rs)).to.deep.equal([201, 409, 409]);
    const winner = (rs.find((r) => r.status === 201)!.body as { id: string }).id;
    for (const v of await keyEverywhere(insts, tokens, handle)) expect((v as { id: string }).id).to.equal(winner);
  });

  it('the checkpointer lease holder killed with -9: another instance holds it within 10 s', async () => {
    const insts = cluster!.instances;
    let first: string | null = null;
    await eventually(async () => (first = await leaseHolder(insts[0]!, 'checkpointer')) !== null, 'a holder');
    const holder = insts.find((i) => i.name === first)!;
    const survivor = insts.find((i) => i !== holder)!;
    expect((await cluster!.kill(holder)).signal).to.equal('SIGKILL');
    await waitUntil(
      async () => {
        const next = await leaseHolder(survivor, 'checkpointer');
        return next !== null && next !== holder.name;
      },
      10_000,
      'another instance to take the checkpointer lease',
    );
  });
});

describe('e2e: SQLite mode is single-instance', function () {
  this.timeout(30_000);

  it('a second serve on the same data folder exits 1 with one line naming the first one’s pid', async () => {
    const dir = tempDir('sqlite-one');
    const env = { ...cleanEnv(), LEDGER_DATA_DIR: dir.path, PORT: '0', LOG_LEVEL: 'warn' };
    const first = launch(['serve'], env);
    try {
      await listening(first, 20_000);
      const second = launch(['serve'], env);
      const e = await second.exited;
      expect(e.code, second.stderr()).to.equal(1);
      const lines = second.stderr().trimEnd().split('\n');
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(
        new RegExp(`^token-ledger: .* is in use by another token-ledger process \\(pid ${first.proc.pid}\\)`),
      );
      expect(second.stdout()).to.not.include('listening on');
    } finally {
      first.proc.kill('SIGTERM');
      await first.exited;
      dir.cleanup();
    }
  });
});
