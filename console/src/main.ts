import { api, ApiError, setSession, whenSignedOut } from './api.js';
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
  const token = h('input', { type: 'password', id: 'admin-token', name: 'admin_token', autocomplete: 'off', required: true, 'aria-describedby': 'sign-in-error sign-in-hint' });
  const error = h('p', { id: 'sign-in-error', class: 'form-error', role: 'alert', hidden: true });
  const form = h(
    'form',
    { class: 'sign-in', 'aria-labelledby': 'sign-in-heading' },
    h('h1', { id: 'sign-in-heading', tabindex: '-1' }, 'Sign in to Tollgate'),
    h('label', { for: 'admin-token' }, 'Admin token'),
    h('p', { class: 'hint', id: 'sign-in-hint' }, 'TOLLGATE_ADMIN_TOKEN. It is sent once; the session lasts a short while and ends when you sign out.'),
    token,
    error,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const session: { csrf_token: string } = await api('POST', '/console/session', { admin_token: token.value });
      token.value = '';
      setSession(session.csrf_token);
      signedIn = true;
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
  route();
});

whenSignedOut(() => {
  if (!signedIn) return;
  signedIn = false;
  route();
});

fill(nav, h('ul', {}, ...SCREENS.map(([href, label]) => h('li', {}, h('a', { href }, label)))));
window.addEventListener('hashchange', route);

// A reload keeps the session (the cookie); the CSRF token is asked for again.
api('GET', '/console/session').then(
  (session: { csrf_token: string }) => {
    setSession(session.csrf_token);
    signedIn = true;
    route();
  },
  () => route(),
).finally(() => performance.mark('tollgate-console-ready'));
