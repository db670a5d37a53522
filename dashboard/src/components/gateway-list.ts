/** Gateway list: online state, last-seen time and outbox depth, refreshed live and every second. */
import type { GatewayView } from '@qianliyan/protocols';
import { escapeHtml } from '../html.ts';
import { t, timeAgo } from '../i18n.ts';

export function renderGatewayList(root: HTMLElement, gateways: GatewayView[]): void {
  root.innerHTML = gateways
    .sort((a, b) => a.id.localeCompare(b.id))
    .map(
      (g) => `
      <li class="gateway ${g.stale ? 'is-stale' : g.online ? 'is-online' : 'is-offline'}" data-gateway="${escapeHtml(g.id)}">
        <div class="row"><span class="dot"></span><strong>${escapeHtml(g.id)}</strong>
          <span class="badge">${g.stale ? t('stale') : g.online ? t('online') : t('offline')}</span></div>
        <div class="sub">${t('lastSeen')}: ${timeAgo(g.lastSeen)} · ${t('outboxDepth')}: ${g.outboxDepth ?? '—'}
          · ${t('devices')}: ${g.deviceCount}</div>
      </li>`,
    )
    .join('');
}
