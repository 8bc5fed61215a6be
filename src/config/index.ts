/** Config: schema, defaults and validation; file loading; durations, endpoints and `${VAR}`. */
export type * from './types';
export { BALANCE_NAMES } from './types';
export { parseDuration, MAX_DURATION_MS } from './duration';
export { parseEndpoint, type ParseEndpointOptions } from './address';
export { substituteEnv, type Env, type SubstituteResult } from './env';
export { type ConfigProblem, type PathSegment, formatPath, formatProblem } from './problems';
export { configSchema, DEFAULT_BALANCE, LOG_LEVELS, NAME_PATTERN, PROTOCOLS } from './schema';
export {
  type ConfigFormat,
  type ParseConfigOptions,
  formatFromPath,
  loadConfigFile,
  parseConfigText,
  parseDocumentText,
  validateConfig,
} from './load';
