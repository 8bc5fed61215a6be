import { loadConfigFile, validateConfig } from '../src/config';
import type { FulcrumConfig } from '../src/config/types';
import { FulcrumError, isFulcrumError } from '../src/errors';
import { start, type FulcrumHandle } from '../src/index';
import { rootLogger } from '../src/log';

interface RunOptions {
  config?: string;
  listen?: string;
  backend: string[];
  balance?: string;
  admin?: string;
  udp?: boolean;
  logLevel?: string;
  workers?: string;
}

/** The config of `run`: a file, or quick mode (one service named "quick" from flags, validated like a file). */
export function resolveRunConfig(opts: RunOptions): FulcrumConfig {
  if (opts.config) {
    if (opts.listen || opts.backend.length > 0 || opts.balance || opts.admin || opts.udp) {
      throw new FulcrumError('ERR_FULCRUM_ARGS', 'use either -c FILE or quick-mode flags (--listen/--backend/--balance/--admin), not both');
    }
    const config = loadConfigFile(opts.config);
    return opts.workers === undefined ? config : overrideWorkers(config, opts.workers);
  }
  if (!opts.listen || opts.backend.length === 0) {
    throw new FulcrumError('ERR_FULCRUM_ARGS', 'run needs -c FILE, or --listen ADDR with at least one --backend ADDR');
  }
  const service: Record<string, unknown> = { name: 'quick', listen: opts.listen, backends: opts.backend.map((address) => ({ address })) };
  if (opts.balance) service.balance = opts.balance;
  if (opts.udp) service.protocol = 'udp';
  // Quick mode has no admin API unless asked: a one-liner should not claim port 9090.
  const admin = opts.admin ? { listen: opts.admin } : { enabled: false };
  try {
    // Flags are literal: no ${VAR} substitution beyond what the shell did.
    return validateConfig({ admin, services: [service], ...(opts.workers !== undefined && { workers: workersFlag(opts.workers) }) }, {});
  } catch (err) {
    if (!isFulcrumError(err, 'ERR_FULCRUM_CONFIG')) throw err;
    throw new FulcrumError('ERR_FULCRUM_ARGS', 'invalid quick-mode flags', err.details.map(flagPath));
  }
}

/** --workers: auto or a count (validated as the config's `workers`). */
function workersFlag(text: string): string | number {
  return /^\d+$/.test(text) ? Number(text) : text;
}

/** --workers with -c: overrides the file's `workers`, checked as the file's would be. */
function overrideWorkers(config: FulcrumConfig, text: string): FulcrumConfig {
  try {
    const checked = validateConfig({ admin: { enabled: false }, services: [], workers: workersFlag(text) }, {});
    return { ...config, workers: checked.workers };
  } catch (err) {
    if (!isFulcrumError(err, 'ERR_FULCRUM_CONFIG')) throw err;
    throw new FulcrumError('ERR_FULCRUM_ARGS', 'invalid --workers', err.details.map((l) => l.replace(/^workers/, '--workers')));
  }
}

/** Speak of flags, not of the config paths quick mode builds from them. */
function flagPath(line: string): string {
  return line
    .replace(/^services\[0\]\.backends\[(\d+)\]\.address/, (_, i) => `--backend #${Number(i) + 1}`)
    .replace(/^services\[0\]\.(listen|balance)/, '--$1')
    .replace(/^admin\.listen/, '--admin')
    .replace(/^workers/, '--workers');
}

export async function runCommand(opts: RunOptions): Promise<void> {
  const config = resolveRunConfig(opts);
  if (opts.logLevel) config.log.level = opts.logLevel as FulcrumConfig['log']['level'];
  const signals = stopOnSignals();
  // Installed before start: SIGHUP's default action would kill the process. One that arrives while starting is applied after.
  let handle: FulcrumHandle | null = null;
  let reloadPending = false;
  const reload = (h: FulcrumHandle) =>
    h.reload().catch((err) => {
      // An invalid file keeps the old config running; say exactly what was wrong.
      rootLogger.error({ code: err.code, details: err.details, err: err.message }, 'reload rejected, old configuration kept');
    });
  process.on('SIGHUP', () => {
    if (handle === null) reloadPending = true;
    else void reload(handle);
  });
  handle = await start(config, { configFile: opts.config });
  signals.started(handle);
  if (reloadPending) void reload(handle);
}

/**
 * SIGTERM/SIGINT: drain until shutdownTimeout, then exit 0. A second signal
 * closes everything at once. Installed before start(), so a signal that
 * arrives while listeners are opening waits for them and then drains, instead
 * of killing the process with the default action.
 */
export function stopOnSignals(beforeExit?: () => Promise<void> | void): { started(handle: FulcrumHandle): void } {
  let handle: FulcrumHandle | null = null;
  let pending: NodeJS.Signals | null = null;
  let signals = 0;
  const stop = (h: FulcrumHandle) => {
    h.stop()
      .then(async () => {
        await beforeExit?.();
        process.exit(0);
      })
      .catch((err) => {
        rootLogger.error({ err }, 'stop failed');
        process.exit(1);
      });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      rootLogger.warn({ signal }, 'second signal: closing all sessions now');
      handle?.manager.abortAll();
      return;
    }
    rootLogger.info({ signal }, 'signal received');
    if (handle === null) pending = signal;
    else stop(handle);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    started(h: FulcrumHandle) {
      handle = h;
      if (pending !== null) stop(h);
    },
  };
}

export function validateCommand(opts: { config: string }): void {
  const config = loadConfigFile(opts.config);
  const names = [...config.services, ...(config.dns ?? [])].map((s) => s.name);
  process.stdout.write(`${opts.config}: valid (${names.length} service${names.length === 1 ? '' : 's'}: ${names.join(', ')})\n`);
}
