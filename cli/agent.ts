/**
 * `fulcrum agent`: runs on a backend host and reports its load in HAProxy's
 * agent-check protocol (src/agent/). Bad flags are ERR_FULCRUM_ARGS (exit 2).
 */
import type { Command } from 'commander';
import { HostAgent } from '../src/agent/server';
import { DEFAULT_POLICY, type AgentPolicy } from '../src/agent/policy';
import { parseEndpoint } from '../src/config/address';
import { parseDuration } from '../src/config/duration';
import { FulcrumError } from '../src/errors';
import { rootLogger } from '../src/log';

interface AgentOptions {
  listen: string;
  interval: string;
  cpuTarget: string;
  minWeight: string;
  memFloor: string;
  loadMax: string;
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description("run on a backend host: answer agent checks with this host's CPU, memory and load (HAProxy agent-check protocol)")
    .option('--listen <addr>', 'where to listen, e.g. 0.0.0.0:9777', '0.0.0.0:9777')
    .option('--interval <duration>', 'how often to read /proc; CPU use is measured over it', '2s')
    .option('--cpu-target <percent>', 'CPU busy % up to which the weight stays 100%', String(DEFAULT_POLICY.cpuTarget))
    .option('--min-weight <percent>', 'weight % at 100% CPU (falls linearly from the target)', String(DEFAULT_POLICY.minWeight))
    .option('--mem-floor <percent>', 'drain when available memory is below this % of the total', String(DEFAULT_POLICY.memFloor))
    .option('--load-max <per-cpu>', 'drain when the 1-minute load average per CPU exceeds this (0 = never)', String(DEFAULT_POLICY.loadMax))
    .action(agentCommand);
}

async function agentCommand(opts: AgentOptions): Promise<void> {
  const listen = arg('--listen', () => parseEndpoint(opts.listen, { allowPortZero: true }));
  const interval = arg('--interval', () => parseDuration(opts.interval));
  if (interval < 100) throw new FulcrumError('ERR_FULCRUM_ARGS', `--interval: must be at least 100ms (got "${opts.interval}")`);
  const policy: AgentPolicy = {
    cpuTarget: percent('--cpu-target', opts.cpuTarget, 0, 100),
    minWeight: percent('--min-weight', opts.minWeight, 0, 100),
    memFloor: percent('--mem-floor', opts.memFloor, 0, 100),
    loadMax: percent('--load-max', opts.loadMax, 0, 1000),
  };
  const log = rootLogger.child({ component: 'agent' });
  const agent = new HostAgent({ listen, interval, policy, onReading: (_, line) => log.debug({ line }, 'reading') });
  const bound = await agent.start();
  log.info({ listen: bound.text, interval, ...policy, line: agent.line }, 'agent listening');
  const stop = () => void agent.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

function arg<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new FulcrumError('ERR_FULCRUM_ARGS', `${flag}: ${(err as Error).message}`);
  }
}

function percent(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new FulcrumError('ERR_FULCRUM_ARGS', `${flag}: must be a number between ${min} and ${max} (got "${text}")`);
  return n;
}
