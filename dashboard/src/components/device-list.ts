/**
 * Device list in the sidebar, grouped by kind, with status (a dot whose shape and colour both tell:
 * filled online, hollow offline, ringed alarm) and the village beside the name so that "摄像头 01" of
 * two villages can be told apart. Rows are kept and updated in place — a click is never lost to a
 * rebuild while updates stream — sorted naturally ("2" before "10"), and reachable by keyboard
 * (Tab to a row, Enter or Space to open it).
 */
import { DEVICE_KINDS, type DeviceView } from '@qianliyan/protocols';
import { t } from '../i18n.ts';

const collator = new Intl.Collator('zh-CN', { numeric: true });

interface Row {
  li: HTMLLIElement;
  dot: HTMLSpanElement;
  name: HTMLSpanElement;
  site: HTMLSpanElement;
  sig: string;
}

export class DeviceList {
  private readonly rows = new Map<string, Row>();
  private readonly heads = new Map<string, HTMLLIElement>();
  private order = '';

  constructor(private readonly root: HTMLElement) {
    root.setAttribute('role', 'list');
    root.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter' && ev.key !== ' ') return;
      const item = (ev.target as HTMLElement).closest<HTMLElement>('[data-key]');
      if (!item) return;
      ev.preventDefault();
      item.click();
    });
  }

  /** Brings the list up to date, touching only the rows that changed. */
  update(devices: DeviceView[], selected: string | undefined, siteName: (id: string) => string): void {
    const seen = new Set<string>();
    for (const d of devices) {
      seen.add(d.key);
      const site = siteName(d.site);
      const sig = `${d.name}|${d.status}|${t(d.status)}|${site}|${d.key === selected}|${d.streams?.length ?? 0}`;
      let row = this.rows.get(d.key);
      if (!row) {
        const li = document.createElement('li');
        li.className = 'device';
        li.dataset.key = d.key;
        li.tabIndex = 0;
        li.setAttribute('role', 'listitem');
        const dot = document.createElement('span');
        dot.setAttribute('role', 'img');
        const name = document.createElement('span');
        name.className = 'name';
        const siteEl = document.createElement('span');
        siteEl.className = 'site';
        li.append(dot, name, siteEl);
        row = { li, dot, name, site: siteEl, sig: '' };
        this.rows.set(d.key, row);
      }
      if (row.sig !== sig) {
        row.sig = sig;
        row.li.classList.toggle('selected', d.key === selected);
        row.li.dataset.status = d.status;
        if (d.kind === 'camera' || d.streams?.length) row.li.draggable = true;
        row.dot.className = `dot status-${d.status}`;
        row.dot.setAttribute('aria-label', t(d.status));
        row.name.textContent = d.name;
        row.site.textContent = site;
      }
    }
    for (const [key, row] of this.rows)
      if (!seen.has(key)) {
        row.li.remove();
        this.rows.delete(key);
      }
    // Group heads with counts; the order of rows is redone only when membership or names change.
    const byKind = new Map<string, DeviceView[]>();
    for (const d of devices) byKind.set(d.kind, [...(byKind.get(d.kind) ?? []), d]);
    const order: string[] = [];
    for (const kind of DEVICE_KINDS) {
      const ofKind = (byKind.get(kind) ?? []).sort(
        (a, b) => collator.compare(a.name, b.name) || collator.compare(a.key, b.key),
      );
      if (ofKind.length === 0) {
        this.heads.get(kind)?.remove();
        this.heads.delete(kind);
        continue;
      }
      let head = this.heads.get(kind);
      if (!head) {
        head = document.createElement('li');
        head.className = 'kind-head';
        this.heads.set(kind, head);
      }
      const alarms = ofKind.filter((d) => d.status === 'alarm').length;
      const text = `${t(`kind_${kind}` as 'kind_camera')} ${ofKind.length}${alarms ? ` · ${alarms} ${t('alarm')}` : ''}`;
      if (head.textContent !== text) head.textContent = text;
      order.push(`h:${kind}`, ...ofKind.map((d) => d.key));
    }
    const signature = order.join('\n');
    if (signature !== this.order) {
      this.order = signature;
      const nodes = order.map((k) =>
        k.startsWith('h:') ? (this.heads.get(k.slice(2)) as HTMLLIElement) : (this.rows.get(k) as Row).li,
      );
      // Moves only the nodes out of place (a click on a row that stays put is not disturbed).
      let at = this.root.firstElementChild;
      for (const node of nodes) {
        if (node !== at) this.root.insertBefore(node, at);
        else at = at.nextElementSibling;
      }
      while (at) {
        const next = at.nextElementSibling;
        at.remove();
        at = next;
      }
    }
  }
}
