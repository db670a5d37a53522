/**
 * Replay mode of the camera simulator: an ONVIF endpoint that answers each SOAP operation with an
 * answer recorded from a real camera, read from a folder at run time (the tests point it at
 * ../shared/fixtures/onvif-*), so the adapter is proven against real cameras' XML, quirks and faults
 * included. Nothing recorded ships with the project.
 *
 * A folder is indexed once: every `.xml` under it, by operation, whatever the layout
 * (`GetProfiles.xml`, `ptz.GetPresets.xml`, `media1/GetProfilesResponse.xml`,
 * `events.PullMessagesMotion.xml`…). Several files for one operation are served in order, the
 * last one repeated (motion, then motion end). A request goes to the service folder its address
 * belongs to, as the recorded GetServices names them (`/onvif/Media2` → `media2/`), so Media1 and
 * Media2 each get their own answers; otherwise Media1 answers are preferred over Media2. A recorded
 * SOAP fault is sent with status 400, an HTML page with 401 (as the camera did), an operation with
 * no recording gets ActionNotSupported. Templates from the `onvif` package's mock (doT blocks,
 * RELATES_TO/SERVICE_URI placeholders) are rendered first.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { basename, join, relative } from 'node:path';
import { fault, parseRequest } from '../soap.ts';

const SERVICE_ORDER = ['device_management', 'media1', 'ptz', 'events', 'media2', 'recordings'];

/** Service namespaces (GetServices) → the recording's folder for them. */
const FOLDER_OF_NAMESPACE: Record<string, string> = {
  'http://www.onvif.org/ver10/device/wsdl': 'device_management',
  'http://www.onvif.org/ver10/media/wsdl': 'media1',
  'http://www.onvif.org/ver20/media/wsdl': 'media2',
  'http://www.onvif.org/ver20/ptz/wsdl': 'ptz',
  'http://www.onvif.org/ver10/events/wsdl': 'events',
};

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
  /** Request path → the folder of its service, from the recorded GetServices. */
  private readonly folderOfPath = new Map<string, string>();
  /** Operations asked for, with the folder they were served from (tests read it). */
  readonly asked: Array<{ action: string; path: string; folder: string }> = [];

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
    for (const file of this.byAction.get('GetServices') ?? []) {
      const xml = readFileSync(file, 'utf8');
      for (const m of xml.matchAll(
        /<[\w-]*:?Namespace>\s*([^<\s]+)\s*<\/[\w-]*:?Namespace>\s*<[\w-]*:?XAddr>\s*([^<\s]+)\s*</g,
      )) {
        const folder = FOLDER_OF_NAMESPACE[m[1] as string];
        if (!folder) continue;
        try {
          this.folderOfPath.set(new URL(m[2] as string).pathname, folder);
        } catch {
          /* not an address */
        }
      }
    }
  }

  /** The recordings for an operation asked at a path: its service's folder first. */
  private filesFor(action: string, path: string): string[] | undefined {
    const files = this.byAction.get(action);
    const folder = this.folderOfPath.get(path);
    if (!files || !folder) return files;
    const own = files.filter((f) => relative(this.folder, f).split('/')[0] === folder);
    return own.length ? own : files;
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
        const path = new URL(req.url ?? '/', 'http://replay').pathname;
        const files = this.filesFor(action, path);
        if (!files || files.length === 0) {
          this.missing.add(action);
          res.writeHead(400, { 'Content-Type': 'application/soap+xml; charset=utf-8' });
          res.end(fault('Receiver', ['ter:ActionNotSupported'], `${action} was not recorded`));
          return;
        }
        const key = `${path} ${action}`;
        const n = this.served.get(key) ?? 0;
        this.served.set(key, n + 1);
        const file = files[Math.min(n, files.length - 1)] as string;
        this.asked.push({ action, path, folder: relative(this.folder, file).split('/')[0] ?? '' });
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
