/**
 * The village terminal: a browser on a village PC or tablet, signed in as the village's operator.
 * One large button calls the command room; incoming calls ring; the village's own incidents are
 * listed with the actions the operator may take, and a new one can be reported. (`#map` opens the
 * full command view instead.)
 */
import type { Role } from '@qianliyan/protocols';
import { CallPanel } from '../components/call-panel.ts';
import { IncidentBoard } from '../components/incident-board.ts';
import { escapeHtml } from '../html.ts';
import { t } from '../i18n.ts';
import type { LiveStore } from '../live-store.ts';

export async function renderTerminalView(
  root: HTMLElement,
  store: LiveStore,
  user: { username: string; role: Role },
  signOut: () => void,
): Promise<() => void> {
  root.innerHTML = `
    <div class="terminal">
      <header class="topbar">
        <div class="brand">千里眼</div>
        <h1>${t('terminalTitle')} · <span data-role="village"></span></h1>
        <span class="spacer"></span>
        <span class="user">${escapeHtml(user.username)}</span>
        <a class="link" href="#map">${t('modeMap')}</a>
        <button class="link" data-role="logout">${t('signOut')}</button>
      </header>
      <div class="terminal-actions">
        <button class="primary" data-role="call-room">${t('callCommandRoom')}</button>
        <p class="terminal-notice" data-role="notice" role="alert" hidden></p>
      </div>
      <main data-role="incidents"></main>
      <section data-role="call" aria-label="video call"></section>
    </div>`;
  // The village's own part of the tree comes with the live snapshot.
  const villages = () => store.sites.filter((s) => s.level === 'village' || s.level === 'grid');
  const siteName = (id: string) => store.sites.find((s) => s.id === id)?.name ?? id;
  const showVillage = () => {
    (root.querySelector('[data-role=village]') as HTMLElement).textContent = villages()
      .map((s) => s.name)
      .join('、');
  };
  const offSites = store.onSites(showVillage);
  showVillage();
  const channel = store.calls;
  if (!channel) throw new Error('not connected');
  const calls = new CallPanel(root.querySelector('[data-role=call]') as HTMLElement, channel, user, {
    site: siteName,
    cameras: () =>
      [...store.devices.values()]
        .filter((d) => d.capabilities.includes('video'))
        .map((d) => ({ key: d.key, name: d.name })),
  });
  const callRoom = (incident?: number) =>
    void calls
      .start({ commandRoom: true, ...(incident ? { incident } : {}) })
      .catch((err) => window.alert(`${t('callFailed')}: ${(err as Error).message}`));
  const board = new IncidentBoard(root.querySelector('[data-role=incidents]') as HTMLElement, {
    role: user.role,
    villages,
    siteName,
    deviceName: (key) => store.devices.get(key)?.name ?? key,
    call: (incident) => callRoom(incident.id),
  });
  await board.load().catch((err) => console.warn('incidents not loaded', err));
  const offIncident = store.topics.incident.on((i) => board.upsert(i));
  // The command room's linkage reaches the village: said at the top of the terminal.
  const offLinkage = store.topics.linkage.on(({ plan }) => {
    const notice = root.querySelector('[data-role=notice]') as HTMLElement;
    notice.hidden = false;
    notice.textContent = `${t('linkageNotice')}: ${plan.incident ? `${t('incident')} #${plan.incident}` : ''} ${plan.broadcast?.text ?? ''}`;
    if (plan.incident) board.open(plan.incident);
  });
  root.querySelector('[data-role=call-room]')?.addEventListener('click', () => callRoom());
  root.querySelector('[data-role=logout]')?.addEventListener('click', signOut);
  (window as unknown as { __qly: unknown }).__qly = {
    calls,
    incidents: board,
    deviceCount: () => store.devices.size,
  };
  return () => {
    offSites();
    offIncident();
    offLinkage();
    board.dispose();
    calls.dispose();
  };
}
