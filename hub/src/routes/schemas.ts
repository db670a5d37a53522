/**
 * What the route modules share. The answers themselves are typed once, in protocols/src/rest.ts
 * (`REST_ANSWERS`): a route names its success schema from there, so the dashboard reads the same type.
 */
import { ErrorBody } from '@qianliyan/protocols';

/** Standard error responses, so every route documents (and serializes) its errors the same way. */
export const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
} as const;

export const bearer = [{ bearerAuth: [] }];
