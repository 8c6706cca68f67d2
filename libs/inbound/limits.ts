/**
 * How much of a stranger's request Tollgate reads before refusing it. Checked before anything
 * parses the body, so a refusal costs a bounded amount of memory and time.
 *
 * - `json` 256 KiB: the largest legitimate documents are attestation policies, whose PEM trust
 *   anchors are 1–2 KiB each (a hundred fit), and client key sets (at most 10 keys; an RSA-8192
 *   JWK is about 1.5 KiB). Risk policies are a few KiB.
 * - `form` 64 KiB: forms carry a client assertion and DPoP material (1–2 KiB each) and, at
 *   enrolment, a WebAuthn registration response whose attestation chain is a few KiB.
 */
export const BODY_LIMITS: Readonly<{ json: number; form: number }> = Object.freeze({ json: 256 * 1024, form: 64 * 1024 });

/**
 * Deepest JSON nesting accepted. Tollgate's documents nest at most 5 levels (`jwks.keys[0]`,
 * `routes[0].methods`); 32 leaves room and keeps every recursive walk (validation, copying) far
 * from the stack limit that 10,000 levels reach.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * What may still be read, and thrown away, after a body passed its limit, so that the client has
 * finished sending and reads the 413; past this the connection is closed instead.
 */
export const DISCARD_LIMIT = 1024 * 1024;
