/**
 * The device list in the sidebar: virtualized (10,000 devices cost the rows in view), grouped by
 * kind, with search (name, id, kind, village) and filters (kind, status, village). Status shows by
 * shape and colour (filled online, hollow offline, ringed alarm); the village stands beside the name
 * so that "摄像头 01" of two villages can be told apart; sorted naturally ("2" before "10").
 *
 * Live changes are applied incrementally: a telemetry sample touches nothing, a status change
 * updates its row if it is in view, and only a new device or a new name re-sorts. Rows are
 * reachable by keyboard (Tab to the list, arrows to move, Enter or Space to open).
 */
import { DEVICE_KINDS, DEVICE_STATUSES, type DeviceView, type SiteNode } from '@qianliyan/protocols';
import { escapeHtml } from '../html.ts';
import { t } from '../i18n.ts';
import type { LiveChange } from '../live-store.ts';
import { VirtualList } from './virtual-list.ts';

const collator = new Intl.Collator('zh-CN', { numeric: true });
/** A row is this many root ems high: it grows with the screen (the root size follows the viewport). */
const ROW_EM = 1.875;

/** Pixels of `em` root ems now (rounded: the virtual list adds whole rows). */
export function remPx(em: number): number {
  const root = Number.parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  return Math.round(root * em);
}

/** Whether a device plays video (a camera, or a drone with a camera). */
export const playsVideo = (d: DeviceView): boolean => d.capabilities.includes('video');
/** Whether a camera can be turned and zoomed. */
export const hasPtz = (d: DeviceView): boolean => d.capabilities.includes('cmd.ptz.move');

type Item = { head: string; count: number; alarms: number } | DeviceView;
const isHead = (i: Item): i is { head: string; count: number; alarms: number } => 'head' in i;

export interface DeviceFilter {
  q: string;
  kind: string;
  status: string;
  site: string;
}

export class DeviceList {
  private readonly list: VirtualList<Item>;
  private sorted: DeviceView[] = [];
  private resort = true;
  private refilter = true;
  private frame = 0;
  private selected: string | undefined;
  readonly filter: DeviceFilter = { q: '', kind: '', status: '', site: '' };
  private shown = 0;
  private sitesKey = '';
  /** The row that takes focus when Tab enters the list (one tab stop for the whole list). */
  private tabStop: string | undefined;
  private rowPx = remPx(ROW_EM);

  constructor(
    root: HTMLElement,
    private readonly controls: HTMLElement,
    private readonly devices: Map<string, DeviceView>,
    private readonly siteName: (id: string) => string,
    private readonly onCount: (shown: number, total: number) => void,
  ) {
    root.setAttribute('role', 'list');
    const self = this;
    this.list = new VirtualList<Item>(root, {
      get rowHeight() {
        return self.rowPx;
      },
      key: (i) => (isHead(i) ? `h:${i.head}` : i.key),
      signature: (i) =>
        isHead(i)
          ? `${t(`kind_${i.head}` as 'kind_camera')}|${i.count}|${i.alarms}|${t('alarm')}`
          : `${i.name}|${i.status}|${t(i.status)}|${this.siteName(i.site)}|${i.key === this.selected}|${i.key === this.tabKey()}|${i.capabilities.join()}`,
      create: (i) => (isHead(i) ? createHead() : createRow(i)),
      update: (el, i) => (isHead(i) ? updateHead(el, i) : this.updateRow(el, i)),
    });
    root.style.setProperty('--row-h', `${this.rowPx}px`);
    // The root size follows the viewport: rows follow it.
    window.addEventListener('resize', () => {
      const px = remPx(ROW_EM);
      if (px === this.rowPx) return;
      this.rowPx = px;
      root.style.setProperty('--row-h', `${px}px`);
      this.list.render();
    });
    root.addEventListener('keydown', (ev) => this.onKey(ev));
    this.renderControls();
    controls.addEventListener('input', (ev) => {
      const el = ev.target as HTMLInputElement | HTMLSelectElement;
      const name = el.dataset.filter as keyof DeviceFilter | undefined;
      if (!name) return;
      this.filter[name] = el.value;
      this.refilter = true;
      this.list.root.scrollTop = 0;
      this.schedule();
    });
  }

  /** Applies a live change: only what it touched is redone. */
  changed(change: LiveChange): void {
    if (change.snapshot) this.known.clear();
    if (change.snapshot || change.removed.length > 0) this.resort = true;
    for (const k of change.removed) this.known.delete(k);
    for (const d of change.devices) {
      const placed = `${d.name}\u0000${d.site}\u0000${d.kind}`;
      const before = this.known.get(d.key);
      if (before?.placed !== placed) this.resort = true;
      else if (before.status !== d.status)
        this.refilter = true; // filters and group counts may change
      else if (this.list.element(d.key)) this.schedule();
      else continue;
      this.known.set(d.key, { placed, status: d.status });
    }
    this.schedule();
  }
  /** What the list last saw of each device: where it sorts, and its status. */
  private readonly known = new Map<string, { placed: string; status: string }>();

