/* index.js: the events list with live remaining stock (GET /v1/events every 2 s). */
(function () {
  'use strict';
  var h = TK.h;
  var list = TK.$('events'), empty = TK.$('empty'), errBox = TK.$('error'), status = TK.$('status');

  function stockBlock(ev) {
    var total = Number(ev.stock_total) || 0, rem = Number(ev.remaining) || 0;
    var pct = total > 0 ? Math.max(0, Math.min(100, Math.round(rem * 100 / total))) : 0;
    var bar = h('div', { className: 'bar' + (rem === 0 ? ' empty' : pct < 20 ? ' low' : ''),
                         role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': rem,
                         'aria-label': 'units left' },
                h('span'));
    bar.firstChild.style.width = pct + '%';
    return h('div', { className: 'stock' },
      h('div', { className: 'stock-nums' },
        h('span', null, h('span', { className: 'remaining', 'data-testid': 'remaining', text: TK.fmtNum(ev.remaining) }), ' left'),
        h('span', { className: 'hint', text: 'of ' + TK.fmtNum(ev.stock_total) })),
      bar);
  }

  function render(events) {
    TK.clear(list);
    events.forEach(function (ev) {
      var when = [];
      if (ev.opens_at) when.push('opens ' + TK.fmtTime(ev.opens_at));
      if (ev.closes_at) when.push('closes ' + TK.fmtTime(ev.closes_at));
      list.appendChild(h('li', null,
        h('a', { className: 'event', href: TK.eventUrl(String(ev.event_id)), dataset: { eventId: ev.event_id } },
          h('div', { className: 'event-head' },
            h('span', { className: 'event-name', text: ev.name || ev.event_id }),
            TK.stateBadge(ev.state)),
          h('div', { className: 'event-id', text: ev.event_id + (ev.max_per_user ? ' · max ' + ev.max_per_user + ' per person' : '') }),
          stockBlock(ev),
          when.length ? h('div', { className: 'hint', text: when.join(' · ') }) : null)));
    });
    empty.hidden = events.length !== 0;
  }

  function load() {
    return TK.request('GET', '/v1/events').then(function (r) {
      var events = (r.data && Array.isArray(r.data.events)) ? r.data.events : [];
      render(events);
      TK.hide(errBox);
      status.textContent = 'Updated ' + new Date().toLocaleTimeString() + ' · refreshes every 2 s';
    }, function (err) {
      TK.showError(errBox, err, 'Could not load the events');
      status.textContent = 'Last try ' + new Date().toLocaleTimeString() + ' failed · retrying';
    });
  }

  TK.every(2000, load);
})();
