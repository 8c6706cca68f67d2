import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import request from 'supertest';
import type { RunningTollgate } from './server.js';

type Alg = 'ES256' | 'EdDSA' | 'PS256';
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

export interface WorkloadOptions {
  alg?: Alg;
  scope?: string;
  allowed_resources?: string[];
  access_token_ttl?: number;
  require_dpop_nonce?: boolean;
  dpop_bound_access_tokens?: boolean;
}

export interface ProofOptions {
  ath?: string | false;
  nonce?: string;
  iat?: number;
  jti?: string;
  key?: KeyPair;
  typ?: string;
}

/** A registered workload with real keys: signs client assertions (RFC 7523) and DPoP proofs (RFC 9449). */
export class Workload {
  clientId = '';
  clientKey!: KeyPair;
  dpopKey!: KeyPair;
  dpopJwk!: JWK;
  record: Record<string, any> = {};

  private constructor(readonly server: RunningTollgate, readonly alg: Alg) {}

  /** The same workload (client id and keys) talking to another instance of the same issuer. */
  at(server: RunningTollgate): Workload {
    return Object.assign(Object.create(Workload.prototype) as Workload, this, { server });
  }

  static async register(server: RunningTollgate, options: WorkloadOptions = {}): Promise<Workload> {
    const w = new Workload(server, options.alg ?? 'ES256');
    w.clientKey = await generateKeyPair(w.alg, { extractable: true });
    w.dpopKey = await generateKeyPair('ES256', { extractable: true });
    w.dpopJwk = await exportJWK(w.dpopKey.publicKey);
    const publicJwk = { ...(await exportJWK(w.clientKey.publicKey)), kid: 'k1', alg: w.alg, use: 'sig' };
    const { alg: _a, ...rest } = options;
    const res = await request(server.url)
      .post('/admin/clients')
      .set('Authorization', server.admin)
      .send({
        client_name: 'test workload',
        jwks: { keys: [publicJwk] },
        scope: 'orders:read orders:write',
        allowed_resources: ['https://api.example.test/'],
        ...rest,
      });
    if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${JSON.stringify(res.body)}`);
    w.record = res.body;
    w.clientId = res.body.client_id;
    return w;
  }

  get tokenUrl(): string {
    return `${this.server.issuer ?? this.server.url}/oauth/token`;
  }

  /** The issuer's host: an instance behind a load balancer gets it in Host (RFC 9449 htu). */
  private get issuerHost(): string {
    return new URL(this.server.issuer ?? this.server.url).host;
  }

  async assertion(claims: Record<string, unknown> = {}, key: KeyPair = this.clientKey, alg: string = this.alg): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload = { iss: this.clientId, sub: this.clientId, aud: this.server.issuer ?? this.server.url, jti: randomUUID(), iat: now, exp: now + 60, ...claims };
    return new SignJWT(payload).setProtectedHeader({ alg, kid: 'k1' }).sign(key.privateKey);
  }

  async proof(htm: string, htu: string, options: ProofOptions & { accessToken?: string } = {}): Promise<string> {
    const key = options.key ?? this.dpopKey;
    const jwk = options.key ? await exportJWK(options.key.publicKey) : this.dpopJwk;
    const payload: Record<string, unknown> = {
      jti: options.jti ?? randomUUID(),
      htm,
      htu,
      iat: options.iat ?? Math.floor(Date.now() / 1000),
    };
    if (options.nonce) payload.nonce = options.nonce;
    if (options.accessToken) payload.ath = createHash('sha256').update(options.accessToken).digest('base64url');
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: options.typ ?? 'dpop+jwt', jwk }).sign(key.privateKey);
  }

  /** POST /oauth/token with client_credentials; returns the supertest response. */
  async requestToken(form: Record<string, string> = {}, proof?: string | null, assertion?: string) {
    const req = request(this.server.url).post('/oauth/token').type('form').set('Host', this.issuerHost);
    const dpop = proof === undefined ? await this.proof('POST', this.tokenUrl) : proof;
    if (dpop) req.set('DPoP', dpop);
    return req.send({
      grant_type: 'client_credentials',
      client_id: this.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion ?? (await this.assertion()),
      ...form,
    });
  }

  /**
   * POST to one of the step-up endpoints (docs/step-up.md §3, §5) as the workload: a fresh client
   * assertion in the form and a DPoP proof for the endpoint by `key` (default: the workload's).
   */
  async postStepUp(path: string, form: Record<string, string>, options: { key?: KeyPair; assertion?: string; proof?: string | null } = {}) {
    const req = request(this.server.url).post(path).type('form');
    const proof = options.proof === undefined ? await this.proof('POST', `${this.server.issuer}${path}`, { key: options.key }) : options.proof;
    if (proof) req.set('DPoP', proof);
    return req.send({
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: options.assertion ?? (await this.assertion()),
      ...form,
    });
  }

  /** POST /step-up/challenges (docs/step-up.md §3). */
  requestChallenge(acrValues: string, options: { key?: KeyPair; assertion?: string; proof?: string | null } = {}) {
    return this.postStepUp('/step-up/challenges', { acr_values: acrValues }, options);
  }

  /**
   * The step-up grant (docs/step-up.md §4) answering `challenge`: an assertion and a DPoP proof
   * carrying its nonce, unless the options say otherwise (null leaves the nonce out).
   */
  async answerChallenge(
    challenge: { challenge_id?: string; nonce: string },
    options: { assertionNonce?: string | null; proofNonce?: string | null; key?: KeyPair; proof?: string | null; form?: Record<string, string> } = {},
  ) {
    const assertionNonce = options.assertionNonce === undefined ? challenge.nonce : options.assertionNonce;
    const proofNonce = options.proofNonce === undefined ? challenge.nonce : options.proofNonce;
    const proof = options.proof === undefined ? await this.proof('POST', this.tokenUrl, { key: options.key, ...(proofNonce ? { nonce: proofNonce } : {}) }) : options.proof;
    return this.requestToken(
      {
        grant_type: 'urn:tollgate:params:oauth:grant-type:step-up',
        ...(challenge.challenge_id ? { challenge_id: challenge.challenge_id } : {}),
        ...options.form,
      },
      proof,
      await this.assertion(assertionNonce ? { nonce: assertionNonce } : {}),
    );
  }

  /**
   * Calls an API with the token and a fresh DPoP proof for exactly this call (RFC 9449 §7.1:
   * `Authorization: DPoP <token>`, `ath`). Extra headers are sent as given.
   */
  async call(method: string, url: string, token: string, options: ProofOptions & { headers?: Record<string, string> } = {}) {
    const proof = await this.proof(method, url.split('?')[0]!, { ...options, accessToken: token });
    return fetch(url, { method, headers: { authorization: `DPoP ${token}`, dpop: proof, ...options.headers } });
  }

  /** A DPoP-bound access token, or throws. */
  async token(form: Record<string, string> = {}, proof?: string): Promise<string> {
    const res = await this.requestToken(form, proof);
    if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.access_token;
  }
}
