import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Inject,
  Param,
  Post,
  Put,
  Res,
  UnauthorizedException,
  UseGuards,
  UsePipes,
  ValidationPipe,
} from '@nestjs/common';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString } from 'class-validator';
import type { Response } from 'express';
import { AdminInputError, AdminTokenGuard } from '#admin';
import { CONFIG, type TollgateConfig } from '#config';
import { ROUTES, WORKLOAD_GRANT_TYPES } from '#protocol';
import { CreateClientDto, type UpdateClientDto } from './client-dto.js';
import { type ClientRecord, clientView } from './client-record.js';
import { ClientRegistry } from './client-registry.js';


/** RFC 7591 §2 metadata as a registering client sends it; unknown members are ignored (§2). */
export class RegistrationDto extends CreateClientDto {
  @IsOptional() @IsArray() @IsIn([...WORKLOAD_GRANT_TYPES], { each: true, message: 'only client_credentials and the step-up grant are supported' })
  grant_types?: string[];

  @IsOptional() @IsArray() @ArrayMaxSize(0, { message: 'no response types: machine clients use client_credentials only' })
  response_types?: string[];

  @IsOptional() @IsArray() @ArrayMaxSize(0, { message: 'redirect URIs are not used by machine clients' })
  redirect_uris?: string[];

  /** RFC 7592 §2.2: a PUT carries the client_id it updates. */
  @IsOptional() @IsString()
  client_id?: string;

  /** RFC 7592 §2.2: a PUT may echo the secret; it is never changed this way. */
  @IsOptional() @IsString()
  client_secret?: string;
}

// RFC 7591 §2: "The authorization server MUST ignore any client metadata sent by the client that it does not understand."
const registrationPipe = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: false,
  transform: true,
  validationError: { target: false, value: false },
  exceptionFactory: (errors) =>
    new AdminInputError(
      errors.flatMap((e) => Object.values(e.constraints ?? { invalid: 'is invalid' }).map((message) => ({ field: e.property, message }))),
      'invalid_client_metadata',
    ),
});

const digest = (token: string) => createHash('sha256').update(token).digest('base64url');
const newRegistrationToken = () => randomBytes(32).toString('base64url');

/**
 * Dynamic client registration (RFC 7591) with the admin token as the initial access token,
 * and client management (RFC 7592) with a per-client registration access token. Both write
 * the same client records as the admin API (ClientRegistry), audited the same way.
 */
@Controller(ROUTES.registration.slice(1))
@UsePipes(registrationPipe)
export class RegistrationController {
  constructor(private readonly registry: ClientRegistry, @Inject(CONFIG) private readonly config: TollgateConfig) {}

  /** RFC 7591 §3.1; §3.2.1 answers 201 with the client information. */
  @Post()
  @UseGuards(AdminTokenGuard)
  async register(@Body() body: RegistrationDto, @Res() res: Response) {
    const token = newRegistrationToken();
    const { grant_types: _g, response_types: _r, redirect_uris: _u, client_id: _c, client_secret: _s, ...metadata } = body;
    // RFC 7591 has no member naming the APIs a client's tokens are for (RFC 8707 resources): a
    // workload registered with RFC 7591 metadata alone gets the operator's default
    // (TOLLGATE_DEFAULT_RESOURCES; docs/configuration.md), and an admin widens it later.
    const workload = !metadata.roles || metadata.roles.includes('workload');
    if (workload && metadata.allowed_resources === undefined) metadata.allowed_resources = [...this.config.defaultResources];
    const { client, secret } = await this.registry.create(metadata, 'registration', { registrationTokenHash: digest(token) });
    this.send(res, 201, client, token, secret);
  }

  /** RFC 7592 §2.1 read. A new registration access token is issued with every response (§3). */
  @Get(':client_id')
  async read(@Param('client_id') clientId: string, @Headers('authorization') authorization: string | undefined, @Res() res: Response) {
    await this.authorize(clientId, authorization);
    const token = newRegistrationToken();
    const { client } = await this.registry.update(clientId, {}, `client:${clientId}`, { registrationTokenHash: digest(token) });
    this.send(res, 200, client, token);
  }

  /** RFC 7592 §2.2 update: the request replaces the client's metadata as a whole. */
  @Put(':client_id')
  async replace(
    @Param('client_id') clientId: string,
    @Body() body: RegistrationDto,
    @Headers('authorization') authorization: string | undefined,
    @Res() res: Response,
  ) {
    const current = await this.authorize(clientId, authorization);
    if (body.client_id !== clientId) {
      throw new AdminInputError([{ field: 'client_id', message: 'must be the client_id of the client being updated' }], 'invalid_client_metadata');
    }
    if (body.roles && body.roles.join() !== current.roles.join()) {
      throw new AdminInputError([{ field: 'roles', message: 'a client cannot change its own roles' }], 'invalid_client_metadata');
    }
    const replacement: UpdateClientDto = {
      client_name: body.client_name ?? (null as unknown as string),
      jwks: body.jwks ?? (body.jwks_uri ? undefined : (null as unknown as Record<string, unknown>)),
      jwks_uri: body.jwks_uri,
      federated_identities: body.federated_identities ?? (null as unknown as Record<string, unknown>[]),
      scope: body.scope ?? '',
      allowed_resources: body.allowed_resources ?? current.allowedResources,
      access_token_ttl: body.access_token_ttl ?? (null as unknown as number),
      dpop_bound_access_tokens: body.dpop_bound_access_tokens ?? true,
      require_dpop_nonce: body.require_dpop_nonce ?? false,
    };
    const token = newRegistrationToken();
    const { client } = await this.registry.update(clientId, replacement, `client:${clientId}`, { registrationTokenHash: digest(token) });
    this.send(res, 200, client, token);
  }

  /** RFC 7592 §2.3 deprovision. */
  @Delete(':client_id')
  @HttpCode(204)
  async remove(@Param('client_id') clientId: string, @Headers('authorization') authorization: string | undefined) {
    await this.authorize(clientId, authorization);
    await this.registry.remove(clientId, `client:${clientId}`);
  }

  /**
   * RFC 7592 §2.1: a wrong token, or a client that does not exist (or was not registered
   * dynamically), is answered 401 without saying which.
   */
  private async authorize(clientId: string, authorization: string | undefined): Promise<ClientRecord> {
    const match = typeof authorization === 'string' ? /^Bearer ([\x21-\x7e]+)$/i.exec(authorization) : null;
    const client = match ? await this.registry.lookup(clientId) : null;
    const stored = Buffer.from(client?.registrationTokenHash ?? digest(randomBytes(16).toString('hex')));
    const presented = Buffer.from(digest(match?.[1] ?? ''));
    if (!match || !client?.registrationTokenHash || stored.length !== presented.length || !timingSafeEqual(stored, presented)) {
      throw new UnauthorizedException({ error: 'invalid_token', error_description: 'registration access token is not valid for this client' });
    }
    return client;
  }

  private send(res: Response, status: number, client: ClientRecord, token: string, secret?: string) {
    res.setHeader('Cache-Control', 'no-store');
    res.status(status).json({
      ...clientView(client),
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
      registration_access_token: token,
      registration_client_uri: `${this.config.issuer}${ROUTES.registration}/${client.clientId}`,
    });
  }
}
