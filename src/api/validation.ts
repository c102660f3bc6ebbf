import { z } from 'zod';
import { RpcError } from '../errors.js';

export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
}

/** The input as `schema` makes it, or 400 IOT_ERR_BAD_REQUEST naming every bad field. */
export function validated<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new RpcError('IOT_ERR_BAD_REQUEST', describeIssues(parsed.error));
  return parsed.data;
}

/** A list's paging query, with ThingsBoard's defaults. */
export const pageQuery = z.object({
  pageSize: z.coerce.number().int().min(1).max(1000).default(10),
  page: z.coerce.number().int().min(0).default(0),
});
