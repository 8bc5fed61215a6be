import pino from 'pino';

/**
 * The pino root logger: JSON lines on stdout, written synchronously so that
 * nothing is lost at exit. Child loggers carry `service` (and `backend`) so a
 * line can be filtered without parsing the message. Level comes from the
 * config (`log.level`) or FULCRUM_LOG_LEVEL; tests default to silent.
 */
export type Logger = pino.Logger;

const defaultLevel = process.env.FULCRUM_LOG_LEVEL || (process.env.JEST_WORKER_ID ? 'silent' : 'info');

const destination = pino.destination({ fd: 1, sync: true });
// If whoever reads stdout goes away (EPIPE), logging must not take the
// process down or wedge its shutdown: stop writing and keep serving.
destination.on('error', () => {
  rootLogger.level = 'silent';
});

export const rootLogger: Logger = pino({ name: 'fulcrum', level: defaultLevel, base: { pid: process.pid } }, destination);

export function setLogLevel(level: string): void {
  rootLogger.level = level;
}
