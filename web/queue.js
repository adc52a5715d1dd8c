/* queue.js: the waiting room of one event (queue.html?event=ID).
 * Signed in (session.js), the page joins: POST /v1/events/ID/queue (the
 * user's place; joining again is the same place, so a reload or a second
 * tab keeps it). Then one loop per tab long-polls
 * GET /v1/events/ID/queue/USER?wait=20 and shows the place, the people
 * ahead (present ones only), the estimate (eta_s, "—" when the gateway has
 * none) and how far the queue has come towards the place (serving / place).
 *
 * Every status request is the place's heartbeat: a place not heard from for
 * 30 s is abandoned (410 expired). So the loop does NOT stop while the tab
 * is hidden. It starts the next request as soon as a held one answers (the
 * start comes from the fetch, not from a timer a hidden tab may throttle),
 * and never sooner than poll_after_ms after the previous one started.
 * Errors: network and 5xx/429 back off 1, 2, 4, 8, 10 s, or the Retry-After
 * (capped at 25 s so the place outlives it); a 401 signs the tab out
 * (session.js); a 404 "no place" joins again once.
 * A hidden tab throttles timers (Chrome: to once a minute after 5 min), so
 * the loop relies on the gateway holding each poll (wait=20) and starts the
 * next one from the answer; only errors and at-once answers wait on a timer.
 * Admitted: the access token goes to sessionStorage for this event
 * (TK.session.setAccess) and the page moves on to event.html?event=ID, whose
 * claim sends it as the bearer. Expired: "your place expired" and a button
 * to join again (a new place, at the back). */
