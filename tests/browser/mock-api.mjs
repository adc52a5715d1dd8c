// mock-api.mjs: an in-memory stand-in for the gateway (API.md 1.1, with user
// tokens required) that also serves web/, for working on the pages without
// the C backend. Claims go pending -> confirmed after CONFIRM_MS. Not used by
// run.sh.
//   node mock-api.mjs PORT TOKEN [CERT KEY]   (with CERT and KEY: HTTPS)
// User tokens: HS256 JWTs signed with a key of this process (MOCK_USER_SECRET,
// else random), checked as the gateway checks them (alg, signature, exp, nbf,
// 30 s skew); POST /v1/dev/login mints one unless MOCK_DEV_LOGIN=0 (then 404,
// as a gateway without DEV_LOGIN).
// GET /v1/events/ID/watch is the long-poll of API.md (user token required):
// answers at once when `since` is absent or differs from the event's version,
// else holds until the event changes (claim, restock, state, cancel) or
// `wait` s (0-25, default 25) run out; `watching` counts the users whose
// last watch of the event is under 30 s old.
// Waiting room (API.md "Waiting room"): an event created with
// "waiting_room":{"enabled":true,"release_per_s":N,"access_ttl_s":T,"opens_at":ISO|null}
// takes joins (POST /v1/events/ID/queue: a place numbered in arrival order,
// the same place again for the same user) and status long-polls
// (GET /v1/events/ID/queue/USER?wait=0-25, default 20: held until the user is
// admitted or the wait runs out). Every join and status is the place's
// heartbeat. An admitter walks the line every 50 ms at release_per_s (a
// carry keeps the fraction, no burst after a pause): a place heard from in
// the last 30 s is admitted (an access token: HS256 with a key of its own,
// aud = the event, exp = admission + access_ttl_s), an older one is abandoned
// (410 expired; joining again gives a new place at the back) without using
// the budget. `ahead` counts present places only; eta_s = ceil(ahead / rate)
// (the rate measured over 30 s, else the configured one; null while paused).
// A claim on a room event needs the access token as its bearer (else 403
// not_admitted, 401 when it is signed by neither key). Admin:
// GET/POST /v1/admin/events/ID/queue (the view; {"release_per_s"}, {"paused"}).
import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [port = '8099', token = 'secret', cert, key] = process.argv.slice(2);
const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
const CONFIRM_MS = Number(process.env.CONFIRM_MS || 1500);
const TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
                '.js': 'text/javascript; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml' };
const events = new Map();   // id -> {ev, claims: Map(user -> claim), seq, granted, confirmed, cancelled}
const USER_KEY = process.env.MOCK_USER_SECRET ? Buffer.from(process.env.MOCK_USER_SECRET) : crypto.randomBytes(32);
const ACCESS_KEY = crypto.randomBytes(32);      // the waiting rooms' access tokens
const PRESENT_MS = 30000;                       // a heartbeat counts for exactly 30 s
const DEV_LOGIN = process.env.MOCK_DEV_LOGIN !== '0';
const USER_RE = /^[A-Za-z0-9_.:@-]{1,64}$/;

