import pino from 'pino';

/**
 * The pino root logger. Child loggers carry `service` (and `backend`) so a line
 * can be filtered without parsing the message. Level comes from the config
 * (`log.level`) or FULCRUM_LOG_LEVEL; tests default to silent.
 */
export type Logger = pino.Logger;

const defaultLevel = process.env.FULCRUM_LOG_LEVEL ?? (process.env.JEST_WORKER_ID ? 'silent' : 'info');

export const rootLogger: Logger = pino({ name: 'fulcrum', level: defaultLevel, base: { pid: process.pid } });

export function setLogLevel(level: string): void {
  rootLogger.level = level;
}
