/**
 * The ONVIF transport, over the `onvif` package: it finds the camera's clock offset (so
 * WS-UsernameToken's Created is the camera's time), falls back from WS-UsernameToken to HTTP
 * Digest when the camera asks for it, and knows each service's address. This wrapper adds what a
 * gateway needs on top:
 *  - promises with a deadline per call, and answers bounded in size (a socket that sends more than
 *    `MAX_ANSWER_BYTES` is cut);
 *  - the service addresses kept on the host and port we were given (`preserveAddress`): cameras
 *    behind NAT or with a wrong network setting report addresses we cannot reach;
 *  - one error type, CameraError, with a kind the adapter acts on: unauthorized (wrong
 *    credentials, also an HTTP 401 around any SOAP fault: no point retrying fast), unreachable /
 *    timeout (retry with backoff), fault (the camera refused this request), bad_response (garbage)
 *    and unexpected_answer (a well-formed answer to another question: a GetDeviceInformationResponse
 *    to GetSystemDateAndTime, which the library turned into a raw TypeError);
 *  - requests the library has no (working) method for, sent raw (`request`): Media2, PTZ spaces;
 *  - the raw XML handed to converters.ts, which read every vendor's shape.
 */
import { Agent, type AgentOptions } from 'node:http';
import { createConnection, type Socket, type TcpNetConnectOpts } from 'node:net';
import onvif from 'onvif';
import { answerName, BadResponse, OnvifFault, soapBody } from './converters.ts';

export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

export type CameraErrorKind =
  | 'unauthorized'
  | 'unreachable'
  | 'timeout'
  | 'fault'
  | 'bad_response'
  | 'unexpected_answer'
  | 'no_media';

/**
 * Every camera error's reason code: the availability reason starts with it, the logs carry it, and
 * docs/operations.md lists what each means.
 */
export const CAMERA_ERROR_CODES: Readonly<Record<CameraErrorKind, string>> = {
  unauthorized: 'ONVIF_UNAUTHORIZED',
  unreachable: 'ONVIF_UNREACHABLE',
  timeout: 'ONVIF_TIMEOUT',
  fault: 'ONVIF_FAULT',
  bad_response: 'ONVIF_BAD_RESPONSE',
  unexpected_answer: 'ONVIF_UNEXPECTED_ANSWER',
  no_media: 'ONVIF_NO_MEDIA',
};

/**
 * A camera error as an operator reads it: a kind the adapter acts on, a code, and a sentence with
 * no URL, credential or stack in it (`message` is the sentence). What the library or the socket
 * said goes to the log only (`detail`): a `TypeError: Cannot read properties of undefined` is not
 * something a duty officer can act on.
 */
export class CameraError extends Error {
  constructor(
    readonly kind: CameraErrorKind,
    readonly sentence: string,
    readonly fault?: OnvifFault,
    readonly detail?: string,
  ) {
    super(sentence);
  }

  get code(): string {
    return CAMERA_ERROR_CODES[this.kind];
  }

  /** `CODE: sentence`, within the contract's 256 characters. */
  get reason(): string {
    return `${this.code}: ${this.sentence}`.slice(0, 256);
  }
}

/** An HTTP agent whose sockets are cut after `MAX_ANSWER_BYTES`: a camera cannot fill our memory. */
class BoundedAgent extends Agent {
  constructor(options: AgentOptions = {}) {
    super({ keepAlive: false, ...options });
  }

  override createConnection(
    options: TcpNetConnectOpts,
    callback?: (err: Error | null, socket: Socket) => void,
  ): Socket {
    const socket = createConnection(options);
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_ANSWER_BYTES)
        socket.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
    });
    if (callback) socket.once('connect', () => callback(null, socket));
    return socket;
  }
}

export interface OnvifClientOptions {
  /** The device service address, e.g. http://192.168.1.64/onvif/device_service. */
  xaddr: string;
  username: string;
  password: string;
  timeoutMs: number;
}

type Callback = (err: Error | null, data: unknown, xml?: string) => void;

/**
 * The answer as the library hands it to its callers: its parser deletes every namespace declaration
 * first (onvif/lib/utils.js parseSOAPString), and the status is found again by that text.
 */
const strippedLikeTheLibrary = (xml: string) => xml.replace(/xmlns([^=]*?)=(".*?")/g, '');

/** The ONVIF services the adapter talks to, as the camera's GetServices / GetCapabilities name them. */
export type OnvifService = 'device' | 'media' | 'media2' | 'ptz' | 'events';

type RawRequest = (
  options: { service?: string; body: string },
  callback: (err: Error | null, data: unknown, xml?: string, statusCode?: number) => void,
) => void;

export class OnvifClient {
  private readonly cam: onvif.Cam;
  private readonly agent = new BoundedAgent();
  /** HTTP status of recent answers, by body (the library passes its callers the body, not the status). */
  private readonly statusOf = new Map<string, number>();

