// Drives consort's dashboard in Debian's chromium (playwright-core, no downloaded browser):
// every page and action, each effect read back through the API. Started by
// crates/consort/tests/dashboard.rs, which seeds the server and checks the printed
// `STEP name ok` lines; screenshots go to $CONSORT_ARTIFACTS.
//
// Environment: CONSORT_URL, CONSORT_ADMIN_TOKEN, CONSORT_VIEWER_TOKEN, CONSORT_SPARK_RUN (an
// executing run to kill), CONSORT_SPARK_UI (its driver's UI address), CONSORT_ARTIFACTS, CONSORT_PROFILE (a fresh --user-data-dir),
// CONSORT_PLAYWRIGHT (the playwright-core directory).
import { waitFor } from './browser.mjs';
import { ADMIN, URL_, VIEWER, apiWith, check, env, openContext, shot, showFailure, step, watch } from './harness.mjs';

const SPARK_RUN = Number(env('CONSORT_SPARK_RUN'));
const SPARK_UI = env('CONSORT_SPARK_UI');
const api = apiWith(ADMIN);

const context = await openContext();
const problems = [];
let page;
try {
  page = await context.newPage();
  watch(page, problems);

  // ---- sign-in: a bad token is refused, then the admin's is accepted -------------------
  await page.goto(`${URL_}/`);
  await page.waitForSelector('#signin:not([hidden])');
  await page.fill('#token', 'cst_this-is-not-a-token');
  await page.click('#signin-button');
  await page.waitForSelector('#signin-error:not([hidden])');
  const refusal = await page.textContent('#signin-error');
  check(/refused/.test(refusal) && /token/.test(refusal), `refusal: ${refusal}`);
  check(await page.isHidden('#nav'), 'the navigation shows before sign-in');
  await shot(page, 'signin-refused.png');
  step('signin-refused');
  // The 401 from the refused sign-in is expected in the console; nothing else is.
  problems.length = 0;

  await page.fill('#token', ADMIN);
  await page.click('#signin-button');
  await page.waitForSelector('body[data-ready="jobs"]');
  check((await page.textContent('#who')).includes('admin'), 'who is shown');
  step('signin');

  // ---- jobs and triggers --------------------------------------------------------------
  const explained = await api('GET', '/v1/cron/explain?expr=' + encodeURIComponent('0 30 2 * * ?'));
  const nightlyRow = page.locator('tr[data-trigger="dash.nightly"]');
  const rowText = await nightlyRow.textContent();
  check(rowText.includes(explained.explanation), `the schedule in English: ${rowText} / ${explained.explanation}`);
  const apiNightly = await api('GET', '/v1/scheduler/triggers/dash/nightly');
  check(apiNightly.next_fire_time && (await nightlyRow.locator('td').nth(4).textContent()).includes('in '),
    'the next fire is shown');
  await shot(page, 'jobs.png');
  step('jobs-explained');

  await nightlyRow.locator('button[data-action="pause"]').click();
  await page.waitForSelector('tr[data-trigger="dash.nightly"][data-state="PAUSED"]');
  check((await api('GET', '/v1/scheduler/triggers/dash/nightly')).state === 'PAUSED', 'pause read back');
  step('pause');

  await page.locator('tr[data-trigger="dash.weekdays"] button[data-action="resume"]').click();
  await page.waitForSelector('tr[data-trigger="dash.weekdays"][data-state="WAITING"]');
  check((await api('GET', '/v1/scheduler/triggers/dash/weekdays')).state === 'WAITING', 'resume read back');
  step('resume');

  const manualRuns = async () => (await api('GET', '/v1/scheduler/runs?job=dash.report&limit=100')).items
    .filter((r) => r.trigger.group === 'MANUAL_TRIGGER').length;
  const before = await manualRuns();
  await page.locator('tr[data-job="dash.report"] button[data-action="fire"]').click();
  await waitFor(async () => (await manualRuns()) > before, 'the fire-now run');
  step('fire-now');

  await page.locator('tr[data-job="spark.long"] button[data-action="details"]').click();
  await page.waitForSelector('#job-component');
  const component = await page.textContent('#job-component');
  const status = await api('GET', '/v1/status/jobs/spark/long');
  check(status.component_id === null ? component.includes('not provisioned') : component === status.component_id,
    `component: ${component} / ${status.component_id}`);
  step('job-component');

  // ---- runs: live, log, kill ------------------------------------------------------------
  await page.goto(`${URL_}/ui/#/runs`);
  await page.waitForSelector('body[data-ready="runs"]');
  const newest = (await api('GET', '/v1/scheduler/runs?limit=1')).items[0].id;
  // A run fired after the page loaded shows up without a reload (the page polls).
  await api('POST', '/v1/scheduler/jobs/dash/nightly/fire');
  await waitFor(async () => {
    const ids = await page.locator('#runs tr[data-run]').evaluateAll((rows) => rows.map((r) => Number(r.dataset.run)));
    return ids.some((id) => id > newest);
  }, 'a new run on the runs page without reloading');
  await shot(page, 'runs.png');
  step('runs-live');

  await page.locator(`#runs tr[data-run="${SPARK_RUN}"]`).click();
  await page.waitForSelector('#run-detail:not([hidden]) #run-application');
  const run = await api('GET', `/v1/scheduler/runs/${SPARK_RUN}`);
  check((await page.textContent('#run-application')) === run.application_id, 'the Spark application id');
  await page.waitForSelector('#run-log');
  const log = await page.textContent('#run-log');
  const apiLog = (await api('GET', `/v1/scheduler/runs/${SPARK_RUN}/log?max_bytes=16384`)).log;
  const firstLine = log.split('\n').find((l) => l.trim());
  check(firstLine && apiLog.includes(firstLine), 'the driver log tail is the API\'s');
  await shot(page, 'run-detail.png');
  step('run-log');

  // Spark's UI: the local driver's own, linked while it runs (the test fetched it: it answers).
  await page.waitForSelector('#run-spark-ui');
  const link = await page.getAttribute('#run-spark-ui', 'href');
  const apiUi = (await api('GET', `/v1/scheduler/runs/${SPARK_RUN}`)).spark_ui_url;
  check(link === SPARK_UI && apiUi === SPARK_UI, `the Spark UI link: ${link} / ${apiUi} / ${SPARK_UI}`);
  check(await page.getAttribute('#run-spark-ui', 'rel') === 'noopener noreferrer', 'the link opens without an opener');
  step('spark-ui');

  await page.locator('#run-detail button[data-action="kill"]').click();
  await waitFor(async () => (await api('GET', `/v1/scheduler/runs/${SPARK_RUN}`)).state === 'FAILED', 'the killed run', 120e3);
  // The page follows it without a reload.
  await page.waitForSelector(`#runs tr[data-run="${SPARK_RUN}"][data-state="FAILED"]`, { timeout: 20e3 });
  const killed = await api('GET', `/v1/scheduler/runs/${SPARK_RUN}`);
  check(/kill/.test(killed.error || ''), `kill read back: ${JSON.stringify(killed)}`);
  await shot(page, 'run-killed.png');
  // The driver is gone, and so is its UI: the link goes with it.
  await page.waitForSelector('#run-spark-ui', { state: 'detached', timeout: 20e3 });
  check((await api('GET', `/v1/scheduler/runs/${SPARK_RUN}`)).spark_ui_url === null, 'no Spark UI after the driver ended');
  step('kill');

  // ---- cluster: instances and the run-history chart ------------------------------------
  await page.goto(`${URL_}/ui/#/cluster`);
  await page.waitForSelector('body[data-ready="cluster"]');
  const instances = await api('GET', '/v1/scheduler/instances');
  for (const i of instances.items) {
    check(await page.locator(`tr[data-instance="${i.id}"]`).count() === 1, `instance ${i.id} shown`);
  }
  step('cluster');
  const history = await api('GET', '/v1/dashboard/run-history?hours=24');
  const total = history.hours.reduce((n, b) => n + b.succeeded + b.failed + b.abandoned + b.executing, 0);
  check(total >= 20, `the burst's runs are counted: ${total}`);
  const bars = await page.locator('#history svg g[data-hour] rect').count();
  check(bars >= 1, `bars drawn: ${bars}`);
  const summary = await page.textContent('#history-summary');
  const shown = summary.match(/\d+/g).slice(0, 4).map(Number).reduce((a, b) => a + b, 0);
  check(Math.abs(shown - total) <= 2, `the summary matches the API: ${summary} / ${total}`);
  await shot(page, 'cluster.png');
  step('chart');

  // ---- a viewer sees no buttons that would be refused ------------------------------------
  // A second tab: sessionStorage, and so the token, is per tab.
  const viewerPage = await context.newPage();
  viewerPage.on('pageerror', (e) => problems.push(String(e)));
  await viewerPage.goto(`${URL_}/ui/`);
  await viewerPage.fill('#token', VIEWER);
  await viewerPage.click('#signin-button');
  await viewerPage.waitForSelector('body[data-ready="jobs"]');
  const actionButtons = 'button[data-action="pause"], button[data-action="resume"], button[data-action="fire"], button[data-action="kill"]';
  // A viewer may not read clean rooms (the `cleanroom` role does): no link to them either.
  check(await viewerPage.isHidden('#nav a[data-page="rooms"]'), 'a viewer is offered the clean rooms');
  check(await viewerPage.locator(actionButtons).count() === 0, 'a viewer sees action buttons on the jobs page');
  check(await viewerPage.locator('tr[data-trigger]').count() >= 4, 'a viewer sees the triggers');
  await shot(viewerPage, 'viewer-jobs.png');
  const executing = (await api('GET', '/v1/scheduler/runs?limit=1')).items[0].id;
  await viewerPage.goto(`${URL_}/ui/#/runs/${executing}`);
  await viewerPage.waitForSelector('body[data-ready="runs"]');
  await viewerPage.waitForSelector('#run-detail:not([hidden])');
  check(await viewerPage.locator(actionButtons).count() === 0, 'a viewer sees action buttons on the runs page');
  step('viewer-no-buttons');

  await viewerPage.click('#signout');
  await viewerPage.waitForSelector('#signin:not([hidden])');
  check(await viewerPage.evaluate(() => sessionStorage.length) === 0, 'the token is forgotten on sign-out');
  step('signout');

  check(problems.length === 0, `errors in the page: ${problems.join(' | ')}`);
} catch (e) {
  // What the page showed when it failed: its notice and a screenshot.
  if (page) await showFailure(page, 'notice', 'failure.png');
  throw e;
} finally {
  await context.close();
}
