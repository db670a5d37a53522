/** REST client: adds the bearer token; a 401 ends the session and returns to the login screen. */
import type { ErrorDetail, RestAnswer, RestRoute } from '@qianliyan/protocols';

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
  // 204: no body (logout answers null).
  const body = (res.status === 204 ? null : await res.json().catch(() => ({}))) as
    | ({ code?: string; message?: string } & ErrorDetail)
    | null;
  if (res.status === 401 && token) {
    setToken(null);
    onUnauthorized();
  }
  if (!res.ok)
    throw new ApiError(res.status, body?.code ?? 'HUB_ERR_INTERNAL', body?.message ?? res.statusText, {
      ...(body?.field ? { field: body.field } : {}),
      ...(body?.reason ? { reason: body.reason } : {}),
      ...(body?.limit !== undefined ? { limit: body.limit } : {}),
    });
  return body as T;
}

/*
 * The typed client: every answer's type comes from the contract's REST_ANSWERS by its path
 * (`get('/api/sites')` is a `SiteView[]`), so no component writes an answer type of its own.
 */
type PathsOf<M extends string> = {
  [R in RestRoute]: R extends `${M} ${infer P}` ? P : never;
}[RestRoute];
export type GetPath = PathsOf<'GET'>;
export type PostPath = PathsOf<'POST'>;
export type PutPath = PathsOf<'PUT'>;
export type DeletePath = PathsOf<'DELETE'>;
type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
/** The answer of `METHOD path`. */
export type Answer<M extends Method, P extends string> = `${M} ${P}` extends RestRoute
  ? RestAnswer<`${M} ${P}`>
  : never;

/** The `:name` parameters of a path template. */
type ParamNames<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | ParamNames<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? Name
    : never;
type Query = Record<string, string | number | boolean | undefined>;
export type CallOptions<P extends string> = {
  query?: Query;
  /** Sent as JSON. */
  body?: unknown;
  signal?: AbortSignal;
} & ([ParamNames<P>] extends [never]
  ? { params?: never }
  : { params: Record<ParamNames<P>, string | number> });
/** Options are required exactly when the path has parameters. */
type OptionsArg<P extends string> = [ParamNames<P>] extends [never]
  ? [options?: CallOptions<P>]
  : [options: CallOptions<P>];

/** The URL of a path template with its parameters filled in (encoded) and the query appended. */
export function apiUrl(
  path: string,
  params: Record<string, string | number> = {},
  query: Query = {},
): string {
  const filled = path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${path}: no value for :${name}`);
    return encodeURIComponent(String(value));
  });
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
  const qs = search.toString();
  return qs ? `${filled}?${qs}` : filled;
}

function call<T>(method: Method, path: string, options: CallOptions<string> = {}): Promise<T> {
  const init: RequestInit = { method };
  if (options.body !== undefined) init.body = JSON.stringify(options.body);
  else if (method === 'POST') init.body = '{}';
  if (options.signal) init.signal = options.signal;
  return api<T>(
    apiUrl(path, options.params as Record<string, string | number> | undefined, options.query),
    init,
  );
}

export function get<P extends GetPath>(path: P, ...[options]: OptionsArg<P>): Promise<Answer<'GET', P>> {
  return call('GET', path, options as CallOptions<string> | undefined);
}

export function post<P extends PostPath>(path: P, ...[options]: OptionsArg<P>): Promise<Answer<'POST', P>> {
  return call('POST', path, options as CallOptions<string> | undefined);
}

export function put<P extends PutPath>(path: P, ...[options]: OptionsArg<P>): Promise<Answer<'PUT', P>> {
  return call('PUT', path, options as CallOptions<string> | undefined);
}

export function del<P extends DeletePath>(
  path: P,
  ...[options]: OptionsArg<P>
): Promise<Answer<'DELETE', P>> {
  return call('DELETE', path, options as CallOptions<string> | undefined);
}
