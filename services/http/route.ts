// Declarative routes: one table feeds the router, request validation and the OpenAPI document.
import type { Context } from 'koa';
import type { CommandContext } from '../commands/command-bus.js';
import type { Caller } from './auth.js';
import type { Schema } from './schema.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteInput {
  readonly ctx: Context;
  readonly body: any; // validated against `body` before the handler runs
  readonly query: Record<string, string>;
  readonly params: Record<string, string>;
  readonly caller: Caller | null;
  /** Actor, request context and correlation for the events this request writes. */
  readonly command: CommandContext;
}

export interface RouteDef {
  readonly method: Method;
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly auth: 'none' | 'required';
  /** Accept ?api_token= (exports and feeds only). */
  readonly urlToken?: boolean;
  readonly body?: Schema;
  readonly bodyRequired?: boolean;
  /** Also accept application/x-www-form-urlencoded (OAuth endpoints). */
  readonly form?: boolean;
  readonly query?: Record<string, Schema>;
  readonly responses: Record<number, { description: string; schema?: Schema; contentType?: string }>;
  /** Returns the JSON body (status 200 unless the handler set ctx.status); undefined leaves ctx.body alone. */
  readonly handler: (input: RouteInput & { caller: Caller }) => unknown;
}

export function route(def: RouteDef): RouteDef {
  return def;
}