(function () {
  'use strict';
  var $ = TK.$;
  var eventId = TK.param('event');
  var card = $('queue-card'), evErr = $('event-error'), msg = $('queue-msg');
  var WAIT_S = 20, BACKOFF_MAX_MS = 10000, RETRY_AFTER_MAX_MS = 25000, REDIRECT_MS = 1500;
  var loop = null;           /* the running loop: {ctl, stopped, timer, user, joined, backoff, rejoined} */
  var ready = false;         /* the event was read: sign-ins may start the loop */
  var noRoom = false;        /* the event has no waiting room: nothing to join */
  var redirectTimer = null;

  TK.session.mount($('session'));

  if (!eventId || !TK.EVENT_ID_RE.test(eventId)) {
    $('event-name').textContent = 'No event chosen';
    TK.showError(evErr, { meaning: 'This page needs an event id, e.g. queue.html?event=cookie-day. Pick one from the events list.' });
    card.hidden = true;
    return;
  }
  $('event-link').textContent = eventId;
  $('event-link').href = TK.eventUrl(eventId);
  $('check-link').href = 'claim.html?event=' + TK.enc(eventId);
  document.title = 'Waiting room · ' + eventId + ' · Tickets';

  var BADGES = { idle: ['unknown', 'Not in the queue'], out: ['unknown', 'Sign in to join'], joining: ['pending', 'Joining…'],
                 waiting: ['pending', 'Waiting'], admitted: ['open', 'Your turn'], expired: ['closed', 'Place expired'],
                 stopped: ['closed', 'Not in the queue'] };
  function setState(state) {
    card.dataset.state = state;
    var b = BADGES[state] || BADGES.idle;
    $('queue-state').className = 'badge badge-' + b[0];
    $('queue-state').textContent = b[1];
  }

  function fmtEta(s) {
    if (typeof s !== 'number' || !isFinite(s) || s < 0) return '—';
    if (s < 1) return 'any moment now';
    if (s < 60) return 'about ' + Math.ceil(s) + ' s';
    if (s < 3600) return 'about ' + Math.round(s / 60) + ' min';
    var hrs = Math.floor(s / 3600), min = Math.round((s - hrs * 3600) / 60);
    return 'about ' + hrs + ' h' + (min ? ' ' + min + ' min' : '');
  }

  function setBar(pct) {
    pct = Math.max(0, Math.min(100, Math.round(pct)));
    $('q-bar').setAttribute('aria-valuenow', String(pct));
    $('q-bar').firstChild.style.width = pct + '%';
  }

  function clearNumbers() {
    ['q-position', 'q-ahead', 'q-eta', 'q-serving'].forEach(function (id) { $(id).textContent = '–'; });
    $('q-progress').textContent = '';
    setBar(0);
  }

  function renderWaiting(d) {
    setState('waiting');
    var pos = Number(d.position), serving = d.serving;
    $('q-position').textContent = pos > 0 ? '#' + TK.fmtNum(pos) : '–';
    $('q-ahead').textContent = TK.fmtNum(d.ahead);
    $('q-eta').textContent = fmtEta(d.eta_s);
    var known = typeof serving === 'number' && serving >= 0 && pos > 0;
    $('q-serving').textContent = known ? (serving > 0 ? 'up to #' + TK.fmtNum(serving) : 'nobody yet') : '–';
    if (known) {
      setBar(Math.min(serving, pos) * 100 / pos);
      $('q-progress').textContent = 'The queue has come ' + Math.round(Math.min(serving, pos) * 100 / pos) + '% of the way to your place.';
    } else {
      setBar(0);
      $('q-progress').textContent = '';
    }
  }

  function stopLoop() {
    if (!loop) return;
    loop.stopped = true;
    if (loop.timer) clearTimeout(loop.timer);
    loop.ctl.abort();
    loop = null;
  }

  function resetView() {
    stopLoop();
    if (redirectTimer) { clearTimeout(redirectTimer); redirectTimer = null; }
    $('rejoin-box').hidden = true;
    $('admitted-box').hidden = true;
    TK.hide(msg);
  }

  function admitted(d) {
    stopLoop();
    if (d && typeof d.access_token === 'string') TK.session.setAccess(eventId, d.access_token);
    if (!TK.session.access(eventId)) {
      setState('stopped');
      var c = d && TK.session.decode(d.access_token);
      if (c && c.exp !== null && c.exp * 1000 <= Date.now()) {
        /* a token that ran out by the page's clock (the gateway answers 410 once it has: clocks apart) */
        TK.showError(msg, { code: 'not_admitted', meaning: 'Your turn came, but your admission ran out at ' +
          new Date(c.exp * 1000).toLocaleTimeString() + ': it no longer lets you claim.' });
      } else {
        TK.showError(msg, { code: 'bad_response', meaning: 'The queue let you in, but its access token is not usable here (for another user or event). Reload the page to ask again.' });
      }
      return;
    }
    setState('admitted');
    setBar(100);
    $('q-ahead').textContent = '0';
    $('q-eta').textContent = 'now';
    $('q-progress').textContent = '';
    var until = TK.session.accessUntil(eventId);
    $('admitted-text').textContent = 'You are in' + (until ? ' until ' + new Date(until).toLocaleTimeString() : '') +
      '. Taking you to the claim…';
    $('claim-link').href = TK.eventUrl(eventId);
    $('admitted-box').hidden = false;
    $('queue-status').textContent = '';
    redirectTimer = setTimeout(function () { window.location.assign(TK.eventUrl(eventId)); }, REDIRECT_MS);
  }

  function expired(err) {
    stopLoop();
    setState('expired');
    clearNumbers();
    /* 410 expired has two causes (docs/API.md): the place was passed while away, or the admission ran out */
    var lapsed = err && typeof err.message === 'string' && /admission ran out/.test(err.message);
    TK.session.setAccess(eventId, '');
    TK.showError(msg, { code: 'expired', status: 410, meaning: lapsed ?
      'Your turn came, but your admission ran out before it was used: your place expired. Join again for a new place.' :
      'Your place expired: this page was not heard from for 30 s (closed, asleep or offline).' });
    $('rejoin-box').hidden = false;
    $('queue-status').textContent = '';
  }

  /* Terminal refusals (closed, sold out, no room, forbidden…): shown, loop ends. */
  function refused(err) {
    stopLoop();
    setState('stopped');
    var text = err.meaning;
    if (err.code === 'no_waiting_room') text = 'This event has no waiting room: claim on its page.';
    TK.showError(msg, { code: err.code, status: err.status, message: err.message, meaning: text });
    $('queue-status').textContent = '';
  }

  /* Joins (once per loop), then follows the place. One loop per tab. */
  function start() {
    resetView();
    var who = TK.session.user();
    /* the sign-in card first while signed out, below the place once in */
    var box = $('session');
    if (who) box.parentNode.appendChild(box); else card.parentNode.insertBefore(box, card);
    if (noRoom) return;
    if (!who) {
      setState('out');
      clearNumbers();
      $('queue-status').textContent = 'Sign in below to join the queue.';
      return;
    }
    if (TK.session.access(eventId)) { admitted(null); return; }   /* let in earlier, still valid */
    var run = { ctl: new AbortController(), stopped: false, timer: null, user: who, joined: false, backoff: 0, rejoined: false };
    loop = run;
    setState('joining');
    clearNumbers();

    function next(ms) {
      if (run.stopped) return;
      if (ms > 0) run.timer = setTimeout(step, ms); else step();
    }

    function failed(err) {
      if (run.stopped || err.code === 'aborted') return;
      if (err.status === 0 || err.status >= 500 || err.status === 429) {
        run.backoff = run.backoff ? Math.min(BACKOFF_MAX_MS, run.backoff * 2) : 1000;
        var ms = run.backoff;
        if (err.retryAfter) ms = Math.max(ms, Math.min(RETRY_AFTER_MAX_MS, err.retryAfter * 1000));
        $('queue-status').textContent = 'Connection trouble (' + (err.code || err.status) + ') · trying again in ' +
          Math.round(ms / 1000) + ' s. Your place is kept while this page keeps trying.';
        next(ms);
        return;
      }
      if (err.status === 401) {
        /* session.js signed the tab out (its onChange restarts the page);
         * an access token is never sent here, so this is the user token. */
        stopLoop();
        return;
      }
      if (err.code === 'expired' || err.status === 410) { expired(err); return; }
      if (err.status === 404 && run.joined && !run.rejoined) {
        /* the place is gone from the gateway's books: join again, once */
        run.joined = false; run.rejoined = true;
        next(0);
        return;
      }
      if (err.code === 'not_open') {
        TK.showError(msg, { code: err.code, status: err.status, message: err.message,
                            meaning: 'The queue is not open yet. This page joins by itself as soon as it opens.' });
        $('queue-status').textContent = 'Trying again in 10 s.';
        next(10000);
        return;
      }
      refused(err);
    }

    function step() {
      run.timer = null;
      if (run.stopped) return;
      var started = Date.now();
      var base = '/v1/events/' + TK.enc(eventId) + '/queue';
      var req = run.joined
        ? TK.session.request('GET', base + '/' + TK.enc(run.user) + '?wait=' + WAIT_S, { signal: run.ctl.signal, timeoutMs: (WAIT_S + 15) * 1000 })
        : TK.session.request('POST', base, { body: {}, signal: run.ctl.signal, timeoutMs: 15000 });
      req.then(function (r) {
        if (run.stopped) return;
        var d = r.data || {};
        if (d.state === 'admitted') { admitted(d); return; }
        if (d.state !== 'waiting') {
          failed(new TK.ApiError(r.status, 'bad_response', 'unknown queue state ' + String(d.state), null));
          return;
        }
        run.backoff = 0;
        run.joined = true;
        TK.hide(msg);
        renderWaiting(d);
        $('queue-status').textContent = 'Live · checked ' + new Date().toLocaleTimeString() +
          (document.hidden ? ' (in the background: still keeping your place)' : '');
        var gap = Number(d.poll_after_ms);
        gap = gap >= 250 && gap <= 10000 ? gap : 1000;
        next(gap - (Date.now() - started));
      }, failed);
    }
    step();
  }

  $('rejoin-btn').addEventListener('click', start);

  TK.session.onChange(function () { if (ready) start(); });
  /* Leaving the page stops the loop; coming back (bfcache) resumes it. */
  window.addEventListener('pagehide', stopLoop);
  window.addEventListener('pageshow', function (e) { if (e.persisted && ready && !loop) start(); });

  TK.request('GET', '/v1/events/' + TK.enc(eventId)).then(function (r) {
    var ev = r.data || {};
    $('event-name').textContent = 'Waiting room: ' + (ev.name || ev.event_id || eventId);
    document.title = 'Waiting room · ' + (ev.name || eventId) + ' · Tickets';
    /* An event that says it has no room (null or disabled) has nothing to
     * join; one that does not say (an older gateway) is tried. */
    if (ev.waiting_room === null || (ev.waiting_room && ev.waiting_room.enabled === false)) {
      noRoom = true;
      setState('stopped');
      card.hidden = true;
      $('queue-lead').hidden = true;
      TK.showInfo(msg, 'This event has no waiting room: claim directly on its page.', 'info');
      msg.appendChild(TK.h('div', null, TK.h('a', { href: TK.eventUrl(eventId), id: 'event-page-link', text: 'Go to the event' })));
    }
  }, function (err) {
    if (err.code === 'not_found') {
      noRoom = true;
      card.hidden = true;
      $('queue-lead').hidden = true;
      $('event-name').textContent = 'Event not found';
      TK.showError(evErr, { meaning: 'There is no event "' + eventId + '". Pick one from the events list.', code: 'not_found', status: 404 });
    }
    /* other errors: the join says what is wrong, or works */
  }).then(function () {
    ready = true;
    start();
  });
})();
