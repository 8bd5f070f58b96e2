// meshnode dashboard: plain JS, no dependencies. The API key lives in
// sessionStorage; every call sends it as a bearer token. Live updates come
// from /api/v1/events read with fetch() (EventSource cannot send the key).
'use strict';

const KEY = 'meshnode-api-key';
const $ = (sel) => document.querySelector(sel);
let key = sessionStorage.getItem(KEY) || '';
let streamAbort = null;
let refreshTimer = null;

class AuthError extends Error {}

async function api(method, path, body) {
  const opts = { method, headers: { 'Authorization': 'Bearer ' + key } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch('api/v1/' + path, opts);
  if (resp.status === 401) throw new AuthError('the API key was not accepted');
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const msg = data && data.error ? data.error.message : resp.statusText;
    throw new Error(method + ' ' + path + ': ' + msg);
  }
  return data;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ''));
  return e;
}

function bytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

function kv(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v, cls]) => [el('dt', {}, k), el('dd', { class: cls || '' }, v)]));
}

function since(t) {
  if (!t || t.startsWith('0001-')) return '';
  return new Date(t).toLocaleString();
}

function showError(e) {
  if (e instanceof AuthError) { logout(e.message); return; }
  $('#error').textContent = e ? String(e.message || e) : '';
}

async function refresh() {
  try {
    const [st, peers, services, served] = await Promise.all([
      api('GET', 'status'), api('GET', 'peers'), api('GET', 'services'), api('GET', 'serve')]);
    renderStatus(st);
    renderPeers(peers);
    renderServices(services);
    renderMappings(st.mappings || []);
    renderServed(served, st.services || []);
    $('#error').textContent = '';
  } catch (e) {
    showError(e);
  }
}

// scheduleRefresh coalesces the refreshes a burst of events asks for.
function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 100);
}

function renderStatus(st) {
  $('#node-name').textContent = st.name + ' in ' + st.group;
  kv($('#node'), [
    ['name', st.name], ['id', st.id], ['group', st.group], ['started', since(st.started)],
    ['cipher', st.cipher], ['transport', st.transport], ['peers up', st.peers_up + ' of ' + st.peers],
    ['catalog version', st.catalog_version],
  ].concat(st.config ? [['config', (st.config.file || 'flags only') + ', log level ' + st.config.log_level]] : []));
  const r = st.rendezvous;
  kv($('#rendezvous'), [
    ['address', r.addr],
    ['connected', r.connected ? 'yes, since ' + since(r.since) : 'no', r.connected ? '' : 'bad'],
    ['RTT', r.connected ? r.rtt_ms.toFixed(1) + ' ms' : ''],
  ].concat(r.last_error ? [['last error', r.last_error, 'bad']] : [])
   .concat(r.refused ? [['refused', r.refused, 'bad']] : []));
}

function renderPeers(peers) {
  $('#peers tbody').replaceChildren(...peers.map((p) => el('tr', { 'data-peer': p.name },
    el('td', {}, p.name), el('td', { title: p.id }, p.id.slice(0, 12)),
    el('td', { class: p.state === 'up' ? '' : 'bad' }, p.state + (p.error ? ': ' + p.error : '')),
    el('td', { class: 'path path-' + p.path }, p.path),
    el('td', { class: 'why' }, p.path === 'relay' ? p.why || '' : ''),
    el('td', {}, (p.endpoint || '') + (p.method && p.method !== 'ice' ? ', found by ' + p.method : '')),
    el('td', {}, p.state === 'up' ? p.rtt_ms + ' ms' : ''),
    el('td', {}, bytes(p.bytes_in)), el('td', {}, bytes(p.bytes_out)), el('td', {}, p.streams))));
}

function renderServices(list) {
  $('#services tbody').replaceChildren(...list.map((s) => el('tr', { 'data-serveid': s.serveid },
    el('td', {}, s.serveid), el('td', {}, s.name || ''), el('td', {}, s.proto),
    el('td', {}, (s.owner_name || s.owner.slice(0, 12)) + (s.local ? ' (this node)' : '')),
    el('td', { class: s.reachable ? '' : 'bad' }, s.reachable ? 'yes' : 'no'),
    el('td', {}, (s.info || '') + (s.conflict ? ' conflict: ' + s.conflict : '')))));
}