const b64u = (buf) => Buffer.from(buf).toString('base64url');
function mint(sub, ttl = 3600, key = USER_KEY, extra = {}, now = Math.floor(Date.now() / 1000)) {
  const head = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64u(JSON.stringify({ sub, ...extra, iat: now, exp: now + ttl }));
  const sig = crypto.createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
  return { token: `${head}.${body}.${sig}`, exp: now + ttl };
}
// -> {sub, body} or {why} (the 401 message)
function verify(req, key = USER_KEY) {
  const a = req.headers.authorization || '';
  if (!a) return { why: 'missing bearer token', sent: false };
  const m = a.match(/^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/);
  if (!m) return { why: 'malformed token', sent: true };
  let head, body;
  try { head = JSON.parse(Buffer.from(m[1], 'base64url')); body = JSON.parse(Buffer.from(m[2], 'base64url')); } catch { return { why: 'malformed token', sent: true }; }
  if (!head || head.alg !== 'HS256') return { why: 'algorithm not allowed', sent: true };
  const want = crypto.createHmac('sha256', key).update(`${m[1]}.${m[2]}`).digest();
  const got = Buffer.from(m[3], 'base64url');
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return { why: 'bad signature', sent: true };
  const now = Date.now() / 1000;
  if (typeof body.exp !== 'number') return { why: 'malformed token', sent: true };
  if (body.exp + 30 < now) return { why: 'expired', sent: true };
  if (typeof body.nbf === 'number' && body.nbf - 30 > now) return { why: 'not yet valid', sent: true };
  if (typeof body.sub !== 'string' || !USER_RE.test(body.sub)) return { why: 'bad subject', sent: true };
  return { sub: body.sub, body };
}
function refuse(res, v) {
  err(res, 401, 'unauthorized', v.why, { 'WWW-Authenticate': v.sent ? 'Bearer error="invalid_token"' : 'Bearer' });
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}
function err(res, status, code, message, headers) { send(res, status, { error: { code, message } }, headers); }
function view(e) {
  const now = Date.now(), ev = e.ev;
  let state = ev.stored;
  if (state === 'closed' || (ev.closes && now >= ev.closes)) state = 'closed';
  else if (state === 'paused') state = 'paused';
  else if (ev.opens && now < ev.opens) state = 'scheduled';
  else if (ev.remaining === 0) state = 'sold_out';
  else state = 'open';
  const q = e.q;
  return { event_id: ev.id, name: ev.name, version: e.version, state, stock_total: ev.total, remaining: ev.remaining,
           max_per_user: ev.maxpu, opens_at: ev.opens ? new Date(ev.opens).toISOString() : null,
           closes_at: ev.closes ? new Date(ev.closes).toISOString() : null,
           waiting_room: q ? { enabled: true, release_per_s: q.rate, access_ttl_s: q.ttl,
                               opens_at: q.opens ? new Date(q.opens).toISOString() : null } : null };
}

