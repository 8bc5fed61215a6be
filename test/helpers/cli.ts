import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const CLI = path.resolve(__dirname, '../../dist/cli/fulcrum.js');

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first stdout line (JSON log or text) matching the predicate. */
  waitFor: (predicate: (line: string) => boolean, timeoutMs?: number) => Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawn the built CLI (npm test builds dist/ first). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, JEST_WORKER_ID: '', FULCRUM_LOG_LEVEL: 'info', ...env },
  });
  let out = '';
  let err = '';
  const waiters: Array<{ predicate: (l: string) => boolean; resolve: (l: string) => void }> = [];
  child.stdout!.on('data', (d) => {
    out += d;
    for (const line of String(d).split('\n')) {
      for (const w of waiters.splice(0)) {
        if (w.predicate(line)) w.resolve(line);
        else waiters.push(w);
      }
    }
  });
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (predicate, timeoutMs = 10_000) => {
      const seen = out.split('\n').find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching output in ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`)), timeoutMs);
        waiters.push({ predicate, resolve: (l) => (clearTimeout(t), resolve(l)) });
        void exited.then(() => reject(new Error(`process exited; stdout: ${out}; stderr: ${err}`)));
      });
    },
  };
}

/** Port of a service from fulcrum's "service listening" log line. */
export async function listeningPort(p: CliProcess, service: string): Promise<number> {
  const line = await p.waitFor((l) => l.includes('"service listening"') && l.includes(`"service":"${service}"`));
  const listen: string = JSON.parse(line).listen;
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

/** Run the CLI to completion. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnCli(args, env);
  const { code } = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}
