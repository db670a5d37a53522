/** Response and request schemas shared by the route modules (JSON Schema via TypeBox). */
import { ErrorBody } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { ROLES } from '../stores/state-db.ts';

export { ErrorBody };
export const Role = Type.Union(ROLES.map((r) => Type.Literal(r)));
export const PublicUser = Type.Object({
  username: Type.String(),
  role: Role,
  sites: Type.Array(Type.String()),
});

/** Standard error responses, so every route documents (and serializes) its errors the same way. */
export const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
} as const;

export const bearer = [{ bearerAuth: [] }];
