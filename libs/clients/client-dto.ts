import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';

const AUTH_METHODS = ['private_key_jwt', 'client_secret_basic'];
/**
 * Like IsOptional, but only for an absent member: `null` is validated (and refused) for the fields
 * whose stored value cannot be null, instead of reaching the registry and failing there with a 500.
 */
const OptionalNotNull = () => ValidateIf((_object, value) => value !== undefined);

const AUTH_METHOD_MESSAGE = 'must be private_key_jwt (workloads) or client_secret_basic (gateways); "none" is never allowed';

/**
 * POST /admin/clients: RFC 7591 §2 field names plus Tollgate's extensions. `null` clears what is
 * stored as nullable (client_name, jwks, jwks_uri, access_token_ttl: the server's default applies);
 * every other field refuses it.
 */
export class CreateClientDto {
  @IsOptional() @IsString() @MaxLength(200)
  client_name?: string;

  @OptionalNotNull() @IsIn(AUTH_METHODS, { message: AUTH_METHOD_MESSAGE })
  token_endpoint_auth_method?: string;

  @IsOptional() @IsObject()
  jwks?: Record<string, unknown>;

  @IsOptional() @IsString() @MaxLength(2000)
  jwks_uri?: string;

  /**
   * Tollgate extension (docs/federation.md): who may authenticate as this client with a platform
   * token; checked member by member by federatedIdentityProblems. `null` or [] removes them.
   */
  @IsOptional() @IsArray()
  federated_identities?: Record<string, unknown>[];

  /** Space-separated scope values (RFC 7591 §2). */
  @OptionalNotNull() @IsString() @MaxLength(4000)
  scope?: string;

  @OptionalNotNull() @IsArray() @ArrayUnique() @IsIn(['workload', 'gateway'], { each: true, message: 'each role must be workload or gateway' })
  roles?: string[];

  @OptionalNotNull() @IsArray() @ArrayMaxSize(50) @IsString({ each: true })
  allowed_resources?: string[];

  @IsOptional() @IsInt() @Min(10) @Max(86_400)
  access_token_ttl?: number;

  /** RFC 9449 §5.2 client metadata. */
  @OptionalNotNull() @IsBoolean()
  dpop_bound_access_tokens?: boolean;

  /** Tollgate extension: require a server nonce (RFC 9449 §8) in this client's proofs. */
  @OptionalNotNull() @IsBoolean()
  require_dpop_nonce?: boolean;
}

/** PATCH /admin/clients/:client_id: any field of the create body, plus status and secret rotation. */
export class UpdateClientDto extends CreateClientDto {
  @OptionalNotNull() @IsIn(['active', 'suspended'], { message: 'must be active or suspended' })
  status?: 'active' | 'suspended';

  /** Gateway clients: issue a new client_secret (shown once in the response). */
  @OptionalNotNull() @IsBoolean()
  rotate_secret?: boolean;
}
