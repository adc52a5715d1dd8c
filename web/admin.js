/* admin.js: admin token (sessionStorage only), create / restock / state /
 * cancel, and a live view of both books (GET /v1/admin/events/ID every 1.5 s). */
(function () {
  'use strict';
  var $ = TK.$;
  var TOKEN_KEY = 'tk.admin_token';
  var token = TK.recall('session', TOKEN_KEY);
  var watched = '', watch = null, watchSeq = 0;

  function tokenStatus() {
    $('token-status').textContent = token ? 'A token is set for this tab.' : 'No token set: admin actions will be refused.';
    $('token').value = '';
    $('token').placeholder = token ? '•••••• (set; paste to replace)' : 'paste the admin token';
  }
  tokenStatus();

  $('token-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var t = $('token').value.trim();
    if (!t) { $('token-status').textContent = 'Paste a token first.'; return; }
    token = t;
    TK.remember('session', TOKEN_KEY, token);
    tokenStatus();
    if (watch) watch.now();
  });
  $('token-forget').addEventListener('click', function () {
    token = '';
    TK.remember('session', TOKEN_KEY, '');
    tokenStatus();
  });

  /* The admin token is not a user token: a 401 here means that token. */
  function adminError(err) {
    if (err && err.code === 'unauthorized') err.meaning = 'The admin token is missing or wrong.';
    throw err;
  }
  function admin(method, path, body) {
    if (!token) return Promise.reject(new TK.ApiError(401, 'unauthorized', 'no token set in this tab', null)).catch(adminError);
    return TK.request(method, path, { body: body, token: token }).catch(adminError);
  }

  function loadEventIds() {
    TK.request('GET', '/v1/events').then(function (r) {
      var dl = TK.clear($('event-ids'));
      ((r.data && r.data.events) || []).forEach(function (ev) {
        dl.appendChild(TK.h('option', { value: ev.event_id, label: ev.name || ev.event_id }));
      });
    }, function () {});
  }
  loadEventIds();

  /* ---- create ---- */
  function isoOrNull(v) {
    if (!v) return null;
    var d = new Date(v);
    return isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  $('create-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var box = $('create-msg');
    var id = $('c-id').value.trim(), name = $('c-name').value.trim();
    var stock = Number($('c-stock').value), maxpu = Number($('c-maxpu').value);
    if (!TK.EVENT_ID_RE.test(id)) return TK.showError(box, { code: 'bad_request', meaning: 'The event id must be 1 to 64 of a–z, 0–9, _ or -.' });
    if (!name) return TK.showError(box, { code: 'bad_request', meaning: 'Give the event a name.' });
    if (!Number.isInteger(stock) || stock < 0) return TK.showError(box, { code: 'bad_request', meaning: 'Stock must be a whole number, 0 or more.' });
    if (!Number.isInteger(maxpu) || maxpu < 1) return TK.showError(box, { code: 'bad_request', meaning: 'Max per user must be a whole number, 1 or more.' });
    var body = { event_id: id, name: name, stock: stock, max_per_user: maxpu };
    var opens = isoOrNull($('c-opens').value), closes = isoOrNull($('c-closes').value);
    if (opens === undefined || closes === undefined) return TK.showError(box, { code: 'bad_request', meaning: 'A date is not valid.' });
    if (opens) body.opens_at = opens;
    if (closes) body.closes_at = closes;
    var prBoard = $('c-pr-board').value.trim();
    if (prBoard) {
      var prTop = Number($('c-pr-top').value), prOpens = isoOrNull($('c-pr-opens').value);
      if (!TK.EVENT_ID_RE.test(prBoard)) return TK.showError(box, { code: 'bad_request', meaning: 'The board id must be 1 to 64 of a–z, 0–9, _ or -.' });
      if (!Number.isInteger(prTop) || prTop < 1) return TK.showError(box, { code: 'bad_request', meaning: 'Top must be a whole number, 1 or more.' });
      if (!prOpens || !opens) return TK.showError(box, { code: 'bad_request', meaning: 'A priority presale needs its own opening time and the event\'s, the first before the second.' });
      body.priority = { board_id: prBoard, top: prTop, opens_at: prOpens };
    }
    var btn = $('create-btn');
    btn.disabled = true;
    admin('POST', '/v1/admin/events', body).then(function (r) {
      var ev = r.data || {};
      var evId = String(ev.event_id || id);
      TK.clear(box); box.hidden = false; box.className = 'msg msg-ok'; delete box.dataset.code;
      box.appendChild(TK.h('strong', { text: 'Created "' + (ev.name || name) + '" (' + evId + '). ' }));
      box.appendChild(TK.h('a', { href: TK.eventUrl(evId), text: 'Open its page' }));
      startWatch(evId);
      loadEventIds();
    }, function (err) {
      TK.showError(box, err, 'Not created');
    }).then(function () { btn.disabled = false; });
  });

  /* ---- watch ---- */
  function num(id, v) { $(id).textContent = TK.fmtNum(v); }
  function renderBooks(d) {
    var ev = d.event || {}, r = d.redis || {}, db = d.database || {};
    $('books').hidden = false;
    $('b-name').textContent = ev.name || ev.event_id || watched;
    TK.clear($('b-state')).appendChild(TK.stateBadge(ev.state));
    var meta = [ev.event_id || watched, 'stock ' + TK.fmtNum(ev.stock_total), 'max ' + TK.fmtNum(ev.max_per_user) + ' per user'];
    if (ev.opens_at) meta.push('opens ' + TK.fmtTime(ev.opens_at));
    if (ev.closes_at) meta.push('closes ' + TK.fmtTime(ev.closes_at));
    $('b-meta').textContent = meta.join(' · ');
    num('r-granted', r.granted); num('r-remaining', r.remaining); num('r-tickets', r.tickets_issued);
    num('d-confirmed', db.confirmed); num('d-rejected', db.rejected); num('d-cancelled', db.cancelled);
    num('b-pending', d.pending);
    $('b-lag').textContent = typeof d.drain_lag_ms === 'number' ? d.drain_lag_ms + ' ms' : '–';
    var agree = $('b-agree');
    if (d.pending > 0) {
      agree.textContent = 'Draining: ' + TK.fmtNum(d.pending) + ' granted claim(s) not yet in the database.';
      agree.className = 'agree agree-warn';
    } else if (r.granted === db.confirmed) {
      agree.textContent = 'Books agree: Redis granted = database confirmed (' + TK.fmtNum(r.granted) + ').';
      agree.className = 'agree agree-ok';
    } else {
      agree.textContent = 'Books differ: Redis granted ' + TK.fmtNum(r.granted) + ', database confirmed ' + TK.fmtNum(db.confirmed) + '.';
      agree.className = 'agree agree-bad';
    }
    $('b-status').textContent = 'Updated ' + new Date().toLocaleTimeString() + ' · refreshes every 1.5 s';
  }

  function startWatch(id) {
    watched = id;
    var my = ++watchSeq;
    TK.remember('local', 'tk.admin_watch', id);
    $('w-id').value = id;
    $('a-id').textContent = id;
    $('actions').hidden = false;
    $('books').hidden = true;
    TK.hide($('watch-msg'));
    TK.hide($('action-msg'));
    if (watch) watch.stop();
    watch = TK.every(1500, function () {
      return admin('GET', '/v1/admin/events/' + TK.enc(id)).then(function (r) {
        if (my !== watchSeq) return;
        TK.hide($('watch-msg'));
        renderBooks(r.data || {});
      }, function (err) {
        if (my !== watchSeq) return;
        TK.showError($('watch-msg'), err, 'Cannot read ' + id);
        if (err.code === 'not_found') { $('books').hidden = true; }
      });
    });
  }

  $('watch-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var id = $('w-id').value.trim();
    if (!TK.EVENT_ID_RE.test(id)) return TK.showError($('watch-msg'), { code: 'bad_request', meaning: 'Enter an event id (a–z, 0–9, _ -).' });
    startWatch(id);
  });

  /* ---- actions ---- */
  function act(promise, okText) {
    var box = $('action-msg');
    return promise.then(function (r) {
      TK.showInfo(box, okText(r.data || {}), 'ok');
      if (watch) watch.now();
    }, function (err) {
      TK.showError(box, err, 'Refused');
    });
  }

  $('stock-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var delta = Number($('a-delta').value);
    if (!Number.isInteger(delta) || delta === 0) return TK.showError($('action-msg'), { code: 'bad_request', meaning: 'The change must be a whole number other than 0.' });
    act(admin('POST', '/v1/admin/events/' + TK.enc(watched) + '/stock', { delta: delta }), function (ev) {
      return 'Stock changed by ' + delta + ': now ' + TK.fmtNum(ev.stock_total) + ' in total, ' + TK.fmtNum(ev.remaining) + ' left.';
    });
  });

  ['st-open', 'st-paused', 'st-closed'].forEach(function (bid) {
    var b = $(bid);
    b.addEventListener('click', function () {
      var state = b.dataset.state;
      if (state === 'closed' && !window.confirm('Close ' + watched + '? Claims will be refused from now on.')) return;
      act(admin('POST', '/v1/admin/events/' + TK.enc(watched) + '/state', { state: state }), function (ev) {
        return 'State set to ' + state + '; the event now shows as "' + (TK.STATE_WORDS[ev.state] || ev.state) + '".';
      });
    });
  });

  $('cancel-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var user = $('a-user').value.trim();
    if (!TK.USER_ID_RE.test(user)) return TK.showError($('action-msg'), { code: 'bad_request', meaning: 'Enter the user id whose claim to cancel.' });
    if (!window.confirm('Cancel the claim of ' + user + ' on ' + watched + '? Its units go back to stock.')) return;
    act(admin('DELETE', '/v1/admin/events/' + TK.enc(watched) + '/claims/' + TK.enc(user)), function (c) {
      return 'Cancelled ticket #' + c.ticket + ' of ' + (c.user_id || user) + ' (status ' + c.status + ').';
    });
  });

  var last = TK.param('event') || TK.recall('local', 'tk.admin_watch');
  if (last && TK.EVENT_ID_RE.test(last)) {
    if (token) startWatch(last); else $('w-id').value = last;
  }

  /* ---- leaderboards: create, view, roll a season ---- */
  $('board-create-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var box = $('board-create-msg');
    var id = $('bc-id').value.trim(), name = $('bc-name').value.trim(), len = $('bc-len').value.trim();
    if (!TK.EVENT_ID_RE.test(id)) return TK.showError(box, { code: 'bad_request', meaning: 'The board id must be 1 to 64 of a–z, 0–9, _ or -.' });
    if (!name) return TK.showError(box, { code: 'bad_request', meaning: 'Give the board a name.' });
    var body = { board_id: id, name: name, components: Number($('bc-comps').value), operator: $('bc-op').value };
    if (len) {
      if (!/^[1-9][0-9]*$/.test(len)) return TK.showError(box, { code: 'bad_request', meaning: 'The season length is a whole number of seconds, or empty.' });
      body.season_length_s = Number(len);
    }
    $('board-create-btn').disabled = true;
    admin('POST', '/v1/admin/boards', body).then(function () {
      TK.clear(box); box.hidden = false; box.className = 'msg msg-ok'; delete box.dataset.code;
      box.appendChild(TK.h('strong', { text: 'Created board ' + id + '. ' }));
      box.appendChild(TK.h('a', { href: TK.boardUrl(id), text: 'Open its page' }));
      $('bv-id').value = id;
      viewBoard();
    }, function (err) {
      TK.showError(box, err, 'Not created');
    }).then(function () { $('board-create-btn').disabled = false; });
  });

  function boardId() {
    var id = $('bv-id').value.trim();
    if (TK.EVENT_ID_RE.test(id)) return id;
    TK.showError($('board-msg'), { code: 'bad_request', meaning: 'Enter a board id first.' });
    return '';
  }
  function renderBoard(id, d) {
    var db = d.database || {};
    $('board-view').hidden = false;
    $('bv-season').textContent = TK.fmtNum(d.season);
    $('bv-users').textContent = TK.fmtNum(d.users);
    $('bv-pending').textContent = TK.fmtNum(d.pending);
    $('bv-db').textContent = TK.fmtNum(db.users) + ' users';
    // agree: true, false, or null when the contents were not compared (too many users: counts only, and they match)
    $('bv-agree').textContent = d.agree === true ? 'Redis and the database agree (current season).'
      : d.agree === null ? 'Not compared (too many users): the current season\'s user counts match.'
      : d.pending > 0 ? 'Draining: writes not yet in the database.' : 'The books differ (current season).';
    $('bv-link').hidden = false;
    $('bv-link').href = TK.boardUrl(id);
  }
  /* keepMsg: the message just shown (a new season) stays; otherwise a fresh view clears an old one. */
  function viewBoard(keepMsg) {
    var id = boardId();
    if (!id) return;
    admin('GET', '/v1/admin/boards/' + TK.enc(id)).then(function (r) {
      if (!keepMsg) TK.hide($('board-msg'));
      renderBoard(id, r.data || {});
    }, function (err) {
      $('board-view').hidden = true;
      TK.showError($('board-msg'), err, 'Could not read the board');
    });
  }
  $('board-view-form').addEventListener('submit', function (e) { e.preventDefault(); viewBoard(false); });
  $('board-roll-btn').addEventListener('click', function () {
    var id = boardId();
    if (!id) return;
    $('board-roll-btn').disabled = true;
    admin('POST', '/v1/admin/boards/' + TK.enc(id) + '/seasons', {}).then(function (r) {
      TK.showInfo($('board-msg'), 'Season ' + TK.fmtNum(r.data && r.data.season) + ' has begun.', 'ok');
      viewBoard(true);
    }, function (err) {
      TK.showError($('board-msg'), err, 'No new season');
    }).then(function () { $('board-roll-btn').disabled = false; });
  });
})();
