/* event.js: one event, its live stock, and the claim button.
 * Live stock: signed in, the page follows the long-poll
 * GET /v1/events/ID/watch?since=V&page=event&tab=N&wait=25 (one loop per
 * tab, with the bearer token; it also shows "N people watching"); signed
 * out (the watch needs a token) it reads GET /v1/events/ID every 10 s. The
 * loop stops while the page is hidden and starts again when it is shown.
 * The claim is the signed-in user's (session.js): POST /v1/events/ID/claims
 * with the bearer token and no user id in the body, then
 * GET /v1/events/ID/claims/SUB until the claim is final (confirmed /
 * rejected / cancelled).
 * Waiting room (the event's waiting_room.enabled): a claim needs the access
 * token the queue handed out (queue.html keeps it per event in
 * sessionStorage) and sends it as the bearer instead of the user token.
 * Without one the page shows "Join the queue" (a link to queue.html) where
 * the claim button was; a refused admission (403 not_admitted, or a 401 of
 * the access token) forgets it and points back to the queue. */
(function () {
  'use strict';
  var $ = TK.$;
  var eventId = TK.param('event');
  var evErr = $('event-error'), msg = $('claim-msg'), btn = $('claim-btn');
  var form = $('claim-form'), qtyField = $('qty-field'), qtyInput = $('quantity');
  var queueLink = $('queue-link'), roomNote = $('room-note');
  var current = null;        /* the event as last read */
  var claimPoll = null;      /* TK.every handle while a claim is pending */
  var claimUser = '';        /* whose claim the ticket box shows (a token's sub) */
  var waitUntil = 0, waitTimer = null, busy = false;

  TK.session.mount($('session'));

  if (!eventId || !TK.EVENT_ID_RE.test(eventId)) {
    $('event-name').textContent = 'No event chosen';
    TK.showError(evErr, { meaning: 'This page needs an event id, e.g. event.html?event=cookie-day. Pick one from the events list.' });
    form.hidden = true;
    return;
  }
  $('event-id').textContent = eventId;
  document.title = eventId + ' · Tickets';

  function renderEvent(ev) {
    current = ev;
    $('event-card').hidden = false;
    $('event-name').textContent = ev.name || ev.event_id;
    document.title = (ev.name || ev.event_id) + ' · Tickets';
    TK.clear($('event-state')).appendChild(TK.stateBadge(ev.state));
    $('remaining').textContent = TK.fmtNum(ev.remaining);
    $('stock-total').textContent = 'of ' + TK.fmtNum(ev.stock_total);
    var total = Number(ev.stock_total) || 0, rem = Number(ev.remaining) || 0;
    var pct = total > 0 ? Math.max(0, Math.min(100, Math.round(rem * 100 / total))) : 0;
    $('bar').className = 'bar' + (rem === 0 ? ' empty' : pct < 20 ? ' low' : '');
    $('bar').firstChild.style.width = pct + '%';
    var when = [];
    if (ev.max_per_user) when.push('max ' + ev.max_per_user + ' per person');
    if (ev.opens_at) when.push('opens ' + TK.fmtTime(ev.opens_at));
    if (ev.closes_at) when.push('closes ' + TK.fmtTime(ev.closes_at));
    $('event-when').textContent = when.join(' · ');
    priorityNote(ev);
    var maxpu = Number(ev.max_per_user) || 1;
    qtyField.hidden = maxpu <= 1;
    qtyInput.max = String(maxpu);
    roomMode();
  }

  /* A priority presale (API.md): the top fans of a board may claim from
   * priority.opens_at, everybody from opens_at. */
  function priorityNote(ev) {
    var p = ev.priority;
    $('priority-note').hidden = !p;
    if (!p) return;
    $('priority-text').textContent = 'Priority presale: the top ' + TK.fmtNum(p.top) + ' fans of leaderboard ' + p.board_id +
      ' may claim from ' + TK.fmtTime(p.opens_at) + (ev.opens_at ? '; everybody from ' + TK.fmtTime(ev.opens_at) : '') + '.';
    $('priority-board').href = TK.boardUrl(p.board_id);
  }

  /* Claim button or "Join the queue", from the event's room and this tab's
   * access token for it (the signed-in user's, not expired). */
  function roomMode() {
    var room = TK.hasRoom(current);
    var access = room ? TK.session.access(eventId) : '';
    var needQueue = room && !access;
    form.dataset.room = !room ? 'none' : access ? 'admitted' : 'queue';
    btn.hidden = needQueue;
    queueLink.hidden = !needQueue;
    queueLink.href = TK.queueUrl(eventId);
    qtyField.hidden = needQueue || !(current && Number(current.max_per_user) > 1);
    roomNote.hidden = !room;
    if (!room) { roomNote.textContent = ''; return; }
    var until = TK.session.accessUntil(eventId);
    roomNote.textContent = access
      ? 'The waiting room let you in' + (until ? ' until ' + new Date(until).toLocaleTimeString() : '') + ': claim now.'
      : 'This sale has a waiting room: join the queue, and when it is your turn you come back here to claim.';
  }

  /* The admission was refused or ran out: forget it, back to the queue. */
  function lostAdmission() {
    TK.session.setAccess(eventId, '');
    roomMode();
    msg.appendChild(TK.h('div', null, TK.h('a', { href: TK.queueUrl(eventId), id: 'requeue-link', text: 'Join the queue again' })));
  }

  function showLoadError(err) {
    if (err.code === 'not_found') {
      $('event-name').textContent = 'Event not found';
      TK.showError(evErr, { meaning: 'There is no event "' + eventId + '". It may have been removed; pick one from the events list.', code: 'not_found', status: 404 });
    } else {
      TK.showError(evErr, err, 'Could not load the event');
    }
  }

  /* One plain read of the event (signed out, and once after a claim). */
  function loadEvent() {
    return TK.request('GET', '/v1/events/' + TK.enc(eventId)).then(function (r) {
      renderEvent(r.data || {});
      TK.hide(evErr);
      $('event-status').textContent = 'Updated ' + new Date().toLocaleTimeString() +
        (TK.session.user() ? '' : ' · refreshes every 10 s (sign in for live updates)');
    }, function (err) {
      showLoadError(err);
      $('event-status').textContent = 'Last try ' + new Date().toLocaleTimeString() + ' failed · retrying';
    });
  }

  function showWatching(n) {
    var w = $('watching');
    if (typeof n !== 'number' || n < 0) { w.hidden = true; w.textContent = ''; return; }
    w.hidden = false;
    w.textContent = TK.fmtNum(n) + (n === 1 ? ' person' : ' people') + ' watching';
  }

  /* This tab's number for the presence heartbeat: 0-99, kept for the tab. */
  function tabNo() {
    var t = parseInt(TK.recall('session', 'tk.tab'), 10);
    if (!(t >= 0 && t <= 99)) {
      t = Math.floor(Math.random() * 100);
      TK.remember('session', 'tk.tab', String(t));
    }
    return t;
  }
  var tab = tabNo();
  var SLOW_MS = 10000, BACKOFF_MAX_MS = 10000;
  var live = null;           /* the running loop: {ctl, stopped, timer} */

  function stopLive() {
    if (!live) return;
    live.stopped = true;
    if (live.timer) clearTimeout(live.timer);
    live.ctl.abort();
    live = null;
  }

  /* One loop per tab: the watch while signed in (since = the last version;
   * none at first, so it answers at once), else the plain read every 10 s.
   * Network errors and 5xx back off 1, 2, 4, 8, 10 s; a 401 signs the tab
   * out (session.js), which restarts the loop signed out. */
  function startLive() {
    stopLive();
    if (document.hidden) return;
    var run = { ctl: new AbortController(), stopped: false, timer: null };
    var since = null, backoff = 0;
    live = run;
    function next(ms) { if (!run.stopped) run.timer = setTimeout(step, ms); }
    function step() {
      run.timer = null;
      if (run.stopped) return;
      if (!TK.session.user()) {
        showWatching(null);
        loadEvent().then(function () { next(SLOW_MS); });
        return;
      }
      var q = (since !== null ? 'since=' + TK.enc(since) + '&' : '') + 'page=event&tab=' + tab + '&wait=25';
      TK.session.request('GET', '/v1/events/' + TK.enc(eventId) + '/watch?' + q,
                         { signal: run.ctl.signal, timeoutMs: 40000 }).then(function (r) {
        if (run.stopped) return;
        backoff = 0;
        var d = r.data || {};
        if (d.event) renderEvent(d.event);
        if (d.version !== undefined && d.version !== null) since = String(d.version);
        showWatching(d.watching);
        TK.hide(evErr);
        $('event-status').textContent = 'Live · updated ' + new Date().toLocaleTimeString();
        next(0);
      }, function (err) {
        if (run.stopped) return;
        if (err.status === 0 || err.status >= 500) {
          backoff = backoff ? Math.min(BACKOFF_MAX_MS, backoff * 2) : 1000;
          $('event-status').textContent = 'Live updates interrupted (' + (err.code || err.status) + ') · retrying in ' + Math.round(backoff / 1000) + ' s';
          next(backoff);
          return;
        }
        showLoadError(err);
        $('event-status').textContent = 'Last try ' + new Date().toLocaleTimeString() + ' failed · retrying';
        next(Math.max(SLOW_MS, (err.retryAfter || 0) * 1000));
      });
    }
    step();
  }

  function renderClaim(c, repeat) {
    $('ticket').hidden = false;
    $('ticket-no').textContent = '#' + c.ticket;
    TK.clear($('ticket-status')).appendChild(TK.statusBadge(c.status));
    var words = TK.STATUS_WORDS[c.status] || String(c.status);
    if (c.status === 'rejected' && c.reason) words += ' Reason: ' + c.reason;
    $('status-words').textContent = words;
    $('claim-id').textContent = c.claim_id || '';
    $('claim-user').textContent = c.user_id || claimUser;
    $('claim-qty').textContent = TK.fmtNum(c.quantity);
    $('claim-created').textContent = TK.fmtTime(c.created_at);
    if (repeat !== undefined) $('repeat-note').hidden = !repeat;
    $('check-link').href = 'claim.html?event=' + TK.enc(eventId);
  }

  function stopPoll() { if (claimPoll) { claimPoll.stop(); claimPoll = null; } }

  /* Polls the claim until it is final; `user` fixed at start. */
  function pollClaim(user) {
    stopPoll();
    var started = Date.now();
    claimPoll = TK.every(1000, function () {
      if (user !== claimUser) { stopPoll(); return; }
      return TK.session.request('GET', '/v1/events/' + TK.enc(eventId) + '/claims/' + TK.enc(user)).then(function (r) {
        if (user !== claimUser) return;
        renderClaim(r.data || {});
        var st = r.data && r.data.status;
        if (st && st !== 'pending') {
          stopPoll();
          $('poll-status').textContent = '';
        } else {
          $('poll-status').textContent = 'Checking the status every second… (' + Math.round((Date.now() - started) / 1000) + ' s)';
        }
      }, function (err) {
        if (user !== claimUser) return;
        if (err.status === 401 || err.status === 403) {
          stopPoll();
          TK.showError(msg, { code: err.code, status: err.status, message: err.message, meaning: claimErrorText(err) });
          return;
        }
        $('poll-status').textContent = 'Status check failed (' + (err.code || err.status) + '): ' + err.meaning + ' Retrying…';
      });
    });
  }

  function setWaiting(seconds) {
    waitUntil = Date.now() + seconds * 1000;
    if (waitTimer) clearInterval(waitTimer);
    function tick() {
      var left = Math.ceil((waitUntil - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(waitTimer); waitTimer = null;
        btn.disabled = busy; btn.textContent = 'Claim';
        return;
      }
      btn.disabled = true;
      btn.textContent = 'Wait ' + left + ' s';
    }
    tick();
    waitTimer = setInterval(tick, 250);
  }

  function claimErrorText(err) {
    switch (err.code) {
      case 'sold_out': return 'Sold out. Every unit of this event has been claimed; no ticket was issued to you.';
      case 'not_open': return current && current.state === 'priority' && current.priority
        ? 'Not open yet for you. Only the top fans of leaderboard ' + current.priority.board_id + ' may claim now; everybody from ' +
          TK.fmtTime(current.opens_at) + '.'
        : 'Not open yet. This event does not take claims before it opens' +
          (current && current.opens_at ? ' (' + TK.fmtTime(current.opens_at) + ')' : '') + '.';
      case 'paused': return 'Paused. Claims for this event are paused for now; try again a little later.';
      case 'closed': return 'Closed. This event no longer takes claims.';
      case 'limit_reached': return 'Limit reached. You already hold as many units of this event as one person may claim.';
      case 'rate_limited': return 'Too many tries. Please wait ' + (err.retryAfter || 1) + ' s before claiming again.';
      case 'unavailable': return 'The service is busy or partly down. Please try again in ' + (err.retryAfter || 1) + ' s.';
      case 'not_found': return 'There is no such event.';
      case 'bad_request': return 'The request was not valid: ' + (err.message || 'bad request') + '.';
      case 'unauthorized': return 'You are not signed in, or your sign-in is no longer valid (' +
        (err.message || 'refused') + '). Sign in again, then claim.';
      case 'not_admitted': return 'Not admitted: this sale has a waiting room, and your admission is missing or has run out. Join the queue again.';
      case 'forbidden': return 'Refused: your sign-in does not allow this (' + (err.message || 'another user') + ').';
      default: return err.meaning;
    }
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (busy || Date.now() < waitUntil) return;
    var user = TK.session.user();
    if (!user) {
      TK.session.ask('Sign in first: a claim is always the signed-in user\'s.');
      return;
    }
    /* A room's claim carries the access token; without one, to the queue. */
    var access = '';
    if (TK.hasRoom(current)) {
      access = TK.session.access(eventId);
      if (!access) { window.location.assign(TK.queueUrl(eventId)); return; }
    }
    TK.remember('local', 'tk.last_event', eventId);
    /* No user id: the gateway takes the user from the token. */
    var body = {};
    if (!qtyField.hidden) {
      var q = parseInt(qtyInput.value, 10);
      body.quantity = q > 0 ? q : 1;
    }
    busy = true; btn.disabled = true; btn.textContent = 'Claiming…';
    TK.hide(msg);
    TK.session.request('POST', '/v1/events/' + TK.enc(eventId) + '/claims', { body: body, bearer: access || undefined }).then(function (r) {
      if (TK.session.user() !== user) return;    /* signed out or in as someone else meanwhile */
      claimUser = user;
      var c = r.data || {};
      renderClaim(c, r.status === 200);
      TK.showInfo(msg, r.status === 200 ? 'You already hold ticket #' + c.ticket + ' for this event.'
                                        : 'Claimed! Your ticket is #' + c.ticket + '.', 'ok');
      if (c.status === 'pending') pollClaim(user); else { stopPoll(); $('poll-status').textContent = ''; }
    }, function (err) {
      if (access && err.status === 401) {
        TK.showError(msg, { code: 'not_admitted', status: 401, message: err.message,
                            meaning: 'Your admission was refused (' + (err.message || 'unauthorized') + '). Join the queue again.' });
        lostAdmission();
        return;
      }
      TK.showError(msg, { code: err.code, status: err.status, message: err.message, meaning: claimErrorText(err) });
      if (err.code === 'not_admitted') lostAdmission();
      if ((err.code === 'rate_limited' || err.code === 'unavailable')) setWaiting(err.retryAfter || 1);
    }).then(function () {
      busy = false;
      if (Date.now() >= waitUntil) { btn.disabled = false; btn.textContent = 'Claim'; }
      loadEvent();
    });
  });

  /* Whoever is signed in sees their own claim, if they hold one; a sign-out
   * (or a refused token) takes the ticket off the screen. */
  function showMine(who) {
    roomMode();
    $('claim-as').textContent = who ? 'Claiming as ' + who + '.' : 'Sign in above to claim: the ticket is for the signed-in user.';
    if (claimUser && claimUser !== who) {
      stopPoll(); claimUser = ''; $('ticket').hidden = true;
      if (msg.dataset.code !== 'unauthorized') TK.hide(msg);
    }
    if (!who || claimUser === who) return;
    TK.session.request('GET', '/v1/events/' + TK.enc(eventId) + '/claims/' + TK.enc(who)).then(function (r) {
      if (TK.session.user() !== who || claimUser) return;
      claimUser = who;
      renderClaim(r.data || {}, false);
      TK.showInfo(msg, 'You (' + who + ') already hold a claim on this event.', 'info');
      if (r.data && r.data.status === 'pending') pollClaim(who);
    }, function () { /* no claim yet (404), or a refused token (the card says so) */ });
  }
  TK.session.onChange(showMine);
  showMine(TK.session.user());

  /* Signed in or out: start over (the watch needs the token). */
  TK.session.onChange(startLive);
  document.addEventListener('visibilitychange', function () {
    if (document.hidden) stopLive(); else if (!live) startLive();
  });
  window.addEventListener('pagehide', stopLive);
  window.addEventListener('pageshow', function () { if (!live) startLive(); });
  startLive();
})();
