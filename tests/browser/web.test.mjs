// Browser tests of the gateway's web pages (web/), driving Debian's chromium
// through playwright-core with node's built-in test runner.
//
// Environment:
//   TK_BASE_URL     https://127.0.0.1:PORT of a running gateway (+ workers)
//   ADMIN_TOKEN     the gateway's admin token
//   SCREENSHOT_DIR  where page screenshots go (default var/screenshots)
//   CHROMIUM        browser binary (default /usr/bin/chromium)
//   TK_WEB_ONLY=1   pages served without an API (e.g. python3 -m http.server):
//                   only check that each page loads, lays out and shows the
//                   API error readably; the API tests are skipped.
//
// The gateway must require user tokens and offer the dev login (DEV_LOGIN=1,
// as under `make run` and tests/e2e/run.sh): the pages sign in through it,
// and these tests get user tokens from it for their own API calls. A gateway
// without the dev login is simulated by answering /v1/dev/login with 404 in
// the browser (page.route), which also covers signing in by pasting a token.
//
// Every page is served to the browser with a strict Content-Security-Policy
// added (script-src 'self'; style-src 'self'; no inline script, no inline
// style attributes): a violation counts as a page error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, request as pwRequest } from 'playwright-core';

const BASE = (process.env.TK_BASE_URL || '').replace(/\/+$/, '');
const TOKEN = process.env.ADMIN_TOKEN || '';
const WEB_ONLY = process.env.TK_WEB_ONLY === '1';
const SHOTS = path.resolve(process.env.SCREENSHOT_DIR || 'var/screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const RUN = 'bt' + Date.now().toString(36);          // unique ids per run
const EV_MAIN = `${RUN}-main`, EV_ONE = `${RUN}-one`, EV_ADMIN = `${RUN}-adm`;
const USER = `web-${RUN}`;
const USER2 = `paste-${RUN}`;
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const WEB_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../web');

if (!BASE) throw new Error('TK_BASE_URL is not set (e.g. https://127.0.0.1:8443)');
if (!WEB_ONLY && !TOKEN) throw new Error('ADMIN_TOKEN is not set');

let browser, api, pub;   // api: admin token on every call; pub: no token unless given
const pageErrors = [];

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  if (!WEB_ONLY) {
    api = await pwRequest.newContext({
      baseURL: BASE, ignoreHTTPSErrors: true,
      extraHTTPHeaders: { Authorization: `Bearer ${TOKEN}` },
    });
    pub = await pwRequest.newContext({ baseURL: BASE, ignoreHTTPSErrors: true });
    await createEvent(EV_MAIN, 'Browser test main', 50, 1);
    await createEvent(EV_ONE, 'Browser test single unit', 1, 1);
  }
});

after(async () => {
  if (api) await api.dispose();
  if (pub) await pub.dispose();
  if (browser) await browser.close();
});

async function createEvent(id, name, stock, maxpu) {
  const r = await api.post('/v1/admin/events', { data: { event_id: id, name, stock, max_per_user: maxpu } });
  assert.equal(r.status(), 201, `create ${id}: ${r.status()} ${await r.text()}`);
}

// A user token from the gateway's dev login.
async function userToken(user) {
  const r = await pub.post('/v1/dev/login', { data: { user_id: user } });
  assert.equal(r.status(), 200, `dev login ${user}: ${r.status()} ${await r.text()}`);
  const j = await r.json();
  assert.equal(j.user_id, user);
  assert.match(j.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  return j.token;
}

// A token the gateway must refuse: well formed, naming `user`, but signed
// with a key of our own.
function forgedToken(user) {
  const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const data = `${b({ alg: 'HS256', typ: 'JWT' })}.${b({ sub: user, iat: now, exp: now + 600 })}`;
  return `${data}.${crypto.createHmac('sha256', crypto.randomBytes(32)).update(data).digest('base64url')}`;
}

async function newPage(viewport = PHONE) {
  const ctx = await browser.newContext({
    ignoreHTTPSErrors: true, viewport, deviceScaleFactor: 1,
    isMobile: viewport.width < 600, hasTouch: viewport.width < 600,
  });
  // Every page under a strict CSP, whatever the server sends.
  await ctx.route('**/*', async (route) => {
    if (route.request().resourceType() !== 'document') return route.fallback();
    const res = await route.fetch();
    await route.fulfill({ response: res, headers: { ...res.headers(), 'content-security-policy': CSP } });
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) pageErrors.push(`${page.url()}: CSP: ${m.text()}`);
  });
  return { ctx, page };
}

// Signs the page in through the dev login form of the sign-in card.
async function signIn(page, user) {
  await page.locator('[data-testid=signin][data-dev-login=yes]').waitFor();
  await page.fill('#login-id', user);
  await page.click('#login-btn');
  await page.locator('[data-testid=signed-in-user]').filter({ hasText: user }).waitFor();
}

// Records the claim requests (POST .../claims) the page sends.
function recordClaims(page) {
  const seen = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && /\/v1\/events\/[^/]+\/claims$/.test(new URL(r.url()).pathname)) {
      seen.push({ auth: r.headers().authorization || '', body: r.postData() || '' });
    }
  });
  return seen;
}

