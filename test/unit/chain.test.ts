// The public byte layout of the hash chain (docs/canonical-bytes.md): every rule pinned by spelled-out bytes.
import { expect } from 'chai';
import fc from 'fast-check';
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import {
  GENESIS_CHAIN,
  canonicalBytes,
  canonicalJson,
  canonicalRedacted,
  checkpointSigningInput,
  nextChain,
  redactSecrets,
} from '../../events/chain.js';
import { prng } from '../support/prng.js';

const sha256hex = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

describe('unit: canonical bytes and the hash chain', () => {
  describe('canonicalJson', () => {
    it('sorts object keys by UTF-16 code units at every depth and writes no whitespace', () => {
      const v = { b: 1, a: { d: [3, { z: true, y: null }], c: 'x' }, B: 2, é: 3, '😀': 4, '\uffff': 5, '': 6 };
      // '' < 'B' (0x42) < 'a' < 'b' < 'é' (0xE9) < '😀' (0xD83D…) < '\uffff'
      expect(canonicalJson(v)).to.equal(
        '{"":6,"B":2,"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1,"é":3,"😀":4,"\uffff":5}',
      );
    });

    it('escapes strings exactly as JSON.stringify does', () => {
      expect(canonicalJson('a"b\\c')).to.equal('"a\\"b\\\\c"');
      expect(canonicalJson('\n\t\r\b\f')).to.equal('"\\n\\t\\r\\b\\f"');
      expect(canonicalJson('\u0001\u001f')).to.equal('"\\u0001\\u001f"');
      expect(canonicalJson('\u2028/é😀')).to.equal('"\u2028/é😀"'); // no escaping of non-ASCII or '/'
      expect(canonicalJson('\ud800')).to.equal('"\\ud800"'); // a lone surrogate is escaped (well-formed JSON.stringify)
      expect(canonicalJson({ 'k"': 1 })).to.equal('{"k\\"":1}');
    });

    it('writes numbers in their shortest ECMAScript form and refuses non-finite ones', () => {
      expect(canonicalJson([0, -0, 1.0, 0.1, -2.5, 1e21, 1e-7, 123456789012345680000, 5e-324])).to.equal(
        '[0,0,1,0.1,-2.5,1e+21,1e-7,123456789012345680000,5e-324]',
      );
      expect(() => canonicalJson(NaN)).to.throw(TypeError);
      expect(() => canonicalJson({ x: Infinity })).to.throw(TypeError);
    });

    it('equals a plain reference (sort(), JSON.stringify per string) on generated values, large objects included', () => {
      const reference = (v: unknown): string => {
        if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
        if (v !== null && typeof v === 'object')
          return `{${Object.keys(v)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${reference((v as Record<string, unknown>)[k])}`)
            .join(',')}}`;
        return JSON.stringify(v);
      };
      // Any UTF-16 units (lone surrogates too), and key counts on both sides of the small-object sort.
      const text = fc.string({ unit: 'binary', maxLength: 12 });
      const key = fc.oneof(text, fc.constantFrom('a', 'B', 'é', '😀', '\ud800', '"', ''));
      const value = fc.letrec((tie) => ({
        leaf: fc.oneof(fc.constant(null), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }), text),
        node: fc.oneof(
          { depthSize: 'small' },
          tie('leaf'),
          fc.array(tie('node'), { maxLength: 4 }),
          fc.dictionary(key, tie('node'), { maxKeys: 24 }),
        ),
      })).node;
      const large = fc.dictionary(key, value, { minKeys: 17, maxKeys: 40 });
      fc.assert(
        fc.property(fc.oneof(value, large), (v) => {
          expect(canonicalJson(v)).to.equal(reference(v));
        }),
        { numRuns: 3000 },
      );
    });

    it('omits undefined members, writes undefined array items as null, refuses other types', () => {
      expect(canonicalJson({ a: undefined, b: [undefined, false] })).to.equal('{"b":[null,false]}');
      expect(() => canonicalJson({ f: () => 1 })).to.throw(TypeError);
      expect(() => canonicalJson(1n)).to.throw(TypeError);
    });
  });

  describe('redactSecrets', () => {
    it('canonicalRedacted (one pass, what the chain uses) equals canonicalJson(redactSecrets(v)) on random values', () => {
      const rnd = prng(42);
      const keys = ['a', 'b', 'sealed', 'passwordHash', 'redacted', 'é', 'Z', ''];
      const leaf = (): unknown => [null, true, 1.5, -0, 'x"\\\n', 'é😀', undefined, 0][Math.floor(rnd() * 8)];
      const value = (depth: number): unknown => {
        const r = rnd();
        if (depth > 3 || r < 0.3) return leaf();
        if (r < 0.45) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
        if (r < 0.5) return { redacted: `sha256:${'ab'.repeat(32)}` }; // an existing marker stays as it is
        return Object.fromEntries(
          Array.from({ length: Math.floor(rnd() * 5) }, () => [
            keys[Math.floor(rnd() * keys.length)]!,
            value(depth + 1),
          ]),
        );
      };
      for (let i = 0; i < 2000; i++) {
        const v = { data: value(0), sealed: value(1), nested: [{ passwordHash: value(2) }] };
        expect(canonicalRedacted(v), JSON.stringify(v)).to.equal(canonicalJson(redactSecrets(v)));
      }
    });

    const sealed = { alg: 'A256GCM', kid: 'k1', iv: 'aXY', ct: 'Y3Q', tag: 'dGFn' };
    const data = { keyId: 'key_1', sealed, nested: [{ passwordHash: '$argon2id$v=19$x' }], other: { sealed: null } };

    it('replaces non-null secret fields at any depth by the SHA-256 of their canonical JSON', () => {
      const r = redactSecrets(data) as Record<string, unknown>;
      expect(r).to.deep.equal({
        keyId: 'key_1',
        sealed: { redacted: `sha256:${sha256hex('{"alg":"A256GCM","ct":"Y3Q","iv":"aXY","kid":"k1","tag":"dGFn"}')}` },
        nested: [{ passwordHash: { redacted: `sha256:${sha256hex('"$argon2id$v=19$x"')}` } }],
        other: { sealed: null },
      });
      expect(data.sealed).to.equal(sealed); // input untouched
    });

    it('is idempotent, so a chain can be recomputed from an export that never held the secret', () => {
      const once = redactSecrets(data);
      expect(redactSecrets(once)).to.deep.equal(once);
      expect(
        canonicalBytes({ id: 'e', streamId: 's', revision: 0, type: 't', data: once, metadata: {} }),
      ).to.deep.equal(canonicalBytes({ id: 'e', streamId: 's', revision: 0, type: 't', data, metadata: {} }));
    });

    it('leaves primitives and non-secret fields alone', () => {
      expect(redactSecrets('x')).to.equal('x');
      expect(redactSecrets(null)).to.equal(null);
      expect(redactSecrets({ digest: 'abc', redacted: 'no' })).to.deep.equal({ digest: 'abc', redacted: 'no' });
    });
  });

  describe('nextChain (known-answer vector)', () => {
    const event = {
      id: '0b6e7a43-5f0c-4c1e-9a47-1f7f1c1a2b3c',
      streamId: 'user-usr_1',
      revision: 0,
      type: 'UserRegistered',
      data: { userId: 'usr_1', email: 'ann@example.com', name: 'Ann', passwordHash: 'h', systemRole: 'user' },
      metadata: {
        eventId: '0b6e7a43-5f0c-4c1e-9a47-1f7f1c1a2b3c',
        occurredAt: '2026-01-01T00:00:00.000Z',
        actor: { type: 'system', id: 'system' },
        request: {},
        correlationId: 'c1',
        causationId: null,
        schemaVersion: 1,
      },
    };
    const redactedH = `sha256:${sha256hex('"h"')}`;
    const spelled =
      '["0b6e7a43-5f0c-4c1e-9a47-1f7f1c1a2b3c","user-usr_1",0,"UserRegistered",' +
      `{"email":"ann@example.com","name":"Ann","passwordHash":{"redacted":"${redactedH}"},"systemRole":"user","userId":"usr_1"},` +
      '{"actor":{"id":"system","type":"system"},"causationId":null,"correlationId":"c1","eventId":"0b6e7a43-5f0c-4c1e-9a47-1f7f1c1a2b3c","occurredAt":"2026-01-01T00:00:00.000Z","request":{},"schemaVersion":1}]';

    it('canonicalBytes is the UTF-8 of the spelled-out array', () => {
      expect(canonicalBytes(event).toString('utf8')).to.equal(spelled);
    });

    it('chain_1 = SHA-256(32 zero bytes ‖ bytes), chain_2 chains on chain_1 as raw bytes', () => {
      expect(GENESIS_CHAIN).to.equal('0'.repeat(64));
      const c1 = createHash('sha256').update(Buffer.alloc(32)).update(Buffer.from(spelled, 'utf8')).digest('hex');
      expect(nextChain(GENESIS_CHAIN, event)).to.equal(c1);
      expect(c1).to.equal('02ce3fe97f07cbe840d41ca71f232027e46a44d3b264497272d53725d9db7119'); // pinned (also by sha256sum in a shell): docs/canonical-bytes.md
      const c2 = createHash('sha256').update(Buffer.from(c1, 'hex')).update(Buffer.from(spelled, 'utf8')).digest('hex');
      expect(nextChain(c1, event)).to.equal(c2);
    });

    it('refuses a previous value that is not 64 lowercase hex chars', () => {
      expect(() => nextChain('ABC', event)).to.throw(TypeError);
      expect(() => nextChain('A'.repeat(64), event)).to.throw(TypeError);
    });
  });

  describe('checkpointSigningInput', () => {
    it('is the canonical JSON of {v, position, chain, at} and verifies with Ed25519', () => {
      const c = { position: 42, chain: 'ab'.repeat(32), at: '2026-01-01T00:01:00.000Z' };
      const input = checkpointSigningInput(c);
      expect(input.toString('utf8')).to.equal(
        `{"at":"2026-01-01T00:01:00.000Z","chain":"${'ab'.repeat(32)}","position":42,"v":1}`,
      );
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const sig = sign(null, input, privateKey);
      expect(verify(null, input, publicKey, sig)).to.equal(true);
      expect(verify(null, checkpointSigningInput({ ...c, position: 43 }), publicKey, sig)).to.equal(false);
    });
  });
});
