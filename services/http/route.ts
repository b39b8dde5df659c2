// Declarative routes: one table feeds the router, request validation (zod) and the OpenAPI document.
import type { Context } from 'koa';
import type { z } from 'zod';
import type { CommandContext } from '../commands/command-bus.js';
import type { Caller } from './auth.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A request body schema: a JSON object. */
export type BodySchema = z.ZodType<Record<string, unknown>>;
/** Query parameters: each one a string schema; every parameter is optional, appears at most once, and unknown ones are refused. */
export type QueryShape = Record<string, z.ZodType<string, string>>;

/** What the handler gets for a body schema (undefined when the route takes no body). */
export type BodyOf<B extends BodySchema | undefined> = B extends BodySchema ? z.output<B> : undefined;
export type QueryOf<Q extends QueryShape> = { readonly [K in keyof Q]?: z.output<Q[K]> };

export interface RouteInput<
  B extends BodySchema | undefined = BodySchema | undefined,
  Q extends QueryShape = QueryShape,
> {
  readonly ctx: Context;
  /** Validated against `body` before the handler runs (an absent optional body is `{}`). */
  readonly body: BodyOf<B>;
  readonly query: QueryOf<Q>;
  readonly params: Record<string, string>;
  readonly caller: Caller | null;
  /** Actor, request context and correlation for the events this request writes. */
  readonly command: CommandContext;
}

export interface ResponseDef {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** The media type (or, for a body without a schema, the media types) of the answer; JSON when absent. */
  readonly contentType?: string | readonly string[];
}

export interface RouteDef<
  B extends BodySchema | undefined = BodySchema | undefined,
  Q extends QueryShape = QueryShape,
> {
  readonly method: Method;
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  /**
   * Who may call: anyone, a caller with a credential, or an OAuth client (RFC 6749 §2.3.1: client_secret_basic,
   * client_secret_post, or any credential a `required` route takes); `oauth-public` also admits public clients.
   */
  readonly auth: 'none' | 'required' | 'oauth-client' | 'oauth-public';
  /** Accept ?api_token= (exports and feeds only). */
  readonly urlToken?: boolean;
  readonly body?: B;
  readonly bodyRequired?: boolean;
  /** Also accept application/x-www-form-urlencoded (OAuth endpoints). */
  readonly form?: boolean;
  readonly query?: Q;
  readonly responses: Record<number, ResponseDef>;
  /** Returns the JSON body (status 200 unless the handler set ctx.status); undefined leaves ctx.body alone. */
  readonly handler: (input: RouteInput<B, Q> & { caller: Caller }) => unknown;
}

/** Any route, its input types erased: what the router, the validator and the OpenAPI builder see. */
export type AnyRoute = RouteDef;

/** Declares a route; its handler's `body` and `query` types are inferred from its schemas. */
export function route<B extends BodySchema | undefined = undefined, Q extends QueryShape = Record<never, never>>(
  def: RouteDef<B, Q>,
): AnyRoute {
  // The validator gives the handler exactly what the schemas describe, so erasing the types here is sound.
  return def as unknown as AnyRoute;
}
