/** The sign-in form. Calls `onLoggedIn` with the token; shows a clear message when it fails. */
import { ApiError, post } from '../api.ts';
import { errorMessage, getLang, setLang, t } from '../i18n.ts';

export function renderLogin(root: HTMLElement, onLoggedIn: (token: string) => void): void {
  root.innerHTML = `
    <main class="login">
      <form class="login-card" novalidate>
        <div class="brand">千里眼</div>
        <h1>${t('loginTitle')}</h1>
        <label>${t('username')}<input name="username" autocomplete="username" required autofocus /></label>
        <label>${t('password')}<input name="password" type="password" autocomplete="current-password" required /></label>
        <p class="error" role="alert" hidden></p>
        <button type="submit">${t('signIn')}</button>
        <button type="button" class="link" data-role="lang" lang="${getLang() === 'zh' ? 'en' : 'zh-CN'}">${t('language')}</button>
      </form>
    </main>`;
  document.title = t('loginTitle');
  const form = root.querySelector('form') as HTMLFormElement;
  form.querySelector<HTMLInputElement>('[name=username]')?.focus();
  const error = root.querySelector('.error') as HTMLElement;
  root.querySelector('[data-role=lang]')?.addEventListener('click', () => {
    setLang(getLang() === 'zh' ? 'en' : 'zh');
    renderLogin(root, onLoggedIn);
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    error.hidden = true;
    try {
      const res = await post('/api/auth/login', {
        body: { username: data.get('username'), password: data.get('password') },
      });
      onLoggedIn(res.token);
    } catch (err) {
      error.textContent =
        err instanceof ApiError && err.status === 401 ? t('loginFailed') : errorMessage(err);
      error.hidden = false;
    }
  });
}