// ---- waiting room
// The create body's waiting_room -> the room (null: none), or a string: what is wrong.
function parseRoom(w) {
  if (w === undefined || w === null) return null;
  if (typeof w !== 'object' || Array.isArray(w) || typeof w.enabled !== 'boolean') return 'waiting_room.enabled';
  const rate = w.release_per_s ?? 200, ttl = w.access_ttl_s ?? 300;
  if (!Number.isInteger(rate) || rate < 1 || rate > 100000) return 'waiting_room.release_per_s';
  if (!Number.isInteger(ttl) || ttl < 10 || ttl > 86400) return 'waiting_room.access_ttl_s';
  const opens = w.opens_at === undefined || w.opens_at === null ? 0 : Date.parse(w.opens_at);
  if (Number.isNaN(opens)) return 'waiting_room.opens_at';
  if (!w.enabled) return null;
  return { rate, ttl, opens, n: 0, pos: new Map(), line: new Map(), seen: new Map(), adm: new Map(), gone: new Set(),
           serving: 0, admitted: 0, abandoned: 0, paused: false, carry: 0, last: Date.now(), rel: [], meas: 0, held: new Set() };
}
const present = (q, u, now) => (q.seen.get(u) || 0) > now - PRESENT_MS;
function eta(q, ahead) {
  if (q.paused) return null;
  const rate = q.meas > 0 ? q.meas : q.rate;
  return Math.ceil(ahead / rate);
}
// The user's answer: [status, body] (waiting, admitted, 410 expired, 404 no place).
function placeView(e, u) {
  const q = e.q, now = Date.now();
  if (q.adm.has(u)) {
    const at = q.adm.get(u);
    const t = mint(u, q.ttl, ACCESS_KEY, { aud: e.ev.id }, Math.floor(at / 1000));
    return [200, { event_id: e.ev.id, user_id: u, state: 'admitted', access_token: t.token, expires_at: new Date(t.exp * 1000).toISOString() }];
  }
  if (q.gone.has(u)) return [410, { error: { code: 'expired', message: 'the place was abandoned (no heartbeat for 30 s); join again' } }];
  if (!q.pos.has(u)) return [404, { error: { code: 'not_found', message: 'no place' } }];
  const place = q.pos.get(u);
  let ahead = 0;
  for (const [p, v] of q.line) { if (p >= place) break; if (present(q, v, now)) ahead++; }
  return [200, { event_id: e.ev.id, user_id: u, position: place, ahead, state: 'waiting', serving: q.serving,
                 eta_s: eta(q, ahead), poll_after_ms: 1000 }];
}
// One admission step of every room (the whole "fleet" is this process).
function admitTick() {
  const now = Date.now();
  for (const e of events.values()) {
    const q = e.q; if (!q) continue;
    const elapsed = Math.min(1000, now - q.last); q.last = now;
    if (q.paused) { q.carry = 0; continue; }
    const total = q.carry + q.rate * elapsed / 1000;
    let k = Math.floor(total); q.carry = total - k;
    let moved = false;
    for (const [p, u] of q.line) {
      if (k === 0) break;
      q.line.delete(p); q.serving = p; moved = true;
      if (present(q, u, now)) { q.adm.set(u, now); q.admitted++; k--; } else { q.gone.add(u); q.abandoned++; }
    }
    if (q.line.size === 0) q.carry = 0;
    if (!q.rel.length || now - q.rel[0][0] >= 1000) {
      q.rel.unshift([now, q.admitted]); q.rel.length = Math.min(q.rel.length, 32);
      const old = q.rel.filter((x) => now - x[0] <= 30000).pop();
      q.meas = old && now > old[0] ? (q.admitted - old[1]) * 1000 / (now - old[0]) : 0;
    }
    if (moved) { const held = q.held; q.held = new Set(); for (const w of held) w(); }
  }
}
setInterval(admitTick, 50).unref();
// The event changed: a new version, and every held watch of it is answered.
function bump(e) {
  e.version++;
  const held = e.held; e.held = new Set();
  for (const w of held) w();
}
function watching(e) {
  const from = Date.now() - 30000;
  let n = 0;
  for (const [u, t] of e.seen) { if (t > from) n++; else e.seen.delete(u); }
  return n;
}
function claimView(e, c) {
  if (c.status === 'pending' && Date.now() - c.at >= CONFIRM_MS) { c.status = 'confirmed'; }
  return { claim_id: `c-${e.ev.id}-${c.ticket}`, event_id: e.ev.id, user_id: c.user, ticket: c.ticket,
           quantity: c.qty, status: c.status, created_at: new Date(c.at).toISOString() };
}
function body(req) {
  return new Promise((resolve) => {
    let s = ''; req.on('data', (d) => { s += d; }); req.on('end', () => {
      try { resolve(s ? JSON.parse(s) : {}); } catch { resolve(undefined); }
    });
  });
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  if (!p.startsWith('/v1/')) {
    const file = path.join(WEB, p === '/' ? 'index.html' : path.normalize(p).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(WEB) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) return err(res, 404, 'not_found', 'no such file');
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
    return res.end(fs.readFileSync(file));
  }
  let m;
  if (p === '/v1/dev/login' && req.method === 'POST') {
    if (!DEV_LOGIN) return err(res, 404, 'not_found', 'no such route or page');
    const b = await body(req);
    if (!b || typeof b.user_id !== 'string' || !USER_RE.test(b.user_id)) return err(res, 400, 'bad_request', 'user_id');
    const t = mint(b.user_id);
    return send(res, 200, { token: t.token, user_id: b.user_id, expires_at: new Date(t.exp * 1000).toISOString() });
  }
  if (p === '/v1/events' && req.method === 'GET') {
    return send(res, 200, { events: [...events.values()].map(view).filter((v) => v.state !== 'closed') });
  }
  if ((m = p.match(/^\/v1\/events\/([a-z0-9_-]{1,64})$/)) && req.method === 'GET') {
    const e = events.get(m[1]); if (!e) return err(res, 404, 'not_found', `no event ${m[1]}`);
    return send(res, 200, view(e));
  }
  if ((m = p.match(/^\/v1\/events\/([a-z0-9_-]{1,64})\/watch$/)) && req.method === 'GET') {
    const who = verify(req); if (!who.sub) return refuse(res, who);
    const e = events.get(m[1]); if (!e) return err(res, 404, 'not_found', `no event ${m[1]}`);
    const q = url.searchParams, since = q.get('since'), wait = q.has('wait') ? Number(q.get('wait')) : 25;
    if (since !== null && !/^\d{1,18}$/.test(since)) return err(res, 400, 'bad_request', 'since');
    if (!Number.isInteger(wait) || wait < 0 || wait > 25) return err(res, 400, 'bad_request', 'wait');
    if (q.has('tab') && !/^(\d|[1-9]\d)$/.test(q.get('tab'))) return err(res, 400, 'bad_request', 'tab');
    if (q.has('page') && !/^[a-z0-9_-]{1,32}$/.test(q.get('page'))) return err(res, 400, 'bad_request', 'page');
    e.seen.set(who.sub, Date.now());
    const answer = () => { e.seen.set(who.sub, Date.now()); send(res, 200, { event: view(e), version: e.version, watching: watching(e) }); };
    if (since === null || wait === 0 || Number(since) !== e.version) return answer();
    let timer = null;
    const w = () => { clearTimeout(timer); answer(); };
    timer = setTimeout(() => { e.held.delete(w); answer(); }, wait * 1000);
    e.held.add(w);
    res.on('close', () => { clearTimeout(timer); e.held.delete(w); });
    return;
  }
  if ((m = p.match(/^\/v1\/events\/([a-z0-9_-]{1,64})\/queue$/)) && req.method === 'POST') {
    const who = verify(req); if (!who.sub) return refuse(res, who);
    const e = events.get(m[1]); if (!e) return err(res, 404, 'not_found', `no event ${m[1]}`);
    const q = e.q; if (!q) return err(res, 409, 'no_waiting_room', 'this event has no waiting room');
    if (await body(req) === undefined) return err(res, 400, 'bad_request', 'body');
    const u = who.sub, now = Date.now();
    q.seen.set(u, now);
    if (q.adm.has(u) || (q.pos.has(u) && !q.gone.has(u))) { const [st, b] = placeView(e, u); return send(res, st, b); }
    const st = view(e).state;
    if (q.opens && now < q.opens) return err(res, 403, 'not_open', 'the waiting room is not open yet');
    if (st === 'closed') return err(res, 403, 'closed', 'closed');
    if (e.ev.remaining === 0) return err(res, 409, 'sold_out', 'sold out');
    q.gone.delete(u);
    const place = ++q.n;
    q.pos.set(u, place); q.line.set(place, u);
    const [, b] = placeView(e, u);
    return send(res, 201, b);
  }
  if ((m = p.match(/^\/v1\/events\/([a-z0-9_-]{1,64})\/queue\/([A-Za-z0-9_.:@-]{1,64})$/)) && req.method === 'GET') {
    const who = verify(req); if (!who.sub) return refuse(res, who);
    if (m[2] !== who.sub) return err(res, 403, 'forbidden', 'another user\'s place');
    const e = events.get(m[1]); if (!e) return err(res, 404, 'not_found', `no event ${m[1]}`);
    const q = e.q; if (!q) return err(res, 409, 'no_waiting_room', 'this event has no waiting room');
    const wait = url.searchParams.has('wait') ? Number(url.searchParams.get('wait')) : 20;
    if (!Number.isInteger(wait) || wait < 0 || wait > 25) return err(res, 400, 'bad_request', 'wait');
    const u = who.sub;
    const answer = () => {
      if (q.pos.has(u) && !q.gone.has(u) && !q.adm.has(u)) q.seen.set(u, Date.now());
      const [st, b] = placeView(e, u); send(res, st, b);
    };
    const [st] = placeView(e, u);
    if (st !== 200 || q.adm.has(u) || wait === 0) return answer();
    q.seen.set(u, Date.now());
    let timer = null;
    const w = () => { if (!q.adm.has(u) && !q.gone.has(u)) { q.held.add(w); return; } clearTimeout(timer); answer(); };
    timer = setTimeout(() => { q.held.delete(w); answer(); }, wait * 1000);
    q.held.add(w);
    res.on('close', () => { clearTimeout(timer); q.held.delete(w); });
    return;
  }
  if ((m = p.match(/^\/v1\/events\/([a-z0-9_-]{1,64})\/claims$/)) && req.method === 'POST') {
    const e = events.get(m[1]);
    let who;
    if (e && e.q) {
      // a room's claim: the access token as the bearer, for this event, not expired
      who = verify(req, ACCESS_KEY);
      if (who.sub && (who.body.aud !== e.ev.id || !(who.body.exp > Date.now() / 1000))) {
        return err(res, 403, 'not_admitted', who.body.aud !== e.ev.id ? 'access token for another event' : 'access token expired');
      }
      if (!who.sub) {
        const asUser = verify(req);
        if (asUser.sub) return err(res, 403, 'not_admitted', 'this event has a waiting room: claim with its access token');
        return refuse(res, asUser);
      }
    } else {
      who = verify(req); if (!who.sub) return refuse(res, who);
    }
    if (!e) return err(res, 404, 'not_found', `no event ${m[1]}`);
    const b = await body(req);
    if (!b || typeof b !== 'object') return err(res, 400, 'bad_request', 'body');
    if (b.user_id !== undefined && (typeof b.user_id !== 'string' || !USER_RE.test(b.user_id))) return err(res, 400, 'bad_request', 'user_id');
    if (b.user_id !== undefined && b.user_id !== who.sub) return err(res, 403, 'forbidden', 'user_id is not the token\'s user');
    b.user_id = who.sub;
    if (b.user_id.startsWith('ratelimit')) return err(res, 429, 'rate_limited', 'slow down', { 'Retry-After': '3' });
    const old = e.claims.get(b.user_id);
    if (old && old.status !== 'cancelled') return send(res, 200, claimView(e, old));
    const st = view(e).state;
    if (st === 'scheduled') return err(res, 403, 'not_open', 'not open');
    if (st === 'paused' || st === 'closed') return err(res, 403, st, st);
    const qty = b.quantity || 1;
    if (qty > e.ev.maxpu) return err(res, 409, 'limit_reached', 'limit');
    e.seq++;
    if (e.ev.remaining < qty) return err(res, 409, 'sold_out', `event ${e.ev.id} is sold out`);
    e.ev.remaining -= qty; e.granted += qty;
    const c = { user: b.user_id, ticket: e.seq, qty, at: Date.now(), status: 'pending' };
    e.claims.set(b.user_id, c);
    bump(e);
    return send(res, 201, claimView(e, c), { Location: `/v1/events/${e.ev.id}/claims/${b.user_id}` });
  }
  if ((m = p.match(/^\/v1\/events\/([a-z0-9_-]{1,64})\/claims\/([A-Za-z0-9_.:@-]{1,64})$/)) && req.method === 'GET') {
    const who = verify(req); if (!who.sub) return refuse(res, who);
    if (m[2] !== who.sub) return err(res, 403, 'forbidden', 'another user\'s claim');
    const e = events.get(m[1]); const c = e && e.claims.get(m[2]);
    if (!c) return err(res, 404, 'not_found', 'no claim');
    return send(res, 200, claimView(e, c));
  }
  if (p.startsWith('/v1/admin/')) {
    if (req.headers.authorization !== `Bearer ${token}`) return err(res, 401, 'unauthorized', 'unauthorized');
    if (p === '/v1/admin/events' && req.method === 'POST') {
      const b = await body(req);
      if (!b || !/^[a-z0-9_-]{1,64}$/.test(b.event_id || '') || !Number.isInteger(b.stock)) return err(res, 400, 'bad_request', 'bad event');
      const room = parseRoom(b.waiting_room);
      if (typeof room === 'string') return err(res, 400, 'bad_request', room);
      if (events.has(b.event_id)) return err(res, 409, 'exists', 'exists');
      const e = { ev: { id: b.event_id, name: b.name || b.event_id, total: b.stock, remaining: b.stock, maxpu: b.max_per_user || 1,
                        opens: b.opens_at ? Date.parse(b.opens_at) : 0, closes: b.closes_at ? Date.parse(b.closes_at) : 0, stored: 'open' },
                  claims: new Map(), seq: 0, granted: 0, version: 1, held: new Set(), seen: new Map(), q: room };
      events.set(b.event_id, e);
      return send(res, 201, view(e));
    }
    if ((m = p.match(/^\/v1\/admin\/events\/([a-z0-9_-]{1,64})\/queue$/))) {
      const e = events.get(m[1]); if (!e) return err(res, 404, 'not_found', `no event ${m[1]}`);
      const q = e.q; if (!q) return err(res, 409, 'no_waiting_room', 'this event has no waiting room');
      const qview = () => {
        const now = Date.now();
        return { joined: q.n, present: [...q.line.values()].filter((u) => present(q, u, now)).length, admitted: q.admitted,
                 serving: q.serving, abandoned: q.abandoned, release_per_s: q.rate, measured_release_per_s: q.meas, paused: q.paused };
      };
      if (req.method === 'GET') return send(res, 200, qview());
      if (req.method === 'POST') {
        const b = await body(req);
        if (!b || typeof b !== 'object' || (b.release_per_s === undefined && b.paused === undefined)) return err(res, 400, 'bad_request', 'release_per_s and/or paused');
        if (b.release_per_s !== undefined && (!Number.isInteger(b.release_per_s) || b.release_per_s < 1 || b.release_per_s > 100000)) return err(res, 400, 'bad_request', 'release_per_s');
        if (b.paused !== undefined && typeof b.paused !== 'boolean') return err(res, 400, 'bad_request', 'paused');
        if (b.release_per_s !== undefined) q.rate = b.release_per_s;
        if (b.paused !== undefined) q.paused = b.paused;
        bump(e);
        return send(res, 200, qview());
      }
    }
    if ((m = p.match(/^\/v1\/admin\/events\/([a-z0-9_-]{1,64})(\/stock|\/state|\/claims\/([A-Za-z0-9_.:@-]{1,64}))?$/))) {
      const e = events.get(m[1]); if (!e) return err(res, 404, 'not_found', `no event ${m[1]}`);
      if (!m[2] && req.method === 'GET') {
        const cs = [...e.claims.values()].map((c) => claimView(e, c));
        const sum = (s) => cs.filter((c) => c.status === s).reduce((a, c) => a + c.quantity, 0);
        return send(res, 200, { event: view(e), redis: { granted: e.granted, remaining: e.ev.remaining, tickets_issued: e.seq },
          database: { confirmed: sum('confirmed'), rejected: 0, cancelled: sum('cancelled') }, pending: sum('pending'), drain_lag_ms: 12 });
      }
      if (m[2] === '/stock' && req.method === 'POST') {
        const b = await body(req); if (!b || !Number.isInteger(b.delta) || e.ev.remaining + b.delta < 0) return err(res, 400, 'bad_request', 'delta');
        e.ev.total += b.delta; e.ev.remaining += b.delta; bump(e); return send(res, 200, view(e));
      }
      if (m[2] === '/state' && req.method === 'POST') {
        const b = await body(req); if (!b || !['open', 'paused', 'closed'].includes(b.state)) return err(res, 400, 'bad_request', 'state');
        e.ev.stored = b.state; bump(e); return send(res, 200, view(e));
      }
      if (m[3] && req.method === 'DELETE') {
        const c = e.claims.get(m[3]); if (!c) return err(res, 404, 'not_found', 'no claim');
        if (c.status !== 'cancelled') { c.status = 'cancelled'; e.ev.remaining += c.qty; e.granted -= c.qty; bump(e); }
        return send(res, 200, claimView(e, c));
      }
    }
  }
  return err(res, 404, 'not_found', 'no route');
}

const server = cert ? https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, handle) : http.createServer(handle);
server.listen(Number(port), '127.0.0.1', () => console.log(`mock api on ${cert ? 'https' : 'http'}://127.0.0.1:${port}`));