  /** Everything again (a language switch, new village names). */
  refresh(): void {
    this.resort = true;
    this.renderControls();
    this.schedule();
  }

  setSelected(key: string | undefined): void {
    this.selected = key;
    this.schedule();
  }

  /** Village choices for the filter (re-rendered only when they change). */
  setSites(sites: ReadonlyArray<Pick<SiteNode, 'id' | 'name' | 'level'>>): void {
    const villages = sites.filter((s) => s.level === 'village' || s.level === 'grid');
    const key = villages.map((s) => `${s.id}=${s.name}`).join(',');
    if (key === this.sitesKey) return;
    this.sitesKey = key;
    this.villages = villages;
    this.renderControls();
    this.resort = true;
    this.schedule();
  }
  private villages: ReadonlyArray<Pick<SiteNode, 'id' | 'name'>> = [];

  /** The devices passing the filters, in list order (tests and keyboard navigation). */
  visibleKeys(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.list.length; i++) {
      const item = this.list.itemAt(i) as Item;
      if (!isHead(item)) out.push(item.key);
    }
    return out;
  }

  /** Scrolls a device into view (a click on its marker). */
  reveal(key: string): void {
    const index = this.list.indexOf(key);
    if (index >= 0) this.list.reveal(index);
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private render(): void {
    if (this.resort) {
      this.resort = false;
      this.refilter = true;
      const kindRank = new Map(DEVICE_KINDS.map((k, i) => [k as string, i]));
      this.sorted = [...this.devices.values()].sort(
        (a, b) =>
          (kindRank.get(a.kind) ?? 9) - (kindRank.get(b.kind) ?? 9) ||
          collator.compare(a.name, b.name) ||
          collator.compare(this.siteName(a.site), this.siteName(b.site)) ||
          collator.compare(a.key, b.key),
      );
    }
    if (this.refilter) {
      this.refilter = false;
      const { kind, status, site } = this.filter;
      const q = this.filter.q.trim().toLowerCase();
      const items: Item[] = [];
      let head: { head: string; count: number; alarms: number } | undefined;
      let shown = 0;
      for (const stored of this.sorted) {
        const d = this.devices.get(stored.key) ?? stored;
        if (kind && d.kind !== kind) continue;
        if (status && d.status !== status) continue;
        if (site && d.site !== site) continue;
        if (
          q &&
          !d.name.toLowerCase().includes(q) &&
          !d.key.toLowerCase().includes(q) &&
          !d.kind.includes(q) &&
          !t(`kind_${d.kind}` as 'kind_camera')
            .toLowerCase()
            .includes(q) &&
          !this.siteName(d.site).toLowerCase().includes(q)
        )
          continue;
        if (head?.head !== d.kind) {
          head = { head: d.kind, count: 0, alarms: 0 };
          items.push(head);
        }
        head.count += 1;
        if (d.status === 'alarm') head.alarms += 1;
        items.push(d);
        shown += 1;
      }
      this.shown = shown;
      this.list.setItems(items);
      this.onCount(this.shown, this.devices.size);
      return;
    }
    // Nothing structural: rows in view pick up the latest state of their device.
    const items: Item[] = [];
    for (let i = 0; i < this.list.length; i++) {
      const item = this.list.itemAt(i) as Item;
      items.push(isHead(item) ? item : (this.devices.get(item.key) ?? item));
    }
    this.list.setItems(items);
  }

  /** The key of the row Tab lands on: the one last focused, else the selected one, else the first. */
  private tabKey(): string | undefined {
    if (this.tabStop && this.list.indexOf(this.tabStop) >= 0) return this.tabStop;
    if (this.selected && this.list.indexOf(this.selected) >= 0) return this.selected;
    for (let i = 0; i < this.list.length; i++) {
      const item = this.list.itemAt(i) as Item;
      if (!isHead(item)) return item.key;
    }
    return undefined;
  }

  /** Focuses the list at its tab stop (a skip link lands here). */
  focus(): void {
    const key = this.tabKey();
    if (!key) return;
    const index = this.list.indexOf(key);
    this.list.reveal(index);
    this.list.element(key)?.focus();
  }

  private updateRow(el: HTMLElement, d: DeviceView): void {
    el.classList.toggle('selected', d.key === this.selected);
    el.setAttribute('aria-current', String(d.key === this.selected));
    el.tabIndex = d.key === this.tabKey() ? 0 : -1;
    el.dataset.status = d.status;
    el.dataset.kind = d.kind;
    el.draggable = playsVideo(d);
    const [dot, name, badge, site, play] = el.children as unknown as [
      HTMLElement,
      HTMLElement,
      HTMLElement,
      HTMLElement,
      HTMLButtonElement,
    ];
    dot.className = `dot status-${d.status}`;
    dot.setAttribute('aria-label', t(d.status));
    name.textContent = d.name;
    badge.hidden = !hasPtz(d);
    badge.textContent = t('ptzBadge');
    badge.title = t('ptzBadgeTitle');
    site.textContent = this.siteName(d.site);
    play.hidden = !playsVideo(d);
    play.title = t('playOnWall');
    play.setAttribute('aria-label', `${t('playOnWall')}: ${d.name}`);
    el.setAttribute(
      'aria-label',
      [d.name, this.siteName(d.site), t(d.status), hasPtz(d) ? t('ptzBadgeTitle') : '']
        .filter(Boolean)
        .join(' · '),
    );
  }

  private onKey(ev: KeyboardEvent): void {
    const item = (ev.target as HTMLElement).closest<HTMLElement>('[data-key]');
    if (!item?.dataset.key || ev.target !== item) return;
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      item.click();
      return;
    }
    const step = ev.key === 'ArrowDown' ? 1 : ev.key === 'ArrowUp' ? -1 : 0;
    let index =
      ev.key === 'Home'
        ? 0
        : ev.key === 'End'
          ? this.list.length - 1
          : this.list.indexOf(item.dataset.key) + step;
    if (step === 0 && ev.key !== 'Home' && ev.key !== 'End') return;
    ev.preventDefault();
    const dir = step || (ev.key === 'Home' ? 1 : -1);
    while (index >= 0 && index < this.list.length && isHead(this.list.itemAt(index) as Item)) index += dir;
    const next = this.list.itemAt(index);
    if (!next || isHead(next)) return;
    this.tabStop = next.key;
    this.list.reveal(index);
    // The previous row gives up its tab stop at once (the list redraws rows by signature).
    item.tabIndex = -1;
    const el = this.list.element(next.key);
    if (el) {
      el.tabIndex = 0;
      el.focus();
    }
  }

  private renderControls(): void {
    const value = (k: keyof DeviceFilter) => escapeHtml(this.filter[k]);
    const option = (v: string, label: string, current: string) =>
      `<option value="${escapeHtml(v)}"${v === current ? ' selected' : ''}>${escapeHtml(label)}</option>`;
    this.controls.innerHTML = `
      <input type="search" data-filter="q" data-role="device-search" value="${value('q')}"
        placeholder="${escapeHtml(t('searchDevices'))}" aria-label="${escapeHtml(t('searchDevices'))}">
      <select data-filter="kind" aria-label="${escapeHtml(t('filterKind'))}">${option('', t('allKinds'), this.filter.kind)}${DEVICE_KINDS.map((k) => option(k, t(`kind_${k}` as 'kind_camera'), this.filter.kind)).join('')}</select>
      <select data-filter="status" aria-label="${escapeHtml(t('filterStatus'))}">${option('', t('allStatuses'), this.filter.status)}${DEVICE_STATUSES.map((s) => option(s, t(s), this.filter.status)).join('')}</select>
      <select data-filter="site" aria-label="${escapeHtml(t('filterVillage'))}">${option('', t('allVillages'), this.filter.site)}${[
        ...this.villages,
      ]
        .sort((a, b) => collator.compare(a.name, b.name))
        .map((s) => option(s.id, s.name, this.filter.site))
        .join('')}</select>`;
  }
}

