/**
 * The bare check peer (bench/README.md, phase 6): the least a secure DPoP gateway check must do,
 * on plain node:http, written from the RFCs with no Tollgate code, no Nest and no oidc-provider,
 * so that the bench can show what this machine allows a check and Tollgate's share of it.
 *
 * Per request: the gateway's credential (constant-time compare), the access token (RFC 9068:
 * one ES256 verify the first time a token is seen, then a lookup until its `exp`), the proof
 * (RFC 9449 §4.3: one ES256 verify with its key, imported once per key), and the proof's `jti`
 * claimed with one Redis round trip (§11.1). No risk engine, no decision log, no metrics, no
 * tracing: a lower bound for Tollgate's own check, not a replacement for it.
 */
import { createHash, createPublicKey, type KeyObject, timingSafeEqual, verify } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';

/** RFC 9449 §11.1: how long a claimed `jti` is kept; also the proof's accepted age (`iat`). */
const PROOF_WINDOW_SECONDS = 60;
/** Bound of each cache keyed by what a caller sends (oldest entry dropped). */
const MAX_CACHED = 10_000;

interface VerifiedToken {
  exp: number;
  /** RFC 8707 audiences, parsed once. */
  aud: URL[];
  clientId: string;
  jkt: string;
  /** RFC 9449 §4.3 (11): base64url(SHA-256(token)), once per token. */
  ath: string;
}

interface ProofKey {
  key: KeyObject;
  /** RFC 7638 thumbprint of the proof's jwk, compared with the token's `cnf.jkt`. */
  jkt: string;
}

export interface BareCheckPeer {
  url: string;
  close(): Promise<void>;
}

