/* api.js: the shared fetch wrapper and DOM helpers of the ticketing pages.
 * Every page loads this file first. No framework, no build step.
 * Rule: values from the API or the user go into the DOM only as text
 * (textContent / attributes set one by one), never as HTML. */
(function () {
  'use strict';

  var EVENT_ID_RE = /^[a-z0-9_-]{1,64}$/;
  var USER_ID_RE = /^[A-Za-z0-9_.:@-]{1,64}$/;

  /* Plain-words meaning of every stable error code of API.md. */
  var MEANINGS = {
    bad_request: 'The request was not valid. Check the fields and try again.',
    unauthorized: 'You are not signed in, or your sign-in is no longer valid. Sign in again.',
    forbidden: 'Not allowed with your sign-in: this belongs to another user.',
    not_open: 'This event is not open yet. Come back when it opens.',
    closed: 'This event is closed. No more claims are taken.',
    paused: 'Claims for this event are paused for now. Try again a little later.',
    not_found: 'Not found: there is no such event or claim.',
    method_not_allowed: 'The server does not accept this action here.',
    sold_out: 'Sold out: every unit of this event has been claimed.',
    limit_reached: 'You already hold as many units of this event as one person may claim.',
    exists: 'An event with this id already exists. Choose another id.',
    too_large: 'The request was too large.',
    rate_limited: 'Too many requests from you. Please wait a moment before trying again.',
    unavailable: 'The service is temporarily unavailable. Please try again shortly.',
    not_admitted: 'This sale has a waiting room: you may claim only once the queue has admitted you, and only until your admission runs out.',
    expired: 'Your place in the queue expired: nothing was heard from this page for 30 s. Join again for a new place at the back.',
    no_waiting_room: 'This event has no waiting room: claim on its page.',
    network: 'Could not reach the server. Check your connection and try again.',
    bad_response: 'The server sent an answer this page does not understand.'
  };

  var STATUS_WORDS = {
    pending: 'Pending: your unit is reserved and being recorded.',
    confirmed: 'Confirmed: your claim is stored for good.',
    rejected: 'Rejected: the claim could not be stored; the unit was not sold.',
    cancelled: 'Cancelled: an administrator released this claim.'
  };

  var STATE_WORDS = {
    scheduled: 'Not open yet',
    priority: 'Priority presale',
    open: 'Open',
    paused: 'Paused',
    sold_out: 'Sold out',
    closed: 'Closed'
  };

  function ApiError(status, code, message, retryAfter) {
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.message = message || code;
    this.retryAfter = retryAfter; /* seconds, or null */
    this.meaning = MEANINGS[code] || ('Error ' + status + (code ? ' (' + code + ')' : '') + '.');
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;

  /* Retry-After is delta-seconds or an HTTP date; returns whole seconds or null. */
  function parseRetryAfter(v) {
    if (!v) return null;
    v = String(v).trim();
    if (/^\d+$/.test(v)) return parseInt(v, 10);
    var t = Date.parse(v);
    if (!isNaN(t)) return Math.max(0, Math.ceil((t - Date.now()) / 1000));
    return null;
  }

  /* request(method, path, {body, token, timeoutMs, signal}) ->
   *   Promise of {status, data, headers}; rejects with ApiError (code
   *   'aborted', status 0, when `signal`, an AbortSignal, aborted it). */
  function request(method, path, opts) {
    opts = opts || {};
    var headers = { 'Accept': 'application/json' };
    var init = { method: method, headers: headers, cache: 'no-store', credentials: 'same-origin' };
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    if (opts.token) headers['Authorization'] = 'Bearer ' + opts.token;
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = null;
    if (ctl) {
      init.signal = ctl.signal;
      timer = setTimeout(function () { ctl.abort(); }, opts.timeoutMs || 10000);
      if (opts.signal) {
        if (opts.signal.aborted) ctl.abort();
        else opts.signal.addEventListener('abort', function () { ctl.abort(); });
      }
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        if (timer) clearTimeout(timer);
        var data = null;
        if (text) {
          try { data = JSON.parse(text); } catch (e) { data = null; }
        }
        var retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
        if (res.ok) {
          if (text && data === null) {
            throw new ApiError(res.status, 'bad_response', 'not JSON', null);
          }
          return { status: res.status, data: data, headers: res.headers };
        }
        var code = '', message = '';
        if (data && data.error && typeof data.error === 'object') {
          code = String(data.error.code || '');
          message = String(data.error.message || '');
        }
        if (!code) {
          code = { 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed',
                   410: 'expired', 413: 'too_large', 429: 'rate_limited', 503: 'unavailable' }[res.status] || '';
        }
        throw new ApiError(res.status, code, message || ('HTTP ' + res.status), retryAfter);
      });
    }, function (err) {
      if (timer) clearTimeout(timer);
      if (opts.signal && opts.signal.aborted) throw new ApiError(0, 'aborted', 'stopped by the page', null);
      throw new ApiError(0, 'network', (err && err.message) || 'network error', null);
    });
  }

  /* h('div', {className:'x', text:'hi', href:'...'}, child, ...) builds an
   * element; strings among children become text nodes. */
  function h(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        var v = props[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') node.textContent = String(v);
        else if (k === 'className') node.className = v;
        else if (k === 'dataset') Object.keys(v).forEach(function (d) { node.dataset[d] = String(v[d]); });
        else if (k.slice(0, 2) === 'on' && typeof v === 'function') node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function append(node, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(node, x); }); return; }
    node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function $(id) { return document.getElementById(id); }

  /* Shows an ApiError (or any error) as a readable message box in `box`. */
  function showError(box, err, prefix) {
    clear(box);
    box.hidden = false;
    box.className = 'msg msg-error';
    var code = err && err.code ? err.code : 'error';
    box.dataset.code = code;
    var meaning = err && err.meaning ? err.meaning : String(err && err.message || err);
    if (err && err.retryAfter && (code === 'rate_limited' || code === 'unavailable')) {
      meaning += ' (retry in ' + err.retryAfter + ' s)';
    }
    box.appendChild(h('strong', { text: (prefix ? prefix + ': ' : '') + meaning }));
    var detail = [];
    if (err && err.status) detail.push('HTTP ' + err.status);
    if (err && err.code) detail.push(err.code);
    if (err && err.message && err.message !== err.code && err.message !== 'HTTP ' + err.status) detail.push(err.message);
    if (detail.length) box.appendChild(h('div', { className: 'msg-detail', text: detail.join(' · ') }));
  }
  function showInfo(box, text, kind) {
    clear(box);
    box.hidden = false;
    box.className = 'msg msg-' + (kind || 'info');
    delete box.dataset.code;
    box.appendChild(h('strong', { text: text }));
  }
  function hide(box) { clear(box); box.hidden = true; delete box.dataset.code; }

  function fmtTime(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return d.toLocaleString();
  }
  function fmtNum(n) {
    return typeof n === 'number' ? n.toLocaleString() : (n === undefined || n === null ? '–' : String(n));
  }
  function param(name) {
    return new URLSearchParams(window.location.search).get(name) || '';
  }
  function eventUrl(id) { return 'event.html?event=' + encodeURIComponent(id); }
  function queueUrl(id) { return 'queue.html?event=' + encodeURIComponent(id); }
  function boardUrl(id) { return 'board.html?board=' + encodeURIComponent(id); }
  /* Does the event (as the API shows it) sell through a waiting room? */
  function hasRoom(ev) { return !!(ev && ev.waiting_room && ev.waiting_room.enabled === true); }
  function enc(s) { return encodeURIComponent(s); }

  /* Repeats fn (returning a promise) every ms, never overlapping, and
   * skipping runs while the tab is hidden. Returns {stop(), now()}. */
  function every(ms, fn) {
    var timer = null, stopped = false, running = false;
    function tick() {
      timer = null;
      if (stopped) return;
      if (document.hidden) { timer = setTimeout(tick, ms); return; }
      running = true;
      Promise.resolve().then(fn).catch(function () {}).then(function () {
        running = false;
        if (!stopped && timer === null) timer = setTimeout(tick, ms);
      });
    }
    tick();
    return {
      stop: function () { stopped = true; if (timer) clearTimeout(timer); timer = null; },
      now: function () { if (stopped || running) return; if (timer) clearTimeout(timer); tick(); }
    };
  }

  function store(kind) {
    try { return kind === 'session' ? window.sessionStorage : window.localStorage; } catch (e) { return null; }
  }
  function remember(kind, key, value) {
    var s = store(kind); if (!s) return;
    try { if (value) s.setItem(key, value); else s.removeItem(key); } catch (e) {}
  }
  function recall(kind, key) {
    var s = store(kind); if (!s) return '';
    try { return s.getItem(key) || ''; } catch (e) { return ''; }
  }

  function stateBadge(state) {
    return h('span', { className: 'badge badge-' + (STATE_WORDS[state] ? state : 'unknown'),
                       text: STATE_WORDS[state] || String(state || 'unknown') });
  }
  function statusBadge(status) {
    return h('span', { className: 'badge badge-' + (STATUS_WORDS[status] ? status : 'unknown'),
                       'data-testid': 'claim-status', text: String(status || 'unknown') });
  }

  window.TK = {
    request: request, ApiError: ApiError, MEANINGS: MEANINGS, STATUS_WORDS: STATUS_WORDS,
    STATE_WORDS: STATE_WORDS, EVENT_ID_RE: EVENT_ID_RE, USER_ID_RE: USER_ID_RE,
    h: h, clear: clear, $: $, showError: showError, showInfo: showInfo, hide: hide,
    fmtTime: fmtTime, fmtNum: fmtNum, param: param, eventUrl: eventUrl, queueUrl: queueUrl, boardUrl: boardUrl, hasRoom: hasRoom, enc: enc,
    every: every, remember: remember, recall: recall,
    stateBadge: stateBadge, statusBadge: statusBadge
  };
})();
