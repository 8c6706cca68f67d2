import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { privateKeyPem, rootCa } from '#test-support';
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
    assert.deepEqual(config.egressAllow, []);
    assert.equal(config.egressCaFile, undefined);
    assert.equal(config.egressCa, undefined);
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

  it('failure budgets (docs/risk.md): defaults 100 per source and 20 per source and client id per 60 s; the second never above the first', () => {
    assert.deepEqual(loadConfig({}).authFailureBudget, { perSource: 100, perSourceAndClient: 20, windowSeconds: 60 });
    assert.deepEqual(
      loadConfig({ TOLLGATE_AUTH_FAILURES_PER_SOURCE: '500', TOLLGATE_AUTH_FAILURES_PER_CLIENT: '50', TOLLGATE_AUTH_FAILURE_WINDOW: '300' }).authFailureBudget,
      { perSource: 500, perSourceAndClient: 50, windowSeconds: 300 },
    );
    refuses({ TOLLGATE_AUTH_FAILURES_PER_SOURCE: '0' }, 'TOLLGATE_AUTH_FAILURES_PER_SOURCE');
    refuses({ TOLLGATE_AUTH_FAILURES_PER_CLIENT: '200' }, 'TOLLGATE_AUTH_FAILURES_PER_CLIENT');
    refuses({ TOLLGATE_AUTH_FAILURE_WINDOW: '5' }, 'TOLLGATE_AUTH_FAILURE_WINDOW');
  });

  it('default resources for RFC 7591 registrations: the issuer, or TOLLGATE_DEFAULT_RESOURCES (absolute URIs, no fragment)', () => {
    assert.deepEqual(loadConfig({}).defaultResources, ['http://localhost:3000']);
    assert.deepEqual(loadConfig({ TOLLGATE_DEFAULT_RESOURCES: 'https://a.example/, https://b.example/api' }).defaultResources, ['https://a.example/', 'https://b.example/api']);
    refuses({ TOLLGATE_DEFAULT_RESOURCES: 'https://a.example/, /relative' }, 'TOLLGATE_DEFAULT_RESOURCES');
    refuses({ TOLLGATE_DEFAULT_RESOURCES: 'https://a.example/#x' }, 'TOLLGATE_DEFAULT_RESOURCES');
  });

  describe('outbound fetches', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };

    it('TOLLGATE_GRPC_PORT: off when unset, a port of its own when set', () => {
      assert.equal(loadConfig({}).grpcPort, undefined);
      assert.equal(loadConfig({ TOLLGATE_GRPC_PORT: '' }).grpcPort, undefined);
      assert.equal(loadConfig({ TOLLGATE_GRPC_PORT: '9000' }).grpcPort, 9000);
      assert.equal(loadConfig({ PORT: '0', TOLLGATE_GRPC_PORT: '0' }).grpcPort, 0);
      refuses({ TOLLGATE_GRPC_PORT: '70000' }, 'TOLLGATE_GRPC_PORT');
      refuses({ TOLLGATE_GRPC_PORT: 'grpc' }, 'TOLLGATE_GRPC_PORT');
      refuses({ PORT: '9000', TOLLGATE_GRPC_PORT: '9000' }, 'TOLLGATE_GRPC_PORT');
    });

    it('reads TOLLGATE_EGRESS_ALLOW as normalised host names and CIDRs', () => {
      assert.deepEqual(loadConfig({ TOLLGATE_EGRESS_ALLOW: 'Keys.Internal, 10.0.0.0/8, ::1/128, 192.168.1.7' }).egressAllow, [
        'keys.internal',
        '10.0.0.0/8',
        '::1/128',
        '192.168.1.7/32',
      ]);
      refuses({ TOLLGATE_EGRESS_ALLOW: 'keys.internal, 10.0.0.0/33' }, 'TOLLGATE_EGRESS_ALLOW');
      refuses({ TOLLGATE_EGRESS_ALLOW: '*.internal' }, 'TOLLGATE_EGRESS_ALLOW');
      refuses({ TOLLGATE_EGRESS_ALLOW: 'https://keys.internal' }, 'TOLLGATE_EGRESS_ALLOW');
    });

    it('reads the certificates of TOLLGATE_EGRESS_CA_FILE at start', async () => {
      const [first, second] = [await rootCa('Egress CA 1'), await rootCa('Egress CA 2')];
      const path = file('bundle.pem', `# internal CAs\n${first.pem}\n${second.pem}`);
      const config = loadConfig({ TOLLGATE_EGRESS_CA_FILE: path });
      assert.equal(config.egressCaFile, path);
      assert.equal(config.egressCa, `${first.pem.trim()}\n${second.pem.trim()}\n`);
    });

    it('refuses a CA file that is missing, holds no certificate, a broken one, or a private key', async () => {
      const ca = await rootCa('Egress CA');
      refuses({ TOLLGATE_EGRESS_CA_FILE: join(dir, 'missing.pem') }, 'TOLLGATE_EGRESS_CA_FILE');
      refuses({ TOLLGATE_EGRESS_CA_FILE: file('empty.pem', 'nothing here\n') }, 'TOLLGATE_EGRESS_CA_FILE');
      refuses({ TOLLGATE_EGRESS_CA_FILE: file('broken.pem', '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n') }, 'TOLLGATE_EGRESS_CA_FILE');
      refuses({ TOLLGATE_EGRESS_CA_FILE: file('with-key.pem', `${ca.pem}${await privateKeyPem()}`) }, 'TOLLGATE_EGRESS_CA_FILE');
    });
  });
});
