import type { z } from 'zod';

export interface ResponseDoc {
  readonly description: string;
  /** The body's schema; none for an empty body. */
  readonly schema?: z.ZodType;
  /** application/json unless said. */
  readonly contentType?: string;
}

/** What the API document says of one route: written beside the route, from the schemas it validates with. */
export interface RouteDoc {
  readonly summary: string;
  readonly tag: string;
  /** `jwt`: X-Authorization: Bearer <token>; `device`: the access token in the path; `none`. */
  readonly auth: 'jwt' | 'device' | 'none';
  readonly description?: string;
  readonly body?: z.ZodType;
  readonly query?: z.ZodObject;
  readonly responses: Readonly<Record<number, ResponseDoc>>;
  /** Error statuses the route can answer, each with the shared error body. */
  readonly errors: readonly number[];
}
