/* session.js: who is signed in, for the user pages (event.html, claim.html,
 * queue.html).
 *
 * The gateway trusts no typed user id (API.md, "User identity (tokens)"):
 * every user call carries `Authorization: Bearer <user token>`, a JWT the
 * site's login service signed. This file holds that token for the tab and
 * nothing else:
 * - sign in with the dev login (POST /v1/dev/login, offered only when the
 *   gateway runs with DEV_LOGIN=1, as under `make run`), or by pasting a
 *   token (from a login service, or `tk-token --user u-42`);
 * - the token lives in sessionStorage ('tk.user_token'): gone when the tab
 *   closes, never in localStorage;
 * - the payload is decoded here only to SHOW who is signed in and until when,
 *   and to name the user in the status URL. It is never trusted: the
 *   signature is the gateway's to check, and a token it refuses (401) signs
 *   the tab out with the gateway's reason;
 * - requests never carry a user id in a body: the claim is the token's user's;
 * - the access tokens a waiting room hands out (queue.html) live next to it,
 *   one per event ('tk.access.<event>', sessionStorage too): only the
 *   signed-in user's, for that event and not yet expired, are handed back
 *   (access()); signing in or out forgets them all.
 * Loaded after api.js; adds TK.session. */
(function () {
  'use strict';
  var h = TK.h;
  var TOKEN_KEY = 'tk.user_token';
  var ACCESS_PREFIX = 'tk.access.';    /* + event id: that event's access token */
  var LAST_ID_KEY = 'tk.login_id';     /* the last dev-login id, to prefill (not a secret) */
  var listeners = [];
  var lastReason = '';                 /* why the tab was signed out, shown once */
  var devLogin = null;                 /* null unknown, true offered, false not offered */
  var ui = null;                       /* the mounted card's nodes */

  /* base64url -> string; null when it is not base64url. */
  function b64url(s) {
    if (!/^[A-Za-z0-9_-]*$/.test(s)) return null;
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    try {
      var bin = atob(s), bytes = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (e) { return null; }
  }

  /* The claims of a token, for display only: {sub, exp (s), iss, aud} or null
   * when it does not even look like a JWT with a subject. */
  function decode(tok) {
    if (typeof tok !== 'string') return null;
    var parts = tok.split('.');
    if (parts.length !== 3 || !parts[0] || !parts[1]) return null;
    var json = b64url(parts[1]);
    if (json === null) return null;
    var p;
    try { p = JSON.parse(json); } catch (e) { return null; }
    if (!p || typeof p !== 'object' || typeof p.sub !== 'string' || !TK.USER_ID_RE.test(p.sub)) return null;
    return { sub: p.sub, exp: typeof p.exp === 'number' ? p.exp : null, iss: p.iss, aud: p.aud };
  }

  function token() { return TK.recall('session', TOKEN_KEY); }
  function claims() { var t = token(); return t ? decode(t) : null; }
  function user() { var c = claims(); return c ? c.sub : ''; }

  function changed() {
    render();
    var u = user();
    listeners.forEach(function (fn) { try { fn(u); } catch (e) { setTimeout(function () { throw e; }); } });
  }

  /* Forgets every event's access token (they belong to the user signing out,
   * or to the one before a new sign-in). */
  function dropAccess() {
    try {
      var s = window.sessionStorage;
      for (var i = s.length - 1; i >= 0; i--) {
        var k = s.key(i);
        if (k && k.indexOf(ACCESS_PREFIX) === 0) s.removeItem(k);
      }
    } catch (e) {}
  }

  /* The access token of `eventId` when it is usable as far as this page can
   * tell (names the signed-in user and the event, not expired), else ''.
   * The gateway still decides (403 not_admitted). */
  function access(eventId) {
    var tok = TK.recall('session', ACCESS_PREFIX + eventId);
    if (!tok) return '';
    var c = decode(tok), u = user();
    var aud = c && (Array.isArray(c.aud) ? c.aud : typeof c.aud === 'string' ? [c.aud] : null);
    if (!c || !u || c.sub !== u || (aud && aud.indexOf(eventId) < 0) ||
        (c.exp !== null && c.exp * 1000 <= Date.now())) return '';
    return tok;
  }
  /* Its expiry in ms since the epoch (0 when unknown or none). */
  function accessUntil(eventId) {
    var c = decode(access(eventId));
    return c && c.exp ? c.exp * 1000 : 0;
  }
  function setAccess(eventId, tok) { TK.remember('session', ACCESS_PREFIX + eventId, tok || ''); }

  function signIn(tok) {
    lastReason = '';
    dropAccess();
    TK.remember('session', TOKEN_KEY, tok);
    changed();
  }

  /* Forgets the token; `reason` (text) is shown on the sign-in card. */
  function signOut(reason) {
    lastReason = reason || '';
    dropAccess();
    TK.remember('session', TOKEN_KEY, '');
    changed();
  }

  /* TK.request with the bearer token. Signed out: refused here, nothing sent.
   * A 401 means the gateway no longer takes this token: the tab signs out.
   * opts.bearer (an access token) is sent instead of the user token, still
   * only while signed in; its 401 does not sign the tab out (the caller
   * forgets that access token). */
  function request(method, path, opts) {
    var tok = token();
    if (!tok) return Promise.reject(new TK.ApiError(401, 'unauthorized', 'not signed in', null));
    var bearer = (opts && opts.bearer) || tok;
    opts = Object.assign({}, opts || {}, { token: bearer });
    delete opts.bearer;
    return TK.request(method, path, opts).catch(function (err) {
      if (err && err.status === 401 && bearer === tok && token() === tok) {
        signOut('The server refused your sign-in' + (err.message && err.message !== 'HTTP 401' ? ' (' + err.message + ')' : '') +
                '. Sign in again.');
      }
      throw err;
    });
  }

  /* Is the dev login offered? A POST without a user id answers 400 when it is
   * and 404 when the gateway runs without DEV_LOGIN; it signs nothing. */
  function probe() {
    TK.request('POST', '/v1/dev/login', { body: {} }).then(function () { devLogin = true; render(); }, function (err) {
      devLogin = err.status !== 404;
      render();
    });
  }

  function showMsg(err, text) {
    if (!ui) return;
    if (err) TK.showError(ui.msg, err, text); else if (text) TK.showInfo(ui.msg, text, 'warn'); else TK.hide(ui.msg);
  }

  function doDevLogin(e) {
    e.preventDefault();
    var id = ui.loginId.value.trim();
    if (!TK.USER_ID_RE.test(id)) {
      TK.showError(ui.msg, { code: 'bad_request', meaning: 'Enter a user id of 1 to 64 letters, digits or _ . : @ -' });
      ui.loginId.focus();
      return;
    }
    ui.loginBtn.disabled = true;
    TK.request('POST', '/v1/dev/login', { body: { user_id: id } }).then(function (r) {
      var tok = r.data && typeof r.data.token === 'string' ? r.data.token : '';
      if (!decode(tok)) throw new TK.ApiError(r.status, 'bad_response', 'no token in the answer', null);
      TK.remember('local', LAST_ID_KEY, id);
      signIn(tok);
    }).catch(function (err) {
      if (err.status === 404) { devLogin = false; render(); }
      TK.showError(ui.msg, err.status === 404
        ? { code: 'not_found', status: 404, meaning: 'This server offers no dev login. Paste a token from your login service instead.' }
        : err, 'Not signed in');
    }).then(function () { ui.loginBtn.disabled = false; });
  }

  function doPaste(e) {
    e.preventDefault();
    var tok = ui.paste.value.trim().replace(/^Bearer\s+/i, '');
    if (!decode(tok)) {
      TK.showError(ui.msg, { code: 'bad_request', meaning: 'That is not a user token: expected a JWT (three base64url parts) naming a user in "sub".' });
      ui.paste.focus();
      return;
    }
    ui.paste.value = '';
    signIn(tok);
  }

  function untilText(c) {
    if (!c || c.exp === null) return '';
    var d = new Date(c.exp * 1000);
    if (c.exp * 1000 < Date.now()) return ' · expired ' + d.toLocaleTimeString() + ' (sign in again)';
    return ' · until ' + d.toLocaleTimeString();
  }

  function build(node) {
    var u = {};
    u.msg = h('div', { className: 'msg', hidden: true, role: 'alert', 'data-testid': 'signin-msg', id: 'signin-msg' });
    u.who = h('strong', { id: 'signed-in-user', 'data-testid': 'signed-in-user' });
    u.until = h('span', { className: 'hint', id: 'signed-in-until' });
    u.out = h('button', { type: 'button', className: 'secondary', id: 'signout-btn', text: 'Sign out',
                          onclick: function () { signOut('You signed out.'); } });
    u.inBox = h('div', { id: 'signed-in', className: 'signed-in' },
      h('span', null, 'Signed in as ', u.who, u.until), u.out);
    u.loginId = h('input', { id: 'login-id', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false',
                             maxlength: '64', placeholder: 'e.g. u-42' });
    u.loginBtn = h('button', { type: 'submit', id: 'login-btn', text: 'Sign in' });
    u.loginForm = h('form', { id: 'devlogin-form', className: 'row', novalidate: true, onsubmit: doDevLogin },
      h('div', { className: 'field' },
        h('label', { for: 'login-id' }, 'User id ', h('span', { className: 'hint', text: '(dev login: this server signs a token for any id)' })),
        u.loginId),
      h('div', { className: 'field fit' }, u.loginBtn));
    u.paste = h('input', { id: 'paste-token', type: 'password', autocomplete: 'off', spellcheck: 'false',
                           placeholder: 'eyJhbGciOiJIUzI1NiIs…' });
    u.pasteForm = h('form', { id: 'paste-form', className: 'row', novalidate: true, onsubmit: doPaste },
      h('div', { className: 'field' },
        h('label', { for: 'paste-token' }, 'User token ', h('span', { className: 'hint', text: '(a JWT from your login service; kept in this tab only)' })),
        u.paste),
      h('div', { className: 'field fit' }, h('button', { type: 'submit', id: 'paste-btn', className: 'secondary', text: 'Use token' })));
    u.outBox = h('div', { id: 'signed-out' }, u.loginForm, u.pasteForm);
    u.card = h('section', { className: 'card', id: 'signin', 'data-testid': 'signin' },
      h('h2', { text: 'You' }), u.msg, u.inBox, u.outBox);
    TK.clear(node).appendChild(u.card);
    u.loginId.value = TK.recall('local', LAST_ID_KEY);
    return u;
  }

  function render() {
    if (!ui) return;
    var c = claims();
    ui.card.dataset.state = c ? 'in' : 'out';
    ui.inBox.hidden = !c;
    ui.outBox.hidden = !!c;
    if (c) {
      ui.who.textContent = c.sub;
      ui.until.textContent = untilText(c);
      TK.hide(ui.msg);
    } else {
      ui.loginForm.hidden = devLogin === false;
      ui.card.dataset.devLogin = devLogin === null ? 'unknown' : devLogin ? 'yes' : 'no';
      if (lastReason) showMsg(null, lastReason);
    }
  }

  /* Renders the sign-in card into `node` (once per page). */
  function mount(node) {
    ui = build(node);
    if (token() && !claims()) TK.remember('session', TOKEN_KEY, '');  /* not a token: drop it */
    render();
    probe();
  }

  function onChange(fn) { listeners.push(fn); }

  /* Brings the card into view, e.g. when a signed-out user presses Claim. */
  function ask(text) {
    if (!ui) return;
    lastReason = text || lastReason;
    render();
    ui.card.scrollIntoView({ block: 'nearest' });
    (devLogin === false ? ui.paste : ui.loginId).focus();
  }

  TK.session = { decode: decode, token: token, user: user, request: request, signIn: signIn,
                 signOut: signOut, mount: mount, onChange: onChange, ask: ask,
                 access: access, accessUntil: accessUntil, setAccess: setAccess };
})();
