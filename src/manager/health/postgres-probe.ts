import { Client } from 'pg';
import type { Endpoint, PostgresCheckConfig } from '../../config/types';
import { reasonOf } from './exchange';
import type { ProbeResult } from './tcp-probe';

/** Recovery state and, on a replica, WAL received but not yet replayed (bytes; null without streaming). */
const QUERY = `SELECT pg_is_in_recovery() AS recovery,
  CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) END AS lag`;

/**
 * One PostgreSQL check: a real client connection (node-postgres: startup,
 * SCRAM or MD5 auth, TLS-less on purpose: the check runs beside the proxy on a
 * trusted network) and one query. Results read `pg primary`, `pg in recovery`,
 * `pg in recovery lag 8192B > 1024B`, or the server's error (`pg: password
 * authentication failed for user "fulcrum"`). The connection is closed on
 * every path and the promise never rejects.
 */
export async function postgresProbe(address: Endpoint, port: number | undefined, timeoutMs: number, check: PostgresCheckConfig): Promise<ProbeResult> {
  const started = performance.now();
  const client = new Client({
    host: address.host,
    port: port ?? address.port,
    user: check.user,
    database: check.database,
    password: check.password ?? '',
    application_name: 'fulcrum-health-check',
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  // An error event without a listener (a reset after connect) would crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ recovery: boolean; lag: string | null }>(QUERY);
    const recovery = rows[0]?.recovery === true;
    const lag = rows[0]?.lag === null || rows[0]?.lag === undefined ? null : Number(rows[0].lag);
    return judge(recovery, lag, check, performance.now() - started);
  } catch (err) {
    // Server errors carry a SQLSTATE as code (28P01): their message says more. Socket errors: the errno code.
    const serverError = typeof (err as { severity?: unknown } | null)?.severity === 'string';
    return { ok: false, reason: `pg: ${serverError ? (err as Error).message : reasonOf(err)}` };
  } finally {
    void client.end().catch(() => {});
  }
}

function judge(recovery: boolean, lag: number | null, check: PostgresCheckConfig, ms: number): ProbeResult {
  if (!recovery) return check.role === 'replica' ? { ok: false, reason: 'pg primary' } : { ok: true, ms, text: 'pg primary' };
  const text = lag === null ? 'pg in recovery' : `pg in recovery lag ${lag}B`;
  if (check.role === 'primary') return { ok: false, reason: text };
  const max = check.maxLagBytes;
  if (max !== undefined && lag !== null && lag > max) return { ok: false, reason: `${text} > ${max}B` };
  return { ok: true, ms, text };
}
