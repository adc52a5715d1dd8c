/* claim.js: "check my claim" (GET /v1/events/ID/claims/SUB with the bearer
 * token, SUB the signed-in user: the gateway answers 403 for anyone else's);
 * a pending claim is re-checked every 2 s until it is final. */
(function () {
  'use strict';
  var $ = TK.$;
  var form = $('lookup-form'), evInput = $('event-id'), msg = $('msg'), result = $('result');
  var poll = null, seq = 0;

  TK.session.mount($('session'));
  evInput.value = TK.param('event') || TK.recall('local', 'tk.last_event');

  /* Offer the listed events as suggestions. */
  TK.request('GET', '/v1/events').then(function (r) {
    var dl = $('event-ids');
    ((r.data && r.data.events) || []).forEach(function (ev) {
      dl.appendChild(TK.h('option', { value: ev.event_id, label: ev.name || ev.event_id }));
    });
  }, function () {});

  function render(c, eventId) {
    result.hidden = false;
    $('ticket-no').textContent = '#' + c.ticket;
    TK.clear($('status')).appendChild(TK.statusBadge(c.status));
    $('status-words').textContent = TK.STATUS_WORDS[c.status] || String(c.status);
    var reason = $('reason');
    reason.hidden = !(c.status === 'rejected' && c.reason);
    reason.textContent = c.reason ? 'Reason: ' + c.reason : '';
    var link = $('event-link');
    link.textContent = c.event_id || eventId;
    link.href = TK.eventUrl(String(c.event_id || eventId));
    $('claim-id').textContent = c.claim_id || '';
    $('claim-user').textContent = c.user_id || '';
    $('claim-qty').textContent = TK.fmtNum(c.quantity);
    $('claim-created').textContent = TK.fmtTime(c.created_at);
  }

  function stop() { if (poll) { poll.stop(); poll = null; } }

  function lookup(eventId, user) {
    var my = ++seq;
    stop();
    $('poll-status').textContent = '';
    var first = true;
    poll = TK.every(2000, function () {
      return TK.session.request('GET', '/v1/events/' + TK.enc(eventId) + '/claims/' + TK.enc(user)).then(function (r) {
        if (my !== seq || TK.session.user() !== user) return;
        render(r.data || {}, eventId);
        TK.hide(msg);
        if (r.data && r.data.status === 'pending') {
          $('poll-status').textContent = 'Still pending · checked ' + new Date().toLocaleTimeString() + ' · re-checking every 2 s';
        } else {
          $('poll-status').textContent = 'Checked ' + new Date().toLocaleTimeString();
          stop();
        }
        first = false;
      }, function (err) {
        if (my !== seq) return;
        if (err.code === 'not_found') {
          result.hidden = true;
          TK.showError(msg, { code: 'not_found', status: 404, message: err.message,
            meaning: 'You (' + user + ') hold no claim on event "' + eventId + '". Check the event id.' });
          stop();
        } else if (err.status === 401 || err.status === 403) {
          result.hidden = true;
          TK.showError(msg, err, err.status === 401 ? 'Sign in again' : 'Refused');
          stop();
        } else if (first) {
          result.hidden = true;
          TK.showError(msg, err, 'Could not check the claim');
        } else {
          $('poll-status').textContent = 'Re-check failed (' + (err.code || err.status) + '): ' + err.meaning;
        }
      });
    });
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var eventId = evInput.value.trim(), user = TK.session.user();
    if (!TK.EVENT_ID_RE.test(eventId)) {
      TK.showError(msg, { code: 'bad_request', meaning: 'Enter an event id of 1 to 64 lower-case letters, digits, _ or -.' });
      evInput.focus(); return;
    }
    if (!user) {
      TK.showError(msg, { code: 'unauthorized', status: 401, meaning: 'Sign in first: you can check only your own claim.' });
      TK.session.ask();
      return;
    }
    TK.remember('local', 'tk.last_event', eventId);
    history.replaceState(null, '', 'claim.html?event=' + TK.enc(eventId));
    lookup(eventId, user);
  });

  /* Another user (or none): the claim on screen is not theirs. A sign-out
   * keeps `seq`, so the 401 that caused it is still shown by lookup(). */
  TK.session.onChange(function (who) {
    stop();
    result.hidden = true;
    $('poll-status').textContent = '';
    if (!who) return;
    seq++;
    TK.hide(msg);
    if (TK.EVENT_ID_RE.test(evInput.value.trim())) submit();
  });

  function submit() { if (form.requestSubmit) form.requestSubmit(); else form.dispatchEvent(new Event('submit', { cancelable: true })); }
  if (TK.param('event') && TK.session.user()) submit();
})();
