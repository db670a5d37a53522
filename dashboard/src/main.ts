/** Dashboard entry: the login screen until there is a token, then the command view. */
import 'leaflet/dist/leaflet.css';
import './styles.css';
import { hasRole, VILLAGE } from '@qianliyan/protocols';
import { get, getToken, post, setToken, setUnauthorizedHandler } from './api.ts';
import { getLang } from './i18n.ts';
import { LiveStore } from './live-store.ts';
import { renderCommandView } from './views/command-view.ts';
import { renderLogin } from './views/login-view.ts';
import { renderTerminalView } from './views/terminal-view.ts';

const root = document.getElementById('app') as HTMLElement;
let store: LiveStore | undefined;
let teardown: (() => void) | undefined;
document.documentElement.lang = getLang() === 'zh' ? 'zh-CN' : 'en';

function showLogin(): void {
  teardown?.();
  teardown = undefined;
  store?.disconnect();
  store = undefined;
  renderLogin(root, (token) => {
    setToken(token);
    void showApp();
  });
}

async function showApp(): Promise<void> {
  const token = getToken();
  if (!token) return showLogin();
  // The live channel opens at once, beside the user lookup: the snapshot is the page's largest
  // answer, and asking for it only after /api/auth/me cost a round trip on every sign-in.
  store = new LiveStore();
  store.connect(token, () => {
    setToken(null);
    showLogin();
  });
  try {
    const user = await get('/api/auth/me');
    // A village operator's browser is the village terminal unless the map is asked for (#map).
    const view =
      hasRole(user.role, VILLAGE) && location.hash !== '#map' ? renderTerminalView : renderCommandView;
    teardown = await view(root, store, user, () => {
      // End the session on the hub too: the token stops working at once, wherever it was copied.
      void post('/api/auth/logout')
        .catch(() => {})
        .finally(() => {
          setToken(null);
          showLogin();
        });
    });
  } catch {
    setToken(null);
    showLogin(); // (disconnects the store)
  }
}

setUnauthorizedHandler(showLogin);
// Switching between the terminal and the map (#map) re-renders the app for the same session.
window.addEventListener('hashchange', () => {
  teardown?.();
  teardown = undefined;
  store?.disconnect();
  void showApp();
});
// Each view handles a language switch itself: the login form redraws, the command view relabels.
void showApp();
