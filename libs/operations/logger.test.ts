import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonLogger, LOG_LIMITS, logEntry, logLine } from './logger.js';

const T = new Date('2026-11-23T19:00:00.123Z');
const entry = (level: Parameters<typeof logEntry>[0], message: unknown, ...params: unknown[]) => logEntry(level, message, params, 'tollgate', T);

function capture(level: string) {
  const lines: string[] = [];
  const logger = new JsonLogger(level, { write: (line) => lines.push(line) });
  return { logger, lines, entries: () => lines.map((l) => JSON.parse(l)) };
}

describe('log entries', () => {
  it('maps Nest levels to debug, info, warn, error; fatal is an error marked fatal', () => {
    assert.equal(entry('log', 'x').level, 'info');
    assert.equal(entry('verbose', 'x').level, 'debug');
    assert.equal(entry('debug', 'x').level, 'debug');
    assert.equal(entry('warn', 'x').level, 'warn');
    assert.equal(entry('error', 'x').level, 'error');
    assert.deepEqual(entry('fatal', 'x'), { time: '2026-11-23T19:00:00.123Z', level: 'error', message: 'x', context: 'tollgate', fatal: true });
    assert.equal(entry('error', 'x').fatal, undefined);
  });

  it('writes time, level, message and context first, then the members of an object message as fields', () => {
    const e = entry('warn', { message: 'change notice not delivered', client_id: 'c1', attempts: 3, ok: false, nested: { a: [1, 'b'] } });
    assert.deepEqual(Object.keys(e), ['time', 'level', 'message', 'context', 'client_id', 'attempts', 'ok', 'nested']);
    assert.deepEqual(e, {
      time: '2026-11-23T19:00:00.123Z',
      level: 'warn',
      message: 'change notice not delivered',
      context: 'tollgate',
      client_id: 'c1',
      attempts: 3,
      ok: false,
      nested: { a: [1, 'b'] },
    });
  });

  it('never lets a field overwrite time, level, message or context', () => {
    const e = entry('log', { message: 'm', time: 'yesterday', level: 'error', context: 'fake', fatal: true });
    assert.equal(e.time, '2026-11-23T19:00:00.123Z');
    assert.equal(e.level, 'info');
    assert.equal(e.message, 'm');
    assert.equal(e.context, 'tollgate');
    assert.equal(e.fatal, undefined);
    assert.deepEqual([e.field_time, e.field_level, e.field_context, e.field_fatal], ['yesterday', 'error', 'fake', true]);
  });

  it('keeps a string message a string, and takes a trailing string as the context (as Nest passes it)', () => {
    assert.deepEqual(entry('log', 'Nest application successfully started', 'NestApplication'), {
      time: '2026-11-23T19:00:00.123Z',
      level: 'info',
      message: 'Nest application successfully started',
      context: 'NestApplication',
    });
    assert.equal(entry('log', { message: 'x' }).message, 'x');
    assert.equal(entry('log', {}).message, '');
    assert.equal(entry('log', 42).message, '42');
    assert.equal(entry('log', { message: { code: 7 } }).message, '{"code":7}');
  });

  it('renders Errors as error (name) and detail (message), never their stack', () => {
    const failure = new TypeError('boom');
    assert.deepEqual(entry('error', failure), { time: T.toISOString(), level: 'error', message: 'boom', context: 'tollgate', error: 'TypeError', detail: 'boom' });
    const withParam = entry('error', 'tollgate failed to start', new RangeError('port out of range'));
    assert.equal(withParam.message, 'tollgate failed to start');
    assert.equal(withParam.error, 'RangeError');
    assert.equal(withParam.detail, 'port out of range');
    assert.deepEqual(entry('warn', { message: 'not written', cause: new Error('disk full') }).cause, { error: 'Error', detail: 'disk full' });
    // Nest's ExceptionsHandler passes (message, stack, context): the stack is dropped.
    const nest = entry('error', 'Cannot read properties of undefined', failure.stack, 'ExceptionsHandler');
    assert.equal(nest.context, 'ExceptionsHandler');
    assert.equal(nest.message, 'Cannot read properties of undefined');
    assert.doesNotMatch(logLine(nest), /\bat /);
    assert.doesNotMatch(logLine(entry('error', 'x', failure.stack)), /\bat /);
  });

  it('merges extra object parameters as fields (Nest structured params)', () => {
    assert.deepEqual(entry('log', 'listening', { port: 3000 }, 'main'), { time: T.toISOString(), level: 'info', message: 'listening', context: 'main', port: 3000 });
  });

  it('bounds values: long strings are cut, arrays and objects capped, deep or circular values end', () => {
    const long = 'x'.repeat(5000);
    const e = entry('log', { message: long, detail: long, list: Array.from({ length: 500 }, (_, i) => i) });
    assert.equal(e.message, `${'x'.repeat(LOG_LIMITS.chars)}…`);
    assert.equal((e.detail as string).length, LOG_LIMITS.chars + 1);
    assert.equal((e.list as unknown[]).length, LOG_LIMITS.items + 1);
    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    const line = logLine(entry('log', { message: 'c', circular }));
    assert.match(line, /"\[object\]"/);
    const wide = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]));
    assert.ok(Object.keys(entry('log', { message: 'w', ...wide })).length <= LOG_LIMITS.keys + 4);
    assert.ok(logLine(entry('log', { message: long, ...Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, long])) })).length < 60_000);
  });

  it('puts every event on exactly one line, whatever the message or its fields contain', () => {
    const hostile = 'a\nb\r\nc\u2028d\u2029e\u0000f';
    const line = logLine(entry('warn', { message: hostile, [hostile]: hostile, list: [hostile] }, hostile));
    assert.equal(line.split(/[\n\r\u2028\u2029]/).length, 1);
    const parsed = JSON.parse(line);
    assert.equal(parsed.message, hostile);
    assert.equal(parsed.list[0], hostile);
  });
});

describe('JsonLogger', () => {
  it('writes one parseable line per call', () => {
    const { logger, lines, entries } = capture('debug');
    logger.log({ message: 'tollgate listening', port: 3000 });
    logger.warn('careful', 'clients');
    logger.error(new Error('bad'));
    assert.equal(lines.length, 3);
    const [a, b, c] = entries();
    assert.match(a.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.deepEqual([a.level, a.message, a.context, a.port], ['info', 'tollgate listening', 'tollgate', 3000]);
    assert.deepEqual([b.level, b.message, b.context], ['warn', 'careful', 'clients']);
    assert.deepEqual([c.level, c.error, c.detail], ['error', 'Error', 'bad']);
  });

  it('filters by TOLLGATE_LOG_LEVEL', () => {
    const levels = (level: string) => {
      const { logger, entries } = capture(level);
      logger.verbose('v');
      logger.debug('d');
      logger.log('i');
      logger.warn('w');
      logger.error('e');
      logger.fatal('f');
      return entries().map((e) => e.message).join('');
    };
    assert.equal(levels('debug'), 'vdiwef');
    assert.equal(levels('info'), 'iwef');
    assert.equal(levels('warn'), 'wef');
    assert.equal(levels('error'), 'ef');
    assert.equal(levels('nonsense'), 'iwef', 'an unknown level means info (configuration refuses it anyway)');
  });

  it('follows Nest setLogLevels', () => {
    const { logger, entries } = capture('info');
    logger.setLogLevels(['error', 'warn']);
    logger.log('hidden');
    logger.warn('shown');
    assert.deepEqual(entries().map((e) => e.message), ['shown']);
  });
});
