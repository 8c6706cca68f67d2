/** One challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1). */
export interface AuthChallenge {
  /** The scheme, as sent (compare case-insensitively: RFC 9110 §11.1). */
  scheme: string;
  /** auth-params, names lower-cased (they are case-insensitive, RFC 9110 §11.2), quoted-strings unescaped. */
  params: Record<string, string>;
  token68?: string;
}

// RFC 9110 §5.6.2 token, §5.6.4 quoted-string, §11.2 token68.
const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
const PARAM = /([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\[\s\S])*)"|([!#$%&'*+\-.^_`|~0-9A-Za-z]+))/y;
const TOKEN68 = /[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/y;
const SEPARATORS = /[ \t,]*/y;
const SPACES = /[ \t]*/y;

function match(re: RegExp, input: string, at: number): RegExpExecArray | null {
  re.lastIndex = at;
  return re.exec(input);
}

/**
 * Parses a `WWW-Authenticate` value, which may hold several challenges (RFC 9110 §11.6.1; a
 * fetch `Headers` object also joins repeated headers with ", "). Unparseable tails are ignored.
 */
export function parseWwwAuthenticate(header: string | null | undefined): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  if (!header) return challenges;
  let at = match(SEPARATORS, header, 0)![0].length;
  while (at < header.length) {
    const scheme = match(TOKEN, header, at);
    if (!scheme) break;
    at += scheme[0].length;
    const challenge: AuthChallenge = { scheme: scheme[0], params: {} };
    challenges.push(challenge);
    const gap = match(SPACES, header, at)![0].length;
    if (gap === 0 && at < header.length && header[at] !== ',') break;
    at += gap;
    const token68 = match(PARAM, header, at) ? null : match(TOKEN68, header, at);
    if (token68) {
      challenge.token68 = token68[0];
      at += token68[0].length;
    }
    // auth-params until a token that is not followed by "=": the next challenge's scheme.
    for (;;) {
      at += match(SEPARATORS, header, at)![0].length;
      const param = token68 ? null : match(PARAM, header, at);
      if (!param) break;
      const name = param[1]!.toLowerCase();
      challenge.params[name] = param[2] !== undefined ? param[2].replace(/\\([\s\S])/g, '$1') : param[3]!;
      at += param[0].length;
    }
  }
  return challenges;
}

/** What a resource server's 401 asks for (RFC 6750 §3, RFC 9449 §7.1, RFC 9470 §3). */
export interface AuthError {
  scheme: string;
  error: string;
  errorDescription?: string;
  /** RFC 9470 §3: the level asked for. */
  acrValues?: string;
  /** RFC 9470 §3: how recent (seconds) the authentication must be. */
  maxAge?: number;
}

/** The error of the DPoP challenge (else the first challenge carrying one). */
export function authError(header: string | null | undefined): AuthError | undefined {
  const challenges = parseWwwAuthenticate(header).filter((c) => c.params.error !== undefined);
  const challenge = challenges.find((c) => c.scheme.toLowerCase() === 'dpop') ?? challenges[0];
  if (!challenge) return undefined;
  const { error, error_description, acr_values, max_age } = challenge.params;
  const maxAge = max_age !== undefined && /^\d+$/.test(max_age) ? Number(max_age) : undefined;
  return {
    scheme: challenge.scheme,
    error: error!,
    ...(error_description !== undefined ? { errorDescription: error_description } : {}),
    ...(acr_values !== undefined ? { acrValues: acr_values } : {}),
    ...(maxAge !== undefined ? { maxAge } : {}),
  };
}
