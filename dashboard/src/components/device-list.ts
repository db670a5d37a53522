/** Device list in the sidebar, grouped by kind, with status dots; a click selects the device. */
import { DEVICE_KINDS, type DeviceView } from '@qianliyan/protocols';
import { escapeHtml } from '../html.ts';
import { t } from '../i18n.ts';

export function renderDeviceList(
  root: HTMLElement,
  devices: DeviceView[],
  selected: string | undefined,
): void {
  const html: string[] = [];
  for (const kind of DEVICE_KINDS) {
    const ofKind = devices.filter((d) => d.kind === kind).sort((a, b) => a.name.localeCompare(b.name));
    if (ofKind.length === 0) continue;
    const alarms = ofKind.filter((d) => d.status === 'alarm').length;
    html.push(
      `<li class="kind-head">${t(`kind_${kind}`)} <span>${ofKind.length}${alarms ? ` · <b class="sev-alarm">${alarms} ${t('alarm')}</b>` : ''}</span></li>`,
    );
    for (const d of ofKind) {
      html.push(
        `<li class="device${d.key === selected ? ' selected' : ''}" data-key="${escapeHtml(d.key)}" data-status="${d.status}"${d.kind === 'camera' || d.streams?.length ? ' draggable="true"' : ''}>
          <span class="dot status-${d.status}"></span>${escapeHtml(d.name)}</li>`,
      );
    }
  }
  root.innerHTML = html.join('');
}
