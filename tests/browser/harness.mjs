// What the dashboard's two browser tests (dashboard.mjs, rooms.mjs) share: the environment
// crates/consort/tests/dashboard.rs gives them, their browser context, the API they read each
// effect back through, and how they report steps, errors in the page and failures.
import { createRequire } from 'node:module';
import path from 'node:path';
import { launch } from './browser.mjs';

/** The environment variable `name`; throws if it is not set. */
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

export const URL_ = env('CONSORT_URL');
export const ADMIN = env('CONSORT_ADMIN_TOKEN');
export const VIEWER = env('CONSORT_VIEWER_TOKEN');
const ARTIFACTS = env('CONSORT_ARTIFACTS');

/** `api(method, path, token = defaultToken)`: the API's JSON answer; throws with the status and
 * body when it refuses. */
export function apiWith(defaultToken) {
  return async function api(method, p, token = defaultToken) {
    const r = await fetch(URL_ + p, { method, headers: { Authorization: `Bearer ${token}` } });
    const body = await r.json();
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(body)}`);
    return body;
  };
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** The line dashboard.rs looks for once a step passed. */
export const step = (name) => console.log(`STEP ${name} ok`);
/** A full-page screenshot into $CONSORT_ARTIFACTS. */
export const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });

/** Debian's chromium on the fresh profile $CONSORT_PROFILE, through $CONSORT_PLAYWRIGHT. */
export function openContext() {
  const { chromium } = createRequire(import.meta.url)(env('CONSORT_PLAYWRIGHT'));
  return launch(chromium, env('CONSORT_PROFILE'));
}

/** Collects a tab's console errors (but those `expected(text)` allows) and uncaught exceptions
 * into `problems`, and accepts its dialogs (the pages confirm before acting). A blocked inline
 * script or a failed module would show here first. */
export function watch(page, problems, expected = () => false) {
  page.on('console', (m) => { if (m.type() === 'error' && !expected(m.text())) problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('dialog', (d) => d.accept());
}

/** What a tab showed when the test failed: its notice on stdout (as `label: …`) and a
 * screenshot; neither may hide the failure itself. */
export async function showFailure(page, label, file) {
  console.log(`${label}: ${await page.textContent('#notice').catch(() => '')}`);
  await shot(page, file).catch(() => {});
}
