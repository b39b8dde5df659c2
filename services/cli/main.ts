#!/usr/bin/env node
// token-ledger CLI: parses the command line (a usage error exits 2), loads and validates every setting (plugins'
// included) before anything is written, runs one command, and reports a failure on one line (exit 1), never a stack.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LedgerError } from '../../events/errors.js';
import { auditVerifyCommand } from '../audit/cli.js';
import { ConfigError, loadConfig } from '../config.js';
import type { PluginModule } from '../server.js';
import { UsageError } from './args.js';
import { out, type Command } from './command.js';
import { keyCommands } from './commands/keys.js';
import { rebuildCommand } from './commands/rebuild.js';
import { serveCommand } from './commands/serve.js';
import { userCommands } from './commands/users.js';
import { workspaceCommands } from './commands/workspaces.js';
import { pluginModules } from './plugins.js';

export const COMMANDS: readonly Command[] = [
  serveCommand,
  ...userCommands,
  ...workspaceCommands,
  ...keyCommands,
  rebuildCommand,
  auditVerifyCommand,
];

export function usage(): string {
  const lines = COMMANDS.map((c) => {
    const head = `  ${c.name}${c.args ? ` ${c.args}` : ''}`;
    return head.length <= 50 ? `${head.padEnd(52)}${c.summary}` : `${head}\n${' '.repeat(52)}${c.summary}`;
  });
  return [
    'token-ledger <command> [arguments]',
    '',
    ...lines,
    `${'  help'.padEnd(52)}this text (token-ledger <command> --help: one command)`,
    `${'  --version'.padEnd(52)}the version`,
    '',
    'Exit codes: 0 done, 1 failed (one line on stderr), 2 wrong usage. Configuration comes from the environment (see README).',
  ].join('\n');
}

/** The version in package.json, found by walking up from this file (it runs from dist/). */
export function version(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    if (dirname(dir) === dir) return 'unknown';
  }
}

/** The command named by the first words of argv, and the arguments that follow them. */
function findCommand(argv: readonly string[]): { command: Command; rest: readonly string[] } {
  const [first = '', second] = argv;
  const two = COMMANDS.find((c) => c.name === `${first} ${second}`);
  if (two) return { command: two, rest: argv.slice(2) };
  const one = COMMANDS.find((c) => c.name === first);
  if (one) return { command: one, rest: argv.slice(1) };
  const subs = COMMANDS.filter((c) => c.name.startsWith(`${first} `)).map((c) => c.name.slice(first.length + 1));
  if (subs.length === 0) throw new UsageError(`unknown command "${first}" (token-ledger help lists them)`);
  if (second === undefined || second.startsWith('-'))
    throw new UsageError(`${first} needs a subcommand: ${subs.join(', ')}`);
  throw new UsageError(`unknown command "${first} ${second}"; ${first} takes ${subs.join(', ')}`);
}

/** Runs one command line; resolves to the exit code, rejects with what failed. */
export async function run(argv: readonly string[], modules: readonly PluginModule[] = pluginModules): Promise<number> {
  const [first] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    out(usage());
    return 0;
  }
  if (first === '--version' || first === '-V') {
    out(version());
    return 0;
  }
  const { command, rest } = findCommand(argv);
  if (rest.includes('--help') || rest.includes('-h')) {
    out(`token-ledger ${command.name}${command.args ? ` ${command.args}` : ''}\n  ${command.summary}`);
    return 0;
  }
  const work = command.parse(rest);
  // After the arguments: a bad environment must not hide a usage error. Before anything else: nothing is written first.
  const config = loadConfig(process.env, modules);
  return work({ config, modules });
}

/** A failure as the operator sees it: one line (the code first, lower-case as on the wire) and the exit code. */
export function describeFailure(err: unknown): { line: string; exitCode: number } {
  const oneLine = (text: string): string =>
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .join(' ');
  if (err instanceof UsageError) return { line: oneLine(err.message), exitCode: 2 };
  if (err instanceof ConfigError) return { line: oneLine(err.message), exitCode: 1 };
  if (err instanceof LedgerError) return { line: `${err.code.toLowerCase()}: ${oneLine(err.message)}`, exitCode: 1 };
  return { line: oneLine(err instanceof Error ? err.message : String(err)) || 'failed', exitCode: 1 };
}

const isMain = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const { line, exitCode } = describeFailure(err);
      process.stderr.write(`token-ledger: ${line}\n`);
      process.exitCode = exitCode;
    },
  );
}
