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
const DEV_LOGIN = process.env.MOCK_DEV_LOGIN !== '0';
const USER_RE = /^[A-Za-z0-9_.:@-]{1,64}$/;

const b64u = (buf) => Buffer.from(buf).toString('base64url');
function mint(sub, ttl = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64u(JSON.stringify({ sub, iat: now, exp: now + ttl }));
  const sig = crypto.createHmac('sha256', USER_KEY).update(`${head}.${body}`).digest('base64url');
  return { token: `${head}.${body}.${sig}`, exp: now + ttl };
}
// -> {sub} or {why} (the 401 message)
function verify(req) {
  const a = req.headers.authorization || '';
  if (!a) return { why: 'missing bearer token', sent: false };
  const m = a.match(/^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/);
  if (!m) return { why: 'malformed token', sent: true };
  let head, body;
  try { head = JSON.parse(Buffer.from(m[1], 'base64url')); body = JSON.parse(Buffer.from(m[2], 'base64url')); } catch { return { why: 'malformed token', sent: true }; }
  if (!head || head.alg !== 'HS256') return { why: 'algorithm not allowed', sent: true };
  const want = crypto.createHmac('sha256', USER_KEY).update(`${m[1]}.${m[2]}`).digest();
  const got = Buffer.from(m[3], 'base64url');
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return { why: 'bad signature', sent: true };
  const now = Date.now() / 1000;
  if (typeof body.exp !== 'number') return { why: 'malformed token', sent: true };
  if (body.exp + 30 < now) return { why: 'expired', sent: true };
  if (typeof body.nbf === 'number' && body.nbf - 30 > now) return { why: 'not yet valid', sent: true };
  if (typeof body.sub !== 'string' || !USER_RE.test(body.sub)) return { why: 'bad subject', sent: true };
  return { sub: body.sub };
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
  return { event_id: ev.id, name: ev.name, version: e.version, state, stock_total: ev.total, remaining: ev.remaining,
           max_per_user: ev.maxpu, opens_at: ev.opens ? new Date(ev.opens).toISOString() : null,
           closes_at: ev.closes ? new Date(ev.closes).toISOString() : null };
}
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
  if ((m = p.match(/^\/v1\/events\/([a-z0-9_-]{1,64})\/claims$/)) && req.method === 'POST') {
    const who = verify(req); if (!who.sub) return refuse(res, who);
    const e = events.get(m[1]); if (!e) return err(res, 404, 'not_found', `no event ${m[1]}`);
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
      if (events.has(b.event_id)) return err(res, 409, 'exists', 'exists');
      const e = { ev: { id: b.event_id, name: b.name || b.event_id, total: b.stock, remaining: b.stock, maxpu: b.max_per_user || 1,
                        opens: b.opens_at ? Date.parse(b.opens_at) : 0, closes: b.closes_at ? Date.parse(b.closes_at) : 0, stored: 'open' },
                  claims: new Map(), seq: 0, granted: 0, version: 1, held: new Set(), seen: new Map() };
      events.set(b.event_id, e);
      return send(res, 201, view(e));
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
