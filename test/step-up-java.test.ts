import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import request from 'supertest';
import { startTollgate, type RunningTollgate } from '#test-support';

const JAVA = spawnSync('java', ['-version']).status === 0;

/**
 * docs/step-up.md is meant to be enough to write a client in another language. examples/java/
 * StepUp.java was written from it alone (JDK only, no Tollgate code read): it must keep working.
 */
describe('a Java client written from docs/step-up.md alone', { skip: !JAVA && 'java is not installed' }, () => {
  let server: RunningTollgate;
  let dir: string;

  before(async () => {
    server = await startTollgate();
    dir = mkdtempSync(join(tmpdir(), 'tollgate-java-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await server?.close();
  });

  it('gets a key-level token, then steps up to urn:tollgate:acr:live (exit 0)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const keyFile = join(dir, 'client.pk8');
    writeFileSync(keyFile, await exportPKCS8(privateKey), { mode: 0o600 });
    const registered = await request(server.url)
      .post('/admin/clients')
      .set('Authorization', server.admin)
      .send({
        client_name: 'java workload',
        jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] },
        scope: 'orders:read',
        allowed_resources: ['https://api.example.test/'],
      });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));

    // Asynchronously: the server under test runs in this process and must keep answering.
    const run = await promisify(execFile)('java', ['examples/java/StepUp.java', server.issuer, registered.body.client_id, keyFile, 'https://api.example.test/'], {
      encoding: 'utf8',
      timeout: 120_000,
    }).catch((err: { stdout?: string; stderr?: string; code?: number }) => assert.fail(`exit ${err.code}\n${err.stdout}\n${err.stderr}`));
    assert.match(run.stdout, /token \(step-up grant\): 200/);
    assert.match(run.stdout, /acr=urn:tollgate:acr:live amr=\[swk, pop\]/);
    assert.match(run.stdout, /OK: stepped up to urn:tollgate:acr:live/);
  });
});
