import { isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, type TollgateConfig } from '#config';
import { errorAnswer, GatewayAuthenticator, type OAuthAnswer, OAuthError } from '#credentials';
import { ROUTES } from '#protocol';
import { type Assessment, assessmentBody, CallAssessment, presentedToken } from './call-assessment.js';
import { rawTarget } from './gateway-request.js';

/** What the AuthZEN endpoints read of a request: no framework, so any listener can serve it. */
export interface AuthzenRequest {
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (libs/inbound); undefined when the request was not JSON. */
  body: unknown;
  /** The PEP's address, for its failure budget. */
  ip?: string;
  requestId?: string;
}

/** AuthZEN 1.0 "Access Evaluations API": how a batch is run. */
export const EVALUATIONS_SEMANTICS = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;
type Semantic = (typeof EVALUATIONS_SEMANTICS)[number];
/** Evaluations in one request: each is a full call assessment (a token verified, a proof checked, a decision logged). */
export const MAX_EVALUATIONS = 64;
const METHOD = /^[A-Za-z]{1,16}$/;
const MAX_ID = 200;
const MAX_URL = 8192;

/** Bad input, naming the member at fault (`evaluations[1].resource.id: …`): a 400. */
class InputProblem extends Error {}

/** One evaluation, read and checked: what the call assessment needs. */
interface Evaluation {
  clientId: string;
  token: string | undefined;
  scheme: 'DPoP' | 'Bearer';
  proof: string | undefined;
  method: string;
  url: URL;
  target: string;
  ip: string | undefined;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function object(value: unknown, at: string, required: boolean): Json | undefined {
  if (value === undefined && !required) return undefined;
  if (!isObject(value)) throw new InputProblem(`${at}: must be an object`);
  return value;
}

function string(value: unknown, at: string, max: number, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value === '') throw new InputProblem(`${at}: must be a non-empty string`);
  if (value.length > max) throw new InputProblem(`${at}: must be at most ${max} characters`);
  return value;
}

/**
 * One AuthZEN 4-tuple about a call to a protected API (docs/gateways.md "AuthZEN"):
 * subject `{type: "workload", id: client_id, properties: {access_token, dpop_proof, token_type?}}`,
 * action `{name: HTTP method}`, resource `{type: "url", id: absolute URL}`, context `{ip?}`.
 */
function evaluation(tuple: Json, at: string): Evaluation {
  const p = (name: string) => (at ? `${at}.${name}` : name);
  const subject = object(tuple.subject, p('subject'), true)!;
  if (subject.type !== 'workload') throw new InputProblem(`${p('subject.type')}: must be "workload"`);
  const clientId = string(subject.id, p('subject.id'), MAX_ID, true)!;
  const properties = object(subject.properties, p('subject.properties'), false) ?? {};
  // A call without a token is judged (and refused) like one at /check, not rejected as input.
  const token = string(properties.access_token, p('subject.properties.access_token'), 16_384, false);
  const proof = string(properties.dpop_proof, p('subject.properties.dpop_proof'), 16_384, false);
  const type = string(properties.token_type, p('subject.properties.token_type'), 6, false)?.toLowerCase();
  if (type !== undefined && type !== 'dpop' && type !== 'bearer') throw new InputProblem(`${p('subject.properties.token_type')}: must be "DPoP" or "Bearer"`);
  const action = object(tuple.action, p('action'), true)!;
  const method = string(action.name, p('action.name'), 16, true)!;
  if (!METHOD.test(method)) throw new InputProblem(`${p('action.name')}: must be an HTTP method`);
  const resource = object(tuple.resource, p('resource'), true)!;
  if (resource.type !== 'url') throw new InputProblem(`${p('resource.type')}: must be "url"`);
  const id = string(resource.id, p('resource.id'), MAX_URL, true)!;
  const url = URL.parse(id);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw new InputProblem(`${p('resource.id')}: must be an absolute http(s) URL`);
  const context = object(tuple.context, p('context'), false) ?? {};
  const ip = string(context.ip, p('context.ip'), 64, false);
  if (ip !== undefined && !isIP(ip)) throw new InputProblem(`${p('context.ip')}: must be an IPv4 or IPv6 address`);
  return {
    clientId,
    token,
    // RFC 9449 §7.1: a proof comes with the DPoP scheme; without one the token is presented as a bearer token.
    scheme: (type ?? (proof !== undefined ? 'dpop' : 'bearer')) === 'dpop' ? 'DPoP' : 'Bearer',
    proof,
    method: method.toUpperCase(),
    url,
    target: rawTarget(id),
    ip,
  };
}

/** AuthZEN 1.0 §5.1 response: the boolean decision; in `context`, Tollgate's own answer about the call. */
function response(a: Assessment) {
  return {
    decision: a.decision === 'allow',
    context: {
      ...assessmentBody(a),
      // What a gateway would answer the caller (docs/gateways.md): the status and, for a 401, its challenge and nonce.
      status: a.status,
      ...(a.headers['WWW-Authenticate'] ? { www_authenticate: a.headers['WWW-Authenticate'] } : {}),
      ...(a.headers['DPoP-Nonce'] ? { dpop_nonce: a.headers['DPoP-Nonce'] } : {}),
      ...(a.decision === 'allow' ? { client_id: a.clientId, scope: a.scope, acr: a.acr } : {}),
    },
  };
}

