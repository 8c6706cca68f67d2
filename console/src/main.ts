import { api, ApiError, checkSession, type SessionState, setSession, whenSignedOut } from './api.js';
import { clientScreen, clientsScreen } from './clients.js';
import { decisionsScreen } from './decisions.js';
import { fill, h } from './dom.js';
import { policiesScreen } from './policies.js';
import { auditScreen, keysScreen } from './records.js';

const view = document.getElementById('view') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const signOutButton = document.getElementById('sign-out') as HTMLButtonElement;
let leave: () => void = () => undefined;
let signedIn = false;
/** Shown on the sign-in screen once, when the session ended without the user signing out here. */
let endedNotice = '';
/** Looks at the session again when it is due to expire, so that an idle page says so too. */
let expiryTimer: ReturnType<typeof setTimeout> | undefined;

/** Signed in (after sign-in, or a reload with a live session): the CSRF token in memory, a look at the expiry. */
function startSession(session: SessionState): void {
  setSession(session.csrf_token ?? null);
  signedIn = true;
  endedNotice = '';
  clearTimeout(expiryTimer);
  const left = session.expires_at ? Date.parse(session.expires_at) - Date.now() : NaN;
  if (Number.isFinite(left)) expiryTimer = setTimeout(() => void checkSession().catch(() => undefined), Math.max(0, left) + 1000);
}

const SCREENS: [string, string][] = [
  ['#/decisions', 'Decisions'],
  ['#/clients', 'Clients'],
  ['#/policies', 'Policies'],
  ['#/audit', 'Audit log'],
  ['#/keys', 'Signing keys'],
];

function route(): void {
  leave();
  leave = () => undefined;
  if (!signedIn) return signInScreen();
  nav.hidden = false;
  signOutButton.hidden = false;
  const [, screen = 'decisions', ...rest] = location.hash.split('/');
  const arg = decodeURIComponent(rest.join('/'));
  for (const link of nav.querySelectorAll('a')) {
    if (link.getAttribute('href') === `#/${screen}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  switch (screen) {
    case 'clients':
      leave = arg ? clientScreen(view, arg) : clientsScreen(view);
      break;
    case 'policies':
      leave = policiesScreen(view, arg);
      break;
    case 'audit':
      leave = auditScreen(view);
      break;
    case 'keys':
      leave = keysScreen(view);
      break;
    default:
      leave = decisionsScreen(view);
  }
  const title = SCREENS.find(([href]) => href === `#/${screen}`)?.[1] ?? 'Decisions';
  document.title = `${title} · Tollgate console`;
  view.querySelector('h1')?.focus();
}

/** Sign-in: the admin token goes once in a POST body; the page keeps only the session's CSRF token, in memory. */
function signInScreen(): void {
  nav.hidden = true;
  signOutButton.hidden = true;
  document.title = 'Sign in · Tollgate console';
  const notice = endedNotice ? h('p', { id: 'sign-in-notice', class: 'notice', role: 'alert' }, endedNotice) : null;
  endedNotice = '';
  const token = h('input', { type: 'password', id: 'admin-token', name: 'admin_token', autocomplete: 'off', required: true, 'aria-describedby': 'sign-in-error sign-in-hint' });
  const error = h('p', { id: 'sign-in-error', class: 'form-error', role: 'alert', hidden: true });
  const form = h(
    'form',
    { class: 'sign-in', 'aria-labelledby': 'sign-in-heading' },
    h('h1', { id: 'sign-in-heading', tabindex: '-1' }, 'Sign in to Tollgate'),
    notice,
    h('label', { for: 'admin-token' }, 'Admin token'),
    h('p', { class: 'hint', id: 'sign-in-hint' }, 'TOLLGATE_ADMIN_TOKEN. It is sent once; the session lasts a short while and ends when you sign out.'),
    token,
    error,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const session: SessionState = await api('POST', '/console/session', { admin_token: token.value });
      token.value = '';
      notice?.remove();
      startSession(session);
      if (!location.hash || location.hash === '#/') location.hash = '#/decisions';
      else route();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401 ? 'That is not the admin token.' : (e as Error).message;
      error.hidden = false;
      token.focus();
    }
  });
  fill(view, form);
  token.focus();
}

signOutButton.addEventListener('click', async () => {
  try {
    await api('DELETE', '/console/session');
  } catch {
    // Already ended: sign-in either way.
  }
  setSession(null);
  signedIn = false;
  clearTimeout(expiryTimer);
  route();
});

// The session ended without this page signing out (it expired, or was ended elsewhere): say so.
whenSignedOut(() => {
  if (!signedIn) return;
  signedIn = false;
  clearTimeout(expiryTimer);
  endedNotice = 'Your session ended; sign in again.';
  route();
});

// The skip link moves focus to the screen itself (its heading, or the main view), not to the
// first control, and leaves the address alone (the hash is the screen's route).
document.querySelector('a.skip')?.addEventListener('click', (event) => {
  event.preventDefault();
  (view.querySelector<HTMLElement>('h1[tabindex]') ?? view).focus();
});

fill(nav, h('ul', {}, ...SCREENS.map(([href, label]) => h('li', {}, h('a', { href }, label)))));
window.addEventListener('hashchange', route);

// A reload keeps the session (the cookie); the CSRF token is asked for again. Not signed in is
// an ordinary answer ({"signed_in": false}), not an error.
api<SessionState>('GET', '/console/session').then(
  (session) => {
    if (session.signed_in) startSession(session);
    route();
  },
  () => route(),
).finally(() => performance.mark('tollgate-console-ready'));
