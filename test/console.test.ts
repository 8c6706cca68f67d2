import assert from 'node:assert/strict';
import { createHash, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import type { BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { type Gateway, gatewayCheck, registerGateway, type RunningTollgate, startTollgate, Workload } from '#test-support';

const API = 'https://api.example.test';
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
/** Screenshots of each screen, for a reviewer (not committed: test-output/ is ignored). */
const SHOTS = join(process.cwd(), 'test-output', 'console');

/** A check as NGINX sends it: the decision it makes is recorded and streamed. */
const check = gatewayCheck;

/** Signs in over HTTP as the console does; returns the cookie pair and the CSRF token. */
async function signIn(server: RunningTollgate) {
  const res = await request(server.url).post('/console/session').send({ admin_token: server.adminToken });
  assert.equal(res.status, 201, res.text);
  const setCookie = String(res.headers['set-cookie']?.[0] ?? '');
  return { setCookie, cookie: setCookie.split(';')[0]!, csrf: res.body.csrf_token as string };
}

/** Reads Server-Sent Events from `path` until `until` returns true for the events so far (or the timeout). */
async function readEvents(server: RunningTollgate, path: string, headers: Record<string, string>, until: (events: any[]) => boolean, start: () => Promise<unknown>, timeoutMs = 3000) {
  const controller = new AbortController();
  const res = await fetch(`${server.url}${path}`, { headers, signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events: any[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const began = Date.now();
  await start();
  try {
    while (!until(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (data) events.push({ ...JSON.parse(data.slice(6)), receivedAfterMs: Date.now() - began });
      }
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

describe('console sessions and the decision stream (HTTP)', () => {
  let server: RunningTollgate;
  let gateway: Gateway;
  before(async () => {
    server = await startTollgate();
    gateway = await registerGateway(server);
  });
  after(async () => server.close());

  it('serves the console with a strict CSP, no framing and no sniffing', async () => {
    for (const path of ['/console', '/console/main.js', '/console/console.css']) {
      const res = await request(server.url).get(path);
      assert.equal(res.status, 200, path);
      const csp = res.headers['content-security-policy'];
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /style-src 'self'(;|$)/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
    assert.match((await request(server.url).get('/console')).text, /<script type="module" src="\/console\/main.js">/);
    assert.equal((await request(server.url).get('/console/..%2Fpackage.json')).status, 404);
    assert.equal((await request(server.url).get('/console/nothing.js')).status, 404);
  });

  it('signs in with the admin token only, into an HttpOnly SameSite=Strict cookie; wrong tokens are 401', async () => {
    const wrong = await request(server.url).post('/console/session').send({ admin_token: 'x'.repeat(43) });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_token');
    assert.equal(wrong.headers['set-cookie'], undefined);
    assert.equal((await request(server.url).post('/console/session').type('form').send({ admin_token: server.adminToken })).status, 415);
    const { setCookie, csrf } = await signIn(server);
    assert.match(setCookie, /^tollgate-console=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=1800; HttpOnly; SameSite=Strict$/);
    assert.match(csrf, /^[A-Za-z0-9_-]{43}$/);
  });

  it('the session cookie opens the admin API; changes need its CSRF header; sign-out ends it', async () => {
    const { cookie, csrf } = await signIn(server);
    assert.equal((await request(server.url).get('/admin/clients').set('Cookie', cookie)).status, 200);
    const refused = await request(server.url).post('/admin/clients').set('Cookie', cookie).send({ roles: ['gateway'] });
    assert.equal(refused.status, 403);
    assert.match(refused.body.error_description, /x-tollgate-csrf/);
    const wrongCsrf = await request(server.url).post('/admin/clients').set('Cookie', cookie).set('X-Tollgate-CSRF', 'A'.repeat(43)).send({ roles: ['gateway'] });
    assert.equal(wrongCsrf.status, 403);
    const crossSite = await request(server.url).post('/admin/clients').set('Cookie', cookie).set('X-Tollgate-CSRF', csrf).set('Sec-Fetch-Site', 'cross-site').send({ roles: ['gateway'] });
    assert.equal(crossSite.status, 403);
    const created = await request(server.url).post('/admin/clients').set('Cookie', cookie).set('X-Tollgate-CSRF', csrf).send({ roles: ['gateway'] });
    assert.equal(created.status, 201, created.text);
    const current = await request(server.url).get('/console/session').set('Cookie', cookie);
    assert.equal(current.status, 200);
    assert.equal(current.body.signed_in, true);
    assert.equal(current.body.csrf_token, csrf);
    // Sign-out is a change too.
    assert.equal((await request(server.url).delete('/console/session').set('Cookie', cookie)).status, 403);
    const out = await request(server.url).delete('/console/session').set('Cookie', cookie).set('X-Tollgate-CSRF', csrf);
    assert.equal(out.status, 204);
    assert.match(String(out.headers['set-cookie']), /tollgate-console=; Path=\/; Max-Age=0/);
    assert.equal((await request(server.url).get('/admin/clients').set('Cookie', cookie)).status, 401);
    // Not signed in is an ordinary answer (no 401 for the browser to log on every load); an ended session's cookie is cleared.
    const ended = await request(server.url).get('/console/session').set('Cookie', cookie);
    assert.equal(ended.status, 200);
    assert.deepEqual(ended.body, { signed_in: false });
    assert.equal(ended.headers['cache-control'], 'no-store');
    assert.match(String(ended.headers['set-cookie']), /^tollgate-console=; Path=\/; Max-Age=0/);
    const none = await request(server.url).get('/console/session');
    assert.equal(none.status, 200);
    assert.deepEqual(none.body, { signed_in: false });
    assert.equal(none.headers['set-cookie'], undefined);
    // The admin token header works as before, and a forged cookie opens nothing.
    assert.equal((await request(server.url).get('/admin/clients').set('Authorization', server.admin)).status, 200);
    assert.equal((await request(server.url).get('/admin/clients').set('Cookie', `tollgate-console=${'A'.repeat(43)}`)).status, 401);
    assert.equal((await request(server.url).get('/admin/clients')).status, 401);
  });

  it('records sign-in and sign-out in the audit log, without the token', async () => {
    const { cookie, csrf } = await signIn(server);
    await request(server.url).delete('/console/session').set('Cookie', cookie).set('X-Tollgate-CSRF', csrf).expect(204);
    const audit = await request(server.url).get('/admin/audit?limit=200').set('Authorization', server.admin);
    const actions = (audit.body.events as { actor: string; action: string }[]).filter((e) => e.actor === 'console').map((e) => e.action);
    assert.ok(actions.includes('console.signed_in') && actions.includes('console.signed_out'), JSON.stringify(actions));
    assert.doesNotMatch(audit.text, new RegExp(server.adminToken));
  });

  it('records changes made with a console session as actor console, with its session reference; Bearer changes stay admin-token', async () => {
    const { cookie, csrf } = await signIn(server);
    const id = cookie.slice(cookie.indexOf('=') + 1);
    // 8 hex digits of SHA-256 over the hash the session is stored under: not the cookie, not reversible.
    const reference = createHash('sha256').update(createHash('sha256').update(id).digest('base64url')).digest('hex').slice(0, 8);
    const asConsole = (req: request.Test) => req.set('Cookie', cookie).set('X-Tollgate-CSRF', csrf);
    const asAdmin = (req: request.Test) => req.set('Authorization', server.admin);
    const created = await asConsole(request(server.url).post('/admin/clients')).send({ roles: ['gateway'], client_name: 'console-made' }).expect(201);
    const clientId: string = created.body.client_id;
    await asConsole(request(server.url).patch(`/admin/clients/${clientId}`)).send({ status: 'suspended' }).expect(200);
    await asConsole(request(server.url).patch(`/admin/clients/${clientId}`)).send({ status: 'active' }).expect(200);
    await asConsole(request(server.url).patch(`/admin/clients/${clientId}`)).send({ rotate_secret: true }).expect(200);
    await asConsole(request(server.url).put(`/admin/clients/${clientId}/policy`)).send({ thresholds: { step_up: 40, deny: 80 } }).expect(200);
    const key = await asConsole(request(server.url).post('/admin/keys/rotate')).expect(201);
    await asAdmin(request(server.url).patch(`/admin/clients/${clientId}`)).send({ status: 'suspended' }).expect(200);
    await asConsole(request(server.url).delete(`/admin/clients/${clientId}`)).expect(204);
    const bearerMade = await asAdmin(request(server.url).post('/admin/clients')).send({ roles: ['gateway'] }).expect(201);

    const events = async (clientFilter?: string) =>
      (await asAdmin(request(server.url).get(`/admin/audit?limit=200${clientFilter ? `&client_id=${clientFilter}` : ''}`)).expect(200)).body.events as {
        actor: string;
        action: string;
        details: Record<string, unknown>;
      }[];
    const mine = (await events(clientId)).reverse();
    assert.deepEqual(
      mine.map((e) => [e.action, e.actor, e.details.console_session ?? null]),
      [
        ['client.create', 'console', reference],
        ['client.suspend', 'console', reference],
        ['client.activate', 'console', reference],
        ['client.update', 'console', reference],
        ['policy.client.put', 'console', reference],
        ['client.suspend', 'admin-token', null],
        ['client.delete', 'console', reference],
      ],
    );
    const all = await events();
    const rotation = all.find((e) => e.action === 'keys.rotate' && e.details.kid === key.body.kid);
    assert.equal(rotation?.actor, 'console');
    assert.equal(rotation?.details.console_session, reference);
    // The session's sign-in carries the same reference, so a change can be traced to its sign-in.
    assert.ok(all.some((e) => e.action === 'console.signed_in' && e.details.console_session === reference));
    const byBearer = (await events(bearerMade.body.client_id)).find((e) => e.action === 'client.create');
    assert.equal(byBearer?.actor, 'admin-token');
    assert.equal(byBearer?.details.console_session, undefined);
    assert.doesNotMatch(JSON.stringify(all), new RegExp(id));
  });

  it('streams a decision made by a real /check within a second, filtered by client', async () => {
    const w = await Workload.register(server, { allowed_resources: [`${API}/`] });
    const other = await Workload.register(server, { allowed_resources: [`${API}/`] });
    const [token, otherToken] = [await w.token(), await other.token()];
    let decisionId = '';
    const events = await readEvents(
      server,
      `/admin/decisions/stream?client_id=${w.clientId}&route=/orders`,
      { Authorization: server.admin },
      (e) => e.some((d) => d.decision_id === decisionId),
      async () => {
        await check(server, gateway, other, otherToken);
        const res = await check(server, gateway, w, token);
        assert.equal(res.status, 200, res.text);
        decisionId = res.body.decision_id;
      },
    );
    const mine = events.find((d) => d.decision_id === decisionId);
    assert.ok(mine, 'the decision arrived');
    assert.ok(mine.receivedAfterMs < 1000, `after ${mine.receivedAfterMs} ms`);
    assert.equal(mine.decision, 'allow');
    assert.equal(mine.route, '/orders/1');
    assert.ok(events.every((d) => d.client_id === w.clientId), 'only the filtered client');
  });

  it('GET /admin/clients/{id}/risk-state shows what a real check taught the risk engine; 404 for an unknown client', async () => {
    const w = await Workload.register(server, { allowed_resources: [`${API}/`] });
    const token = await w.token();
    assert.equal((await check(server, gateway, w, token, '/orders/7')).status, 200);
    let state: any;
    for (let i = 0; i < 20; i++) {
      state = (await request(server.url).get(`/admin/clients/${w.clientId}/risk-state`).set('Authorization', server.admin).expect(200)).body;
      if (state.routes.length) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(state.client_id, w.clientId);
    assert.equal(state.learned_calls, 2, JSON.stringify(state)); // the issuance and the call
    assert.equal(state.learning, true);
    assert.equal(state.routes.length, 1);
    assert.match(state.routes[0].value, /^GET \/orders\//);
    assert.ok(state.networks.some((n: { value: string }) => n.value.startsWith('203.0.113.')), JSON.stringify(state.networks));
    assert.equal(state.dpop_keys.length, 1);
    assert.ok(!Number.isNaN(Date.parse(state.dpop_keys[0].last_seen)));
    assert.equal(state.recent_failures, 0);
    assert.equal((await request(server.url).get('/admin/clients/tg_nobody/risk-state').set('Authorization', server.admin)).status, 404);
    assert.equal((await request(server.url).get(`/admin/clients/${w.clientId}/risk-state`)).status, 401);
  });

  it('refuses unknown stream filters by name, and streams to a console session', async () => {
    const bad = await request(server.url).get('/admin/decisions/stream?outcome=deny').set('Authorization', server.admin);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.fields[0].field, 'outcome');
    assert.equal((await request(server.url).get('/admin/decisions/stream?decision=maybe').set('Authorization', server.admin)).status, 400);
    assert.equal((await request(server.url).get('/admin/decisions/stream')).status, 401);
    const { cookie } = await signIn(server);
    const w = await Workload.register(server, { allowed_resources: [`${API}/`] });
    const token = await w.token();
    const events = await readEvents(server, `/admin/decisions/stream?client_id=${w.clientId}&decision=allow`, { Cookie: cookie }, (e) => e.length > 0, () => check(server, gateway, w, token));
    assert.equal(events[0]?.client_id, w.clientId);
  });
});

describe('shutdown with a decision stream open', () => {
  it('ends the stream, and the server closes without waiting for it', async () => {
    const server = await startTollgate();
    const res = await fetch(`${server.url}/admin/decisions/stream`, { headers: { Authorization: server.admin } });
    assert.equal(res.status, 200);
    const body = res.body!.getReader();
    await body.read(); // the opening comment
    const closing = server.close().then(() => 'closed');
    const outcome = await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 5000, 'still open')).then(String)]);
    assert.equal(outcome, 'closed', 'the server closed within 5 s');
    let done = false;
    for (let i = 0; i < 10 && !done; i++) done = (await body.read()).done;
    assert.equal(done, true, 'the stream ended');
  });
});

/** A sign-in sent from another loopback address (Linux answers for all of 127.0.0.0/8): a source of its own. */
function signInFrom(localAddress: string, url: string, token: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: any }> {
  const body = JSON.stringify({ admin_token: token });
  const target = new URL('/console/session', url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', localAddress, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (data += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: data ? JSON.parse(data) : {} }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('console sign-in throttling', () => {
  it('wrong tokens spend the source’s failure budget: 429 with Retry-After past it, even for the right token', async () => {
    const server = await startTollgate({ TOLLGATE_AUTH_FAILURES_PER_SOURCE: '3', TOLLGATE_AUTH_FAILURES_PER_CLIENT: '3' });
    // The budgets' counters are shared (Redis in CI) and count per window: a fresh source per run.
    const attacker = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
    try {
      for (let i = 0; i < 3; i++) assert.equal((await signInFrom(attacker, server.url, `wrong-${i}`)).status, 401);
      const throttled = await signInFrom(attacker, server.url, server.adminToken);
      assert.equal(throttled.status, 429);
      assert.equal(throttled.body.error, 'slow_down');
      assert.ok(Number(throttled.headers['retry-after']) >= 1);
      assert.equal(throttled.headers['set-cookie'], undefined);
      // Another source keeps its budget.
      assert.equal((await signInFrom('127.0.0.1', server.url, server.adminToken)).status, 201);
    } finally {
      await server.close();
    }
  });
});

describe('the console in a real browser', { skip: !CHROMIUM && 'chromium is not installed (apt-get install chromium)' }, () => {
  let server: RunningTollgate;
  let gateway: Gateway;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const problems: string[] = [];
  /** Every console error, 4xx included, with where it came from. */
  const consoleErrors: string[] = [];

  before(async () => {
    const { chromium } = await import('playwright-core');
    server = await startTollgate();
    gateway = await registerGateway(server);
    profile = mkdtempSync(join(tmpdir(), 'tollgate-console-'));
    mkdirSync(SHOTS, { recursive: true });
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      // A laptop screen: the decision details must be in view on it.
      viewport: { width: 1366, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    // An alert() would mean markup from the server ran; a CSP violation, that something inline was tried.
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url})`);
      if (m.type() === 'error' && !/status of 40[0-9]/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  });
  after(async () => {
    await context?.close();
    await server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  /** Whether the element the locator finds has the keyboard focus (page.evaluate: the CSP does not apply to it). */
  const focused = async (selector: string) => page.evaluate(`document.activeElement === document.querySelector(${JSON.stringify(selector)})`);
  /** The accessible description Chromium computes for the element (what a screen reader says after its name). */
  const description = async (selector: string) => {
    const cdp = await context.newCDPSession(page);
    try {
      const { root } = await cdp.send('DOM.getDocument', { depth: 0 });
      const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector });
      const { nodes } = await cdp.send('Accessibility.getPartialAXTree', { nodeId, fetchRelatives: false });
      return String(nodes[0]?.description?.value ?? '');
    } finally {
      await cdp.detach();
    }
  };

  it('signs in (a wrong token is refused at the field), with the first paint under a second', async () => {
    const asked = page.waitForResponse((r) => new URL(r.url()).pathname === '/console/session' && r.request().method() === 'GET');
    await page.goto(`${server.url}/console`);
    await page.getByLabel('Admin token').waitFor();
    // Not signed in is an ordinary answer: nothing is logged as a failed request on load.
    const first = await asked;
    assert.equal(first.status(), 200);
    assert.deepEqual(await first.json(), { signed_in: false });
    assert.deepEqual(consoleErrors, []);
    assert.equal(await page.locator('#sign-in-notice').count(), 0);
    // Once the browser has started: from the start of a navigation to the first screen drawn, by
    // the page's own clock (the console marks it).
    await page.reload();
    await page.getByLabel('Admin token').waitFor();
    const ready = Number(await page.evaluate("performance.getEntriesByName('tollgate-console-ready')[0]?.startTime ?? Infinity"));
    assert.ok(ready < 1000, `sign-in form after ${ready} ms`);
    assert.deepEqual(consoleErrors, []);
    await shot('sign-in');
    await page.getByLabel('Admin token').fill('not-the-token-at-all-but-long-enough');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That is not the admin token.').waitFor();
    await page.getByLabel('Admin token').fill(server.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Decisions' }).waitFor();
    // The token is nowhere the page can read it back.
    assert.equal(await page.evaluate('document.cookie'), '');
    assert.equal(await page.evaluate('localStorage.length + sessionStorage.length'), 0);
    assert.doesNotMatch(page.url(), new RegExp(server.adminToken));
  });

  it('the skip link moves focus to the screen’s heading, not to the first filter, and keeps the route', async () => {
    await page.locator('a.skip').focus();
    await page.keyboard.press('Enter');
    assert.equal(await focused('#view h1'), true, 'the heading has the focus');
    assert.equal(new URL(page.url()).hash, '#/decisions');
    await page.getByRole('heading', { name: 'Decisions', level: 1 }).waitFor();
  });

  it('shows a decision made by a real /check in the live list within a second, with its details', async () => {
    const w = await Workload.register(server, { allowed_resources: [`${API}/`] });
    const token = await w.token();
    await page.getByText('Live: new decisions appear at the top.').waitFor();
    // A long route: the details must wrap it, not overflow.
    const res = await check(server, gateway, w, token, `/orders/${'a1b2c3d4'.repeat(30)}`);
    assert.equal(res.status, 200, res.text);
    const began = Date.now();
    const row = page.locator(`tr[data-decision-id="${res.body.decision_id}"]`);
    await row.waitFor({ timeout: 1000 });
    const latency = Date.now() - began;
    assert.ok(latency < 1000, `shown after ${latency} ms`);
    assert.match((await row.textContent()) ?? '', new RegExp(w.clientId));
    const time = `tr[data-decision-id="${res.body.decision_id}"] button`;
    await row.getByRole('button').click();
    await page.getByRole('heading', { name: `Decision ${res.body.decision_id}` }).waitFor();
    // On a 1366×800 screen the panel is in view and its heading has the focus; long values wrap.
    const panel = page.locator('#decision-details');
    assert.equal(await focused('#decision-details h2'), true);
    const box = (await page.locator('#decision-details h2').boundingBox())!;
    assert.ok(box.y >= 0 && box.y + box.height <= 800, `heading at ${JSON.stringify(box)}`);
    assert.equal(await panel.evaluate((el) => el.scrollWidth <= el.clientWidth), true, 'nothing overflows the panel sideways');
    const routeValue = panel.locator('dd', { hasText: 'a1b2c3d4a1b2' });
    assert.ok(((await routeValue.boundingBox())!.height) > 30, 'the long route wraps onto several lines');
    assert.equal(await panel.locator('dd', { hasText: w.clientId }).evaluate((el) => el.scrollWidth <= el.clientWidth), true);
    await shot('decision-details');
    // Escape closes it, and focus goes back to the time that opened it; so does the Close button.
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'hidden' });
    assert.equal(await focused(time), true, 'focus back on the time button (Escape)');
    await page.locator(time).click();
    await page.getByRole('heading', { name: `Decision ${res.body.decision_id}` }).waitFor();
    await page.getByRole('button', { name: 'Close details' }).click();
    await panel.waitFor({ state: 'hidden' });
    assert.equal(await focused(time), true, 'focus back on the time button (Close details)');
    await page.locator(time).click();
    // The chart counts it, once: the server's hourly counts (taken when the page loaded) plus the
    // live decisions since, which now match the server's count of the hour.
    // (Locators, not waitForFunction: the CSP forbids the eval it uses.)
    const hour = await request(server.url).get('/admin/decisions/summary?window=hour').set('Authorization', server.admin);
    assert.ok(hour.body.totals.allow >= 2, hour.text);
    await page.locator('.chart-summary li', { hasText: new RegExp(`^allow: ${hour.body.totals.allow}$`) }).waitFor({ timeout: 2000 });
    assert.equal(await page.locator('.chart-svg rect.bar-allow').count() > 0, true);
    await shot('decisions');
  });

  it('switches the chart to the last day, counted by the server per 15 minutes, and back', async () => {
    const asked = page.waitForResponse((r) => r.url().includes('/admin/decisions/summary?') && new URL(r.url()).searchParams.get('window') === 'day');
    await page.getByRole('button', { name: 'Last day' }).click();
    assert.equal((await asked).status(), 200);
    await page.locator('figcaption', { hasText: 'Decisions per 15 minutes over the last day' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Last day' }).getAttribute('aria-pressed'), 'true');
    const day = await request(server.url).get('/admin/decisions/summary?window=day').set('Authorization', server.admin);
    await page.locator('.chart-summary li', { hasText: new RegExp(`^allow: ${day.body.totals.allow}$`) }).waitFor({ timeout: 2000 });
    assert.match((await page.locator('.chart-svg').getAttribute('aria-label'))!, /^Decisions per 15 minutes over the last day: /);
    assert.ok((await page.locator('.chart-svg text.tick', { hasText: '-12h' }).count()) === 1);
    await shot('decisions-day');
    await page.getByRole('button', { name: 'Last hour' }).click();
    await page.locator('figcaption', { hasText: 'Decisions per minute over the last hour' }).waitFor();
  });

  let workloadId = '';
  let workload: Workload;
  let workloadToken = '';
  const hostileName = '<img src=x onerror=alert(1)>';

  it('creates a workload from a pasted public JWK, named with markup that shows as text, and it gets a token', async () => {
    const clientKey = await generateKeyPair('ES256', { extractable: true });
    const dpopKey = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(clientKey.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    await page.getByRole('link', { name: 'Clients' }).click();
    await page.getByRole('heading', { name: 'Clients', level: 1 }).waitFor();
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'New workload' }) });
    await form.getByLabel('Name').fill(hostileName);
    await form.getByLabel('Scopes').fill('orders:read');
    await form.getByLabel('Allowed resources').fill(`${API}/`);
    // A private key is refused before it leaves the page.
    await form.getByLabel('Public key (JWK or JWKS, JSON)').fill(JSON.stringify(await exportJWK(clientKey.privateKey)));
    await form.getByRole('button', { name: 'Create workload' }).click();
    await form.getByText('this is a private key').waitFor();
    await form.getByLabel('Public key (JWK or JWKS, JSON)').fill(JSON.stringify(jwk));
    await form.getByRole('button', { name: 'Create workload' }).click();
    await page.getByText(/^Workload tg_\S+ created\.$/).waitFor();
    workloadId = /Workload (\S+) created/.exec((await page.getByText(/^Workload tg_\S+ created\.$/).textContent())!)![1]!;
    const link = page.locator(`tr[data-client-id="${workloadId}"] a`);
    assert.equal(await link.textContent(), hostileName);
    assert.equal(await page.locator('main img').count(), 0);
    await shot('clients');

    workload = Object.assign(Object.create(Workload.prototype) as Workload, {
      server,
      alg: 'ES256',
      clientId: workloadId,
      clientKey,
      dpopKey,
      dpopJwk: await exportJWK(dpopKey.publicKey),
      record: {},
    });
    workloadToken = await workload.token();
    assert.equal((await check(server, gateway, workload, workloadToken)).status, 200);
  });

  it('searches clients on the server and shows each one’s last decision and decisions in the last hour', async () => {
    await page.goto(`${server.url}/console#/decisions`);
    await page.getByRole('link', { name: 'Clients' }).click();
    await page.getByRole('heading', { name: 'Clients', level: 1 }).waitFor();
    const search = page.getByLabel('Search clients (name or id)');
    const asked = page.waitForResponse((r) => r.url().includes('/admin/clients?') && new URL(r.url()).searchParams.get('q') === workloadId.toLowerCase());
    await search.fill(workloadId.toLowerCase());
    assert.equal((await asked).status(), 200, 'the search went to the server');
    const row = page.locator(`tr[data-client-id="${workloadId}"]`);
    await page.getByText(/^1 client shown matching/).waitFor();
    assert.equal(await page.locator('#client-rows tr').count(), 1);
    // Its token request and its allowed check.
    assert.equal(await row.locator('td.decisions-last-hour').textContent(), '2');
    assert.notEqual(await row.locator('td.last-seen').textContent(), '—');
    await shot('clients-search');
    await search.fill('');
    await page.getByText(/clients? shown(?! matching)/).waitFor();
    assert.ok((await page.locator('#client-rows tr').count()) > 1);
    // Back to the workload (the unfiltered first page need not hold it in a shared database).
    await search.fill(workloadId);
    await page.getByText(/^1 client shown matching/).waitFor();
  });

  it('suspends the workload from its page, and its next call is refused', async () => {
    await page.locator(`tr[data-client-id="${workloadId}"] a`).click();
    await page.getByRole('heading', { name: hostileName, level: 1 }).waitFor();
    // What its allowed check taught the risk engine.
    await page.getByRole('heading', { name: 'Routes (1)' }).waitFor();
    assert.match((await page.locator('#learned').textContent())!, /GET \/orders\//);
    await page.getByRole('button', { name: 'Suspend' }).click();
    await page.getByText('Suspended: its tokens are refused (its next call is answered 401) and it gets no new ones.').waitFor();
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    await shot('client');
    const res = await check(server, gateway, workload, workloadToken);
    assert.equal(res.status, 401);
    assert.match(res.headers['www-authenticate'], /invalid_token/);
  });

  it('shows a gateway’s secret once, and rotates it', async () => {
    await page.getByRole('link', { name: 'Clients' }).click();
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'New gateway' }) });
    await form.getByLabel('Name').fill('edge gateway');
    await form.getByRole('button', { name: 'Create gateway' }).click();
    const secret = (await page.locator('#client-secret').textContent())!;
    assert.match(secret, /^\S{20,}$/);
    const gatewayId = (await page.locator('.secret dd.mono').first().textContent())!;
    await page.getByRole('button', { name: 'I have stored the secret' }).click();
    assert.equal(await page.locator('#client-secret').count(), 0);

    // Rotation asks first: the current secret stops working at once.
    await page.goto(`${server.url}/console#/clients/${encodeURIComponent(gatewayId)}`);
    await page.getByRole('heading', { name: 'edge gateway', level: 1 }).waitFor();
    const updatedBefore = await page.locator('#client-updated').getAttribute('datetime');
    await page.getByRole('button', { name: 'Rotate secret…' }).click();
    const confirm = page.getByRole('alertdialog', { name: 'Confirm secret rotation' });
    await confirm.getByText('stops working at once').waitFor();
    await confirm.getByRole('button', { name: 'Keep the current secret' }).click();
    await confirm.waitFor({ state: 'detached' });
    const unchanged = await request(server.url).get(`/admin/clients/${gatewayId}`).set('Authorization', server.admin);
    assert.equal(unchanged.body.updated_at, updatedBefore, 'nothing changed without the confirmation');
    await page.getByRole('button', { name: 'Rotate secret…' }).click();
    await page.getByRole('button', { name: 'Rotate the secret now' }).click();
    await page.getByText('Secret rotated: the old secret no longer works. Give the gateway the new one.').waitFor();
    const rotated = (await page.locator('#client-secret').textContent())!;
    assert.match(rotated, /^\S{20,}$/);
    assert.notEqual(rotated, secret);
    // The record is read again: it shows the server's new updated time.
    const after = await request(server.url).get(`/admin/clients/${gatewayId}`).set('Authorization', server.admin);
    assert.notEqual(after.body.updated_at, updatedBefore);
    await page.locator(`#client-updated[datetime="${after.body.updated_at}"]`).waitFor();
    await page.getByRole('button', { name: 'I have stored the secret' }).click();

    // Deleted: the list says which client went.
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: `Delete ${gatewayId} for good` }).click();
    await page.getByRole('heading', { name: 'Clients', level: 1 }).waitFor();
    await page.locator('#clients-notice', { hasText: `Deleted edge gateway (${gatewayId}).` }).waitFor();
    assert.equal((await request(server.url).get(`/admin/clients/${gatewayId}`).set('Authorization', server.admin)).status, 404);
  });

  it('shows the server’s policy error next to the field it names, and saves the corrected policy', async () => {
    await page.goto(`${server.url}/console#/policies/${encodeURIComponent(workloadId)}`);
    await page.getByRole('heading', { name: `Policy of ${workloadId}` }).waitFor();
    const thresholds = page.getByLabel('thresholds', { exact: true });
    const thresholdsId = (await thresholds.getAttribute('id'))!;
    // Two problems in one member: each on its own line, and "; " between them in its description.
    await thresholds.fill('{"step_up": "low", "deny": "high"}');
    await page.getByRole('button', { name: 'Save policy' }).click();
    const error = page.locator(`#${thresholdsId}-error`);
    await error.waitFor();
    const messages = (await error.locator('.message').allTextContents()).map((m) => m.replace(/; $/, ''));
    assert.equal(messages.length, 2, JSON.stringify(messages));
    assert.match(messages[0]!, /^thresholds\.step_up: /);
    assert.match(messages[1]!, /^thresholds\.deny: /);
    const [one, two] = [(await error.locator('.message').nth(0).boundingBox())!, (await error.locator('.message').nth(1).boundingBox())!];
    assert.ok(two.y >= one.y + one.height, 'the second message is on a line of its own');
    assert.ok((await description(`#${thresholdsId}`)).endsWith(`${messages[0]}; ${messages[1]}`), await description(`#${thresholdsId}`));
    await thresholds.fill('{"step_up": 40, "deny": "high"}');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await error.locator('.message', { hasText: /^thresholds\.deny: / }).waitFor();
    assert.equal(await error.locator('.message').count(), 1);
    assert.match((await error.textContent())!, /^thresholds\.deny: /);
    assert.equal(await thresholds.getAttribute('aria-invalid'), 'true');
    await shot('policies');
    await thresholds.fill('{"step_up": 40, "deny": 70}');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('Saved. Every instance applies it within moments.').waitFor();
    const stored = await request(server.url).get(`/admin/clients/${workloadId}/policy`).set('Authorization', server.admin);
    assert.deepEqual(stored.body.policy, { thresholds: { step_up: 40, deny: 70 } });
  });

  it('dry-runs an edited policy against the client’s newest decisions and shows which would change, saving nothing', async () => {
    // The policy screen is still open on the workload's policy. Its decisions: the issuance and an
    // allowed check, both from loopback addresses (the suspended call was refused before judging).
    const networks = page.getByLabel('allowed_networks', { exact: true });
    await networks.fill('["10.0.0.0/8"]');
    await page.getByRole('button', { name: 'Dry run' }).click();
    const summary = page.locator('#dry-run-summary');
    await summary.filter({ hasText: /would change/ }).waitFor();
    assert.match((await summary.textContent())!, /^2 of 2 re-evaluated decisions would change \(this client’s newest 2\)\.$/);
    const changed = page.locator('#dry-run-rows tr.changed');
    assert.equal(await changed.count(), 2);
    assert.match((await changed.first().textContent())!, /allow \(\d+\).*deny \(\d+\) — would change.*network_not_allowed/);
    await page.getByText('Dry run done: nothing was saved.').waitFor();
    await shot('policy-dry-run');
    // A mistake is shown at its field, as on save; nothing was stored by either.
    await networks.fill('["not a network"]');
    await page.getByRole('button', { name: 'Dry run' }).click();
    const error = page.locator(`#${await networks.getAttribute('id')}-error`);
    await error.waitFor();
    assert.match((await error.textContent())!, /^allowed_networks\[0\]: /);
    // The failed run leaves no earlier table or summary behind.
    assert.equal(await page.locator('#dry-run-rows tr').count(), 0);
    assert.equal(await summary.textContent(), '');
    assert.equal(await summary.isVisible(), false);
    // Nor does a save after a successful run.
    await networks.fill('');
    await page.getByRole('button', { name: 'Dry run' }).click();
    await summary.filter({ hasText: /^0 of 2 re-evaluated decisions would change/ }).waitFor();
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('Saved. Every instance applies it within moments.').waitFor();
    assert.equal(await page.locator('#dry-run-rows tr').count(), 0);
    assert.equal(await summary.isVisible(), false);
    const stored = await request(server.url).get(`/admin/clients/${workloadId}/policy`).set('Authorization', server.admin);
    assert.deepEqual(stored.body.policy, { thresholds: { step_up: 40, deny: 70 } });
  });

  it('says a policy’s client does not exist, without offering Save or Dry run', async () => {
    await page.goto(`${server.url}/console#/policies/tg_nobody`);
    await page.getByText('No client tg_nobody: there is no policy to edit. Choose another client id.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Save policy' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Dry run' }).count(), 0);
    // Choosing a client that exists brings the editor back.
    await page.getByLabel('Client id (empty: the server default)').fill(workloadId);
    await page.getByRole('button', { name: 'Load' }).click();
    await page.getByRole('heading', { name: `Policy of ${workloadId}` }).waitFor();
    await page.getByRole('button', { name: 'Save policy' }).waitFor();
  });

  it('browses the audit log and rotates the signing key', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    const suspension = page.locator('#audit-rows tr', { hasText: 'client.suspend' }).first();
    await suspension.waitFor();
    // Made from the console: its actor says so.
    assert.equal(await suspension.locator('td').nth(1).textContent(), 'console');
    await shot('audit');
    await page.getByRole('link', { name: 'Signing keys' }).click();
    await page.locator('#key-rows tr').first().waitFor();
    const before = await page.locator('#key-rows tr').count();
    await page.getByRole('button', { name: 'Rotate signing key…' }).click();
    await page.getByRole('button', { name: 'Rotate now' }).click();
    await page.getByText(/^New signing key /).waitFor();
    await page.locator('#key-rows tr').nth(before).waitFor();
    await shot('keys');
  });

  it('says so on the sign-in screen when the session is ended elsewhere, and signs in again', async () => {
    const [session] = (await context.cookies()).filter((c) => c.name === 'tollgate-console');
    const cookie = `tollgate-console=${session!.value}`;
    const { csrf_token } = (await request(server.url).get('/console/session').set('Cookie', cookie)).body;
    await request(server.url).delete('/console/session').set('Cookie', cookie).set('X-Tollgate-CSRF', csrf_token).expect(204);
    await page.getByRole('link', { name: 'Clients' }).click();
    await page.locator('#sign-in-notice', { hasText: 'Your session ended; sign in again.' }).waitFor();
    assert.equal(await page.getByLabel('Admin token').isVisible(), true);
    await shot('session-ended');
    await page.getByLabel('Admin token').fill(server.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Clients', level: 1 }).waitFor();
    assert.equal(await page.locator('#sign-in-notice').count(), 0);
  });

  it('signs out, after which the session opens nothing', async () => {
    const [session] = (await context.cookies()).filter((c) => c.name === 'tollgate-console');
    assert.ok(session?.httpOnly && session.sameSite === 'Strict');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    assert.equal((await context.request.get(`${server.url}/admin/clients`)).status(), 401);
    // The old cookie, replayed, is refused: the session ended on the server.
    assert.equal((await request(server.url).get('/admin/clients').set('Cookie', `tollgate-console=${session.value}`)).status, 401);
    await page.goto(`${server.url}/console#/clients`);
    await page.getByLabel('Admin token').waitFor();
    assert.deepEqual(problems, []);
  });
});
