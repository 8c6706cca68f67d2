import { ConsoleLogger, type LogLevel } from '@nestjs/common';

const LEVELS: Record<string, LogLevel[]> = {
  debug: ['debug', 'log', 'warn', 'error', 'fatal'],
  info: ['log', 'warn', 'error', 'fatal'],
  warn: ['warn', 'error', 'fatal'],
  error: ['error', 'fatal'],
};

/**
 * One JSON object per line on stdout. Nothing logs tokens, proofs, assertions, secrets or
 * private keys: callers log identifiers (client_id, kid, jti hashes) and outcomes only.
 */
export function jsonLogger(level: string): ConsoleLogger {
  return new ConsoleLogger('tollgate', { json: true, logLevels: LEVELS[level] ?? LEVELS.info!, colors: false });
}
