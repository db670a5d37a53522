/**
 * The hub's error catalog: every error a client can see has a stable code, an HTTP status and a
 * default (English, for logs and API users) message. A client never shows `message` to a person:
 * the dashboard maps the code — and, where one code covers several cases, the `reason` — to a
 * sentence in the user's language, and places it beside the field named by `field`.
 */
import { type Static, Type } from '@sinclair/typebox';

export const HUB_ERRORS = {
  HUB_ERR_UNAUTHORIZED: { status: 401, message: 'authentication required' },
  HUB_ERR_BAD_CREDENTIALS: { status: 401, message: 'wrong username or password' },
  HUB_ERR_FORBIDDEN: { status: 403, message: 'your role may not do this' },
  HUB_ERR_VALIDATION: { status: 400, message: 'invalid request' },
  HUB_ERR_NOT_FOUND: { status: 404, message: 'not found' },
  HUB_ERR_CONFLICT: { status: 409, message: 'already exists' },
  HUB_ERR_RATE_LIMITED: { status: 429, message: 'too many requests' },
  HUB_ERR_TOO_LARGE: { status: 413, message: 'request body too large' },
  HUB_ERR_LOCKED: { status: 429, message: 'too many failed logins; try again later' },
  HUB_ERR_GATEWAY_OFFLINE: { status: 409, message: 'the gateway is offline' },
  HUB_ERR_DEVICE_UNAVAILABLE: { status: 409, message: 'the gateway cannot reach the device' },
  HUB_ERR_UNSUPPORTED_ACTION: { status: 400, message: 'the device does not take this action' },
  HUB_ERR_CONFIRMATION_REQUIRED: { status: 428, message: 'this action needs confirmation' },
  HUB_ERR_BUSY: { status: 503, message: 'the hub is busy; try again' },
  HUB_ERR_TIMEOUT: { status: 504, message: 'the device did not answer in time' },
  HUB_ERR_UNSUPPORTED_MEDIA: { status: 415, message: 'unsupported content type' },
  HUB_ERR_INTERNAL: { status: 500, message: 'internal error' },
} as const;
export type HubErrorCode = keyof typeof HUB_ERRORS;
export const HUB_ERROR_CODES = Object.keys(HUB_ERRORS) as HubErrorCode[];

/**
 * Why a request was refused, when its code alone does not say (a validation error covers a blank
 * title and a missing assignee alike). Request validation fills these in from the schema keyword
 * (`maxLength` → `too_long` with its `limit`); services name their own.
 */
export const ERROR_REASONS = [
  /** The field is missing. */
  'required',
  /** Present but only whitespace. */
  'blank',
  /** Longer than `limit` characters (or items). */
  'too_long',
  /** Shorter than `limit`. */
  'too_short',
  /** Outside the allowed range (`limit` is the bound crossed, when known). */
  'out_of_range',
  /** Not of the expected form (pattern, type, choice). */
  'invalid',
  /** A field the request may not carry. */
  'unknown_field',
  /** The end of a period before its start. */
  'bad_range',
  /** An incident without a place cannot be linked. */
  'no_location',
  /** Outside the user's sites. */
  'out_of_scope',
  /** Nothing to act on (no loudspeaker among the targets, the speaker is not in the broadcast). */
  'no_target',
  /** The thing is already over (a finished broadcast). */
  'already_ended',
  /** The action does not fit the current state (an incident transition). */
  'wrong_state',
  /** Live talk cannot be scheduled or replayed. */
  'live_talk',
  /** A call is already in progress. */
  'busy',
] as const;
export type ErrorReason = (typeof ERROR_REASONS)[number];

/** The body of every error answer. */
export const ErrorBody = Type.Object({
  code: Type.String(),
  message: Type.String(),
  /** The request field it concerns (`title`, `assignee`), for a form to show it beside the field. */
  field: Type.Optional(Type.String()),
  reason: Type.Optional(Type.Union(ERROR_REASONS.map((r) => Type.Literal(r)))),
  /** The bound crossed (a length, a count), with `too_long` / `too_short` / `out_of_range`. */
  limit: Type.Optional(Type.Number()),
});
export type ErrorBody = Static<typeof ErrorBody>;
export type ErrorDetail = Pick<ErrorBody, 'field' | 'reason' | 'limit'>;