  constructor(private readonly options: OnvifClientOptions) {
    const url = new URL(options.xaddr);
    this.cam = new onvif.Cam({
      hostname: url.hostname,
      port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
      path: url.pathname,
      username: options.username,
      password: options.password,
      timeout: options.timeoutMs,
      useSecure: url.protocol === 'https:',
      autoconnect: false,
      preserveAddress: true,
      agent: this.agent,
    });
    this.cam.on('rawResponse', (xml: string, status: number) => {
      if (this.statusOf.size > 32) this.statusOf.clear();
      this.statusOf.set(strippedLikeTheLibrary(xml), status);
    });
  }

  /** The camera's clock minus ours, in ms (known after connect). */
  get clockOffsetMs(): number {
    // The package keeps it relative to process.uptime(), not to the wall clock.
    if (this.cam.timeShift === undefined) return 0;
    return Math.round(this.cam.timeShift + process.uptime() * 1000 - Date.now());
  }

  get services(): { ptz: boolean; events: boolean; media: boolean; media1: boolean; media2: boolean } {
    const uri = (this.cam as unknown as { uri?: Record<string, unknown> }).uri ?? {};
    return {
      ptz: !!uri.ptz,
      events: !!uri.events,
      media: !!(uri.media || uri.media2),
      media1: !!uri.media,
      media2: !!uri.media2,
    };
  }

  /**
   * GetSystemDateAndTime (the package derives the camera's clock offset from it), then GetServices,
   * or GetCapabilities for cameras older than GetServices, for the service addresses. (The
   * package's own connect() also reads profiles through Media2 and its callbacks never return on
   * some cameras' answers, e.g. the ENP1A14's bare Media2 profiles; the adapter reads profiles
   * itself.)
   */
  async connect(): Promise<void> {
    await this.invoke('getSystemDateAndTime', []);
    try {
      await this.invoke('getServices', [true]);
    } catch (err) {
      if ((err as CameraError).kind === 'unauthorized' || (err as CameraError).kind === 'timeout') throw err;
      await this.invoke('getCapabilities', []);
    }
    // Media is read by `request` (Media2 where offered, Media1 otherwise: media.ts); the library's
    // own Media2 methods stay off (its Media2 GetProfiles throws on bare profiles).
    const cam = this.cam as unknown as { media2Support?: boolean; uri?: Record<string, unknown> };
    cam.media2Support = false;
    if (!cam.uri?.media && !cam.uri?.media2)
      throw new CameraError('no_media', 'the camera offers no media service (neither Media nor Media2)');
  }

  /**
   * Calls a method of the `onvif` Cam and returns the raw answer. A SOAP fault or garbage is
   * classified from that answer; transport errors from the error.
   */
  async invoke(method: string, args: unknown[], deadlineMs = this.options.timeoutMs): Promise<string> {
    const fn = (this.cam as unknown as Record<string, (...a: unknown[]) => void>)[method];
    const operation = method.charAt(0).toUpperCase() + method.slice(1);
    if (typeof fn !== 'function') throw new CameraError('fault', `the gateway cannot ask ${operation}`);
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new CameraError('timeout', `the camera does not answer (${operation}, ${deadlineMs} ms)`));
      }, deadlineMs);
      const callback: Callback = (err, _data, xml) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const status = xml === undefined ? undefined : this.statusOf.get(xml);
        if (xml !== undefined) this.statusOf.delete(xml);
        const problem = err ? classify(err, xml, operation, status) : unexpected(xml, operation, status);
        if (problem) reject(problem);
        else resolve(xml ?? '');
      };
      try {
        fn.call(this.cam, ...args, callback);
      } catch (err) {
        settled = true;
        clearTimeout(timer);
        reject(classify(err as Error, undefined, operation));
      }
    });
  }

  /**
   * Sends one operation (`inner`: the Body's element, with its namespace) to a service, signed like
   * every request (WS-UsernameToken with the camera's clock, or Digest), and returns the raw answer.
   * For what the library has no method for, or one that cannot be trusted with odd answers.
   */
  async request(
    service: OnvifService,
    operation: string,
    inner: string,
    deadlineMs = this.options.timeoutMs,
  ): Promise<string> {
    const cam = this.cam as unknown as {
      uri?: Record<string, unknown>;
      _request: RawRequest;
      _envelopeHeader(): string;
      _envelopeFooter(): string;
    };
    if (service !== 'device' && !cam.uri?.[service])
      throw new CameraError('fault', `the camera offers no ${service} service for ${operation}`);
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new CameraError('timeout', `the camera does not answer (${operation}, ${deadlineMs} ms)`));
      }, deadlineMs);
      try {
        cam._request(
          {
            ...(service === 'device' ? {} : { service }),
            body: cam._envelopeHeader() + inner + cam._envelopeFooter(),
          },
          (err, _data, xml, status) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            if (xml !== undefined) this.statusOf.delete(xml);
            const problem = err ? classify(err, xml, operation, status) : unexpected(xml, operation, status);
            if (problem) reject(problem);
            else resolve(xml ?? '');
          },
        );
      } catch (err) {
        settled = true;
        clearTimeout(timer);
        reject(classify(err as Error, undefined, operation));
      }
    });
  }

  /** Calls and parses; a parse failure is a bad_response, a fault in the answer a fault. */
  async call<T>(method: string, args: unknown[], parse: (xml: string) => T, deadlineMs?: number): Promise<T> {
    const xml = await this.invoke(method, args, deadlineMs);
    try {
      return parse(xml);
    } catch (err) {
      throw classify(err as Error, xml);
    }
  }

  /** The pull point's address, bounded like every other request (the package sends those without our agent). */
  boundPullPoint(): void {
    const address = (
      this.cam.events as { subscription?: { subscriptionReference?: { address?: Record<string, unknown> } } }
    ).subscription?.subscriptionReference?.address;
    // url.parse() results are treated as request options by http.request, so these apply.
    if (address && typeof address === 'object') {
      address.agent = this.agent;
      address.timeout = 90_000;
    }
  }

  close(): void {
    this.agent.destroy();
    this.cam.removeAllListeners();
  }
}