// limits is a service's or mapping's limits for people: "max-conns=2 rate=1000000B/s".
function limits(l) {
  if (!l) return '';
  const parts = [];
  if (l.max_conns) parts.push('max-conns=' + l.max_conns);
  if (l.rate) parts.push('rate=' + bytes(l.rate) + '/s');
  if (l.idle_timeout) parts.push('idle-timeout=' + l.idle_timeout);
  if (l.proxy_protocol) parts.push('proxy-protocol=' + l.proxy_protocol);
  return parts.join(' ');
}

// parseRate reads a rate as the CLI does (api.ParseRate): a number of bytes
// with an optional unit and "/s"; "" is no limit.
function parseRate(s) {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*(?:\/s)?\s*$/.exec(s);
  const mult = { '': 1, b: 1, kb: 1e3, kib: 1024, k: 1024, mb: 1e6, mib: 1048576, m: 1048576, gb: 1e9, gib: 1073741824, g: 1073741824 };
  if (s.trim() === '') return 0;
  if (!m || !(m[2].toLowerCase() in mult)) throw new Error('rate "' + s + '": want a number of bytes with an optional unit, such as 20MB, 50MiB or 1048576');
  return Math.floor(Number(m[1]) * mult[m[2].toLowerCase()]);
}

// formLimits is the limits a form's fields ask for (prefix "map" or
// "serve"), or undefined when all are empty; the node checks the values.
function formLimits(prefix) {
  const l = {};
  const conns = $('#' + prefix + '-max-conns').value.trim();
  if (conns) l.max_conns = Number(conns);
  const rate = parseRate($('#' + prefix + '-rate').value);
  if (rate) l.rate = rate;
  const idle = $('#' + prefix + '-idle').value.trim();
  if (idle) l.idle_timeout = idle;
  const pp = $('#' + prefix + '-pp');
  if (pp && pp.value) l.proxy_protocol = pp.value;
  return Object.keys(l).length ? l : undefined;
}

function renderMappings(list) {
  $('#mappings tbody').replaceChildren(...list.map((m) => {
    const rm = el('button', { type: 'button', textContent: 'remove' });
    rm.disabled = m.origin !== 'live';
    rm.title = m.origin === 'live' ? 'remove this mapping' : 'declared in ' + (m.ref || m.origin) + ': remove it there';
    rm.onclick = () => act(() => api('DELETE', 'mappings/' + m.port));
    return el('tr', { 'data-port': m.port },
      el('td', {}, m.target), el('td', { class: m.listen ? '' : 'bad' }, m.listen || 'not listening'),
      el('td', {}, m.proto || ''), el('td', {}, m.active), el('td', {}, m.total), el('td', {}, m.failed),
      el('td', {}, m.ref || m.origin), el('td', {}, limits(m.limits)), el('td', { class: 'bad' }, m.last_error || ''), el('td', {}, rm));
  }));
}

function renderServed(list, local) {
  const origin = new Map(local.map((s) => [s.serveid, s]));
  $('#served tbody').replaceChildren(...list.map((s) => {
    const ls = origin.get(s.serveid) || {};
    const rm = el('button', { type: 'button', textContent: 'remove' });
    rm.disabled = ls.origin && ls.origin !== 'live';
    rm.title = rm.disabled ? 'declared in ' + (ls.ref || ls.origin) + ': remove it there' : 'stop serving';
    rm.onclick = () => act(() => api('DELETE', 'serve/' + s.serveid));
    return el('tr', { 'data-serveid': s.serveid },
      el('td', {}, s.serveid), el('td', {}, s.name || ''), el('td', {}, s.proto),
      el('td', {}, s.target || ''), el('td', {}, limits(s.limits)),
      el('td', {}, (s.info || '') + (ls.origin === 'adhoc' ? ' (ad-hoc, ' + (ls.ref || '') +
        (ls.expires ? ', expires ' + new Date(ls.expires).toLocaleTimeString() : ', in use') + ')' : '')),
      el('td', {}, rm));
  }));
}

async function act(f) {
  try {
    await f();
    $('#error').textContent = '';
  } catch (e) {
    showError(e);
  }
  await refresh();
}

// The events shown and the last event ID are kept in the session too, so a
// reload shows them and resumes the stream where it was.
const EVENTS = 'meshnode-events', LAST_ID = 'meshnode-last-event-id', MAX_EVENTS = 50;