/**
 * OpenID AuthZEN Authorization API 1.0 as a face of the call assessment: a policy enforcement
 * point asks whether a workload's call may go ahead and gets the same judgement /check gives
 * (token, DPoP proof, risk, step-up), as `decision` plus Tollgate's answer in `context`. The PEP
 * authenticates as a gateway client (HTTP Basic, as at introspection) under the same failure
 * budget. A denial is a 200 with `decision: false` (AuthZEN "Error Responses"); 400 is for a
 * request that cannot be evaluated, 401 for a PEP that did not authenticate.
 */
@Injectable()
export class AuthzenEndpoint {
  private readonly metadataBody: Json;

  constructor(
    @Inject(CONFIG) config: TollgateConfig,
    private readonly gateways: GatewayAuthenticator,
    private readonly assessment: CallAssessment,
  ) {
    // AuthZEN 1.0 "Policy Decision Point Metadata": endpoints Tollgate does not serve (search) are left out.
    this.metadataBody = {
      policy_decision_point: config.issuer,
      access_evaluation_endpoint: `${config.issuer}${ROUTES.accessEvaluation}`,
      access_evaluations_endpoint: `${config.issuer}${ROUTES.accessEvaluations}`,
    };
  }

  metadata(): OAuthAnswer {
    return { status: 200, headers: { 'Cache-Control': 'public, max-age=3600' }, body: this.metadataBody };
  }

  async answer(req: AuthzenRequest): Promise<OAuthAnswer> {
    const batch = req.path === ROUTES.accessEvaluations;
    try {
      await this.gateways.authenticate(req.headers.authorization, { kind: 'check', method: 'POST', path: req.path, requestId: req.requestId }, req.ip);
    } catch (error) {
      if (!(error instanceof OAuthError) || (error.error !== 'invalid_client' && error.error !== 'slow_down')) throw error;
      return errorAnswer(error, { usedBasic: true });
    }
    if (req.body === undefined) {
      return { status: 415, headers: { 'Cache-Control': 'no-store' }, body: { error: 'invalid_request', error_description: 'send the request as application/json' } };
    }
    let evaluations: Evaluation[];
    let semantic: Semantic = 'execute_all';
    let single: boolean;
    try {
      if (!isObject(req.body)) throw new InputProblem('the request body must be a JSON object');
      const body = req.body;
      const items = batch ? body.evaluations : undefined;
      single = items === undefined || (Array.isArray(items) && items.length === 0);
      if (single) {
        evaluations = [evaluation(body, '')];
      } else {
        if (!Array.isArray(items)) throw new InputProblem('evaluations: must be an array');
        if (items.length > MAX_EVALUATIONS) throw new InputProblem(`evaluations: at most ${MAX_EVALUATIONS} per request`);
        const options = object(body.options, 'options', false);
        if (options?.evaluations_semantic !== undefined) {
          if (!(EVALUATIONS_SEMANTICS as readonly unknown[]).includes(options.evaluations_semantic)) {
            throw new InputProblem(`options.evaluations_semantic: must be one of ${EVALUATIONS_SEMANTICS.join(', ')}`);
          }
          semantic = options.evaluations_semantic as Semantic;
        }
        // AuthZEN "Default values": the top-level subject, action, resource and context stand in for any an item leaves out.
        evaluations = items.map((item, i) => {
          const own = object(item, `evaluations[${i}]`, true)!;
          const tuple: Json = {};
          for (const key of ['subject', 'action', 'resource', 'context']) tuple[key] = own[key] ?? body[key];
          return evaluation(tuple, `evaluations[${i}]`);
        });
      }
    } catch (error) {
      if (!(error instanceof InputProblem)) throw error;
      return { status: 400, headers: { 'Cache-Control': 'no-store' }, body: { error: 'invalid_request', error_description: error.message } };
    }
    const answers = [];
    // In order, one at a time: the short-circuit semantics depend on it, and each proof is its own.
    for (const e of evaluations) {
      const assessed = await this.assessment.assess({
        kind: 'check',
        method: e.method,
        url: e.url,
        target: e.target,
        ip: e.ip,
        token: e.token === undefined ? undefined : presentedToken(`${e.scheme} ${e.token}`),
        proof: e.proof,
        expectedClientId: e.clientId,
        requestId: req.requestId,
      });
      const answer = response(assessed);
      answers.push(answer);
      if ((semantic === 'deny_on_first_deny' && !answer.decision) || (semantic === 'permit_on_first_permit' && answer.decision)) break;
    }
    return { status: 200, headers: { 'Cache-Control': 'no-store' }, body: single ? answers[0]! : { evaluations: answers } };
  }
}