/**
 * An answer that parsed but is not the one asked for (another operation's response), or a fault
 * in an answer the library let through; undefined when it is the answer to `operation`. An empty
 * Body is let through (some cameras answer a move with nothing).
 */
function unexpected(xml: string | undefined, operation: string, status?: number): CameraError | undefined {
  if (!xml) return undefined;
  let name: string | undefined;
  try {
    name = answerName(xml);
  } catch (err) {
    return classify(err as Error, undefined, operation, status);
  }
  if (status === 401) return unauthorized(operation, status);
  if (name === undefined || name === `${operation}Response`) return undefined;
  return new CameraError(
    'unexpected_answer',
    `the camera answered ${operation} with ${name.slice(0, 64)}: not the answer to the question`,
  );
}

const unauthorized = (operation: string | undefined, status?: number) =>
  new CameraError(
    'unauthorized',
    `the camera refused the credentials${status === 401 ? ` (HTTP 401${operation ? ` to ${operation}` : ''})` : ''}`,
  );

/**
 * What went wrong, from the error, the answer (a fault or garbage in it) and the HTTP status: an
 * HTTP 401 is a refusal of the credentials whatever the body says (a camera wrapping it in a SOAP
 * fault with no NotAuthorized subcode was retried 80 times in 3.5 minutes as an ordinary fault).
 */
export function classify(
  err: Error,
  xml: string | undefined,
  operation?: string,
  status?: number,
): CameraError {
  if (err instanceof CameraError) return err;
  const what = operation ?? 'a request';
  if (status === 401) return unauthorized(operation, status);
  if (err instanceof OnvifFault) {
    if (err.notAuthorized) return new CameraError('unauthorized', 'the camera refused the credentials', err);
    const why = err.subcodes.join(', ') || err.reason.slice(0, 120) || err.code;
    return new CameraError('fault', `the camera refused ${what} (${why})`, err);
  }
  if (err instanceof BadResponse)
    return new CameraError('bad_response', `the camera answers, but not ONVIF (${what}: ${err.message})`);
  if (xml) {
    try {
      soapBody(xml);
    } catch (parsed) {
      if (parsed instanceof OnvifFault || parsed instanceof BadResponse)
        return classify(parsed, undefined, operation, status);
    }
    const other = operation ? unexpected(xml, operation, status) : undefined;
    if (other) return other;
  }
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const message = err.message ?? String(err);
  if (/Digest authentication failed|NotAuthorized|\b401\b/.test(message)) return unauthorized(operation);
  if (/timeout/i.test(message) || code === 'ETIMEDOUT')
    return new CameraError('timeout', `the camera does not answer (${what})`, undefined, message);
  if (
    ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'].includes(
      code,
    )
  )
    return new CameraError('unreachable', `the camera cannot be reached (${code})`, undefined, message);
  if (
    /Wrong ONVIF SOAP response|Unexpected close tag|Non-whitespace|Unclosed|Invalid|larger than/i.test(
      message,
    )
  )
    return new CameraError(
      'bad_response',
      `the camera answers, but not ONVIF (${what}: ${message.slice(0, 80)})`,
      undefined,
      message,
    );
  // A library error on an answer it could not read (a TypeError inside its parser): the answer
  // was not what ONVIF says; the library's words stay in the log.
  if (xml || err instanceof TypeError)
    return new CameraError(
      'bad_response',
      `the camera's answer to ${what} could not be read`,
      undefined,
      message,
    );
  return new CameraError('unreachable', `the camera cannot be reached (${what})`, undefined, message);
}
