/** REST client: adds the bearer token; a 401 ends the session and returns to the login screen. */
import type { ErrorDetail } from '@qianliyan/protocols';

const TOKEN_KEY = 'qly.token';
let onUnauthorized: () => void = () => {};

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Which field it concerns and why (error-messages.ts words it in the user's language). */
    readonly detail: ErrorDetail = {},
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const token = getToken();
  if (token) headers.set('authorization', `Bearer ${token}`);
  if (init.body) headers.set('content-type', 'application/json');
  const res = await fetch(path, { ...init, headers });
  const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string } & ErrorDetail;
  if (res.status === 401 && token) {
    setToken(null);
    onUnauthorized();
  }
  if (!res.ok)
    throw new ApiError(res.status, body.code ?? 'HUB_ERR_INTERNAL', body.message ?? res.statusText, {
      ...(body.field ? { field: body.field } : {}),
      ...(body.reason ? { reason: body.reason } : {}),
      ...(body.limit !== undefined ? { limit: body.limit } : {}),
    });
  return body as T;
}
