import { Body, Controller, Headers, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CONFIG, type TollgateConfig } from '#config';
import { jsonDepth, MAX_JSON_DEPTH, unstorableString } from '#inbound';
import { AccessDenied, callerAddress, formParam, InvalidDpopProof, InvalidRequest, OAuthError, WorkloadAuthenticator } from '#credentials';
import { requestIdOf } from '#operations';
import { ROUTES } from '#protocol';
import { AttestationRefused, Authenticators, EnrolmentDenied } from './authenticators/index.js';
import { StepUpChallenges } from './challenges.js';

type Form = Record<string, unknown>;

/** docs/step-up.md §5.2: a refused enrolment (extension error code). */
class InvalidAttestation extends OAuthError {
  constructor(description: string) {
    super('invalid_attestation', 400, description);
  }
}

/** The WebAuthn challenge inside a registration response's clientDataJSON (unverified: a lookup key only). */
function registrationChallenge(response: unknown): string | undefined {
  try {
    const clientData = (response as { response?: { clientDataJSON?: unknown } })?.response?.clientDataJSON;
    if (typeof clientData !== 'string') return undefined;
    const challenge = JSON.parse(Buffer.from(clientData, 'base64url').toString('utf8'))?.challenge;
    return typeof challenge === 'string' && challenge.length <= 128 ? challenge : undefined;
  } catch {
    return undefined;
  }
}

function label(form: Form): string | undefined {
  const name = formParam(form, 'name');
  if (name !== undefined && (name.length > 100 || /[\u0000-\u001f]/.test(name))) throw new InvalidRequest('name must be at most 100 printable characters');
  return name;
}

/**
 * The workload's step-up endpoints (docs/step-up.md §3, §5): challenges, and enrolment of
 * WebAuthn authenticators. Each request is authenticated with private_key_jwt (RFC 7523) and
 * carries a DPoP proof (RFC 9449) whose key what is handed out is bound to.
 */
@Controller()
export class StepUpController {
  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    private readonly workloads: WorkloadAuthenticator,
    private readonly challenges: StepUpChallenges,
    private readonly authenticators: Authenticators,
  ) {}

  private url(path: string): string {
    return `${this.config.issuer}${path}`;
  }

  /** Client authentication, then the DPoP proof for this endpoint. */
  private async caller(req: Request, form: Form, proof: string | undefined, path: string) {
    const { client } = await this.workloads.authenticate(form, { kind: 'step_up', path, url: this.url(path), requestId: requestIdOf(req) }, callerAddress(req, this.config.trustProxy));
    const verified = await this.workloads.proof(proof, this.url(path), client);
    return { clientId: client.clientId, jkt: verified.jkt };
  }

  @Post(ROUTES.stepUpChallenges)
  @HttpCode(201)
  async challenge(@Req() req: Request, @Body() form: Form, @Headers('dpop') proof: string | undefined, @Res({ passthrough: true }) res: Response) {
    const { clientId, jkt } = await this.caller(req, form, proof, ROUTES.stepUpChallenges);
    res.setHeader('Cache-Control', 'no-store');
    return this.challenges.issue(clientId, jkt, formParam(form, 'acr_values'));
  }

  @Post(ROUTES.stepUpAuthenticatorOptions)
  @HttpCode(200)
  async creationOptions(@Req() req: Request, @Body() form: Form, @Headers('dpop') proof: string | undefined, @Res({ passthrough: true }) res: Response) {
    const { clientId, jkt } = await this.caller(req, form, proof, ROUTES.stepUpAuthenticatorOptions);
    const options = await this.enrolment(() => this.challenges.issueEnrolment(clientId, jkt, label(form)));
    res.setHeader('Cache-Control', 'no-store');
    return options;
  }

  @Post(ROUTES.stepUpAuthenticators)
  @HttpCode(201)
  async register(@Req() req: Request, @Body() form: Form, @Headers('dpop') proof: string | undefined, @Res({ passthrough: true }) res: Response) {
    const { clientId, jkt } = await this.caller(req, form, proof, ROUTES.stepUpAuthenticators);
    const raw = formParam(form, 'registration_response');
    if (!raw) throw new InvalidRequest('registration_response is required');
    // JSON inside a form: the same bounds as a JSON body (libs/inbound) before and after parsing.
    if (jsonDepth(raw) > MAX_JSON_DEPTH) throw new InvalidRequest(`registration_response nests deeper than ${MAX_JSON_DEPTH} levels`);
    let response: unknown;
    try {
      response = JSON.parse(raw);
    } catch {
      throw new InvalidRequest('registration_response must be a JSON RegistrationResponseJSON');
    }
    const unstorable = unstorableString(response, 'registration_response');
    if (unstorable) throw new InvalidRequest(`${unstorable.field} ${unstorable.message}`);
    const challenge = registrationChallenge(response);
    if (!challenge) throw new InvalidRequest('registration_response has no readable clientDataJSON challenge');
    const record = await this.enrolment(() => this.challenges.takeEnrolment(clientId, challenge));
    if (record.jkt !== jkt) throw new InvalidDpopProof('DPoP proof key is not the key the enrolment challenge was issued to', 400);
    const enrolled = await this.enrolment(() => this.authenticators.enrol(clientId, response, challenge, label(form) ?? record.name));
    res.setHeader('Cache-Control', 'no-store');
    return enrolled;
  }

  /** The authenticator library's refusals, as OAuth errors (docs/step-up.md §5.2). */
  private async enrolment<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      if (err instanceof AttestationRefused) throw new InvalidAttestation(err.message);
      if (err instanceof EnrolmentDenied) throw new AccessDenied(err.message, 403);
      throw err;
    }
  }
}
