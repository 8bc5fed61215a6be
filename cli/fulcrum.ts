#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { BALANCE_NAMES } from '../src/config/types';
import { isFulcrumError } from '../src/errors';
import { VERSION } from '../src/version';
import { runCommand, validateCommand } from './run';
import { demoCommand } from './demo';
import { registerAdminCommands } from './status';
import { registerDiffCommand } from './diff';
import { registerAgentCommand } from './agent';

/** Exit codes: 0 ok, 1 runtime failure, 2 invalid config or arguments. */
export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function buildProgram(): Command {
  const program = new Command('fulcrum')
    .description('Layer-4 TCP/UDP load balancer')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('run')
    .description('start from a config file, or quick mode: one service from flags')
    .option('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--listen <addr>', 'quick mode: listen address, e.g. 127.0.0.1:6000 or [::1]:6000')
    .option('--backend <addr>', 'quick mode: backend address (repeat for more)', collect, [])
    .addOption(new Option('--balance <algo>', 'quick mode: balancing algorithm').choices(BALANCE_NAMES as string[]))
    .option('--udp', 'quick mode: a UDP service (default balance source-hash)')
    .option('--admin <addr>', 'quick mode: serve the admin API here, e.g. 127.0.0.1:9090 (off by default in quick mode)')
    .option('--log-level <level>', 'override log.level')
    .option('--workers <n>', 'data-plane worker threads: auto (one per core) or N (above 1 needs Node 22.12+); overrides the file\'s workers')
    .action(runCommand);

  program
    .command('validate')
    .description('check a config file; print its errors; exit 0 if valid, 2 if not')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .action(validateCommand);

  program
    .command('demo')
    .description('start three local echo backends and a service in front of them')
    .option('--port <port>', 'service port (default 7000, or any free port if 7000 is taken)')
    .action(demoCommand);

  registerAdminCommands(program);
  registerDiffCommand(program);
  registerAgentCommand(program);

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // Help and version are not failures; every other parse error is a usage error.
    return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (isFulcrumError(err, 'ERR_FULCRUM_CONFIG') || isFulcrumError(err, 'ERR_FULCRUM_CONFIG_READ') || isFulcrumError(err, 'ERR_FULCRUM_ARGS')) {
    printError(err);
    return EXIT_USAGE;
  }
  printError(err);
  return EXIT_RUNTIME;
}

export function printError(err: unknown): void {
  if (isFulcrumError(err)) {
    process.stderr.write(`fulcrum: ${err.message} [${err.code}]\n`);
    for (const line of err.details) process.stderr.write(`  ${line}\n`);
  } else {
    process.stderr.write(`fulcrum: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
}

if (require.main === module) void main(process.argv);