// Saves a full-page screenshot, and checks nothing is wider than the viewport
// (no sideways scrolling on a phone).
async function shot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${name}: page is ${overflow}px wider than the viewport`);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

function noPageErrors() {
  assert.deepEqual(pageErrors, [], 'JavaScript errors on the pages');
}

// ---------------------------------------------------------------- always

test('the pages carry no inline script, event handler or style attribute (CSP-clean)', async () => {
  const files = fs.readdirSync(WEB_DIR).filter((f) => f.endsWith('.html'));
  assert.ok(files.length >= 5, `pages in ${WEB_DIR}`);
  assert.ok(files.includes('queue.html'), 'the waiting page web/queue.html');
  for (const f of files) {
    const html = fs.readFileSync(path.join(WEB_DIR, f), 'utf8');
    for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
      assert.match(m[1], /\bsrc=/, `${f}: a <script> without src`);
      assert.equal(m[2].trim(), '', `${f}: a <script src> with inline content`);
    }
    assert.doesNotMatch(html, /<[^>]*\son[a-z]+\s*=/i, `${f}: an inline event handler`);
    assert.doesNotMatch(html, /<[^>]*\sstyle\s*=/i, `${f}: an inline style attribute`);
    assert.doesNotMatch(html, /<style\b/i, `${f}: an inline <style> element`);
    assert.doesNotMatch(html, /javascript:/i, `${f}: a javascript: URL`);
  }
  for (const f of fs.readdirSync(WEB_DIR).filter((x) => x.endsWith('.js'))) {
    const js = fs.readFileSync(path.join(WEB_DIR, f), 'utf8');
    assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*['"](style|on[a-z]+)['"]/,
      `${f}: HTML from strings, eval, or an inline style/handler attribute`);
    assert.doesNotMatch(js, /localStorage[^;]*token/i, `${f}: a token in localStorage`);
  }
});

// ---------------------------------------------------------------- web only

test('pages load and show API errors readably (no API)', { skip: !WEB_ONLY }, async () => {
  for (const [file, vp] of [['index.html', PHONE], ['index.html', DESKTOP], ['event.html?event=demo', PHONE],
                            ['claim.html?event=demo', PHONE], ['queue.html?event=demo', PHONE],
                            ['admin.html', PHONE], ['admin.html', DESKTOP]]) {
    const { ctx, page } = await newPage(vp);
    const res = await page.goto(`${BASE}/${file}`);
    assert.equal(res.status(), 200, file);
    await page.waitForLoadState('networkidle');
    assert.equal(await page.locator('header.top nav a').count(), 3, `${file}: navigation`);
    const name = `webonly-${file.replace(/\.html.*/, '')}-${vp === PHONE ? 'phone' : 'desktop'}`;
    await shot(page, name);
    await ctx.close();
  }
  noPageErrors();
});

// ---------------------------------------------------------------- with API

test('events list shows the events with live remaining stock', { skip: WEB_ONLY }, async () => {
  for (const [vp, tag] of [[PHONE, 'phone'], [DESKTOP, 'desktop']]) {
    const { ctx, page } = await newPage(vp);
    await page.goto(`${BASE}/`);
    const card = page.locator(`a.event[data-event-id="${EV_MAIN}"]`);
    await card.waitFor();
    assert.equal((await card.getAttribute('href')), `event.html?event=${EV_MAIN}`);
    assert.equal(await card.locator('[data-testid=remaining]').textContent(), '50');
    await shot(page, `index-${tag}`);
    await ctx.close();
  }
  noPageErrors();
});

let firstTicket = '';

test('signed in with the dev login, a claim sends the bearer token and no user id, shows a ticket, then confirmed', { skip: WEB_ONLY }, async () => {
  const { ctx, page } = await newPage(PHONE);
  const sent = recordClaims(page);
  await page.goto(`${BASE}/event.html?event=${EV_MAIN}`);
  await page.locator('#event-name').filter({ hasText: 'Browser test main' }).waitFor();

  // signed out: Claim asks for a sign-in and sends nothing
  await page.locator('[data-testid=signin][data-state=out]').waitFor();
  await page.click('#claim-btn');
  assert.equal(sent.length, 0, 'a claim was sent while signed out');
  await shot(page, 'event-signed-out-phone');

  await signIn(page, USER);
  const stored = await page.evaluate(() => [sessionStorage.getItem('tk.user_token'), JSON.stringify(localStorage)]);
  assert.match(stored[0] || '', /^[\w-]+\.[\w-]+\.[\w-]+$/, 'the token is in sessionStorage');
  assert.ok(!stored[1].includes(stored[0]), 'the token must not be in localStorage');

  await page.click('#claim-btn');
  const ticket = page.locator('[data-testid=ticket-no]');
  await ticket.filter({ hasText: /^#\d+$/ }).waitFor();
  firstTicket = (await ticket.textContent()).trim();
  assert.equal(sent.length, 1);
  assert.equal(sent[0].auth, `Bearer ${stored[0]}`, 'the claim carries the bearer token');
  assert.ok(!('user_id' in JSON.parse(sent[0].body || '{}')), `no user_id in the claim body: ${sent[0].body}`);
  assert.equal(await page.locator('#claim-user').textContent(), USER);
  await shot(page, 'event-claimed-phone');
  // pending -> confirmed once a worker has drained the claim into the database
  await page.locator('#ticket [data-testid=claim-status]').filter({ hasText: 'confirmed' }).waitFor({ timeout: 30000 });
  await shot(page, 'event-confirmed-phone');

  // same user again: 200 with the same claim, same ticket on screen
  await page.click('#claim-btn');
  await page.locator('#repeat-note').waitFor({ state: 'visible' });
  await page.locator('[data-testid=claim-msg]').filter({ hasText: 'already hold' }).waitFor();
  assert.equal((await ticket.textContent()).trim(), firstTicket);

  // a reload keeps the tab signed in, and the claim is shown on return
  await page.reload();
  await page.locator('[data-testid=signed-in-user]').filter({ hasText: USER }).waitFor();
  await ticket.filter({ hasText: firstTicket }).waitFor();

  // signing out forgets the token and takes the ticket off the screen
  await page.click('#signout-btn');
  await page.locator('[data-testid=signin][data-state=out]').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tk.user_token')), null);
  assert.equal(await page.locator('#ticket').isVisible(), false);
  await ctx.close();

  // the remaining stock went down by one
  const r = await api.get(`/v1/events/${EV_MAIN}`);
  assert.equal((await r.json()).remaining, 49);
  noPageErrors();
});

test('a sold-out event shows the sold-out message', { skip: WEB_ONLY }, async () => {
  const other = await userToken(`other-${RUN}`);
  const r = await pub.post(`/v1/events/${EV_ONE}/claims`, { data: {}, headers: { Authorization: `Bearer ${other}` } });
  assert.equal(r.status(), 201, await r.text());
  const { ctx, page } = await newPage(PHONE);
  await page.goto(`${BASE}/event.html?event=${EV_ONE}`);
  await signIn(page, USER);
  await page.click('#claim-btn');
  const msg = page.locator('[data-testid=claim-msg][data-code=sold_out]');
  await msg.waitFor();
  assert.match(await msg.textContent(), /Sold out/);
  assert.equal(await page.locator('#ticket').isVisible(), false);
  await shot(page, 'event-sold-out-phone');
  await ctx.close();
  noPageErrors();
});

// Records the page's reads of event `id`: the watch (long-poll) and the plain
// GET /v1/events/ID.
function recordEventReads(page, id) {
  const seen = { watch: [], plain: [] };
  page.on('request', (r) => {
    if (r.method() !== 'GET') return;
    const u = new URL(r.url());
    if (u.pathname === `/v1/events/${id}/watch`) seen.watch.push({ at: Date.now(), q: u.searchParams, auth: r.headers().authorization || '' });
    else if (u.pathname === `/v1/events/${id}`) seen.plain.push({ at: Date.now() });
  });
  return seen;
}

test('signed in, the event page follows the watch: people watching, another client\'s claim shown within 1.5 s, no 2 s poll', { skip: WEB_ONLY }, async () => {
  const ev = `${RUN}-live`;
  await createEvent(ev, 'Browser test live', 5, 1);
  const { ctx, page } = await newPage(PHONE);
  const reads = recordEventReads(page, ev);
  await page.goto(`${BASE}/event.html?event=${ev}`);
  await page.locator('[data-testid=remaining]').filter({ hasText: /^5$/ }).waitFor();
  await signIn(page, `live-${RUN}`);
  const signedAt = Date.now();
  const tok = await page.evaluate(() => sessionStorage.getItem('tk.user_token'));
  const watching = page.locator('[data-testid=watching]');
  await watching.filter({ hasText: /^(1 person|[2-9] people) watching$/ }).waitFor();

  // a second watcher (a heartbeat through the API), then its claim: the held
  // watch of the page answers with the new stock and the new count
  await page.waitForTimeout(700);   // the page's watch is held now (since = the version)
  const held = reads.watch.length;
  const other = await userToken(`live2-${RUN}`);
  const w = await pub.get(`/v1/events/${ev}/watch?page=event&tab=0&wait=0`, { headers: { Authorization: `Bearer ${other}` } });
  assert.equal(w.status(), 200, await w.text());
  const wj = await w.json();
  assert.equal(wj.event.remaining, 5);
  assert.ok(Number.isInteger(Number(wj.version)), `version ${wj.version}`);
  assert.equal(reads.watch.length, held, 'the page re-asked while nothing changed');
  const r = await pub.post(`/v1/events/${ev}/claims`, { data: {}, headers: { Authorization: `Bearer ${other}` } });
  assert.equal(r.status(), 201, await r.text());
  await page.locator('[data-testid=remaining]').filter({ hasText: /^4$/ }).waitFor({ timeout: 1500 });
  await watching.filter({ hasText: /^2 people watching$/ }).waitFor({ timeout: 1500 });
  await shot(page, 'event-live-phone');

  // nothing changes for 3 s: at most the held watch, no plain event GET
  const n = reads.watch.length;
  await page.waitForTimeout(3000);
  assert.ok(reads.watch.length - n <= 1, `${reads.watch.length - n} watch requests in 3 s without a change`);
  assert.deepEqual(reads.plain.filter((x) => x.at > signedAt), [], 'plain GET /v1/events/ID while signed in');
  assert.ok(reads.watch.length >= 3, `watch requests: ${reads.watch.length}`);
  for (const x of reads.watch) {
    assert.equal(x.auth, `Bearer ${tok}`, 'the watch carries the bearer token');
    assert.equal(x.q.get('page'), 'event');
    assert.equal(x.q.get('wait'), '25');
    assert.match(x.q.get('tab') || '', /^\d{1,2}$/);
    assert.equal(x.q.get('tab'), reads.watch[0].q.get('tab'), 'one tab number per tab');
  }
  assert.equal(reads.watch[0].q.get('since'), null, 'the first watch has no since');
  assert.ok(reads.watch.slice(1).every((x) => /^\d+$/.test(x.q.get('since') || '')), 'later watches carry since');

  // hidden: the held watch is aborted and none follows; shown again: it restarts
  const aborted = [];
  page.on('requestfailed', (q) => { if (new URL(q.url()).pathname === `/v1/events/${ev}/watch`) aborted.push(q.url()); });
  const setHidden = (h) => page.evaluate((hh) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hh });
    document.dispatchEvent(new Event('visibilitychange'));
  }, h);
  await setHidden(true);
  const m = reads.watch.length;
  await page.waitForTimeout(1500);
  assert.equal(aborted.length, 1, 'the held watch is aborted when the page is hidden');
  assert.equal(reads.watch.length, m, 'no watch while hidden');
  await setHidden(false);
  await page.waitForTimeout(1000);
  assert.ok(reads.watch.length > m, 'the watch restarts when the page is shown');
  assert.equal(reads.watch[m].q.get('since'), null, 'a restart asks without since (answered at once)');
  await ctx.close();
  noPageErrors();
});

test('the watch backs off on 5xx (1 s, then 2 s) and resumes when the gateway answers', { skip: WEB_ONLY }, async () => {
  const { ctx, page } = await newPage(PHONE);
  const times = [];
  await page.route('**/v1/events/*/watch*', (route) => { times.push(Date.now()); return route.fulfill({
    status: 503, contentType: 'application/json', body: '{"error":{"code":"unavailable","message":"simulated"}}' }); });
  await page.goto(`${BASE}/event.html?event=${EV_MAIN}`);
  await signIn(page, USER);
  await page.waitForTimeout(3600);
  assert.equal(times.length, 3, `watch tries in 3.6 s: ${times.length} (expected at 0, +1 s, +3 s)`);
  assert.ok(times[1] - times[0] >= 900 && times[2] - times[1] >= 1900, `gaps ${times[1] - times[0]}, ${times[2] - times[1]} ms`);
  await page.unroute('**/v1/events/*/watch*');
  await page.locator('[data-testid=watching]').filter({ hasText: /watching$/ }).waitFor({ timeout: 6000 });
  await ctx.close();
  noPageErrors();
});

test('signed out, the event page still shows the event (plain read, no watch)', { skip: WEB_ONLY }, async () => {
  const { ctx, page } = await newPage(PHONE);
  const reads = recordEventReads(page, EV_MAIN);
  await page.goto(`${BASE}/event.html?event=${EV_MAIN}`);
  await page.locator('#event-name').filter({ hasText: 'Browser test main' }).waitFor();
  await page.locator('[data-testid=remaining]').filter({ hasText: /^\d+$/ }).waitFor();
  await page.locator('[data-testid=signin][data-state=out]').waitFor();
  await page.waitForTimeout(2500);
  assert.equal(reads.watch.length, 0, 'a watch without a token');
  assert.equal(reads.plain.length, 1, `plain reads in 2.5 s: ${reads.plain.length} (expected one, then every 10 s)`);
  assert.equal(await page.locator('[data-testid=watching]').isVisible(), false);
  await ctx.close();
  noPageErrors();
});

// ---------------------------------------------------------------- waiting room
// Each test makes its own event with a room (release 50/s, access 300 s)
// through the admin API, paused while the page waits so that the waiting
// state lasts, then unpaused to be let in: the same against the mock and a
// real gateway.

const EV_WR = `${RUN}-wr`, EV_WR2 = `${RUN}-wr2`;
const WR_USER = `wr-${RUN}`;
const QUEUE_RE = /\/v1\/events\/[^/]+\/queue(\/[^/?]+)?$/;            // a path
const QUEUE_URL_RE = /\/v1\/events\/[^/]+\/queue(\/[^/?]+)?(\?.*)?$/;  // a whole URL (page.route)

async function createRoomEvent(id, name, stock) {
  const r = await api.post('/v1/admin/events', { data: { event_id: id, name, stock, max_per_user: 1,
    waiting_room: { enabled: true, release_per_s: 50, access_ttl_s: 300 } } });
  assert.equal(r.status(), 201, `create ${id}: ${r.status()} ${await r.text()}`);
  const ev = await (await pub.get(`/v1/events/${id}`)).json();
  assert.equal(ev.waiting_room && ev.waiting_room.enabled, true, `the event shows its waiting room: ${JSON.stringify(ev)}`);
}
async function pauseRoom(id, paused) {
  const r = await api.post(`/v1/admin/events/${id}/queue`, { data: { paused } });
  assert.equal(r.status(), 200, `queue ${id} paused=${paused}: ${r.status()} ${await r.text()}`);
}
// Another user joins through the API: returns the place.
async function joinAs(id, user) {
  const tok = await userToken(user);
  const r = await pub.post(`/v1/events/${id}/queue`, { data: {}, headers: { Authorization: `Bearer ${tok}` } });
  assert.equal(r.status(), 201, `join ${id} as ${user}: ${r.status()} ${await r.text()}`);
  return (await r.json()).position;
}
// Records the page's queue calls: joins (POST) and status polls (GET).
function recordQueue(page) {
  const seen = { joins: [], polls: [] };
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!QUEUE_RE.test(u.pathname)) return;
    const x = { at: Date.now(), path: u.pathname, q: u.searchParams, auth: r.headers().authorization || '', body: r.postData() || '' };
    if (r.method() === 'POST') seen.joins.push(x); else if (r.method() === 'GET') seen.polls.push(x);
  });
  return seen;
}
// A well-formed access token the gateway never signed (names the user and the event).
function forgedAccess(user, ev) {
  const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const data = `${b({ alg: 'HS256', typ: 'JWT' })}.${b({ sub: user, aud: ev, iat: now, exp: now + 300 })}`;
  return `${data}.${crypto.createHmac('sha256', crypto.randomBytes(32)).update(data).digest('base64url')}`;
}
const waitingBody = (o) => JSON.stringify({ event_id: EV_WR, user_id: 'x', state: 'waiting', poll_after_ms: 1000, ...o });

test('waiting room: the event page offers the queue, the waiting page signs in (dev login), joins, shows place/ahead/estimate/progress, and once admitted moves to the claim, which sends the access token', { skip: WEB_ONLY }, async () => {
  await createRoomEvent(EV_WR, 'Browser test waiting room', 5);
  await pauseRoom(EV_WR, true);
  const p1 = await joinAs(EV_WR, `wr1-${RUN}`);
  const p2 = await joinAs(EV_WR, `wr2-${RUN}`);
  assert.deepEqual([p1, p2], [1, 2], 'places in arrival order');

  const { ctx, page } = await newPage(PHONE);
  const q = recordQueue(page);
  const sent = recordClaims(page);
  // the event page of a room event: "Join the queue" instead of the claim button
  await page.goto(`${BASE}/event.html?event=${EV_WR}`);
  const joinLink = page.locator('[data-testid=join-queue]');
  await joinLink.waitFor({ state: 'visible' });
  assert.equal(await page.locator('#claim-btn').isVisible(), false, 'no claim button before admission');
  await page.locator('[data-testid=room-note]').filter({ hasText: /waiting room/ }).waitFor();
  await shot(page, 'event-waiting-room-phone');
  await joinLink.click();
  await page.waitForURL(/\/queue\.html\?event=/);

  // the waiting page: signed out, its sign-in card offers the dev login; no join yet
  await page.locator('[data-testid=signin][data-dev-login=yes]').waitFor();
  assert.equal(await page.locator('#devlogin-form').isVisible(), true, 'the dev login form is shown');
  await page.locator('[data-testid=queue][data-state=out]').waitFor();
  assert.equal(q.joins.length, 0, 'no join while signed out');
  await shot(page, 'queue-signed-out-phone');

  await signIn(page, WR_USER);
  const tok = await page.evaluate(() => sessionStorage.getItem('tk.user_token'));
  await page.locator('[data-testid=queue][data-state=waiting]').waitFor();
  assert.equal(await page.locator('[data-testid=q-position]').textContent(), '#3');
  assert.equal(await page.locator('[data-testid=q-ahead]').textContent(), '2');
  assert.equal(await page.locator('[data-testid=q-eta]').textContent(), '—', 'paused: no estimate');
  assert.equal(await page.locator('[data-testid=q-bar]').getAttribute('aria-valuenow'), '0');
  await page.waitForTimeout(1300);                 // the first status poll is out (held)
  assert.equal(q.joins.length, 1, 'one join');
  assert.equal(q.joins[0].auth, `Bearer ${tok}`);
  assert.ok(!('user_id' in JSON.parse(q.joins[0].body || '{}')), 'no user_id in the join body');
  assert.ok(q.polls.length >= 1, 'the status long-poll follows the join');
  for (const x of q.polls) {
    assert.equal(x.path, `/v1/events/${EV_WR}/queue/${WR_USER}`);
    assert.equal(x.q.get('wait'), '20');
    assert.equal(x.auth, `Bearer ${tok}`, 'the status carries the user token');
  }
  await shot(page, 'queue-waiting-phone');

  // a second tab (desktop) of the same user: the same place
  const d = await newPage(DESKTOP);
  await d.page.goto(`${BASE}/queue.html?event=${EV_WR}`);
  await signIn(d.page, WR_USER);
  await d.page.locator('[data-testid=q-position]').filter({ hasText: /^#3$/ }).waitFor();
  await shot(d.page, 'queue-waiting-desktop');
  await d.ctx.close();

  // released: the held poll answers "admitted", the page keeps the access
  // token for this event in sessionStorage and goes on to the claim
  await pauseRoom(EV_WR, false);
  await page.locator('[data-testid=admitted]').waitFor({ state: 'visible', timeout: 10000 });
  const access = await page.evaluate((ev) => sessionStorage.getItem(`tk.access.${ev}`), EV_WR);
  assert.match(access || '', /^[\w-]+\.[\w-]+\.[\w-]+$/, 'the access token is in sessionStorage');
  assert.notEqual(access, tok);
  const claims = JSON.parse(Buffer.from(access.split('.')[1], 'base64url'));
  assert.equal(claims.sub, WR_USER);
  assert.ok(claims.aud === EV_WR || (Array.isArray(claims.aud) && claims.aud.includes(EV_WR)), `aud ${JSON.stringify(claims.aud)}`);
  assert.ok(!(await page.evaluate(() => JSON.stringify(localStorage))).includes(access), 'the access token must not be in localStorage');
  await page.waitForURL(new RegExp(`/event\\.html\\?event=${EV_WR}$`), { timeout: 5000 });
  await page.locator('#claim-form[data-room=admitted]').waitFor();
  await page.locator('#claim-btn').waitFor({ state: 'visible' });
  assert.equal(await joinLink.isVisible(), false, 'admitted: no queue link');
  await page.click('#claim-btn');
  await page.locator('[data-testid=ticket-no]').filter({ hasText: /^#\d+$/ }).waitFor();
  assert.equal(sent.length, 1);
  assert.equal(sent[0].auth, `Bearer ${access}`, 'the claim carries the access token');
  assert.ok(!('user_id' in JSON.parse(sent[0].body || '{}')), `no user_id in the claim body: ${sent[0].body}`);
  assert.equal(await page.locator('#claim-user').textContent(), WR_USER);
  await shot(page, 'event-admitted-claimed-phone');
  await ctx.close();
  assert.equal((await (await api.get(`/v1/events/${EV_WR}`)).json()).remaining, 4);
  noPageErrors();
});

test('waiting room: the estimate and the progress bar from the answer; 410 expired offers "Join again", which joins again', { skip: WEB_ONLY }, async () => {
  await createRoomEvent(EV_WR2, 'Browser test waiting room 2', 5);
  await pauseRoom(EV_WR2, true);
  const user = `wrx-${RUN}`;
  const { ctx, page } = await newPage(PHONE);
  const q = recordQueue(page);
  // the status answers, simulated: a queue well under way, then the place abandoned
  let n = 0, release;
  const gate = new Promise((r) => { release = r; });
  await page.route(/\/v1\/events\/[^/]+\/queue\/[^/?]+\?/, async (route) => {
    if (++n === 1) return route.fulfill({ status: 200, contentType: 'application/json',
      body: waitingBody({ event_id: EV_WR2, user_id: user, position: 40, ahead: 9, serving: 30, eta_s: 125 }) });
    await gate;
    return route.fulfill({ status: 410, contentType: 'application/json', body: '{"error":{"code":"expired","message":"simulated"}}' });
  });
  await page.goto(`${BASE}/queue.html?event=${EV_WR2}`);
  await signIn(page, user);
  await page.locator('[data-testid=q-position]').filter({ hasText: /^#40$/ }).waitFor();
  assert.equal(await page.locator('[data-testid=q-ahead]').textContent(), '9');
  assert.equal(await page.locator('[data-testid=q-eta]').textContent(), 'about 2 min');
  assert.equal(await page.locator('[data-testid=q-serving]').textContent(), 'up to #30');
  assert.equal(await page.locator('[data-testid=q-bar]').getAttribute('aria-valuenow'), '75');
  const width = await page.locator('[data-testid=q-bar] > span').evaluate((e) => e.getBoundingClientRect().width / e.parentElement.getBoundingClientRect().width);
  await page.waitForTimeout(500);                  // the bar's width transition
  const width2 = await page.locator('[data-testid=q-bar] > span').evaluate((e) => e.getBoundingClientRect().width / e.parentElement.getBoundingClientRect().width);
  assert.ok(Math.abs(width2 - 0.75) < 0.03, `bar filled ${width} then ${width2}, expected 0.75`);
  await shot(page, 'queue-progress-phone');

  release();
  await page.locator('[data-testid=queue][data-state=expired]').waitFor();
  await page.locator('[data-testid=queue-msg][data-code=expired]').filter({ hasText: /place expired/ }).waitFor();
  await page.locator('[data-testid=rejoin]').waitFor({ state: 'visible' });
  await shot(page, 'queue-expired-phone');
  const polls = q.polls.length;
  await page.waitForTimeout(1500);
  assert.equal(q.polls.length, polls, 'no status poll after expired');

  await page.unroute(/\/v1\/events\/[^/]+\/queue\/[^/?]+\?/);
  assert.equal(q.joins.length, 1);
  await page.click('[data-testid=rejoin]');
  await page.locator('[data-testid=queue][data-state=waiting]').waitFor();
  assert.equal(q.joins.length, 2, 'Join again sends a join');
  await page.locator('[data-testid=q-position]').filter({ hasText: /^#\d+$/ }).waitFor();
  assert.equal(await page.locator('[data-testid=rejoin]').isVisible(), false);
  await ctx.close();
  noPageErrors();
});

test('waiting room: one status loop per tab, 503 Retry-After respected, backoff, and it keeps polling while the tab is hidden', { skip: WEB_ONLY }, async () => {
  assert.ok(EV_WR, 'the room event of the first test');
  const { ctx, page } = await newPage(PHONE);
  const times = [];
  let inflight = 0, maxInflight = 0;
  // join and status simulated: 503 (Retry-After 2), 503, then answers at once
  await page.route(QUEUE_URL_RE, async (route) => {
    if (route.request().method() === 'POST') return route.fulfill({ status: 201, contentType: 'application/json',
      body: waitingBody({ position: 7, ahead: 3, serving: 4, eta_s: 3 }) });
    times.push(Date.now());
    inflight++; maxInflight = Math.max(maxInflight, inflight);
    await new Promise((r) => setTimeout(r, 50));
    inflight--;
    if (times.length === 1) return route.fulfill({ status: 503, contentType: 'application/json', headers: { 'Retry-After': '2' },
      body: '{"error":{"code":"unavailable","message":"simulated"}}' });
    if (times.length === 2) return route.fulfill({ status: 503, contentType: 'application/json',
      body: '{"error":{"code":"unavailable","message":"simulated"}}' });
    return route.fulfill({ status: 200, contentType: 'application/json', body: waitingBody({ position: 7, ahead: 2, serving: 5, eta_s: 2 }) });
  });
  await page.goto(`${BASE}/queue.html?event=${EV_WR}`);
  await signIn(page, `wrl-${RUN}`);
  await page.locator('[data-testid=q-ahead]').filter({ hasText: /^2$/ }).waitFor({ timeout: 10000 });
  assert.ok(times.length >= 3);
  assert.ok(times[1] - times[0] >= 1900, `after a 503 with Retry-After 2: ${times[1] - times[0]} ms`);
  assert.ok(times[2] - times[1] >= 1900, `the backoff doubles: ${times[2] - times[1]} ms`);

  // hidden: the loop goes on (a place not heard from for 30 s is lost), at poll_after_ms
  const aborted = [];
  page.on('requestfailed', (r) => { if (QUEUE_RE.test(new URL(r.url()).pathname)) aborted.push(r.url()); });
  await page.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const m = times.length;
  await page.waitForTimeout(3200);
  const k = times.length - m;
  assert.ok(k >= 2 && k <= 4, `status polls in 3.2 s while hidden: ${k} (poll_after_ms 1000)`);
  assert.equal(aborted.length, 0, 'nothing aborted when hidden');
  assert.equal(maxInflight, 1, 'one status request at a time');
  await page.locator('[data-testid=queue][data-state=waiting]').waitFor();
  await ctx.close();
  noPageErrors();
});

test('waiting room: an admission the gateway refuses is forgotten, the tab stays signed in, the page points back to the queue', { skip: WEB_ONLY }, async () => {
  assert.ok(EV_WR, 'the room event of the first test');
  const user = `wrf-${RUN}`;
  const before = (await (await api.get(`/v1/events/${EV_WR}`)).json()).remaining;
  const { ctx, page } = await newPage(PHONE);
  const sent = recordClaims(page);
  await page.goto(`${BASE}/event.html?event=${EV_WR}`);
  await signIn(page, user);
  await page.locator('[data-testid=join-queue]').waitFor({ state: 'visible' });
  // an access token of this user and event the gateway never signed
  await page.evaluate(([ev, t]) => sessionStorage.setItem(`tk.access.${ev}`, t), [EV_WR, forgedAccess(user, EV_WR)]);
  await page.reload();
  await page.locator('#claim-form[data-room=admitted]').waitFor();
  await page.click('#claim-btn');
  await page.locator('[data-testid=claim-msg][data-code=not_admitted]').waitFor();
  await page.locator('#requeue-link').waitFor({ state: 'visible' });
  await page.locator('[data-testid=join-queue]').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#claim-btn').isVisible(), false);
  assert.equal(sent.length, 1);
  assert.match(sent[0].auth, /^Bearer .+/);
  assert.notEqual(sent[0].auth, `Bearer ${await page.evaluate(() => sessionStorage.getItem('tk.user_token'))}`, 'the claim sent the access token');
  assert.equal(await page.evaluate((ev) => sessionStorage.getItem(`tk.access.${ev}`), EV_WR), null, 'the refused access token is forgotten');
  await page.locator('[data-testid=signed-in-user]').filter({ hasText: user }).waitFor();
  await shot(page, 'event-not-admitted-phone');
  await ctx.close();
  assert.equal((await (await api.get(`/v1/events/${EV_WR}`)).json()).remaining, before, 'a refused claim takes nothing');
  noPageErrors();
});

test('the lookup page finds the signed-in user\'s claim', { skip: WEB_ONLY }, async () => {
  assert.ok(firstTicket, 'needs the claim of the earlier test');
  const { ctx, page } = await newPage(PHONE);
  await page.goto(`${BASE}/claim.html`);
  await signIn(page, USER);
  await page.fill('#event-id', EV_MAIN);
  await page.click('#lookup-btn');
  await page.locator('#result [data-testid=ticket-no]').filter({ hasText: firstTicket }).waitFor();
  await page.locator('#result [data-testid=claim-status]').filter({ hasText: 'confirmed' }).waitFor();
  await shot(page, 'claim-found-phone');
  // an event the user holds no claim on: a clear "no claim"
  await page.fill('#event-id', EV_ONE);
  await page.click('#lookup-btn');
  await page.locator('[data-testid=lookup-msg][data-code=not_found]').waitFor();
  await shot(page, 'claim-not-found-phone');
  await ctx.close();
  noPageErrors();
});

test('without the dev login the page takes a pasted token, and sends it as the bearer', { skip: WEB_ONLY }, async () => {
  const tok = await userToken(USER2);
  const { ctx, page } = await newPage(PHONE);
  // a gateway without DEV_LOGIN answers the route 404
  await page.route('**/v1/dev/login', (route) => route.fulfill({
    status: 404, contentType: 'application/json', body: '{"error":{"code":"not_found","message":"no such route or page"}}' }));
  const sent = recordClaims(page);
  await page.goto(`${BASE}/event.html?event=${EV_MAIN}`);
  await page.locator('[data-testid=signin][data-dev-login=no]').waitFor();
  assert.equal(await page.locator('#devlogin-form').isVisible(), false, 'no dev login form without the dev login');
  await shot(page, 'event-paste-token-phone');

  // not a token: refused on the page, nothing stored
  await page.fill('#paste-token', 'hello');
  await page.click('#paste-btn');
  await page.locator('[data-testid=signin-msg][data-code=bad_request]').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tk.user_token')), null);

  await page.fill('#paste-token', tok);
  await page.click('#paste-btn');
  await page.locator('[data-testid=signed-in-user]').filter({ hasText: USER2 }).waitFor();
  await page.click('#claim-btn');
  await page.locator('[data-testid=ticket-no]').filter({ hasText: /^#\d+$/ }).waitFor();
  assert.equal(await page.locator('#claim-user').textContent(), USER2);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].auth, `Bearer ${tok}`);
  assert.ok(!('user_id' in JSON.parse(sent[0].body || '{}')), `no user_id in the claim body: ${sent[0].body}`);
  await ctx.close();
  noPageErrors();
});

test('a token the gateway refuses (401) signs the tab out and asks to sign in again; a 403 is shown', { skip: WEB_ONLY }, async () => {
  const before = (await (await api.get(`/v1/events/${EV_MAIN}`)).json()).remaining;
  const { ctx, page } = await newPage(PHONE);
  await page.goto(`${BASE}/event.html?event=${EV_MAIN}`);
  await page.locator('[data-testid=signin][data-state=out]').waitFor();
  // Well formed, names a user, signed with the wrong key. Signed in, the
  // page looks up the user's claim at once: the gateway's 401 signs it out.
  await page.fill('#paste-token', forgedToken(`forged-${RUN}`));
  await page.click('#paste-btn');
  await page.locator('[data-testid=signin][data-state=out]').waitFor();
  await page.locator('[data-testid=signin-msg]').filter({ hasText: /Sign in again/ }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tk.user_token')), null, 'the refused token is forgotten');

  // The claim itself refused: that first lookup answered "no claim" here, so
  // the page shows who the token names (decoded, never trusted) and claims.
  await page.route('**/v1/events/*/claims/*', (route) => route.fulfill({
    status: 404, contentType: 'application/json', body: '{"error":{"code":"not_found","message":"no claim"}}' }));
  // and the live watch unreachable (it backs off), so its 401 does not sign
  // the tab out before the claim is sent
  await page.route('**/v1/events/*/watch*', (route) => route.abort());
  await page.fill('#paste-token', forgedToken(`forged-${RUN}`));
  await page.click('#paste-btn');
  await page.locator('[data-testid=signed-in-user]').filter({ hasText: `forged-${RUN}` }).waitFor();
  await page.click('#claim-btn');
  const msg = page.locator('[data-testid=claim-msg][data-code=unauthorized]');
  await msg.waitFor();
  assert.match(await msg.textContent(), /Sign in again/);
  await page.locator('[data-testid=signin][data-state=out]').waitFor();
  await page.locator('[data-testid=signin-msg]').filter({ hasText: /Sign in again/ }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tk.user_token')), null, 'the refused token is forgotten');
  assert.equal(await page.locator('#ticket').isVisible(), false);
  await shot(page, 'event-unauthorized-phone');
  const after = (await (await api.get(`/v1/events/${EV_MAIN}`)).json()).remaining;
  assert.equal(after, before, 'a refused claim takes nothing');

  // the lookup page too
  await page.unroute('**/v1/events/*/claims/*');
  await page.goto(`${BASE}/claim.html?event=${EV_MAIN}`);
  await page.fill('#paste-token', forgedToken(USER));
  await page.click('#paste-btn');
  await page.locator('[data-testid=lookup-msg][data-code=unauthorized]').waitFor();
  await page.locator('[data-testid=signin][data-state=out]').waitFor();

  // 403 forbidden (another user's claim) is shown as such
  await page.route('**/v1/events/*/claims/*', (route) => route.fulfill({
    status: 403, contentType: 'application/json', body: '{"error":{"code":"forbidden","message":"another user\'s claim"}}' }));
  await signIn(page, USER);
  await page.fill('#event-id', EV_MAIN);
  await page.click('#lookup-btn');
  const f = page.locator('[data-testid=lookup-msg][data-code=forbidden]');
  await f.waitFor();
  assert.match(await f.textContent(), /another user/);
  await ctx.close();
  noPageErrors();
});

test('the admin page creates an event that then appears in the events list', { skip: WEB_ONLY }, async () => {
  const { ctx, page } = await newPage(DESKTOP);
  await page.goto(`${BASE}/admin.html`);
  await page.fill('#token', TOKEN);
  await page.click('#token-save');
  await page.fill('#c-id', EV_ADMIN);
  await page.fill('#c-name', 'Made in the admin page');
  await page.fill('#c-stock', '7');
  await page.fill('#c-maxpu', '2');
  await page.click('#create-btn');
  await page.locator('[data-testid=create-msg].msg-ok').waitFor();
  // the new event is watched: both books, refreshed live
  await page.locator('#books').waitFor({ state: 'visible' });
  await page.locator('#r-remaining').filter({ hasText: '7' }).waitFor();
  await page.locator('[data-testid=agree]').filter({ hasText: 'Books agree' }).waitFor();
  await shot(page, 'admin-desktop');

  // token is only in sessionStorage
  const stored = await page.evaluate(() => [sessionStorage.getItem('tk.admin_token'), JSON.stringify(localStorage)]);
  assert.equal(stored[0], TOKEN);
  assert.ok(!stored[1].includes(TOKEN), 'the token must not be in localStorage');

  // restock through the page
  await page.fill('#a-delta', '3');
  await page.click('#stock-btn');
  await page.locator('[data-testid=action-msg].msg-ok').waitFor();
  await page.locator('#r-remaining').filter({ hasText: /^10$/ }).waitFor();

  await page.goto(`${BASE}/`);
  await page.locator(`a.event[data-event-id="${EV_ADMIN}"]`).waitFor();
  assert.equal(await page.locator(`a.event[data-event-id="${EV_ADMIN}"] [data-testid=remaining]`).textContent(), '10');
  await ctx.close();

  // phone layout of the admin page
  const p2 = await newPage(PHONE);
  await p2.page.goto(`${BASE}/admin.html?event=${EV_ADMIN}`);
  await p2.page.fill('#token', TOKEN);
  await p2.page.click('#token-save');
  await p2.page.fill('#w-id', EV_ADMIN);
  await p2.page.click('#watch-btn');
  await p2.page.locator('#books').waitFor({ state: 'visible' });
  await shot(p2.page, 'admin-phone');
  await p2.ctx.close();
  noPageErrors();
});

test('a paused event shows the paused message; a wrong admin token is refused', { skip: WEB_ONLY }, async () => {
  let r = await api.post(`/v1/admin/events/${EV_ADMIN}/state`, { data: { state: 'paused' } });
  assert.equal(r.status(), 200, await r.text());
  const { ctx, page } = await newPage(PHONE);
  await page.goto(`${BASE}/event.html?event=${EV_ADMIN}`);
  await signIn(page, USER);
  await page.click('#claim-btn');
  await page.locator('[data-testid=claim-msg][data-code=paused]').filter({ hasText: 'Paused' }).waitFor();
  await shot(page, 'event-paused-phone');

  await page.goto(`${BASE}/admin.html`);
  await page.fill('#token', 'not-the-token');
  await page.click('#token-save');
  await page.fill('#w-id', EV_ADMIN);
  await page.click('#watch-btn');
  const w = page.locator('#watch-msg[data-code=unauthorized]');
  await w.waitFor();
  assert.match(await w.textContent(), /admin token/);
  await ctx.close();
  r = await api.post(`/v1/admin/events/${EV_ADMIN}/state`, { data: { state: 'open' } });
  assert.equal(r.status(), 200);
  noPageErrors();
});

test('the admin page shows the books agreeing and cancels a claim; the lookup shows it cancelled', { skip: WEB_ONLY }, async () => {
  assert.ok(firstTicket, 'needs the claim of the earlier test');
  const { ctx, page } = await newPage(PHONE);
  page.on('dialog', (d) => d.accept());           // the "cancel this claim?" confirm
  await page.goto(`${BASE}/admin.html`);
  await page.fill('#token', TOKEN);
  await page.click('#token-save');
  await page.fill('#w-id', EV_MAIN);
  await page.click('#watch-btn');
  // USER's claim and USER2's (pasted token), both drained
  await page.locator('#d-confirmed').filter({ hasText: /^2$/ }).waitFor({ timeout: 30000 });
  await page.locator('[data-testid=agree]').filter({ hasText: 'Books agree' }).waitFor();
  await page.fill('#a-user', USER);
  await page.click('#cancel-btn');
  await page.locator('[data-testid=action-msg].msg-ok').filter({ hasText: `Cancelled ticket ${firstTicket}` }).waitFor();
  await page.locator('#r-remaining').filter({ hasText: /^49$/ }).waitFor();
  await shot(page, 'admin-cancelled-phone');

  await page.goto(`${BASE}/claim.html?event=${EV_MAIN}`);
  await signIn(page, USER);
  await page.locator('#result [data-testid=claim-status]').filter({ hasText: 'cancelled' }).waitFor();
  await ctx.close();
  noPageErrors();
});

test('an event not open yet and a closed event show their messages', { skip: WEB_ONLY }, async () => {
  const later = `${RUN}-later`;
  const opens = new Date(Date.now() + 3600e3).toISOString();
  let r = await api.post('/v1/admin/events', { data: { event_id: later, name: 'Opens in an hour', stock: 5, max_per_user: 1, opens_at: opens } });
  assert.equal(r.status(), 201, await r.text());
  r = await api.post(`/v1/admin/events/${EV_ONE}/state`, { data: { state: 'closed' } });
  assert.equal(r.status(), 200, await r.text());
  const { ctx, page } = await newPage(PHONE);
  await page.goto(`${BASE}/event.html?event=${later}`);
  await signIn(page, USER);
  await page.click('#claim-btn');
  await page.locator('[data-testid=claim-msg][data-code=not_open]').filter({ hasText: 'Not open yet' }).waitFor();
  await shot(page, 'event-not-open-phone');
  // the same tab stays signed in from page to page
  await page.goto(`${BASE}/event.html?event=${EV_ONE}`);
  await page.locator('[data-testid=signed-in-user]').filter({ hasText: USER }).waitFor();
  await page.click('#claim-btn');
  await page.locator('[data-testid=claim-msg][data-code=closed]').filter({ hasText: 'Closed' }).waitFor();
  await ctx.close();
  noPageErrors();
});

// ---------------------------------------------------------------- leaderboards (issue 14)

const BOARD = `${RUN}-lb`;

async function writeScores(board, scores) {
  const r = await api.post(`/v1/admin/boards/${board}/scores`, { data: { scores } });
  assert.equal(r.status(), 200, `scores ${board}: ${r.status()} ${await r.text()}`);
  assert.equal((await r.json()).accepted, scores.length);
}

test('the board page: top 100 in rank order (ties by time), your rank and the ranks around you when signed in, a friends box, a past season', { skip: WEB_ONLY }, async () => {
  let r = await api.post('/v1/admin/boards', { data: { board_id: BOARD, name: 'Browser test fans', components: 2, operator: 'best' } });
  assert.equal(r.status(), 201, await r.text());
  // 12 fans: fan-1 highest; fan-tie-a reached [5,500] before fan-tie-b (separate writes)
  const scores = [];
  for (let i = 1; i <= 10; i++) scores.push({ user_id: `fan-${i}`, score: [20 - i, 1000 - i] });
  await writeScores(BOARD, scores);
  await writeScores(BOARD, [{ user_id: 'fan-tie-a', score: [5, 500] }]);
  await writeScores(BOARD, [{ user_id: 'fan-tie-b', score: [5, 500] }]);
  await writeScores(BOARD, [{ user_id: USER, score: [15, 0] }]); // ranks between fan-5 [15,995] and fan-6 [14,994]

  const { ctx, page } = await newPage(PHONE);
  await page.goto(`${BASE}/board.html?board=${BOARD}`);
  const rows = page.locator('[data-testid=top] tr[data-user]');
  await rows.nth(12).waitFor();
  const order = await rows.evaluateAll((trs) => trs.map((tr) => `${tr.dataset.rank}:${tr.dataset.user}`));
  assert.deepEqual(order, ['1:fan-1', '2:fan-2', '3:fan-3', '4:fan-4', '5:fan-5', `6:${USER}`, '7:fan-6', '8:fan-7',
                           '9:fan-8', '10:fan-9', '11:fan-10', '12:fan-tie-a', '13:fan-tie-b']);
  assert.match(await page.locator('[data-testid=top-season]').textContent(), /season 1/);
  assert.ok(await page.locator('[data-testid=me]').isHidden(), 'no "your rank" while signed out');
  await shot(page, 'board-phone');

  await signIn(page, USER);
  const around = page.locator('[data-testid=around] tr[data-user]');
  await around.nth(10).waitFor();
  assert.equal(await around.count(), 11, 'radius 5 above and below, and the user');
  assert.equal(await page.locator('[data-testid=around] tr.mine').getAttribute('data-user'), USER);
  assert.equal(await page.locator('[data-testid=around] tr.mine').getAttribute('data-rank'), '6');

  await page.fill('#friends', `fan-tie-b, nobody-${RUN}\nfan-2 ${USER}`);
  await page.click('#friends-btn');
  const fr = page.locator('[data-testid=friends] tr[data-user]');
  await fr.nth(2).waitFor();
  assert.deepEqual(await fr.evaluateAll((trs) => trs.map((tr) => `${tr.dataset.rank}:${tr.dataset.user}`)),
                   ['2:fan-2', `6:${USER}`, '13:fan-tie-b'], 'friends by global rank, the unknown left out');
  assert.match(await page.locator('[data-testid=friends-msg]').textContent(), /3 of 4/);
  await shot(page, 'board-signed-in-phone');
  await ctx.close();

  // a new season: the current one is empty, season 1 keeps its final ranks
  r = await api.post(`/v1/admin/boards/${BOARD}/seasons`, { data: {} });
  assert.ok([200, 201].includes(r.status()), await r.text());
  const p2 = await newPage(DESKTOP);
  await p2.page.goto(`${BASE}/board.html?board=${BOARD}`);
  await p2.page.locator('[data-testid=top-season]').filter({ hasText: 'season 2' }).waitFor();
  await p2.page.locator('#top-status').filter({ hasText: 'No scores yet' }).waitFor();
  await p2.page.fill('#season', '1');
  await p2.page.click('#season-btn');
  await p2.page.locator('[data-testid=top-season]').filter({ hasText: /^season 1$/ }).waitFor();
  await p2.page.locator('[data-testid=top] tr[data-user]').nth(12).waitFor();
  await shot(p2.page, 'board-past-season-desktop');
  // an unknown board says so
  await p2.page.goto(`${BASE}/board.html?board=${RUN}-nope`);
  await p2.page.locator('[data-testid=board-error]').filter({ hasText: 'No such board' }).waitFor();
  await p2.ctx.close();
  noPageErrors();
});

test('the admin page creates a board, shows its books and starts a new season', { skip: WEB_ONLY }, async () => {
  const id = `${RUN}-lbadm`;
  const { ctx, page } = await newPage(DESKTOP);
  await page.goto(`${BASE}/admin.html`);
  await page.fill('#token', TOKEN);
  await page.click('#token-save');
  await page.fill('#bc-id', id);
  await page.fill('#bc-name', 'Made in the admin page');
  await page.selectOption('#bc-op', 'incr');
  await page.click('#board-create-btn');
  await page.locator('[data-testid=board-create-msg].msg-ok').waitFor();
  await page.locator('[data-testid=bv-season]').filter({ hasText: /^1$/ }).waitFor();
  await writeScores(id, [{ user_id: 'a', score: [1, 2] }, { user_id: 'b', score: [3, 4] }]);
  // the books agree once the workers have written both users
  for (let i = 0; i < 40; i++) {
    await page.click('#board-view-btn');
    await page.locator('[data-testid=board-view]').waitFor({ state: 'visible' });
    if ((await page.locator('#bv-users').textContent()) === '2' && /agree/.test(await page.locator('[data-testid=bv-agree]').textContent())) break;
    await page.waitForTimeout(250);
  }
  assert.equal(await page.locator('#bv-users').textContent(), '2');
  assert.match(await page.locator('[data-testid=bv-agree]').textContent(), /agree/);
  await shot(page, 'admin-board-desktop');
  await page.click('[data-testid=board-roll]');
  await page.locator('[data-testid=board-msg]').filter({ hasText: 'Season 2 has begun' }).waitFor();
  await page.locator('[data-testid=bv-season]').filter({ hasText: /^2$/ }).waitFor();
  await ctx.close();
  noPageErrors();
});

test('the event page shows a priority presale window; a fan outside the top is told to wait', { skip: WEB_ONLY }, async () => {
  const ev = `${RUN}-prio`;
  const board = `${RUN}-lbpr`;
  let r = await api.post('/v1/admin/boards', { data: { board_id: board, name: 'Presale fans', components: 1, operator: 'set' } });
  assert.equal(r.status(), 201, await r.text());
  await writeScores(board, [{ user_id: 'top-fan', score: [100] }, { user_id: USER2, score: [1] }]);
  const prOpens = new Date(Date.now() + 1500).toISOString(), opens = new Date(Date.now() + 3600e3).toISOString();
  r = await api.post('/v1/admin/events', { data: { event_id: ev, name: 'Presale', stock: 5, max_per_user: 1, opens_at: opens,
                                                   priority: { board_id: board, top: 1, opens_at: prOpens } } });
  assert.equal(r.status(), 201, await r.text());
  await new Promise((res) => setTimeout(res, 2000));
  const { ctx, page } = await newPage(PHONE);
  await page.goto(`${BASE}/event.html?event=${ev}`);
  await page.locator('#event-state .badge-priority').waitFor();
  const note = page.locator('[data-testid=priority-note]');
  await note.filter({ hasText: `top 1 fans of leaderboard ${board}` }).waitFor();
  assert.equal(await page.locator('[data-testid=priority-board]').getAttribute('href'), `board.html?board=${board}`);
  await signIn(page, USER2);
  await page.click('#claim-btn');
  await page.locator('[data-testid=claim-msg][data-code=not_open]').filter({ hasText: 'Only the top fans' }).waitFor();
  await shot(page, 'event-priority-phone');
  await ctx.close();
  noPageErrors();
});
