/** The hub's error catalog: every error a client can see has a stable code and an HTTP status. */
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

export class HubError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: HubErrorCode,
    message?: string,
  ) {
    super(message ?? HUB_ERRORS[code].message);
    this.statusCode = HUB_ERRORS[code].status;
  }
}
