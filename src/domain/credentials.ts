/**
 * The credential store as request authentication sees it: an access key id → its secret and account. The store
 * (core/accessKeys.ts) implements it; the SigV4 verifier (protocol/sigv4.ts) uses it.
 */
export interface SecretLookup {
  (accessKeyId: string): Promise<{ secretAccessKey: string; accountId: string } | undefined>;
}
