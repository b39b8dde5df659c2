// The registered plugins: their settings are validated with the core ones, their factories run in `serve`, their
// rebuild hooks in `rebuild`. Optional modules that add routes and background work (Kafka publisher, audit, feeds).
import type { PluginFactory, PluginModule } from '../server.js';
import { auditModule } from '../audit/plugin.js';
import { revocationsModule } from '../revocations/plugin.js';

export const pluginModules: readonly PluginModule[] = [revocationsModule, auditModule];

/** The factories, for starting a server with every registered plugin. */
export const plugins: PluginFactory[] = pluginModules.map((m) => m.create);
