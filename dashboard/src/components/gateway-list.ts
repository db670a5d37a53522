/**
 * Gateway list: online / stale / offline, last-seen time and outbox depth, the village it serves
 * and, for officers, "call this village"; virtualized (a county's hundreds of gateways cost the
 * rows in view) and refreshed live and every second.
 */
import type { GatewayView } from '@qianliyan/protocols';
import { escapeHtml } from '../html.ts';
import { t, timeAgo } from '../i18n.ts';
import { remPx } from './device-list.ts';
import { VirtualList } from './virtual-list.ts';

/** A card is this many root ems high (it grows with the screen). */
const ROW_EM = 5.4;

export class GatewayList {
  private readonly list: VirtualList<GatewayView>;
  private rowPx = remPx(ROW_EM);

  constructor(
    root: HTMLElement,
    private readonly siteName: (id: string) => string,
    /** Rings the gateway's village (absent for roles that may not place calls). */
    call?: (site: string) => void,
  ) {
    const self = this;
    root.style.setProperty('--gw-h', `${this.rowPx}px`);
    window.addEventListener('resize', () => {
      const px = remPx(ROW_EM);
      if (px === this.rowPx) return;
      this.rowPx = px;
      root.style.setProperty('--gw-h', `${px}px`);
      this.list.render();
    });
    root.addEventListener('click', (ev) => {
      const site = (ev.target as HTMLElement).closest<HTMLElement>('[data-call-site]')?.dataset.callSite;
      if (site && call) call(site);
    });
    this.list = new VirtualList<GatewayView>(root, {
      get rowHeight() {
        return self.rowPx;
      },
      key: (g) => g.id,
      signature: (g) =>
        `${g.online}|${g.stale}|${timeAgo(g.lastSeen)}|${g.outboxDepth}|${g.deviceCount}|${t('online')}|${this.siteName(g.site)}`,
      create: (g) => {
        const li = document.createElement('li');
        li.dataset.gateway = g.id;
        li.innerHTML = `<div class="row"><span class="dot"></span><strong></strong><span class="badge"></span></div><div class="sub"></div>${
          call
            ? `<button type="button" class="link gw-call" data-call-site="${escapeHtml(g.site)}"></button>`
            : ''
        }`;
        return li;
      },
      update: (li, g) => {
        li.className = `gateway ${g.stale ? 'is-stale' : g.online ? 'is-online' : 'is-offline'}`;
        (li.querySelector('strong') as HTMLElement).textContent = `${this.siteName(g.site)} · ${g.id}`;
        (li.querySelector('.badge') as HTMLElement).textContent = g.stale
          ? t('stale')
          : g.online
            ? t('online')
            : t('offline');
        (li.querySelector('.sub') as HTMLElement).textContent =
          `${t('lastSeen')}: ${timeAgo(g.lastSeen)} · ${t('outboxDepth')}: ${g.outboxDepth ?? '—'} · ${t('devices')}: ${g.deviceCount}`;
        const button = li.querySelector<HTMLElement>('.gw-call');
        if (button) {
          button.textContent = t('callThisVillage', { name: this.siteName(g.site) });
          button.dataset.callSite = g.site;
        }
      },
    });
  }

  update(gateways: Iterable<GatewayView>): void {
    this.list.setItems([...gateways].sort((a, b) => a.id.localeCompare(b.id)));
  }
}
