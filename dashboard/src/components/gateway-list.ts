/**
 * Gateway list: online / stale / offline, last-seen time and outbox depth, virtualized (a county's
 * hundreds of gateways cost the rows in view) and refreshed live and every second.
 */
import type { GatewayView } from '@qianliyan/protocols';
import { t, timeAgo } from '../i18n.ts';
import { VirtualList } from './virtual-list.ts';

const ROW_HEIGHT = 64;

export class GatewayList {
  private readonly list: VirtualList<GatewayView>;

  constructor(root: HTMLElement) {
    this.list = new VirtualList<GatewayView>(root, {
      rowHeight: ROW_HEIGHT,
      key: (g) => g.id,
      signature: (g) =>
        `${g.online}|${g.stale}|${timeAgo(g.lastSeen)}|${g.outboxDepth}|${g.deviceCount}|${t('online')}`,
      create: (g) => {
        const li = document.createElement('li');
        li.dataset.gateway = g.id;
        li.innerHTML =
          '<div class="row"><span class="dot"></span><strong></strong><span class="badge"></span></div><div class="sub"></div>';
        return li;
      },
      update: (li, g) => {
        li.className = `gateway ${g.stale ? 'is-stale' : g.online ? 'is-online' : 'is-offline'}`;
        (li.querySelector('strong') as HTMLElement).textContent = g.id;
        (li.querySelector('.badge') as HTMLElement).textContent = g.stale
          ? t('stale')
          : g.online
            ? t('online')
            : t('offline');
        (li.querySelector('.sub') as HTMLElement).textContent =
          `${t('lastSeen')}: ${timeAgo(g.lastSeen)} · ${t('outboxDepth')}: ${g.outboxDepth ?? '—'} · ${t('devices')}: ${g.deviceCount}`;
      },
    });
  }

  update(gateways: Iterable<GatewayView>): void {
    this.list.setItems([...gateways].sort((a, b) => a.id.localeCompare(b.id)));
  }
}
