// Optional modules that add routes and background work to the server (Kafka publisher, audit, feeds).
import type { PluginFactory } from '../server.js';
import { auditPlugin } from '../audit/plugin.js';
import { revocationsPlugin } from '../revocations/plugin.js';

export const plugins: PluginFactory[] = [revocationsPlugin(), auditPlugin()];
