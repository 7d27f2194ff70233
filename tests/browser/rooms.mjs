// Drives the dashboard's clean-room pages in Debian's chromium (playwright-core): what they
// show against the API, each action a user may take (a ballot, consent, an approval withdrawn
// and given back) read back through the API, receipts verified in the page (and a tampered one
// refused), a user credential's sign-in and acts (and a revoked and an expired one refused), an
// invitation accepted here, and who sees no buttons. Started by crates/consort/tests/dashboard.rs,
// which set the clean room up and checks the printed `STEP name ok` lines; screenshots go to
// $CONSORT_ARTIFACTS.
//
// Environment: CONSORT_URL, CONSORT_ADMIN_TOKEN, CONSORT_VIEWER_TOKEN, CONSORT_OUTSIDER_TOKEN (a
// `cleanroom` token of no clean room), CONSORT_ALICE_TOKEN (a member and user), CONSORT_DAVE_TOKEN
// (invited: pending, expired, proposed), CONSORT_ERIN_CREDENTIAL / _REVOKED / _EXPIRED (user erin's
// credentials from alice), CONSORT_ROOM, CONSORT_ROOM_RUN (an ended run), CONSORT_ARTIFACTS,
// CONSORT_PROFILE, CONSORT_PLAYWRIGHT.
import { waitFor } from './browser.mjs';
import { ADMIN, URL_, VIEWER, apiWith, check, env, openContext, shot, showFailure, step, watch } from './harness.mjs';

const OUTSIDER = env('CONSORT_OUTSIDER_TOKEN');
const ALICE = env('CONSORT_ALICE_TOKEN');
const DAVE = env('CONSORT_DAVE_TOKEN');
const ERIN = env('CONSORT_ERIN_CREDENTIAL');
const ERIN_REVOKED = env('CONSORT_ERIN_REVOKED');
const ERIN_EXPIRED = env('CONSORT_ERIN_EXPIRED');
const ROOM = env('CONSORT_ROOM');
const RUN = env('CONSORT_ROOM_RUN');
const BASE = `/v1/cleanrooms/${ROOM}`;
const api = apiWith(ALICE);
const ACTIONS = 'button[data-action="propose"], button[data-action="accept"], button[data-action="reject"], ' +
  'button[data-action="withdraw-approval"], button[data-action="approve"], input[data-consent], ' +
  'button[data-action="accept-invitation"]';

const context = await openContext();
const problems = [];
const pages = [];

/** A tab signed in with `token`, on the clean room's page. A refused sign-in's 401 is expected in
 * the console of a tab opened with `refusals`; nothing else is. */
async function signedIn(token, refusals = false) {
  const page = await context.newPage();
  pages.push(page);
  watch(page, problems, (text) => refusals && text.includes('401'));
  await page.goto(`${URL_}/ui/#/rooms/${ROOM}`);
  await page.fill('#token', token);
  await page.click('#signin-button');
  return page;
}

