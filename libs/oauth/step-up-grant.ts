import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { OAuthError } from './oauth-error.js';

/** docs/step-up.md §4: the extension grant (RFC 6749 §4.5) that answers a step-up challenge. */
export const STEP_UP_GRANT_TYPE = 'urn:tollgate:params:oauth:grant-type:step-up';

/** What the workload sent with the step-up grant; the client is already authenticated. */
export interface StepUpAnswer {
  clientId: string;
  challengeId?: string;
  /** The client assertion oidc-provider has verified (signature, claims, replay). */
  assertion: string;
  proof?: string;
  webauthnResponse?: string;
  /** The token endpoint URL, for the DPoP proof's htu. */
  tokenEndpoint: string;
  /** The caller's address (as for risk at issuance), for the decision log. */
  ip?: string;
}

/** The level the answer proved (RFC 9470 acr, RFC 8176 amr) and the DPoP key to bind to. */
export interface ProvenLevel {
  acr: string;
  amr: string[];
  /** Epoch seconds. */
  authTime: number;
  jkt: string;
}

/**
 * The seam between the token endpoint (here, through oidc-provider's registerGrantType) and
 * libs/step-up, which checks challenges and authenticators and fills the slot at start-up.
 */
export class StepUpGrantSlot {
  answer?: (answer: StepUpAnswer) => Promise<ProvenLevel>;
}

/** Our error classes, as oidc-provider renders errors (same code, description and status). */
function asProviderError(err: unknown): unknown {
  if (!(err instanceof OAuthError)) return err;
  if (err.error === 'invalid_client') return new errors.InvalidClientAuth(err.error_description);
  const out = new errors.CustomOIDCProviderError(err.error, err.error_description);
  (out as any).status = (out as any).statusCode = err.status;
  return out;
}

export interface StepUpTokenRules {
  /** The RFC 8707 resource for this request and its resource-server settings (as for client_credentials). */
  resourceServer(clientId: string, resource: string | undefined): Promise<{ resource: string; info: any }>;
}

/**
 * Registers the step-up grant. The handler mirrors oidc-provider's client_credentials grant
 * (scopes, one resource, DPoP binding, RFC 9068 JWT), with the proof of the step-up checked by
 * the slot instead of oidc-provider's DPoP helpers, which a custom grant cannot reach.
 */
export function registerStepUpGrant(provider: Provider, slot: StepUpGrantSlot, rules: StepUpTokenRules, tokenEndpoint: string): void {
  const handler = async (ctx: any) => {
    const { client, params } = ctx.oidc;
    if (!slot.answer) throw new errors.UnsupportedGrantType();
    // What the token is for is checked first: a mistyped scope or resource does not spend the challenge.
    const resources: string[] = params.resource === undefined ? [] : [params.resource].flat();
    if (resources.length > 1) throw new errors.InvalidTarget('only a single resource indicator value is supported for this grant type');
    const { resource, info } = await rules.resourceServer(client.clientId, resources[0]);
    const requested: string[] = String(params.scope ?? '').split(' ').filter(Boolean);
    const granted = new Set(String(info.scope ?? '').split(' '));
    const outside = requested.filter((s) => !granted.has(s));
    if (outside.length) throw new errors.InvalidScope('requested scope is not allowed for this client', outside.join(' '));

    let proven: ProvenLevel;
    try {
      proven = await slot.answer({
        clientId: client.clientId,
        challengeId: params.challenge_id,
        assertion: params.client_assertion,
        proof: ctx.get('DPoP') || undefined,
        webauthnResponse: params.webauthn_response,
        tokenEndpoint,
        ip: ctx.ip,
      });
    } catch (err) {
      throw asProviderError(err);
    }
    // extraTokenClaims reads it: the token's acr/amr/auth_time, and the issuance risk's proven level.
    ctx.state.stepUp = proven;

    const token = new (provider as any).ClientCredentials({ client });
    token.resourceServer = new (provider as any).ResourceServer(resource, info);
    token.scope = requested.join(' ') || undefined; // every requested scope is granted (checked above)
    token.setThumbprint('jkt', proven.jkt);
    ctx.oidc.entity('ClientCredentials', token);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      expires_in: token.expiration,
      token_type: token.tokenType,
      ...(token.scope ? { scope: token.scope } : {}),
    };
  };
  provider.registerGrantType(STEP_UP_GRANT_TYPE, handler, ['challenge_id', 'scope', 'resource', 'webauthn_response'], ['resource']);
}
