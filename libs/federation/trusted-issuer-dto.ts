import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsObject, IsOptional, IsString, MaxLength, ValidateIf } from 'class-validator';

/** Like IsOptional, but only for an absent member: `null` is validated (and refused) where it cannot be stored. */
const OptionalNotNull = () => ValidateIf((_object, value) => value !== undefined);

/** PATCH /admin/trusted-issuers/:id: any field but kind and the issuer's name (create another issuer instead). */
export class UpdateTrustedIssuerDto {
  @IsOptional() @IsObject()
  jwks?: Record<string, unknown> | null;

  @IsOptional() @IsString() @MaxLength(2000)
  jwks_uri?: string | null;

  @IsOptional() @IsObject()
  bundle?: Record<string, unknown> | null;

  @IsOptional() @IsString() @MaxLength(2000)
  bundle_endpoint?: string | null;

  @OptionalNotNull() @IsArray() @ArrayMaxSize(20) @IsString({ each: true })
  allowed_addresses?: string[];

  @OptionalNotNull() @IsBoolean()
  reusable_tokens?: boolean;
}

/**
 * POST /admin/trusted-issuers (docs/federation.md): `{kind: "oidc", issuer, jwks?, jwks_uri?}` or
 * `{kind: "spiffe", trust_domain, bundle | bundle_endpoint}`, plus `allowed_addresses` and
 * `reusable_tokens` (the members a PATCH may change). What the kinds require of each other is
 * checked on the merged issuer.
 */
export class CreateTrustedIssuerDto extends UpdateTrustedIssuerDto {
  @IsIn(['oidc', 'spiffe'], { message: 'must be oidc or spiffe' })
  kind!: 'oidc' | 'spiffe';

  @OptionalNotNull() @IsString() @MaxLength(1000)
  issuer?: string;

  @OptionalNotNull() @IsString() @MaxLength(255)
  trust_domain?: string;
}