const b64json = (part: string): any => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');
const es256 = (input: string, signature: string, key: KeyObject) =>
  verify('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
const remember = <V>(map: Map<string, V>, key: string, value: V) => {
  if (map.size >= MAX_CACHED) map.delete(map.keys().next().value!);
  map.set(key, value);
};

/**
 * Starts the peer on 127.0.0.1. `issuer`: the authorization server whose RFC 8414 metadata names
 * its JWKS (read once, here); `gatewayAuthorization`: the exact `X-Gateway-Authorization` value
 * the gateway sends; `redisUrl`: the replay store (in-process memory without it).
 */
export async function startBareCheckPeer(issuer: string, gatewayAuthorization: string, redisUrl?: string): Promise<BareCheckPeer> {
  const metadata = (await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()) as { issuer: string; jwks_uri: string };
  if (metadata.issuer !== issuer) throw new Error(`RFC 8414 §3.3: metadata names issuer ${metadata.issuer}, not ${issuer}`);
  const { keys } = (await (await fetch(metadata.jwks_uri)).json()) as { keys: { kid?: string; kty: string; crv?: string }[] };
  const signingKeys = new Map(keys.filter((k) => k.kty === 'EC' && k.crv === 'P-256').map((k) => [k.kid ?? '', createPublicKey({ key: k, format: 'jwk' })]));
  const gatewaySecret = Buffer.from(gatewayAuthorization);

  const tokens = new Map<string, VerifiedToken>();
  const proofKeys = new Map<string, ProofKey>();
  const redis = redisUrl ? new Redis(redisUrl, { enableAutoPipelining: true }) : undefined;
  const claimed = new Map<string, number>();
  /** §11.1: true the first time `key` is seen within the window; one SET NX EX round trip with Redis. */
  const claim = async (key: string): Promise<boolean> => {
    if (redis) return (await redis.set(`bare-check:dpop:${key}`, '1', 'EX', PROOF_WINDOW_SECONDS, 'NX')) === 'OK';
    const now = Date.now();
    if ((claimed.get(key) ?? 0) > now) return false;
    if (claimed.size >= 100_000) for (const [k, until] of claimed) if (until <= now) claimed.delete(k);
    claimed.set(key, now + PROOF_WINDOW_SECONDS * 1000);
    return true;
  };

  /** RFC 9068 §4: typ at+jwt, ES256 by a key of the issuer's, `iss`, a DPoP binding (RFC 9449 §6.1). */
  const verifyToken = (token: string): VerifiedToken | undefined => {
    const [h, p, s, extra] = token.split('.');
    if (!h || !p || !s || extra !== undefined) return;
    const header = b64json(h);
    const key = signingKeys.get(header.kid ?? '');
    if (header.alg !== 'ES256' || !/^(application\/)?at\+jwt$/i.test(header.typ) || header.crit || !key) return;
    if (!es256(`${h}.${p}`, s, key)) return;
    const c = b64json(p);
    if (c.iss !== issuer || typeof c.exp !== 'number' || typeof c.client_id !== 'string' || typeof c.cnf?.jkt !== 'string') return;
    return { exp: c.exp, aud: [c.aud].flat().map((a) => (typeof a === 'string' ? URL.parse(a) : null)).filter((a) => a !== null), clientId: c.client_id, jkt: c.cnf.jkt, ath: sha256(token) };
  };

  /** §4.3 (4)-(7): the proof header, once per distinct encoded header (it carries the jwk). */
  const proofKey = (h: string): ProofKey | undefined => {
    const cached = proofKeys.get(h);
    if (cached) return cached;
    const { typ, alg, jwk, crit } = b64json(h);
    if (typ !== 'dpop+jwt' || alg !== 'ES256' || crit || jwk?.kty !== 'EC' || jwk.crv !== 'P-256' || 'd' in jwk) return;
    // RFC 7638 §3.2: the required members only, in lexicographic order.
    const found = { key: createPublicKey({ key: jwk, format: 'jwk' }), jkt: sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })) };
    remember(proofKeys, h, found);
    return found;
  };

  /** Everything but the replay claim: the client id and the key to claim, or undefined for a refusal. */
  const check = (req: http.IncomingMessage): { clientId: string; replayKey: string } | undefined => {
    const gateway = Buffer.from(String(req.headers['x-gateway-authorization'] ?? ''));
    if (gateway.length !== gatewaySecret.length || !timingSafeEqual(gateway, gatewaySecret)) return;
    const method = req.headers['x-original-method'];
    const target = URL.parse(String(req.headers['x-original-url']));
    const authorization = req.headers.authorization;
    const proof = req.headers.dpop;
    if (typeof method !== 'string' || !target || !authorization || typeof proof !== 'string') return;
    if (authorization.slice(0, 5).toLowerCase() !== 'dpop ') return;
    const token = authorization.slice(5);
    const now = Date.now() / 1000;
    let t = tokens.get(token);
    if (!t) {
      t = verifyToken(token);
      if (!t) return;
      remember(tokens, token, t);
    }
    // RFC 9068 §4: not expired, and (RFC 8707) an audience covers the called URL.
    if (t.exp <= now) return;
    const covers = (r: URL) =>
      r.origin === target.origin && (target.pathname === r.pathname || target.pathname.startsWith(r.pathname.endsWith('/') ? r.pathname : `${r.pathname}/`));
    if (!t.aud.some(covers)) return;
    // RFC 9449 §4.3: one JWS, a key of its own, its signature, then the claims.
    const [h, p, s, extra] = proof.split('.');
    if (!h || !p || !s || extra !== undefined) return;
    const k = proofKey(h);
    if (!k || k.jkt !== t.jkt || !es256(`${h}.${p}`, s, k.key)) return;
    const { jti, htm, htu, iat, ath } = b64json(p);
    const proofUrl = typeof htu === 'string' ? URL.parse(htu) : null;
    // (9): scheme, host and path of the call; query and fragment ignored.
    if (!proofUrl || proofUrl.origin !== target.origin || proofUrl.pathname !== target.pathname) return;
    if (htm !== method || ath !== t.ath || typeof iat !== 'number' || Math.abs(now - iat) > PROOF_WINDOW_SECONDS) return;
    if (typeof jti !== 'string' || jti === '' || jti.length > 256) return;
    return { clientId: t.clientId, replayKey: `${k.jkt}:${jti}` };
  };

  const allow = Buffer.from('{"decision":"allow"}');
  const refuse = Buffer.from('{"decision":"deny"}');
  const server = http.createServer((req, res) => {
    const answer = (status: number, clientId?: string) => {
      const body = status === 200 ? allow : refuse;
      const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/json', 'Content-Length': body.length, 'Cache-Control': 'no-store' };
      if (clientId) headers['X-Tollgate-Client-Id'] = clientId;
      else if (status === 401) headers['WWW-Authenticate'] = 'DPoP error="invalid_token"';
      res.writeHead(status, headers).end(body);
    };
    if (req.method !== 'GET' || req.url !== '/check') return answer(404);
    let passed: ReturnType<typeof check>;
    try {
      passed = check(req);
    } catch {
      passed = undefined; // malformed base64url/JSON, or a jwk node:crypto refuses: the caller's fault
    }
    if (!passed) return answer(401);
    // Claimed last, so a refused proof never burns its jti; a replay store that is down is not the caller's fault.
    claim(passed.replayKey).then(
      (first) => answer(first ? 200 : 401, first ? passed.clientId : undefined),
      () => answer(503),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await redis?.quit();
    },
  };
}