try {
  // ---- alice, a member and a user: what the page shows is what the API says -------------
  const page = await signedIn(ALICE);
  await page.waitForSelector('body[data-ready="rooms"]');
  check(await page.isHidden('#nav a[data-page="jobs"]'), 'a cleanroom-only principal is offered the jobs page');
  check(await page.isVisible('#nav a[data-page="rooms"]'), 'the clean rooms link');
  check((await page.getAttribute('#room-role', 'data-user')) === 'alice', 'alice is recognised as user alice');
  await shot(page, 'rooms.png');
  step('rooms-load');

  const members = (await api('GET', `${BASE}/members`)).items;
  const users = (await api('GET', `${BASE}/users`)).items;
  check(await page.locator('#room-members tr[data-member]').count() === members.length, 'every member');
  check(await page.locator('#room-users tr[data-user]').count() === users.length, 'every user');
  for (const u of users) {
    check((await page.textContent(`#room-users tr[data-user="${u.id}"]`)).includes(u.principal), `user ${u.id}'s principal`);
  }
  step('rooms-parties');

  const proposals = (await api('GET', `${BASE}/proposals`)).items;
  check(await page.locator('#room-proposals tr[data-proposal]').count() === proposals.length, 'every proposal');
  const open = proposals.find((p) => p.state === 'Open');
  check(open, 'an open proposal exists');
  check(await page.locator(`#room-proposals tr[data-proposal="${open.id}"][data-state="Open"]`).count() === 1, 'the open proposal');
  const accepted = proposals.find((p) => p.state === 'Accepted' && Object.keys(p.ballots).length === 3);
  const votes = await page.locator(`#room-proposals tr[data-proposal="${accepted.id}"] [data-voter]`).count();
  check(votes === 3, `an accepted proposal's three votes: ${votes}`);
  // Members' acts are signed: the page offers no button for them.
  check(await page.locator('#room-proposals-card button').count() === 0, 'a button for a signed-only act');
  const contract = (await api('GET', `${BASE}/contracts/c1`));
  check(await page.locator(`#room-contracts tr[data-contract="c1"][data-state="${contract.state}"]`).count() === 1, 'the contract');
  step('rooms-proposals');

  const documents = (await api('GET', `${BASE}/documents`)).items;
  for (const d of documents) {
    const row = page.locator(`#room-documents tr[data-document="${d.id}"]`);
    check(await row.getAttribute('data-state') === d.state, `${d.id}'s state`);
    check((await row.textContent()).includes(`v${d.version}`), `${d.id}'s version`);
  }
  step('rooms-documents');

  // ---- alice's ballot on q-second, cast here -------------------------------------------
  await page.click('#room-documents tr[data-document="q-second"] button[data-action="accept"]');
  await page.waitForSelector('#room-documents tr[data-document="q-second"][data-state="Accepted"]');
  const second = await api('GET', `${BASE}/documents/q-second`);
  check(second.state === 'Accepted' && second.ballots.alice === 'accept', `the ballot read back: ${JSON.stringify(second)}`);
  step('document-vote');

  // ---- consent: alice turns logging on for her dataset ---------------------------------
  const box = 'input[data-consent="document/customers/logging"]';
  check(!(await page.isChecked(box)), 'logging starts off');
  await page.click(box);
  await waitFor(async () => {
    const c = await api('GET', `${BASE}/consent/document/customers`);
    return !c.options.find((o) => o.option === 'logging').off_by.includes('user:alice');
  }, 'alice\'s logging consent');
  await page.waitForSelector(`${box}:checked`);
  // bob's and carol's consent are theirs: alice has a box only for herself, per subject.
  check(await page.locator('input[data-consent]').count() > 0, 'consent boxes');
  step('consent-toggle');

  // ---- the run and its checklist --------------------------------------------------------
  const run = await api('GET', `${BASE}/runs/${RUN}`);
  await page.click(`#room-runs tr[data-run="${RUN}"]`);
  await page.waitForSelector('#room-run-detail:not([hidden]) #run-approvals');
  check(await page.locator('#run-approvals li').count() === run.approvers.length, 'one approval check per approver');
  check(await page.locator('#run-consent li').count() === run.consent.length, 'one consent check per subject');
  check(await page.getAttribute('#run-checklist-summary', 'data-holds') === 'true', 'everything holds before the withdrawal');
  await shot(page, 'room-run.png');
  step('run-checklist');

  // ---- alice withdraws her approval of q-city, then gives it back ----------------------
  await page.click('#room-documents tr[data-document="q-city"] button[data-action="withdraw-approval"]');
  await waitFor(async () => (await api('GET', `${BASE}/documents/q-city/approval`)).items
    .some((a) => a.approver === 'alice' && a.withdrawn && !a.approved), 'the withdrawal');
  await page.waitForSelector('#room-documents tr[data-document="q-city"] [data-approver="alice"][data-approved="false"]');
  await page.click(`#room-runs tr[data-run="${RUN}"]`);
  await page.waitForSelector('#run-approvals li[data-check="approval/alice"][data-ok="false"]');
  check(await page.getAttribute('#run-checklist-summary', 'data-holds') === 'false', 'the checklist shows it no longer holds');
  step('approval-withdraw');
  await page.click('#room-documents tr[data-document="q-city"] button[data-action="approve"]');
  await waitFor(async () => (await api('GET', `${BASE}/documents/q-city/approval`)).items
    .some((a) => a.approver === 'alice' && a.approved), 'the approval given back');
  await page.click(`#room-runs tr[data-run="${RUN}"]`);
  await page.waitForSelector('#run-approvals li[data-check="approval/alice"][data-ok="true"]');
  step('approval-give-back');

  // ---- receipts, verified in the page ------------------------------------------------------
  await page.click('#room-run-detail button[data-action="verify-run-receipt"]');
  await page.waitForSelector('#run-receipt-result[data-verified]');
  check(await page.getAttribute('#run-receipt-result', 'data-verified') === 'true',
    `the run's end receipt: ${await page.textContent('#run-receipt-result')}`);
  step('run-receipt');

  const { size } = await api('GET', `${BASE}/ledger?limit=1`);
  check(Number(await page.getAttribute('#ledger-size', 'data-size')) >= 1, 'the ledger size');
  const rows = await page.locator('#room-ledger tr[data-seq]').count();
  check(rows === Math.min(50, Number(await page.getAttribute('#ledger-size', 'data-size'))), `the newest entries: ${rows}`);
  const first = page.locator('#room-ledger tr[data-seq="0"]');
  while (await first.count() === 0) {
    const older = await page.locator('#room-ledger tr[data-seq]').count();
    await page.click('#room-ledger-card button:has-text("Older entries")');
    await waitFor(async () => (await page.locator('#room-ledger tr[data-seq]').count()) > older, 'older entries');
  }
  await page.click('#room-ledger tr[data-seq="0"] button[data-action="verify-receipt"]');
  await page.waitForSelector('#room-ledger tr[data-seq="0"] td[data-verified]');
  check(await page.getAttribute('#room-ledger tr[data-seq="0"] td[data-verified]', 'data-verified') === 'true',
    `entry 0's receipt: ${await page.textContent('#room-ledger tr[data-seq="0"]')}`);
  const newest = page.locator(`#room-ledger tr[data-seq="${size - 1}"]`);
  if (await newest.count() === 1) {
    await newest.locator('button[data-action="verify-receipt"]').click();
    await page.waitForSelector(`#room-ledger tr[data-seq="${size - 1}"] td[data-verified="true"]`);
  }
  step('ledger-verify');

  // A receipt with its entry edited, then one with its signature replaced: both refused, by step.
  const receipt = await api('GET', `${BASE}/ledger/receipts/1`);
  const verifyPasted = async (r) => {
    await page.fill('#receipt-input', JSON.stringify(r));
    await page.evaluate(() => { delete document.getElementById('receipt-result').dataset.verified; });
    await page.click('#receipt-verify');
    await page.waitForSelector('#receipt-result[data-verified]');
    return [await page.getAttribute('#receipt-result', 'data-verified'), await page.textContent('#receipt-result')];
  };
  let [verdict, text] = await verifyPasted(receipt);
  check(verdict === 'true', `the untouched receipt: ${text}`);
  [verdict, text] = await verifyPasted({ ...receipt, entry: { ...receipt.entry, body: receipt.entry.body.replace(/"/, '" ') } });
  check(verdict === 'false' && text.includes('(leaf)'), `an edited entry: ${text}`);
  const other = await api('GET', `${BASE}/ledger/receipts/0`);
  [verdict, text] = await verifyPasted({ ...receipt, root: { ...receipt.root, signature: other.root.signature,
    at_ms: receipt.root.at_ms + (other.root.at_ms === receipt.root.at_ms ? 1 : 0) } });
  check(verdict === 'false' && text.includes('(signature)'), `a forged root: ${text}`);
  step('receipt-tampered');

  // ---- erin signs in with a user credential alice issued: her clean room, her acts only ----
  const erin = await signedIn(ERIN);
  await erin.waitForSelector('body[data-ready="rooms"]');
  check(await erin.getAttribute('body', 'data-method') === 'user_credential', 'signed in with a credential');
  const who = await erin.textContent('#who');
  check(who.includes('user erin of clean room') && who.includes(ROOM) && who.includes('cred-erin'), `who: ${who}`);
  for (const p of ['jobs', 'runs', 'cluster']) check(await erin.isHidden(`#nav a[data-page="${p}"]`), `a credential is offered ${p}`);
  check(await erin.locator('#room option').count() === 1, 'a credential sees one clean room');
  check(await erin.getAttribute('#room-role', 'data-user') === 'erin', 'the credential is user erin');
  check((await erin.textContent('#room-credential')).includes('cred-erin'), 'the credential is named on the page');
  check(await erin.locator('#room-revocations tr[data-revoked="cred-erin-revoked"]').count() === 1, 'the revoked credential listed');
  const revocations = (await api('GET', `${BASE}/credentials/revocations`)).items;
  check(await erin.locator('#room-revocations tr[data-revoked]').count() === revocations.length, 'every revocation');
  check(await erin.locator('#my-invitations-card').count() === 0, 'a credential has no invitations');
  check(await erin.locator('#room-proposals-card button').count() === 0, 'a member\'s act offered to a credential');
  await shot(erin, 'rooms-credential.png');
  step('credential-signin');

  await erin.click('#room-documents tr[data-document="erin-notes"] button[data-action="propose"]');
  await erin.waitForSelector('#room-documents tr[data-document="erin-notes"][data-state="Accepted"]');
  const notes = await api('GET', `${BASE}/documents/erin-notes`);
  check(notes.state === 'Accepted' && notes.owner === 'erin', `erin's dataset read back: ${JSON.stringify(notes)}`);
  step('credential-publish');

  const telemetry = 'input[data-consent="contract/c1/telemetry"]';
  check(!(await erin.isChecked(telemetry)), 'erin\'s telemetry starts off');
  await erin.click(telemetry);
  await waitFor(async () => !(await api('GET', `${BASE}/consent/contract/c1`)).options
    .find((o) => o.option === 'telemetry').off_by.includes('user:erin'), 'erin\'s telemetry consent');
  await erin.waitForSelector(`${telemetry}:checked`);
  step('credential-consent');

  // A revoked and an expired credential: the sign-in form names the server's code.
  const refusedTab = await signedIn(ERIN_REVOKED, true);
  await refusedTab.waitForSelector('#signin-error:not([hidden])');
  const refusal = await refusedTab.textContent('#signin-error');
  check(refusal.includes('credential_revoked'), `a revoked credential: ${refusal}`);
  check(await refusedTab.isHidden('#nav'), 'navigation after a refused credential');
  await refusedTab.fill('#token', ERIN_EXPIRED);
  await refusedTab.click('#signin-button');
  await waitFor(async () => (await refusedTab.textContent('#signin-error')).includes('credential_expired'),
    'the expired credential\'s refusal');
  step('credential-refused');

  // ---- dave's invitations: pending (accepted here), expired, still proposed ---------------
  const dave = await signedIn(DAVE);
  await dave.waitForSelector('body[data-ready="rooms"]');
  check(await dave.isVisible('#rooms-none'), 'dave takes part in no clean room yet');
  const mine = (await api('GET', '/v1/invitations', DAVE)).items;
  check(await dave.locator('#my-invitations tr[data-my-invitation]').count() === mine.length, 'every invitation of dave');
  const row = (id) => dave.locator(`#my-invitations tr[data-my-invitation="${id}"]`);
  check(await row('inv-dave').getAttribute('data-standing') === 'Pending', 'inv-dave pending');
  check(await row('inv-dave-late').getAttribute('data-standing') === 'Expired', 'inv-dave-late expired');
  check(await row('inv-dave-next').getAttribute('data-standing') === 'Proposed', 'inv-dave-next proposed');
  const pending = await row('inv-dave').textContent();
  check(pending.includes(ROOM) && pending.includes('alice'), `the clean room and proposer: ${pending}`);
  check(await dave.locator('button[data-action="accept-invitation"]').count() === 1, 'Accept only on the pending one');
  check(await row('inv-dave').locator('button[data-action="accept-invitation"]').count() === 1, 'Accept on inv-dave');
  await shot(dave, 'rooms-invited.png');
  step('invitations-mine');

  await row('inv-dave').locator('button[data-action="accept-invitation"]').click();
  await dave.waitForSelector('#room-role[data-user="dave"]');
  await dave.waitForSelector('#my-invitations tr[data-my-invitation="inv-dave"][data-standing="Accepted"]');
  const daveUser = (await api('GET', `${BASE}/users`)).items.find((u) => u.id === 'dave');
  check(daveUser && daveUser.status === 'active', `dave is an active user: ${JSON.stringify(daveUser)}`);
  step('invitation-accept');

  // The clean room's page lists its invitations and their states; alice, invited to none,
  // has no Accept (not even for dave's), and no "Your invitations".
  await page.reload();
  await page.waitForSelector('body[data-ready="rooms"]');
  const made = (await api('GET', `${BASE}/invitations`)).items;
  for (const [id, state] of [['inv-dave', 'Accepted'], ['inv-dave-late', 'Expired'], ['inv-dave-next', 'Proposed']]) {
    check(await page.locator(`#room-invitations tr[data-invitation="${id}"][data-state="${state}"]`).count() === 1,
      `${id} ${state} on the clean room's page`);
  }
  check(await page.locator('#room-invitations tr[data-invitation]').count() === made.length + 1, 'made + proposed');
  check(await page.locator('button[data-action="accept-invitation"]').count() === 0, 'alice offered someone else\'s invitation');
  check(await page.locator('#my-invitations-card').count() === 0, 'alice has no invitations');
  step('invitations-room');

  // ---- the admin reads every clean room and is no user: no buttons, no consent boxes ----
  const admin = await signedIn(ADMIN);
  await admin.waitForSelector('body[data-ready="rooms"]');
  check((await admin.getAttribute('#room-role', 'data-user')) === '', 'the admin is no user');
  check(await admin.locator(ACTIONS).count() === 0, 'the admin is offered a user\'s acts');
  check(await admin.locator('#room-documents tr[data-document]').count() === documents.length, 'the admin reads the documents');
  await shot(admin, 'rooms-admin.png');
  step('rooms-read-only');

  // ---- refused: a viewer is not offered clean rooms; a cleanroom principal of none sees none
  const viewer = await signedIn(VIEWER);
  await viewer.waitForSelector('body[data-ready="jobs"]');
  check(await viewer.isHidden('#nav a[data-page="rooms"]'), 'a viewer is offered the clean rooms');
  const outsider = await signedIn(OUTSIDER);
  await outsider.waitForSelector('body[data-ready="rooms"]');
  check(await outsider.isVisible('#rooms-none'), 'a principal of no clean room sees none');
  check(await outsider.locator(ACTIONS).count() === 0, 'buttons for an outsider');
  const refused = await fetch(`${URL_}${BASE}/members`, { headers: { Authorization: `Bearer ${OUTSIDER}` } });
  check(refused.status === 403, `the outsider reads the members: ${refused.status}`);
  const anonymous = await fetch(`${URL_}${BASE}/members`);
  check(anonymous.status === 401, `no token reads the members: ${anonymous.status}`);
  step('rooms-refused');

  check(problems.length === 0, `errors in the page: ${problems.join(' | ')}`);
} catch (e) {
  for (const [i, p] of pages.entries()) await showFailure(p, `notice ${i}`, `rooms-failure-${i}.png`);
  throw e;
} finally {
  await context.close();
}
