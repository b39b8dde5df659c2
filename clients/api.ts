// The typed HTTP SDK: openapi-fetch over the types openapi-typescript generates from /openapi.json (api-schema.ts).
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { paths } from './api-schema.js';

export type { components, operations, paths } from './api-schema.js';

export type LedgerApi = Client<paths>;

export interface LedgerClientOptions extends ClientOptions {
  /** The ledger's base URL, e.g. https://ledger.example.com */
  readonly baseUrl: string;
  /** A session JWT or an API key, sent on every request. */
  readonly token?: string;
  /** How the token is presented (default Bearer). */
  readonly scheme?: 'Bearer' | 'Api-Key' | 'APIToken';
}

/** A client for every operation of the document; paths, parameters, bodies and answers are typed. */
export function createLedgerClient(options: LedgerClientOptions): LedgerApi {
  const { token, scheme = 'Bearer', ...rest } = options;
  const client = createClient<paths>(rest);
  if (token !== undefined) {
    const authorization = `${scheme} ${token}`;
    client.use({
      onRequest({ request }) {
        request.headers.set('Authorization', authorization);
        return request;
      },
    });
  }
  return client;
}
