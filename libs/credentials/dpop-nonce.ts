import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** Nest injection token for the resource-side DPoP nonces (DpopNonces). */
export const DPOP_NONCES = Symbol('DpopNonces');

/**
 * Stateless server nonces for DPoP proofs presented to resource servers (RFC 9449 §9, via the
 * check endpoint and introspection): HMAC of a 60-second time step under a secret every instance
 * derives from the key-encryption key, so any instance accepts a nonce another one issued.
 * A nonce is valid for the rest of its step and the next two (2 to 3 minutes).
 */
export class DpopNonces {
  private readonly secret: Buffer;

  constructor(kek: Buffer, private readonly stepSeconds = 60, private readonly steps = 3) {
    this.secret = Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'tollgate resource dpop nonce', 32));
  }

  private value(step: number): string {
    return createHmac('sha256', this.secret).update(String(step)).digest('base64url');
  }

  private step(nowMs: number): number {
    return Math.floor(nowMs / 1000 / this.stepSeconds);
  }

  /** What verifyDpopProof expects of a proof's nonce (ExpectedProof.nonce) at an endpoint that uses these nonces. */
  expectation(required: boolean): { required: boolean; check(nonce: string): boolean; issue(): string } {
    return { required, check: (nonce) => this.check(nonce), issue: () => this.issue() };
  }

  issue(nowMs = Date.now()): string {
    return this.value(this.step(nowMs));
  }

  check(nonce: string, nowMs = Date.now()): boolean {
    const current = this.step(nowMs);
    const given = Buffer.from(nonce);
    let ok = false;
    for (let s = current - this.steps + 1; s <= current; s++) {
      const expected = Buffer.from(this.value(s));
      // Compare every candidate, in constant time, without early exit.
      if (expected.length === given.length && timingSafeEqual(expected, given)) ok = true;
    }
    return ok;
  }
}
