/**
 * The status page: plain HTML and a small inline script that polls `/api/status` and asks
 * `/api/trace/:id` for one record. No frontend build, no data in the HTML itself (the shell is
 * served without the bearer token; the script sends it). Values are written with textContent
 * only, so nothing from an event can become markup.
 */

/** The page, as served at `/`. */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sfmc-bridge status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; }
  h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
  h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  .state { color: #555; }
  .tiles { display: flex; flex-wrap: wrap; gap: .75rem; }
  .tile { border: 1px solid #ddd; border-radius: 6px; padding: .5rem .9rem; min-width: 8.5rem; }
  .tile b { display: block; font-size: 1.4rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eee; font-family: ui-monospace, monospace; font-size: 12px; }
  .dead_lettered, .dead { color: #b00020; } .retry { color: #a15c00; } .delivered { color: #116329; }
  #timeline li { font-family: ui-monospace, monospace; font-size: 12px; margin: .15rem 0; }
  #error { color: #b00020; }
  form { display: flex; gap: .5rem; }
  input { font: inherit; padding: .3rem .5rem; width: 22rem; }
</style>
</head>
<body>
<h1>sfmc-bridge</h1>
<div class="state" id="state">connecting…</div>
<div id="error"></div>
<form id="token-form" hidden><input id="token" type="password" placeholder="admin bearer token" autocomplete="off"><button>Use token</button></form>

<div class="tiles">
  <div class="tile">events/s<b id="eventsRate">–</b></div>
  <div class="tile">delivered/s<b id="deliveredRate">–</b></div>
  <div class="tile">backlog<b id="backlog">–</b></div>
  <div class="tile">dead letters<b id="deadLetters">–</b></div>
  <div class="tile">received since start<b id="received">–</b></div>
  <div class="tile">delivered since start<b id="delivered">–</b></div>
</div>

<h2>Trace one record</h2>
<form id="trace-form"><input id="trace-id" placeholder="record ID (15 or 18 characters), contact key or Correlation_Id__c" autocomplete="off"><button id="trace-go">Trace</button></form>
<div id="trace-summary"></div>
<ol id="timeline"></ol>

<h2>Latest records</h2>
<table><thead><tr><th>time</th><th>outcome</th><th>record</th><th>route</th><th>detail</th></tr></thead><tbody id="recent"></tbody></table>

<script>
(() => {
  const $ = (id) => document.getElementById(id);
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) { sessionStorage.setItem('sfmcBridgeToken', fromHash); history.replaceState(null, '', location.pathname); }
  let token = sessionStorage.getItem('sfmcBridgeToken') || '';
  let previous;

  async function api(path) {
    const res = await fetch(path, { headers: token ? { authorization: 'Bearer ' + token } : {}, cache: 'no-store' });
    if (res.status === 401) { $('token-form').hidden = false; throw new Error('this listener needs its bearer token'); }
    if (!res.ok) throw new Error(path + ' answered ' + res.status);
    return res.json();
  }
  const time = (ms) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
  const cell = (tr, text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); };
  const rate = (now, before, key) => before ? ((now.counters[key] - before.counters[key]) * 1000 / Math.max(1, now.now - before.now)).toFixed(1) : '–';

  async function poll() {
    try {
      const s = await api('/api/status');
      $('error').textContent = '';
      const led = s.channels.filter((c) => c.leader).map((c) => c.name);
      const followed = s.channels.filter((c) => !c.leader).map((c) => c.name);
      $('state').textContent = (s.stopping ? 'stopping' : s.subscribed ? 'subscribed' : 'not subscribed') + ' · up since ' + time(s.startedAt)
        + (led.length ? ' · leads ' + led.join(', ') : '') + (followed.length ? ' · follows ' + followed.join(', ') : '');
      $('eventsRate').textContent = rate(s, previous, 'eventsReceived');
      $('deliveredRate').textContent = rate(s, previous, 'delivered');
      $('backlog').textContent = s.backlog;
      $('deadLetters').textContent = s.deadLetters;
      $('received').textContent = s.counters.eventsReceived;
      $('delivered').textContent = s.counters.delivered;
      previous = s;
      const body = $('recent');
      body.replaceChildren();
      for (const r of s.recent) {
        const tr = document.createElement('tr');
        cell(tr, time(r.at)); cell(tr, r.outcome, r.outcome); cell(tr, r.recordId || '(none)'); cell(tr, r.route); cell(tr, r.detail);
        body.appendChild(tr);
      }
    } catch (err) { $('error').textContent = String(err.message || err); }
  }

  function step(list, at, text, cls) {
    const li = document.createElement('li');
    li.textContent = time(at) + '  ' + text;
    if (cls) li.className = cls;
    list.appendChild(li);
  }

  async function trace(id) {
    const list = $('timeline');
    list.replaceChildren();
    $('trace-summary').textContent = 'searching…';
    try {
      const t = await api('/api/trace/' + encodeURIComponent(id));
      if (t.entries.length === 0) { $('trace-summary').textContent = 'No history for ' + t.query + ' (searched as ' + t.key + ').'; return; }
      $('trace-summary').textContent = 'Timeline of ' + t.key + ': ' + t.entries.length + ' action(s)';
      for (const e of t.entries) {
        step(list, e.receivedAt, 'received  ' + e.channel + '  replayId=' + e.replayId + '  changeType=' + (e.changeType || '?') + '  correlationId=' + e.correlationId + (e.adminCorrelationId ? '  adminCorrelationId=' + e.adminCorrelationId : ''));
        if (e.target) step(list, e.createdAt, 'routed  route=' + e.route + '  action=' + e.target + ' ' + (e.batchKey || '') + '  contactKey=' + e.contactKey);
        for (const a of e.attempts) {
          if (a.outcome === 'delivered') step(list, a.at, 'delivered  attempt ' + a.attempt + '  ' + Object.entries(a.ids || {}).map(([k, v]) => k + '=' + v).join('  '), 'delivered');
          else step(list, a.at, 'attempt ' + a.attempt + ' failed  ' + (a.code || '') + ': ' + (a.detail || '') + (a.outcome === 'retry' ? ' (will retry)' : ''), a.outcome);
        }
        if (e.status === 'dead') step(list, (e.attempts.at(-1) || {}).at || e.createdAt, 'dead-lettered  ' + (e.errorCode || '') + ': ' + (e.error || ''), 'dead');
        else if (e.status !== 'delivered') step(list, Date.now(), e.status + ' (' + e.attempts.length + ' attempt(s) so far)');
      }
    } catch (err) { $('trace-summary').textContent = String(err.message || err); }
  }

  $('trace-form').addEventListener('submit', (ev) => { ev.preventDefault(); const id = $('trace-id').value.trim(); if (id) trace(id); });
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault(); token = $('token').value; sessionStorage.setItem('sfmcBridgeToken', token); $('token-form').hidden = true; poll();
  });
  poll();
  setInterval(poll, 2000);
})();
</script>
</body>
</html>
`;
