/**
 * Replay mode of the camera simulator: an ONVIF endpoint that answers each SOAP operation with an
 * answer recorded from a real camera, read from a folder at run time (the tests point it at
 * ../shared/fixtures/onvif-*), so the adapter is proven against real cameras' XML, quirks and faults
 * included. Nothing recorded ships with the project.
 *
 * A folder is indexed once: every `.xml` under it, by operation, whatever the layout
 * (`GetProfiles.xml`, `ptz.GetPresets.xml`, `media1/GetProfilesResponse.xml`,
 * `events.PullMessagesMotion.xml`…). Several files for one operation are served in order, the
 * last one repeated (motion, then motion end). Media1 answers are preferred over Media2. A recorded
 * SOAP fault is sent with status 400, an HTML page with 401 (as the camera did), an operation with
 * no recording gets ActionNotSupported. Templates from the `onvif` package's mock (doT blocks,
 * RELATES_TO/SERVICE_URI placeholders) are rendered first.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { basename, join, relative } from 'node:path';
import { fault, parseRequest } from '../soap.ts';

const SERVICE_ORDER = ['device_management', 'media1', 'ptz', 'events', 'media2', 'recordings'];

function listXml(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listXml(path));
    else if (name.endsWith('.xml')) out.push(path);
  }
  return out;
}

/** Renders the doT templates of the `onvif` mock: conditions keep their content, values become now. */
function render(xml: string, base: string): string {
  return xml
    .replace(/\{\{=[^}]*\}\}/g, new Date().toISOString())
    .replace(/\{\{\?[^}]*\}\}/g, '')
    .replace(/\{\{[^}]*\}\}/g, '')
    .replace(/RELATES_TO/g, 'urn:uuid:00000000-0000-0000-0000-000000000000')
    .replace(/SERVICE_URI/g, `${base}/onvif/device_service`);
}

export class ReplayOnvifServer {
  private server: Server | undefined;
  private readonly byAction = new Map<string, string[]>();
  private readonly served = new Map<string, number>();
  port = 0;
  /** Operations asked for that the recording does not have. */
  readonly missing = new Set<string>();

  constructor(
    readonly folder: string,
    private readonly host = '127.0.0.1',
  ) {
    for (const path of listXml(folder)) {
      const name = basename(path, '.xml');
      // "<service>." prefix, "Response" suffix and a variant suffix (Moving, MotionEnd…) are optional.
      const m =
        /^(?:[a-z0-9]+\.)?([A-Z][A-Za-z0-9]*?)(?:Response)?((?:Motion|Moving|Stopped|End|Encoder|UnauthorizedFault)*)$/.exec(
          name,
        );
      if (!m) continue;
      const action = m[1] as string;
      const list = this.byAction.get(action) ?? [];
      list.push(path);
      this.byAction.set(action, list);
    }
    const rank = (path: string) => {
      const dir = relative(folder, path).split('/')[0] ?? '';
      const i = SERVICE_ORDER.indexOf(dir);
      return i < 0 ? 0 : i;
    };
    for (const list of this.byAction.values())
      list.sort((a, b) => rank(a) - rank(b) || basename(a).length - basename(b).length || a.localeCompare(b));
  }

  get xaddr(): string {
    return `http://${this.host}:${this.port}/onvif/device_service`;
  }

  /** The operations this recording can answer. */
  get actions(): string[] {
    return [...this.byAction.keys()].sort();
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const request = parseRequest(Buffer.concat(chunks).toString('utf8'));
        const action = request?.action ?? '';
        const files = this.byAction.get(action);
        if (!files || files.length === 0) {
          this.missing.add(action);
          res.writeHead(400, { 'Content-Type': 'application/soap+xml; charset=utf-8' });
          res.end(fault('Receiver', ['ter:ActionNotSupported'], `${action} was not recorded`));
          return;
        }
        const n = this.served.get(action) ?? 0;
        this.served.set(action, n + 1);
        const file = files[Math.min(n, files.length - 1)] as string;
        const body = render(readFileSync(file, 'utf8'), `http://${this.host}:${this.port}`);
        const send = () => {
          if (/^\s*<(!doctype )?html/i.test(body)) {
            res.writeHead(401, { 'Content-Type': 'text/html' });
          } else {
            const isFault = /<[A-Za-z0-9-]*:?Fault[\s>]/.test(body);
            res.writeHead(isFault ? 400 : 200, { 'Content-Type': 'application/soap+xml; charset=utf-8' });
          }
          res.end(body);
        };
        // A repeated PullMessages answer waits as a camera's long poll would.
        if (action === 'PullMessages' && n >= files.length) setTimeout(send, 1000);
        else send();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, this.host, () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
