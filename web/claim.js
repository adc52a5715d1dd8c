/* claim.js: "check my claim" (GET /v1/events/ID/claims/USER); a pending claim
 * is re-checked every 2 s until it is final. */
(function () {
  'use strict';
  var $ = TK.$;
  var form = $('lookup-form'), evInput = $('event-id'), userInput = $('user-id'), msg = $('msg'), result = $('result');
  var poll = null, seq = 0;

  evInput.value = TK.param('event') || TK.recall('local', 'tk.last_event');
  userInput.value = TK.param('user') || TK.recall('local', 'tk.user_id');

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

  function lookup(eventId, user) {
    var my = ++seq;
    if (poll) { poll.stop(); poll = null; }
    $('poll-status').textContent = '';
    var first = true;
    poll = TK.every(2000, function () {
      return TK.request('GET', '/v1/events/' + TK.enc(eventId) + '/claims/' + TK.enc(user)).then(function (r) {
        if (my !== seq) return;
        render(r.data || {}, eventId);
        TK.hide(msg);
        if (r.data && r.data.status === 'pending') {
          $('poll-status').textContent = 'Still pending · checked ' + new Date().toLocaleTimeString() + ' · re-checking every 2 s';
        } else {
          $('poll-status').textContent = 'Checked ' + new Date().toLocaleTimeString();
          if (poll) { poll.stop(); poll = null; }
        }
        first = false;
      }, function (err) {
        if (my !== seq) return;
        if (err.code === 'not_found') {
          result.hidden = true;
          TK.showError(msg, { code: 'not_found', status: 404, message: err.message,
            meaning: 'No claim found for user "' + user + '" on event "' + eventId + '". Check both ids.' });
          if (poll) { poll.stop(); poll = null; }
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
    var eventId = evInput.value.trim(), user = userInput.value.trim();
    if (!TK.EVENT_ID_RE.test(eventId)) {
      TK.showError(msg, { code: 'bad_request', meaning: 'Enter an event id of 1 to 64 lower-case letters, digits, _ or -.' });
      evInput.focus(); return;
    }
    if (!TK.USER_ID_RE.test(user)) {
      TK.showError(msg, { code: 'bad_request', meaning: 'Enter a user id of 1 to 64 letters, digits or _ . : @ -' });
      userInput.focus(); return;
    }
    TK.remember('local', 'tk.last_event', eventId);
    history.replaceState(null, '', 'claim.html?event=' + TK.enc(eventId) + '&user=' + TK.enc(user));
    lookup(eventId, user);
  });

  if (TK.param('event') && TK.param('user')) form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event('submit'));
})();
