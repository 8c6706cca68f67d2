import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from './config.js';

const refuses = (env: Record<string, string>, variable: string) => {
  assert.throws(() => loadConfig(env), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.variable, variable);
    assert.match(error.message, new RegExp(`^Invalid configuration: ${variable} `));
    return true;
  });
};

describe('configuration', () => {
  it('has working defaults: port 3000, issuer http://localhost:3000, embedded database, memory hot state', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.issuer, 'http://localhost:3000');
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.accessTokenTtl, 300);
    assert.equal(config.accessTokenTtlMax, 3600);
    assert.equal(config.adminTokenGenerated, true);
    assert.ok(config.adminToken.length >= 32);
    assert.equal(config.migrateOnStart, true);
    assert.equal(config.decisionDurability, 'refusals');
  });

  it('derives the issuer from PORT and strips a trailing slash', () => {
    assert.equal(loadConfig({ PORT: '8080' }).issuer, 'http://localhost:8080');
    assert.equal(loadConfig({ TOLLGATE_ISSUER: 'https://auth.example.com/' }).issuer, 'https://auth.example.com');
  });

  it('names the variable that is wrong', () => {
    refuses({ PORT: 'eighty' }, 'PORT');
    refuses({ PORT: '70000' }, 'PORT');
    refuses({ TOLLGATE_ISSUER: 'http://auth.example.com' }, 'TOLLGATE_ISSUER'); // RFC 8414 §2: https
    refuses({ TOLLGATE_ISSUER: 'https://auth.example.com/?x=1' }, 'TOLLGATE_ISSUER');
    refuses({ TOLLGATE_ISSUER: 'https://auth.example.com/tenant' }, 'TOLLGATE_ISSUER');
    refuses({ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL');
    refuses({ REDIS_URL: 'http://x' }, 'REDIS_URL');
    refuses({ TOLLGATE_ADMIN_TOKEN: 'short' }, 'TOLLGATE_ADMIN_TOKEN');
    refuses({ TOLLGATE_KEY_ENCRYPTION_KEY: 'dG9vIHNob3J0' }, 'TOLLGATE_KEY_ENCRYPTION_KEY');
    refuses({ TOLLGATE_ACCESS_TOKEN_TTL: '7200' }, 'TOLLGATE_ACCESS_TOKEN_TTL');
    refuses({ TOLLGATE_CLOCK_SKEW: '-1' }, 'TOLLGATE_CLOCK_SKEW');
    refuses({ TOLLGATE_DPOP_REQUIRE_NONCE: 'maybe' }, 'TOLLGATE_DPOP_REQUIRE_NONCE');
    refuses({ TOLLGATE_LOG_LEVEL: 'loud' }, 'TOLLGATE_LOG_LEVEL');
    refuses({ TOLLGATE_DECISION_DURABILITY: 'allows' }, 'TOLLGATE_DECISION_DURABILITY');
  });

  it('accepts a 32-byte key-encryption key in base64 or base64url', () => {
    const key = Buffer.alloc(32, 0xfb);
    assert.deepEqual(loadConfig({ TOLLGATE_KEY_ENCRYPTION_KEY: key.toString('base64') }).keyEncryptionKey, key);
    assert.deepEqual(loadConfig({ TOLLGATE_KEY_ENCRYPTION_KEY: key.toString('base64url') }).keyEncryptionKey, key);
  });

  it('TOLLGATE_DECISION_DURABILITY: refusals (default) or all', () => {
    assert.equal(loadConfig({ TOLLGATE_DECISION_DURABILITY: 'all' }).decisionDurability, 'all');
    assert.equal(loadConfig({ TOLLGATE_DECISION_DURABILITY: 'Refusals' }).decisionDurability, 'refusals');
  });

  it('keeps a configured admin token as given', () => {
    const config = loadConfig({ TOLLGATE_ADMIN_TOKEN: 'x'.repeat(40) });
    assert.equal(config.adminToken, 'x'.repeat(40));
    assert.equal(config.adminTokenGenerated, false);
  });
});
