// The dashboard's shell: sign-in, who the user is (GET /v1/auth/whoami), the pages by URL
// hash, and the "interactive" mark the benchmark and tests wait for.
import { api, setToken, token } from './api.js';
import { fill } from './dom.js';
import * as jobs from './jobs.js';
import * as runs from './runs.js';
import * as cluster from './cluster.js';
import * as rooms from './rooms.js';

const PAGES = { jobs, runs, cluster, rooms };
// The action a page's data needs: the scheduler's pages need `read`, the clean rooms `govern`
// (the `cleanroom` role, or admin). A page the caller cannot read is not offered.
const NEEDS = { jobs: 'read', runs: 'read', cluster: 'read', rooms: 'govern' };
const $ = (id) => document.getElementById(id);
let me = null;
let stopPage = null;

/** Whether the signed-in principal's roles permit an action (read, operate, administer...). */
function can(action) {
  return Boolean(me && me.actions.includes(action));
}

function notify(message) {
  const n = $('notice');
  n.textContent = message || '';
  n.hidden = !message;
}

/** Marks the page usable: its first data is on screen and its buttons are enabled. */
function ready(page) {
  document.body.dataset.ready = page;
  performance.mark(`consort:ready:${page}`);
}

async function show() {
  const name = location.hash.replace(/^#\//, '').split('/')[0];
  const first = Object.keys(PAGES).find((p) => can(NEEDS[p])) || 'jobs';
  const page = PAGES[name] && can(NEEDS[name]) ? name : first;
  if (stopPage) stopPage();
  stopPage = null;
  delete document.body.dataset.ready;
  notify('');
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('current', a.dataset.page === page);
  const root = fill($('page'));
  root.dataset.page = page;
  try {
    stopPage = await PAGES[page].render(root, { api, can, me, notify, ready: () => ready(page), reload: show });
  } catch (e) {
    notify(e.message);
    if (e.status === 401) signOut(refusal(e));
  }
}

/** The server's refusal of the token, with its code (a revoked or expired user credential says so). */
function refusal(e) {
  return `The server refused this token (${e.code}): ${e.message}`;
}

/** Who is signed in; a user credential also names its clean room, user, issuer and expiry. */
function describe(who) {
  const roles = `${who.display_name} (${who.roles.join(', ')})`;
  const c = who.credential;
  if (!c) return roles;
  const until = c.expires_ms ? `, until ${new Date(c.expires_ms).toLocaleString()}` : '';
  return `user ${c.user} of clean room ${c.cleanroom} (credential ${c.id} from ${c.member}${until})`;
}

function signOut(reason) {
  setToken(null);
  me = null;
  if (stopPage) stopPage();
  stopPage = null;
  fill($('page'));
  $('nav').hidden = true;
  $('signout').hidden = true;
  $('who').textContent = '';
  $('signin').hidden = false;
  const err = $('signin-error');
  err.textContent = reason || '';
  err.hidden = !reason;
  document.body.dataset.signedIn = 'false';
  delete document.body.dataset.method;
}

async function signIn() {
  try {
    me = await api('GET', '/v1/auth/whoami');
  } catch (e) {
    signOut(e.status === 401 || e.status === 403 ? refusal(e) : e.message);
    return;
  }
  $('signin').hidden = true;
  $('nav').hidden = false;
  for (const a of document.querySelectorAll('#nav a')) a.hidden = !can(NEEDS[a.dataset.page]);
  $('signout').hidden = false;
  $('who').textContent = describe(me);
  document.body.dataset.signedIn = 'true';
  document.body.dataset.method = me.method;
  document.body.dataset.actions = me.actions.join(' ');
  await show();
}

function start() {
  $('signin').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token').value.trim();
    $('token').value = '';
    if (!value) return;
    setToken(value);
    signIn();
  });
  $('signout').addEventListener('click', () => signOut(''));
  window.addEventListener('hashchange', () => { if (me) show(); });
  if (token()) signIn();
  else signOut('');
}

start();
