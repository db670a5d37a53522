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
 *    credentials: no point retrying fast), unreachable / timeout (retry with backoff), fault (the
 *    camera refused this request) and bad_response (it answered garbage);
 *  - the raw XML handed to converters.ts, which read every vendor's shape.
 */
import { Agent, type AgentOptions } from 'node:http';
import { createConnection, type Socket, type TcpNetConnectOpts } from 'node:net';
import onvif from 'onvif';
import { BadResponse, OnvifFault, soapBody } from './converters.ts';

export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

export type CameraErrorKind = 'unauthorized' | 'unreachable' | 'timeout' | 'fault' | 'bad_response';

export class CameraError extends Error {
  constructor(
    readonly kind: CameraErrorKind,
    message: string,
    readonly fault?: OnvifFault,
  ) {
    super(message);
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

export class OnvifClient {
  private readonly cam: onvif.Cam;
  private readonly agent = new BoundedAgent();

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
  }

  /** The camera's clock minus ours, in ms (known after connect). */
  get clockOffsetMs(): number {
    // The package keeps it relative to process.uptime(), not to the wall clock.
    if (this.cam.timeShift === undefined) return 0;
    return Math.round(this.cam.timeShift + process.uptime() * 1000 - Date.now());
  }

  get services(): { ptz: boolean; events: boolean; media: boolean } {
    const uri = (this.cam as unknown as { uri?: Record<string, unknown> }).uri ?? {};
    return { ptz: !!uri.ptz, events: !!uri.events, media: !!(uri.media || uri.media2) };
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
    // Media1 (Profile S) describes each profile's encoder; many cameras' Media2 answers list the
    // profiles bare. Every camera with Media2 keeps Media1 too, so profiles and URIs come from it.
    const cam = this.cam as unknown as { media2Support?: boolean; uri?: Record<string, unknown> };
    if (cam.uri?.media) cam.media2Support = false;
    if (!cam.uri?.media && !cam.uri?.media2)
      throw new CameraError('fault', 'the camera offers no media service');
  }

  /**
   * Calls a method of the `onvif` Cam and returns the raw answer. A SOAP fault or garbage is
   * classified from that answer; transport errors from the error.
   */
  async invoke(method: string, args: unknown[], deadlineMs = this.options.timeoutMs): Promise<string> {
    const fn = (this.cam as unknown as Record<string, (...a: unknown[]) => void>)[method];
    if (typeof fn !== 'function') throw new CameraError('fault', `no method ${method}`);
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new CameraError('timeout', `no answer to ${method} within ${deadlineMs} ms`));
      }, deadlineMs);
      const callback: Callback = (err, _data, xml) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(classify(err, xml));
        else resolve(xml ?? '');
      };
      try {
        fn.call(this.cam, ...args, callback);
      } catch (err) {
        settled = true;
        clearTimeout(timer);
        reject(classify(err as Error, undefined));
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

export function classify(err: Error, xml: string | undefined): CameraError {
  if (err instanceof CameraError) return err;
  if (err instanceof OnvifFault)
    return new CameraError(err.notAuthorized ? 'unauthorized' : 'fault', err.message, err);
  if (err instanceof BadResponse) return new CameraError('bad_response', err.message);
  if (xml) {
    try {
      soapBody(xml);
    } catch (parsed) {
      if (parsed instanceof OnvifFault || parsed instanceof BadResponse) return classify(parsed, undefined);
    }
  }
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const message = err.message ?? String(err);
  if (/Digest authentication failed|NotAuthorized|401/.test(message))
    return new CameraError('unauthorized', 'the camera refused the credentials');
  if (/timeout/i.test(message) || code === 'ETIMEDOUT')
    return new CameraError('timeout', 'the camera did not answer in time');
  if (
    ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'].includes(
      code,
    )
  )
    return new CameraError('unreachable', `cannot reach the camera (${code})`);
  if (
    /Wrong ONVIF SOAP response|Unexpected close tag|Non-whitespace|Unclosed|Invalid|larger than/i.test(
      message,
    )
  )
    return new CameraError(
      'bad_response',
      `the camera answered something that is not ONVIF: ${message.slice(0, 120)}`,
    );
  return new CameraError('unreachable', message.slice(0, 200));
}
