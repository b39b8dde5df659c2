// Access logs never contain a token: not from headers, not from ?api_token=, not from bodies.
import { expect } from 'chai';
import pino from 'pino';
import { Writable } from 'node:stream';
import { loadConfig } from '../../services/config.js';
import { startServer } from '../../services/server.js';
import { plugins } from '../../services/cli/plugins.js';
import { tempDir } from '../support/tmp.js';

describe('e2e: access logs', () => {
  it('log every request without any token, password or credential header', async () => {
    const dir = tempDir('logs');
    let logged = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logged += chunk.toString();
        cb();
      },
    });
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      LEDGER_DATA_DIR: dir.path,
      LEDGER_BOOTSTRAP_ADMIN_EMAIL: 'admin@example.com',
      LEDGER_BOOTSTRAP_ADMIN_PASSWORD: 'correct horse battery staple',
    });
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = () => true;
    const running = await startServer(config, pino({ level: 'info' }, sink), plugins).finally(() => (process.stdout.write = write));
    try {
      const req = (path: string, init: RequestInit = {}) => fetch(running.url + path, init);
      const login = (await (
        await req('/v1/auth/login', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'admin@example.com', password: 'correct horse battery staple' }),
        })
      ).json()) as { token: string };
      const key = (await (
        await req('/v1/keys', {
          method: 'POST',
          headers: { authorization: `Bearer ${login.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'k' }),
        })
      ).json()) as { token: string };
      await req('/v1/auth/me', { headers: { authorization: `Api-Key ${key.token}` } });
      await req('/v1/auth/me', { headers: { 'API-KEY': key.token } });
      await req(`/v1/auth/me?api_token=${key.token}`);
      await req(`/v1/revocations?api_token=${key.token}`);
      await req('/v1/keys/verify', {
        method: 'POST',
        headers: { authorization: `APIToken ${key.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ token: key.token }),
      });
      await req('/oauth/introspect', {
        method: 'POST',
        headers: { authorization: `Bearer ${key.token}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: `token=${key.token}`,
      });
      expect(logged).to.include('"url":"/v1/auth/me?api_token=[REDACTED]"');
      expect(logged.split('\n').filter((l) => l.includes('"msg":"request"')).length).to.be.at.least(8);
      for (const secret of [key.token, key.token.slice(3, 30), login.token, login.token.split('.')[2]!, 'correct horse battery staple']) {
        expect(logged).not.to.include(secret);
      }
    } finally {
      await running.close();
      dir.cleanup();
    }
  });
});
