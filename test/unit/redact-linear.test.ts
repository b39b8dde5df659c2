// The access-log redaction scans request paths: same verdicts as the regex it replaced, and linear time on hostile 1 MB inputs.
import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { isSecretName, loggableTarget, loggableUrl, looksLikeSecret } from '../../services/http/redact.js';
import { mintOpaqueToken } from '../../services/crypto/tokens.js';
import { prng } from '../support/prng.js';

// The former definition, kept as the oracle: it is quadratic, so it only ever sees short strings here.
const OLD_SECRET_VALUE =
  /(?:^|[^A-Za-z0-9])[a-z][a-z0-9]{0,15}_[A-Za-z0-9]{40,}|[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

const JWT = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c3JfMSJ9.c2lnbmF0dXJlLWJ5dGVz';
const MB = 1 << 20;

describe('redact: credential-shaped values', () => {
  it('finds an opaque token or a JWT wherever it sits, and leaves ordinary paths alone', () => {
    const token = mintOpaqueToken('tl');
    for (const s of [
      token,
      `/v1/keys/${token}`,
      `x-${token}`,
      `a_${token}`,
      `Bearer ${JWT}`,
      `/v1/x/${JWT}/y`,
      'abcdefgh.abcdefgh.abcdefgh',
    ]) {
      expect(looksLikeSecret(s), s).to.equal(true);
    }
    const normal = [
      '',
      '/v1/keys',
      '/v1/keys/key_01HZXJ8V6M2Q/rotate',
      '/v1/workspaces/wsp_abc/members/usr_def',
      '/healthz',
      '/v1/audit/events.csv',
      'abcdefgh.abcdefgh',
      'abcdefgh.abcdefg.abcdefgh',
      `X${token}`, // glued to a letter: not at a token boundary
      `Tl_${token.slice(3)}`, // the prefix is lower-case
      `tl_${token.slice(3, 42)}`, // 39 body characters, one short
      `${'a'.repeat(17)}_${token.slice(3)}`, // a 17-character prefix
    ];
    for (const s of normal) expect(looksLikeSecret(s), s).to.equal(false);
  });

  it('agrees with the former regex on 20,000 random near-miss strings', () => {
    const rnd = prng(20240611);
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    const from = (chars: string, n: number) =>
      Array.from({ length: n }, () => chars[int(0, chars.length - 1)]).join('');
    const LOWER = 'abcdefghijklmnopqrstuvwxyz';
    const ALNUM = `${LOWER}ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789`;
    const pieces = [
      () => from('aZ09_-./ %é\t', 1),
      () => from(LOWER + '0123456789', int(0, 18)) + '_',
      () => from(ALNUM, int(36, 44)),
      () => from(`${ALNUM}_-`, int(5, 11)),
      () => '.',
      () => '_',
    ];
    let positives = 0;
    for (let n = 0; n < 20_000; n++) {
      let s = '';
      for (let k = int(1, 10); k > 0; k--) s += pieces[int(0, pieces.length - 1)]!();
      const want = OLD_SECRET_VALUE.test(s);
      if (want) positives++;
      expect(looksLikeSecret(s), JSON.stringify(s)).to.equal(want);
    }
    expect(positives, 'the generator reaches both verdicts').to.be.within(1_000, 19_000);
  });

  it('keeps names and log URLs as they were', () => {
    const token = mintOpaqueToken('tl');
    expect(['api_token', 'Password', 'x-token', 'sig', 'key', 'Cookie'].every(isSecretName)).to.equal(true);
    expect(['limit', 'cursor', 'keyId', 'signed'].some(isSecretName)).to.equal(false);
    expect(loggableUrl('/v1/keys', '')).to.equal('/v1/keys');
    expect(loggableUrl(`/v1/keys/${token}/rotate`, '')).to.equal('/v1/keys/[REDACTED]/rotate');
    expect(loggableUrl(`/v1/keys/${encodeURIComponent(JWT)}`, 'limit=5')).to.equal('/v1/keys/[REDACTED]?limit=5');
    expect(loggableUrl('/v1/revocations', `api_token=${token}&limit=${token}&after=1`)).to.equal(
      '/v1/revocations?api_token=[REDACTED]&limit=[REDACTED]&after=1',
    );
    expect(loggableTarget(`/v1/keys/verify?${JWT}=1`)).to.equal('/v1/keys/verify?[REDACTED]=1');
  });
});

/** Runs the checks in a worker, stopped after `ms`: a super-linear scan then fails this test instead of blocking the run for an hour. */
function inWorker(
  inputs: Array<{ fn: 'looksLikeSecret' | 'loggableTarget'; s: string }>,
  ms: number,
): Promise<unknown[]> {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.module).then((m) => parentPort.postMessage(workerData.inputs.map((i) => m[i.fn](i.s))));`;
  const worker = new Worker(source, {
    eval: true,
    workerData: { module: new URL('../../services/http/redact.js', import.meta.url).href, inputs },
  });
  return new Promise<unknown[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not done after ${ms} ms: the scan is not linear`)), ms);
    worker.once('message', (out: unknown[]) => resolve(out));
    worker.once('error', reject);
    worker.once('exit', () => clearTimeout(timer));
  }).finally(() => void worker.terminate());
}

describe('redact: linear time on hostile input', function () {
  // Each input takes milliseconds with a linear scan and tens of minutes with the former regex: no machine is that slow or that fast.
  this.timeout(20_000);
  const cases: Array<{ name: string; fn: 'looksLikeSecret' | 'loggableTarget'; s: string; want: unknown }> = [
    { name: "'a' × 1 MiB", fn: 'looksLikeSecret', s: 'a'.repeat(MB), want: false },
    { name: "'-' × 1 MiB", fn: 'looksLikeSecret', s: '-'.repeat(MB), want: false },
    { name: "'tl_' then '-' × 1 MiB", fn: 'looksLikeSecret', s: 'tl_' + '-'.repeat(MB), want: false },
    {
      name: 'two 512 KiB parts around one dot',
      fn: 'looksLikeSecret',
      s: `${'a'.repeat(MB / 2)}.${'b'.repeat(MB / 2)}`,
      want: false,
    },
    { name: "('a' × 7 + '.') × 131072", fn: 'looksLikeSecret', s: ('a'.repeat(7) + '.').repeat(MB / 8), want: false },
    { name: "('a' × 9 + '.') × 100000", fn: 'looksLikeSecret', s: ('a'.repeat(9) + '.').repeat(100_000), want: true },
    {
      name: "('tl_' + 'A' × 39 + ' ') × 24000",
      fn: 'looksLikeSecret',
      s: ('tl_' + 'A'.repeat(39) + ' ').repeat(24_000),
      want: false,
    },
    { name: 'a 1 MiB request path', fn: 'loggableTarget', s: '/' + 'a'.repeat(MB), want: '/' + 'a'.repeat(MB) },
    {
      name: 'a 1 MiB encoded path segment',
      fn: 'loggableTarget',
      s: '/%61' + 'a'.repeat(MB),
      want: '/%61' + 'a'.repeat(MB),
    },
    {
      name: 'a 1 MiB query value',
      fn: 'loggableTarget',
      s: `/x?limit=${'a'.repeat(MB)}`,
      want: `/x?limit=${'a'.repeat(MB)}`,
    },
  ];
  for (const c of cases) {
    it(`${c.fn}: ${c.name}`, async () => {
      const [got] = await inWorker([{ fn: c.fn, s: c.s }], 15_000);
      expect(got).to.equal(c.want);
    });
  }
});