function createRow(d: DeviceView): HTMLElement {
  const li = document.createElement('li');
  li.className = 'device';
  li.dataset.key = d.key;
  li.tabIndex = -1;
  li.setAttribute('role', 'listitem');
  const dot = document.createElement('span');
  dot.setAttribute('role', 'img');
  const name = document.createElement('span');
  name.className = 'name';
  const badge = document.createElement('span');
  badge.className = 'ptz-badge';
  badge.setAttribute('aria-hidden', 'true');
  const site = document.createElement('span');
  site.className = 'site';
  // Mouse users' way to the wall; by keyboard, Enter on the row plays a camera (one tab stop per row).
  const play = document.createElement('button');
  play.type = 'button';
  play.className = 'icon play';
  play.dataset.action = 'play';
  play.tabIndex = -1;
  play.textContent = '▶';
  li.append(dot, name, badge, site, play);
  return li;
}

function createHead(): HTMLElement {
  const li = document.createElement('li');
  li.className = 'kind-head';
  return li;
}

function updateHead(el: HTMLElement, h: { head: string; count: number; alarms: number }): void {
  el.textContent = `${t(`kind_${h.head}` as 'kind_camera')} ${h.count}${h.alarms ? ` · ${h.alarms} ${t('alarm')}` : ''}`;
}
