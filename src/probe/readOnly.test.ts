import { describe, expect, it } from 'vitest';
import { assertReadOnly, READ_ONLY_METHODS, ReadOnlyViolation } from './readOnly.js';

describe('assertReadOnly', () => {
  it('allows exactly initialize, notifications/initialized, tools/list, ping and server/discover over POST', () => {
    for (const method of READ_ONLY_METHODS) {
      expect(() =>
        assertReadOnly({ httpMethod: 'POST', message: { method }, holdStream: false }),
      ).not.toThrow();
    }
    expect([...READ_ONLY_METHODS].sort()).toEqual([
      'initialize',
      'notifications/initialized',
      'ping',
      'server/discover',
      'tools/list',
    ]);
  });

  it.each([
    'tools/call',
    'resources/read',
    'prompts/get',
    'logging/setLevel',
    'completion/complete',
    'sampling/createMessage',
    'subscriptions/listen',
  ])('refuses %s', (method) => {
    expect(() => assertReadOnly({ httpMethod: 'POST', message: { method }, holdStream: true })).toThrow(
      ReadOnlyViolation,
    );
  });

  it('refuses batches, bodies without a method, other HTTP methods, and GET without --hold-stream', () => {
    const bad = [
      {
        httpMethod: 'POST',
        message: [{ method: 'ping' }] as unknown as { method: string },
        holdStream: false,
      },
      { httpMethod: 'POST', message: {}, holdStream: false },
      { httpMethod: 'POST', message: null, holdStream: false },
      { httpMethod: 'PUT', message: { method: 'ping' }, holdStream: true },
      { httpMethod: 'GET', holdStream: false },
    ];
    for (const shape of bad) expect(() => assertReadOnly(shape)).toThrow(ReadOnlyViolation);
    expect(() => assertReadOnly({ httpMethod: 'GET', holdStream: true })).not.toThrow();
    expect(() => assertReadOnly({ httpMethod: 'DELETE', holdStream: false })).not.toThrow();
  });
});
