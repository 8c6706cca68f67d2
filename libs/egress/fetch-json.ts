import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { LookupFunction, Socket } from 'node:net';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { addressAllowed, destinationOf, type EgressPolicy } from './egress-policy.js';
import { EgressRefused, type EgressRefusalReason } from './egress-refused.js';

export interface FetchLimits {
  /** Largest body read; a larger Content-Length is refused before reading, a longer body at the cap. */
  maxBytes: number;
  /** From the call until the TLS handshake is done (DNS, TCP and TLS). */
  connectTimeoutMs: number;
  /** From the call until the whole body is read. */
  totalTimeoutMs: number;
}

/**
 * For a client's JWK Set (RFC 7517 §5), fetched while a token request waits. 64 KiB holds ten
 * RSA-4096 keys with certificate chains (a key is ~0.8 KiB, an x5c chain a few KiB); connect
 * 2 s covers DNS plus TCP and TLS 1.2 handshakes across continents (4 round trips of 300 ms)
 * with room; total 5 s is what a waiting token request can bear, as before this library.
 */
export const JWKS_FETCH_LIMITS: FetchLimits = Object.freeze({ maxBytes: 64 * 1024, connectTimeoutMs: 2000, totalTimeoutMs: 5000 });

/**
 * One SecureContext for Node's roots plus the operator's CA (building it parses ~150 roots), kept
 * for the last CA seen: configuration has one.
 */
let trusted: { ca: string; context: SecureContext } | undefined;

function secureContextFor(ca: string): SecureContext {
  if (trusted?.ca !== ca) trusted = { ca, context: createSecureContext({ ca: [...rootCertificates, ca] }) };
  return trusted.context;
}

/**
 * A DNS lookup that resolves every address of `host` and refuses them all if any one is not
 * allowed (so DNS answers cannot mix in an internal address), then hands the socket the checked
 * addresses: what was checked is what is connected to, even if DNS changes in between.
 */
function checkedLookup(host: string, policy: EgressPolicy): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    dnsLookup(hostname, { all: true, hints: options.hints }, (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
      if (error || addresses.length === 0) return callback(new EgressRefused('dns', `${host} could not be resolved`), '');
      const refused = addresses.find((a) => !addressAllowed(a.address, policy));
      if (refused) return callback(new EgressRefused('address_not_allowed', `${host} resolves to a non-public address (${refused.address})`), '');
      const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
      if (wanted.length === 0) return callback(new EgressRefused('dns', `${host} has no IPv${options.family} address`), '');
      if (options.all) callback(null, wanted);
      else callback(null, wanted[0]!.address, wanted[0]!.family);
    });
  };
}

/**
 * GET `url` and parse its JSON body, within `limits`, reaching only allowed addresses.
 * Rejects with EgressRefused; every exit clears both timers and destroys the socket.
 *
 * The timers are plain setTimeout calls that this request holds. Node 20's fetch with
 * AbortSignal.timeout can lose its timer to garbage collection, leaving a request to a silent
 * server pending for ever (docs/operations.md, "Outbound fetches").
 */
export function fetchJson(url: string, limits: FetchLimits, policy: EgressPolicy): Promise<unknown> {
  let destination;
  try {
    destination = destinationOf(url, policy);
  } catch (error) {
    return Promise.reject(error);
  }
  const { url: target, host, address, allowedByName } = destination;

  return new Promise((resolve, reject) => {
    let settled = false;
    let tcpConnected = false;
    let secured = false;
    let response: IncomingMessage | undefined;

    const options: RequestOptions = {
      method: 'GET',
      host: address ?? target.hostname,
      port: target.port || 443,
      path: `${target.pathname}${target.search}`,
      headers: { accept: 'application/json, application/*+json', 'user-agent': 'Tollgate' },
      // Own socket per fetch (no pool): it is destroyed on every exit.
      agent: false,
      // Explicit, so NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment cannot turn checks off.
      rejectUnauthorized: true,
      insecureHTTPParser: false,
      ...(policy.ca ? { secureContext: secureContextFor(policy.ca) } : {}),
      // A literal address is never looked up (checked above); an allowed name goes wherever it resolves.
      ...(address || allowedByName ? {} : { lookup: checkedLookup(host, policy) }),
    };
    // TLS verifies the certificate against the URL's host name, not the address connected to.
    if (!address) options.servername = target.hostname.replace(/\.+$/, '');

    const finish = (outcome: { value: unknown } | EgressRefused) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(totalTimer);
      response?.destroy();
      req.destroy();
      if (outcome instanceof EgressRefused) reject(outcome);
      else resolve(outcome.value);
    };
    const fail = (reason: EgressRefusalReason, message: string) => finish(new EgressRefused(reason, `${host}: ${message}`));

    const connectTimer = setTimeout(
      () => fail('timeout', `${tcpConnected ? 'no TLS handshake' : 'no connection'} within ${limits.connectTimeoutMs} ms`),
      limits.connectTimeoutMs,
    );
    const totalTimer = setTimeout(() => fail('timeout', `no complete answer within ${limits.totalTimeoutMs} ms`), limits.totalTimeoutMs);

    const req = request(options);
    req.on('socket', (socket: Socket) => {
      socket.once('connect', () => (tcpConnected = true));
      socket.once('secureConnect', () => {
        secured = true;
        clearTimeout(connectTimer);
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      // Refusals from checkedLookup arrive here as they were made.
      if (error instanceof EgressRefused) return finish(error);
      if (error.code?.startsWith('HPE_')) return fail('status', 'invalid HTTP response');
      if (!tcpConnected) return fail('connect', 'connection failed');
      if (!secured) return fail('tls', 'TLS handshake or certificate check failed');
      fail('connect', 'connection broke');
    });
    // Whatever else ends the exchange early (a close without an error) is a failure too.
    req.on('close', () => fail('connect', 'connection closed before the answer was complete'));

    req.on('response', (res) => {
      response = res;
      const status = res.statusCode ?? 0;
      // No redirects: the target was checked, its redirect target would not be (RFC 9110 §15.4).
      if (status >= 300 && status < 400) return fail('redirect', `answered with a redirect (${status})`);
      if (status < 200 || status >= 300) return fail('status', `answered ${status}`);
      const length = res.headers['content-length'];
      if (length !== undefined && Number(length) > limits.maxBytes) return fail('too_large', `body larger than ${limits.maxBytes} bytes`);
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > limits.maxBytes) return fail('too_large', `body larger than ${limits.maxBytes} bytes`);
        chunks.push(chunk);
      });
      res.on('error', () => fail('connect', 'connection broke'));
      res.on('close', () => fail('connect', 'connection closed before the answer was complete'));
      res.on('end', () => {
        let value: unknown;
        try {
          value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return fail('not_json', 'body is not JSON');
        }
        finish({ value });
      });
    });
    req.end();
  });
}
