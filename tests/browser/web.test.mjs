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
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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

if (!BASE) throw new Error('TK_BASE_URL is not set (e.g. https://127.0.0.1:8443)');
if (!WEB_ONLY && !TOKEN) throw new Error('ADMIN_TOKEN is not set');

let browser, api;
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
    await createEvent(EV_MAIN, 'Browser test main', 50, 1);
    await createEvent(EV_ONE, 'Browser test single unit', 1, 1);
  }
});

after(async () => {
  if (api) await api.dispose();
  if (browser) await browser.close();
});

async function createEvent(id, name, stock, maxpu) {
  const r = await api.post('/v1/admin/events', { data: { event_id: id, name, stock, max_per_user: maxpu } });
  assert.equal(r.status(), 201, `create ${id}: ${r.status()} ${await r.text()}`);
}

async function newPage(viewport = PHONE) {
  const ctx = await browser.newContext({
    ignoreHTTPSErrors: true, viewport, deviceScaleFactor: 1,
    isMobile: viewport.width < 600, hasTouch: viewport.width < 600,
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  return { ctx, page };
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

// ---------------------------------------------------------------- web only

test('pages load and show API errors readably (no API)', { skip: !WEB_ONLY }, async () => {
  for (const [file, vp] of [['index.html', PHONE], ['index.html', DESKTOP], ['event.html?event=demo', PHONE],
                            ['claim.html?event=demo&user=u-1', PHONE], ['admin.html', PHONE], ['admin.html', DESKTOP]]) {
    const { ctx, page } = await newPage(vp);
    const res = await page.goto(`${BASE}/${file}`);
    assert.equal(res.status(), 200, file);
    await page.waitForLoadState('networkidle');
    assert.equal(await page.locator('header.top nav a').count(), 3, `${file}: navigation`);
    const name = `webonly-${file.replace(/\.html.*/, '')}-${vp === PHONE ? 'phone' : 'desktop'}`;
    await shot(page, name);
    // Nothing in the layout may be wider than the viewport (no sideways scroll on a phone).
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${file}: page is ${overflow}px wider than the viewport`);
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
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `index: page is ${overflow}px wider than the viewport`);
    await shot(page, `index-${tag}`);
    await ctx.close();
  }
  noPageErrors();
});

let firstTicket = '';

test('a claim on the event page shows a ticket, then confirmed; a second claim shows the same ticket', { skip: WEB_ONLY }, async () => {
  const { ctx, page } = await newPage(PHONE);
  await page.goto(`${BASE}/event.html?event=${EV_MAIN}`);
  await page.locator('#event-name').filter({ hasText: 'Browser test main' }).waitFor();
  await page.fill('#user-id', USER);
  await page.click('#claim-btn');
  const ticket = page.locator('[data-testid=ticket-no]');
  await ticket.filter({ hasText: /^#\d+$/ }).waitFor();
  firstTicket = (await ticket.textContent()).trim();
  await shot(page, 'event-claimed-phone');
  // pending -> confirmed once a worker has drained the claim into the database
  await page.locator('#ticket [data-testid=claim-status]').filter({ hasText: 'confirmed' }).waitFor({ timeout: 30000 });
  await shot(page, 'event-confirmed-phone');

  // same user again: 200 with the same claim, same ticket on screen
  await page.click('#claim-btn');
  await page.locator('#repeat-note').waitFor({ state: 'visible' });
  await page.locator('[data-testid=claim-msg]').filter({ hasText: 'already hold' }).waitFor();
  assert.equal((await ticket.textContent()).trim(), firstTicket);
  await shot(page, 'event-second-claim-phone');

  // the user id is remembered on the device, and the claim is shown on return
  await page.reload();
  assert.equal(await page.inputValue('#user-id'), USER);
  await ticket.filter({ hasText: firstTicket }).waitFor();
  await ctx.close();

  // the remaining stock went down by one
  const r = await api.get(`/v1/events/${EV_MAIN}`);
  assert.equal((await r.json()).remaining, 49);
  noPageErrors();
});

test('a sold-out event shows the sold-out message', { skip: WEB_ONLY }, async () => {
  const r = await api.post(`/v1/events/${EV_ONE}/claims`, { data: { user_id: `other-${RUN}` } });
  assert.equal(r.status(), 201, await r.text());
  const { ctx, page } = await newPage(PHONE);
  await page.goto(`${BASE}/event.html?event=${EV_ONE}`);
  await page.fill('#user-id', USER);
  await page.click('#claim-btn');
  const msg = page.locator('[data-testid=claim-msg][data-code=sold_out]');
  await msg.waitFor();
  assert.match(await msg.textContent(), /Sold out/);
  assert.equal(await page.locator('#ticket').isVisible(), false);
  await shot(page, 'event-sold-out-phone');
  await ctx.close();
  noPageErrors();
});

test('the lookup page finds the claim', { skip: WEB_ONLY }, async () => {
  assert.ok(firstTicket, 'needs the claim of the earlier test');
  const { ctx, page } = await newPage(PHONE);
  await page.goto(`${BASE}/claim.html`);
  await page.fill('#event-id', EV_MAIN);
  await page.fill('#user-id', USER);
  await page.click('#lookup-btn');
  await page.locator('#result [data-testid=ticket-no]').filter({ hasText: firstTicket }).waitFor();
  await page.locator('#result [data-testid=claim-status]').filter({ hasText: 'confirmed' }).waitFor();
  await shot(page, 'claim-found-phone');
  // an unknown user: a clear "no claim found"
  await page.fill('#user-id', `nobody-${RUN}`);
  await page.click('#lookup-btn');
  await page.locator('[data-testid=lookup-msg][data-code=not_found]').waitFor();
  await shot(page, 'claim-not-found-phone');
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
  await page.fill('#user-id', USER);
  await page.click('#claim-btn');
  await page.locator('[data-testid=claim-msg][data-code=paused]').filter({ hasText: 'Paused' }).waitFor();
  await shot(page, 'event-paused-phone');

  await page.goto(`${BASE}/admin.html`);
  await page.fill('#token', 'not-the-token');
  await page.click('#token-save');
  await page.fill('#w-id', EV_ADMIN);
  await page.click('#watch-btn');
  await page.locator('#watch-msg[data-code=unauthorized]').waitFor();
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
  await page.locator('#d-confirmed').filter({ hasText: /^1$/ }).waitFor();
  await page.locator('[data-testid=agree]').filter({ hasText: 'Books agree' }).waitFor();
  await page.fill('#a-user', USER);
  await page.click('#cancel-btn');
  await page.locator('[data-testid=action-msg].msg-ok').filter({ hasText: `Cancelled ticket ${firstTicket}` }).waitFor();
  await page.locator('#r-remaining').filter({ hasText: /^50$/ }).waitFor();
  await shot(page, 'admin-cancelled-phone');

  await page.goto(`${BASE}/claim.html?event=${EV_MAIN}&user=${USER}`);
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
  await page.fill('#user-id', USER);
  await page.click('#claim-btn');
  await page.locator('[data-testid=claim-msg][data-code=not_open]').filter({ hasText: 'Not open yet' }).waitFor();
  await shot(page, 'event-not-open-phone');
  await page.goto(`${BASE}/event.html?event=${EV_ONE}`);
  await page.fill('#user-id', USER);
  await page.click('#claim-btn');
  await page.locator('[data-testid=claim-msg][data-code=closed]').filter({ hasText: 'Closed' }).waitFor();
  await ctx.close();
  noPageErrors();
});
