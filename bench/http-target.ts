// Bench target in its own process: the full Koa service, or a bare node:http server doing the same lookup.
import { createServer } from 'node:http';
import { loadConfig } from '../services/config.js';
import { createLogger } from '../services/logger.js';
import { startServer } from '../services/server.js';
import { openLedger } from '../services/open-ledger.js';

const [mode, dataDir] = process.argv.slice(2) as ['koa' | 'bare', string];
const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1', LEDGER_DATA_DIR: dataDir, LOG_LEVEL: 'silent' });

if (mode === 'koa') {
  const running = await startServer(config, createLogger('silent'));
  process.send?.({ url: running.url });
} else {
  const { ledger } = await openLedger(config);
  await ledger.start();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      const caller = ledger.verify(auth.slice(auth.indexOf(' ') + 1));
      if (!caller.valid) {
        res.writeHead(401).end();
        return;
      }
      let out: unknown;
      if (req.method === 'POST') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { token: string };
        const r = ledger.verify(body.token);
        out = { valid: r.valid, code: r.code, key: r.key ? { id: r.key.id, name: r.key.name } : null };
      } else out = { user: { id: caller.key!.owner.id, email: caller.key!.owner.email } };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.send?.({ url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
  });
}

// Exit cleanly on signals so profilers (--cpu-prof) can write their output.
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
