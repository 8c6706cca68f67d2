import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { OAuthError } from '#credentials';
import { requestIdOf } from '#operations';
import { STEP_UP_GRANT_TYPE } from '#protocol';
import type { ProvenLevel, StepUpChallenges } from '#step-up';

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
  resourceServer(clientId: string, resource: string | undefined, ctx: unknown): Promise<{ resource: string; info: any }>;
}

/**
 * Registers the step-up grant. The handler mirrors oidc-provider's client_credentials grant
 * (scopes, one resource, DPoP binding, RFC 9068 JWT), with the proof of the step-up checked by
 * libs/step-up (StepUpChallenges.answer) instead of oidc-provider's DPoP helpers, which a custom
 * grant cannot reach.
 */
export function registerStepUpGrant(provider: Provider, stepUp: Pick<StepUpChallenges, 'answer'>, rules: StepUpTokenRules, tokenEndpoint: string): void {
  const handler = async (ctx: any) => {
    const { client, params } = ctx.oidc;
    // What the token is for is checked first: a mistyped scope or resource does not spend the challenge.
    const resources: string[] = params.resource === undefined ? [] : [params.resource].flat();
    if (resources.length > 1) throw new errors.InvalidTarget('only a single resource indicator value is supported for this grant type');
    const { resource, info } = await rules.resourceServer(client.clientId, resources[0], ctx);
    const requested: string[] = String(params.scope ?? '').split(' ').filter(Boolean);
    const granted = new Set(String(info.scope ?? '').split(' '));
    const outside = requested.filter((s) => !granted.has(s));
    if (outside.length) throw new errors.InvalidScope('requested scope is not allowed for this client', outside.join(' '));

    let proven: ProvenLevel;
    try {
      proven = await stepUp.answer({
        clientId: client.clientId,
        challengeId: params.challenge_id,
        assertion: params.client_assertion,
        proof: ctx.get('DPoP') || undefined,
        webauthnResponse: params.webauthn_response,
        tokenEndpoint,
        ip: ctx.ip,
        requestId: requestIdOf(ctx.req),
        // ProviderHost verified a platform token for this request and handed oidc-provider its own assertion.
        federated: ctx.req?.tollgate?.federated !== undefined,
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
