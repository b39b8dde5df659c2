// The Authorization parser accepts exactly what its former regex did (and a Bearer-wrapped header value); several credentials in one request are refused.
import { expect } from 'chai';
import type { Scheme } from '../../services/config.js';
import { extractCredential, type Offered } from '../../services/http/credentials.js';
import { HttpError } from '../../services/http/errors.js';
import { prng } from '../support/prng.js';

const OLD_AUTHORIZATION = /^([A-Za-z-]+)[ \t]+(\S+)[ \t]*$/;
const OLD_SCHEMES = new Set(['bearer', 'api-key', 'apitoken']);
const ALL: ReadonlySet<Scheme> = new Set<Scheme>(['bearer', 'api-key', 'apitoken', 'api-key-header', 'url']);

const offered = (o: Partial<Offered>): Offered => ({
  authorization: [],
  apiKey: [],
  urlToken: undefined,
  userId: undefined,
  ...o,
});

/** The token the former code took from this header, or the error code it answered. */
function former(header: string): string {
  const m = OLD_AUTHORIZATION.exec(header);
  return m && OLD_SCHEMES.has(m[1]!.toLowerCase()) ? m[2]! : 'invalid_token';
}

/** The former rule, plus one addition: `Bearer <header>` (a typed header value wrapped by a Bearer field) is `<header>`. */
function expected(header: string): string {
  const direct = former(header);
  if (direct !== 'invalid_token') return direct;
  const wrapped = /^bearer[ \t]+(.*)$/is.exec(header);
  return wrapped ? former(wrapped[1]!) : direct;
}

function current(header: string): string {
  try {
    return extractCredential(offered({ authorization: [header] }), false, ALL)!.token;
  } catch (err) {
    return (err as HttpError).code;
  }
}

describe('credentials: Authorization header parsing', () => {
  it('treats every UTF-16 code unit as the former regex did, as separator, token character and trailer', () => {
    const differ: string[] = [];
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      for (const h of [`Bearer x${ch}y`, `Bearer${ch}xy`, `Bearer xy${ch}`, `Bear${ch}er xy`, `${ch}Bearer xy`]) {
        if (current(h) !== expected(h)) differ.push(`U+${c.toString(16)} in ${JSON.stringify(h)}`);
      }
    }
    expect(differ).to.deep.equal([]);
  });

  it('agrees with the former regex on 20,000 random headers', () => {
    const rnd = prng(7);
    const parts = [
      'Bearer',
      'bearer',
      'Api-Key',
      'APIToken',
      'Basic',
      '-',
      ' ',
      '\t',
      '  ',
      'tok',
      'a.b',
      '\u00a0',
      '\u3000',
      '\v',
      'é',
      'x',
    ];
    for (let n = 0; n < 20_000; n++) {
      let h = '';
      for (let k = 1 + Math.floor(rnd() * 6); k > 0; k--) h += parts[Math.floor(rnd() * parts.length)]!;
      expect(current(h), JSON.stringify(h)).to.equal(expected(h));
    }
  });
});

describe('credentials: one credential per request', () => {
  const code = (o: Offered, allowUrl = true): string => {
    try {
      extractCredential(o, allowUrl, ALL);
      return 'ok';
    } catch (err) {
      return `${(err as HttpError).status} ${(err as HttpError).code}`;
    }
  };

  it('refuses any two presentations with 400 ambiguous_credentials, before any other rule', () => {
    const twice: Offered[] = [
      offered({ authorization: ['Bearer a', 'Bearer b'] }),
      offered({ authorization: ['Bearer a', 'Bearer a'] }),
      offered({ apiKey: ['a', 'b'] }),
      offered({ authorization: ['Bearer a'], apiKey: ['b'] }),
      offered({ authorization: ['Bearer a'], urlToken: 'b' }),
      offered({ apiKey: ['a'], urlToken: 'b' }),
      offered({ urlToken: ['a', 'b'] }),
      offered({ authorization: ['Basic a'], apiKey: ['b'] }),
    ];
    for (const o of twice) {
      expect(code(o), JSON.stringify(o)).to.equal('400 ambiguous_credentials');
      expect(code(o, false), JSON.stringify(o)).to.equal('400 ambiguous_credentials');
    }
  });

  it('keeps the single-presentation rules', () => {
    expect(code(offered({}))).to.equal('ok');
    expect(code(offered({ authorization: ['Bearer a'] }))).to.equal('ok');
    expect(code(offered({ apiKey: ['a'] }))).to.equal('ok');
    expect(code(offered({ urlToken: 'a' }))).to.equal('ok');
    expect(code(offered({ urlToken: 'a' }), false)).to.equal('401 invalid_token');
    expect(code(offered({ authorization: ['Basic a'] }))).to.equal('401 invalid_token');
    const bearerOnly = new Set<Scheme>(['bearer']);
    expect(() => extractCredential(offered({ apiKey: ['a'] }), false, bearerOnly)).to.throw(
      HttpError,
      'expired or invalid',
    );
  });
});
