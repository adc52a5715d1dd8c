/* board.js: one leaderboard (board.html?board=ID[&season=N]).
 * Public reads (API.md "Leaderboards"; no token needed): the top 100, and
 * when a user is signed in (session.js) their entry and the ranks around
 * them (radius 5); a friends box ranks up to 1,000 user ids by their
 * global ranks (POST …/ranks). The season is the current one unless one is
 * chosen; every answer names its season, which the page shows. Refreshed
 * every 10 s while the tab is visible (TK.every skips hidden tabs). */
(function () {
  'use strict';
  var $ = TK.$, h = TK.h;
  var boardId = TK.param('board');
  var season = TK.param('season');
  var errBox = $('board-error');
  var RADIUS = 5, TOP = 100, FRIENDS_MAX = 1000;

  TK.session.mount($('session'));

  if (!boardId || !TK.EVENT_ID_RE.test(boardId)) {
    $('board-title').textContent = 'No board chosen';
    TK.showError(errBox, { meaning: 'This page needs a board id, e.g. board.html?board=fans.' });
    $('top-card').hidden = true;
    $('friends-form').hidden = true;
    $('season-form').hidden = true;
    return;
  }
  if (season && !/^[1-9][0-9]{0,9}$/.test(season)) season = '';
  $('season').value = season;
  $('board-title').textContent = 'Leaderboard ' + boardId;
  document.title = boardId + ' · Leaderboard · Tickets';

  function q(extra) {
    var p = extra ? [extra] : [];
    if (season) p.push('season=' + season);
    return p.length ? '?' + p.join('&') : '';
  }
  function base() { return '/v1/boards/' + TK.enc(boardId); }
  function scoreText(s) { return Array.isArray(s) ? s.map(TK.fmtNum).join(' · ') : TK.fmtNum(s); }

  /* Fills table @t with @entries; the row of @me is marked. */
  function fill(t, entries, me) {
    var body = TK.clear(t.tBodies[0]);
    body.appendChild(h('tr', null, h('th', { text: 'Rank' }), h('th', { text: 'User' }), h('th', { text: 'Score' }),
                                   h('th', { text: 'Since' })));
    entries.forEach(function (e) {
      body.appendChild(h('tr', { className: e.user_id === me ? 'mine' : null, dataset: { user: e.user_id, rank: e.rank } },
        h('td', { className: 'num', text: '#' + TK.fmtNum(e.rank) }), h('td', { text: e.user_id }),
        h('td', { className: 'num', text: scoreText(e.score) }), h('td', { text: TK.fmtTime(e.updated_at) })));
    });
  }

  function loadTop() {
    return TK.request('GET', base() + '/top' + q('limit=' + TOP)).then(function (r) {
      TK.hide(errBox);
      var d = r.data || {};
      $('top-season').textContent = 'season ' + d.season + (season ? '' : ' (current)');
      fill($('top'), d.entries || [], TK.session.user());
      $('top-status').textContent = (d.entries || []).length ? 'Updated ' + new Date().toLocaleTimeString() : 'No scores yet this season.';
    }, function (err) {
      TK.showError(errBox, err, err.code === 'not_found' ? 'No such board or season' : 'Could not load the board');
    });
  }

  function loadMe() {
    var user = TK.session.user();
    $('me-card').hidden = !user;
    if (!user) return null;
    return TK.request('GET', base() + '/users/' + TK.enc(user) + '/around' + q('radius=' + RADIUS)).then(function (r) {
      $('me-none').hidden = true;
      $('around').hidden = false;
      fill($('around'), (r.data && r.data.entries) || [], user);
    }, function (err) {
      if (err.code !== 'not_found') return;
      $('me-none').hidden = false;
      $('around').hidden = true;
    });
  }

  var timer = TK.every(10000, function () { return Promise.all([loadTop(), loadMe()]); });
  TK.session.onChange(function () { timer.now(); });

  $('season-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var v = $('season').value.trim();
    season = /^[1-9][0-9]{0,9}$/.test(v) ? v : '';
    var url = 'board.html?board=' + TK.enc(boardId) + (season ? '&season=' + season : '');
    window.history.replaceState(null, '', url);
    timer.now();
  });

  $('friends-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var box = $('friends-msg');
    var ids = $('friends').value.split(/[\s,;]+/).filter(function (s) { return s !== ''; });
    var bad = ids.filter(function (s) { return !TK.USER_ID_RE.test(s); });
    if (!ids.length || bad.length || ids.length > FRIENDS_MAX) {
      TK.showError(box, { code: 'bad_request', meaning: !ids.length ? 'Enter at least one user id.'
        : bad.length ? 'Not a user id: ' + bad.slice(0, 3).join(', ') : 'At most 1,000 user ids.' });
      $('friends-table').hidden = true;
      return;
    }
    $('friends-btn').disabled = true;
    TK.request('POST', base() + '/ranks' + q(), { body: { user_ids: ids } }).then(function (r) {
      var entries = (r.data && r.data.entries) || [];
      TK.showInfo(box, entries.length + ' of ' + ids.length + ' have a score in season ' + r.data.season + '.', 'info');
      $('friends-table').hidden = !entries.length;
      fill($('friends-table'), entries, TK.session.user());
    }, function (err) {
      TK.showError(box, err, 'Could not rank them');
      $('friends-table').hidden = true;
    }).then(function () { $('friends-btn').disabled = false; });
  });
})();
