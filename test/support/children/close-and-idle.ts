// Child process: starts the server in-process with every plugin, opens an event stream and a keep-alive connection,
// closes the server, and then must end by itself: nothing it started may keep the event loop alive.
//
//   node close-and-idle.js
//
// Prints "closed" after close(); exits 0 on its own, or prints "still open: [...]" and exits 1 after 3 s.
import { plugins } from '../../../services/cli/plugins.js';
import { startTestServer } from '../server.js';

const s = await startTestServer({}, plugins);
const session = await s.login();
const feed = new AbortController();
const stream = await fetch(`${s.url}/v1/revocations/stream`, {
  headers: { authorization: `Bearer ${session}` },
  signal: feed.signal,
});
if (stream.status !== 200) throw new Error(`stream: ${stream.status}`);
await s.request('GET', '/v1/auth/me', { token: session });
await s.dispose();
feed.abort();
process.stdout.write('closed\n');
setTimeout(() => {
  process.stdout.write(`still open: ${JSON.stringify(process.getActiveResourcesInfo())}\n`);
  process.exit(1);
}, 3000).unref();
