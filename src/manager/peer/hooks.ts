import { execFile } from 'node:child_process';
import type { Logger } from '../../log';

export interface HookEnv {
  FULCRUM_STATE: string;
  FULCRUM_PEER_ID: string;
  FULCRUM_PRIORITY: string;
}

/**
 * Run an onMaster / onBackup hook (e.g. a script that adds or removes a VIP).
 * It gets the new state in its environment, is killed at `timeoutMs`, and its
 * failure is logged, never fatal: the node's role must not depend on a script.
 */
export function runHook(path: string | undefined, env: HookEnv, timeoutMs: number, log: Logger): Promise<boolean> {
  if (path === undefined) return Promise.resolve(true);
  return new Promise((resolve) => {
    const started = Date.now();
    const child = execFile(path, [], { env: { ...process.env, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const ms = Date.now() - started;
      if (err === null) {
        log.info({ hook: path, state: env.FULCRUM_STATE, ms }, 'peer hook ran');
        resolve(true);
        return;
      }
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
      const reason = e.killed ? `killed after ${timeoutMs} ms (hookTimeout)` : typeof e.code === 'number' ? `exit code ${e.code}` : (e.code ?? e.message);
      log.error({ hook: path, state: env.FULCRUM_STATE, reason, stderr: String(stderr).slice(0, 500), stdout: String(stdout).slice(0, 200) }, 'peer hook failed');
      resolve(false);
    });
    child.on('error', () => {}); // spawn errors also reach the callback above
  });
}
