// oidc-provider ships JavaScript only; Tollgate touches it in provider.ts alone.
declare module 'oidc-provider' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type Provider = any;
  const Provider: any;
  export default Provider;
  export const errors: any;
}