function showEvent(kind, ev) {
  let text = new Date(ev.time || Date.now()).toLocaleTimeString() + ' ' + kind;
  if (ev.name || ev.peer) text += ' ' + (ev.name || ev.peer.slice(0, 12));
  if (ev.path) text += ' -> ' + ev.path;
  if (ev.remote) text += ' (' + ev.remote + ')';
  if (ev.reason) text += ': ' + ev.reason;
  const list = $('#events');
  list.prepend(el('li', { 'data-kind': kind }, text));
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

function storedEvents() {
  try {
    return JSON.parse(sessionStorage.getItem(EVENTS) || '[]');
  } catch (e) {
    return [];
  }
}

function addEvent(kind, ev) {
  showEvent(kind, ev);
  const kept = storedEvents();
  kept.push([kind, ev]);
  sessionStorage.setItem(EVENTS, JSON.stringify(kept.slice(-MAX_EVENTS)));
}

function setLive(on) {
  const b = $('#live');
  b.textContent = on ? 'live' : 'offline';
  b.className = 'badge ' + (on ? 'on' : 'off');
}

// streamEvents reads the node's Server-Sent Events with fetch, so it can send
// the key in a header, and reconnects with Last-Event-ID after a drop.
async function streamEvents(signal) {
  let lastId = sessionStorage.getItem(LAST_ID) || '';
  while (!signal.aborted) {
    try {
      const headers = { 'Authorization': 'Bearer ' + key };
      if (lastId) headers['Last-Event-ID'] = lastId;
      const resp = await fetch('api/v1/events', { headers, signal });
      if (resp.status === 401) { logout('the API key was not accepted'); return; }
      if (!resp.ok) throw new Error('events: ' + resp.status);
      setLive(true);
      refresh(); // catch up with what happened while offline
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message', data = '', id = '';
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const c = line.indexOf(':');
            const f = c < 0 ? line : line.slice(0, c);
            const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (f === 'event') event = v;
            else if (f === 'data') data += (data ? '\n' : '') + v;
            else if (f === 'id') id = v;
          }
          if (id) {
            lastId = id;
            sessionStorage.setItem(LAST_ID, id);
          }
          if (!data) continue;
          const ev = JSON.parse(data);
          if (event !== 'resync') addEvent(event, ev);
          scheduleRefresh();
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function start() {
  $('#events').replaceChildren();
  for (const [kind, ev] of storedEvents()) showEvent(kind, ev);
  $('#login').hidden = true;
  $('#main').hidden = false;
  $('#logout').hidden = false;
  streamAbort = new AbortController();
  streamEvents(streamAbort.signal);
  refresh();
}

function logout(why) {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(EVENTS);
  sessionStorage.removeItem(LAST_ID);
  key = '';
  if (streamAbort) streamAbort.abort();
  setLive(false);
  $('#main').hidden = true;
  $('#logout').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = why || '';
}

document.addEventListener('DOMContentLoaded', () => {
  $('#login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    key = $('#key').value.trim();
    try {
      await api('GET', 'status');
    } catch (err) {
      $('#login-error').textContent = err.message;
      return;
    }
    sessionStorage.setItem(KEY, key);
    $('#key').value = '';
    start();
  });
  $('#logout').addEventListener('click', () => logout(''));
  $('#map-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const req = { target: $('#map-target').value.trim(), port: Number($('#map-port').value || 0) };
    const bind = $('#map-bind').value.trim();
    if (bind) req.bind = bind;
    act(async () => {
      req.limits = formLimits('map');
      await api('POST', 'mappings', req);
      e.target.reset();
    });
  });
  $('#serve-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const req = { serveid: Number($('#serve-id').value || 0), target: $('#serve-target').value.trim(), proto: $('#serve-proto').value };
    const name = $('#serve-name').value.trim(), info = $('#serve-info').value.trim();
    if (name) req.name = name;
    if (info) req.info = info;
    act(async () => {
      req.limits = formLimits('serve');
      await api('POST', 'serve', req);
      e.target.reset();
    });
  });
  // Traffic counters and RTT move without events: poll them slowly.
  setInterval(() => { if (key) refresh(); }, 5000);
  if (key) start(); else logout('');
});
