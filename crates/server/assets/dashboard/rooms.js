// Clean rooms (`#/rooms/NAME`, `#/rooms/NAME/runs/ID`): members and users, invitations and
// revoked credentials, proposals and their votes, contracts, documents with their states, versions
// and approvals, consent, runs with their checklist, and the ledger with receipts verified here
// (receipt.js). Above them, the invitations addressed to the signed-in identity, with Accept.
//
// A member-issued user credential (`ccu_…`) reaches one clean room as one user (whoami's
// `credential`): the page shows only that clean room and that user's acts, and never asks for
// the list of clean rooms or invitations, which the server refuses to a credential.
//
// What a browser may do is what its token's principal may do as a *user* of the clean room
// (docs/cleanrooms.md): propose its own drafts, vote on documents it approves, withdraw or give
// back its approval of a query, turn its own consent on or off. Members' acts (proposals,
// ballots, contracts) are COSE_Sign1 requests signed with a member's key, which a browser does
// not hold: they are shown read-only. Buttons are drawn only where the server would accept.
import { apiText, seg } from './api.js';
import { badge, fill, h, relative, when } from './dom.js';
import { verifyReceipt } from './receipt.js';

const LEDGER_PAGE = 50;
const OPTIONS = ['execution', 'logging', 'telemetry'];

const at = (ms) => (ms === null || ms === undefined ? '—' : when(new Date(ms).toISOString()));
const short = (id) => (id && id.length > 14 ? `${id.slice(0, 12)}…` : id || '');
const json = (v) => JSON.stringify(v);

function describeAction(a) {
  switch (a.action) {
    case 'add_member': return `add member ${a.id}`;
    case 'remove_member': return `remove member ${a.id}`;
    case 'add_user': return `add user ${a.id} (${a.principal})`;
    case 'invite_user': return `invite ${a.principal}${a.issuer ? ` of ${a.issuer}` : ''} as user ${a.id} (${a.invitation_id})`;
    case 'remove_user': return `remove user ${a.id}`;
    case 'set_contract': return `accept contract ${a.contract_id} v${a.version}`;
    case 'set_setting': return `set ${a.name} = ${json(a.value)}`;
    default: return json(a);
  }
}

function describeBody(b) {
  if (b.kind === 'dataset') return `dataset at ${b.location} (${b.format}); allowed fields: ${b.allowed_fields.join(', ')}`;
  if (b.kind === 'sink') return `sink at ${b.location} (${b.format}); allowed fields: ${b.allowed_fields.join(', ')}`;
  const inputs = b.inputs.map((i) => `${i.dataset} as ${i.view}`).join(', ');
  return `query over ${inputs} into ${b.sink}; ${b.segments.length} segment(s)`;
}

function ballots(list, votes) {
  return list.map((who) => {
    const v = votes[who];
    return h('span', { class: `vote vote-${v || 'none'}`, dataset: { voter: who } }, `${who}: ${v || 'not voted'}`);
  });
}

/** "at 12/1/26 10:00 (in 3 min)" for an instant in ms, or a dash. */
function until(ms) {
  return ms === null || ms === undefined ? '—' : `${at(ms)} (${relative(new Date(ms).toISOString())})`;
}

/** A button that runs `act`, then `reload`s what it changed; disabled while it runs. */
function action(notify, label, data, act, reload, confirmText) {
  const b = h('button', { type: 'button', dataset: { action: data } }, label);
  b.addEventListener('click', async () => {
    if (confirmText && !confirm(confirmText)) return;
    b.disabled = true;
    try {
      await act();
      await reload();
    } catch (e) {
      notify(`${label}: ${e.message}`);
      b.disabled = false;
    }
  });
  return b;
}

const STANDING_HELP = {
  Proposed: 'its proposal waits for the members\' votes',
  Pending: '',
  Expired: 'not accepted in time: ask a member to invite you again',
  Accepted: '',
};

/** The invitations addressed to the signed-in identity (GET /v1/invitations), with Accept. */
function invitationsCard(items, { api, notify, reload }) {
  if (items.length === 0) return null;
  const accept = (i) => async () => {
    await api('POST', `/v1/cleanrooms/${seg(i.cleanroom)}/invitations/${seg(i.id)}/accept`);
    // Its clean room is now readable: the page is drawn again on it (once: no hashchange).
    history.replaceState(null, '', `#/rooms/${encodeURIComponent(i.cleanroom)}`);
  };
  const rows = items.map((i) => h('tr', { dataset: { myInvitation: i.id, cleanroom: i.cleanroom, standing: i.standing } },
    h('td', {}, i.cleanroom), h('td', {}, i.id), h('td', {}, i.user_id), h('td', {}, i.proposed_by),
    h('td', {}, badge(i.standing), STANDING_HELP[i.standing] ? h('div', { class: 'muted' }, STANDING_HELP[i.standing]) : null),
    h('td', {}, i.standing === 'Accepted' ? `accepted ${at(i.accepted_ms)}` : until(i.expires_ms)),
    h('td', {}, i.standing === 'Pending'
      ? action(notify, 'Accept', 'accept-invitation', accept(i), reload,
        `Accept invitation ${i.id}? You become user ${i.user_id} of clean room ${i.cleanroom}.`)
      : null)));
  return h('div', { class: 'card', id: 'my-invitations-card' }, h('h2', {}, 'Your invitations'),
    h('p', { class: 'muted' }, 'Invitations addressed to you (your token\'s name, or your OIDC subject and issuer). ' +
      'Accepting one makes you a user of its clean room.'),
    h('table', {}, h('thead', {}, h('tr', {}, ['Clean room', 'Invitation', 'You become', 'Proposed by', 'State',
      'Expires', ''].map((t) => h('th', {}, t)))), h('tbody', { id: 'my-invitations' }, rows)));
}

function yes(ok, text) {
  return h('span', { class: ok ? 'check ok' : 'check missing' }, ok ? '✓ ' : '✗ ', text);
}

export async function render(root, { api, notify, ready, me, reload }) {
  // A user credential reaches its own clean room only, and is no invited identity.
  const scope = me.credential;
  const [rooms, addressed] = await Promise.all([
    scope ? [scope.cleanroom] : api('GET', '/v1/cleanrooms').then((r) => r.items),
    // A client certificate is no invitable identity (403): it simply has no invitations.
    scope ? [] : api('GET', '/v1/invitations').then((r) => r.items, () => []),
  ]);
  const invited = invitationsCard(addressed, { api, notify, reload });
  if (rooms.length === 0) {
    fill(root, invited, h('div', { class: 'card' }, h('h2', {}, 'Clean rooms'),
      h('p', { class: 'muted', id: 'rooms-none' }, 'You take part in no clean room.')));
    ready();
    return () => {};
  }
  const parts = location.hash.split('/');
  const asked = decodeURIComponent(parts[2] || '');
  const name = rooms.includes(asked) ? asked : rooms[0];
  let selectedRun = parts[3] === 'runs' ? decodeURIComponent(parts[4] || '') : '';
  const base = `/v1/cleanrooms/${seg(name)}`;

  const picker = h('select', { id: 'room', 'aria-label': 'clean room' },
    rooms.map((r) => h('option', { value: r, selected: r === name }, r)));
  picker.addEventListener('change', () => { location.hash = `#/rooms/${encodeURIComponent(picker.value)}`; });
  const role = h('span', { id: 'room-role', class: 'muted' });
  const card = (id, title, ...rest) => h('div', { class: 'card', id }, h('h2', {}, title), ...rest);
  const members = h('tbody', { id: 'room-members' });
  const users = h('tbody', { id: 'room-users' });
  const proposals = h('tbody', { id: 'room-proposals' });
  const contracts = h('tbody', { id: 'room-contracts' });
  const documents = h('tbody', { id: 'room-documents' });
  const consent = h('tbody', { id: 'room-consent' });
  const invitations = h('tbody', { id: 'room-invitations' });
  const revocations = h('tbody', { id: 'room-revocations' });
  const signedWith = h('p', { id: 'room-credential', class: 'muted', hidden: !scope }, scope
    ? `You are signed in with credential ${scope.id}, issued by member ${scope.member} for user ${scope.user}; it ` +
      `expires ${until(scope.expires_ms)}.` : '');
  const runs = h('tbody', { id: 'room-runs' });
  const runDetail = h('div', { id: 'room-run-detail', class: 'card', hidden: true });
  const ledger = h('tbody', { id: 'room-ledger' });
  const ledgerSize = h('span', { class: 'muted', id: 'ledger-size' });
  const olderEntries = h('button', { type: 'button', hidden: true }, 'Older entries');
  const pasted = h('textarea', { id: 'receipt-input', rows: 4, placeholder: 'a receipt (consort-ledger-receipt/1 JSON)' });
  const verifyPasted = h('button', { type: 'button', id: 'receipt-verify' }, 'Verify');
  const pastedResult = h('p', { id: 'receipt-result' });
  const head = (...titles) => h('thead', {}, h('tr', {}, titles.map((t) => h('th', {}, t))));
  const signedOnly = h('p', { class: 'muted' }, 'Members sign proposals, ballots and contracts with their keys, which ' +
    'this page does not hold: use `consort cleanroom propose | vote | withdraw | contract`.');

  fill(root,
    invited,
    h('div', { class: 'card' }, h('div', { class: 'toolbar' }, h('h2', {}, 'Clean room'), picker, h('span', { class: 'spacer' }), role)),
    h('div', { class: 'columns' },
      card('room-members-card', 'Members', h('table', {}, head('Member', 'Status', 'Added by', 'Key'), members)),
      card('room-users-card', 'Users', h('table', {}, head('User', 'Principal', 'Status', 'Added by'), users))),
    h('div', { class: 'columns' },
      card('room-invitations-card', 'Invitations',
        h('p', { class: 'muted' }, 'An accepted invite_user proposal makes an invitation; the invited identity accepts ' +
          'it with its own token before it expires (`consort cleanroom accept-invitation`).'),
        h('table', {}, head('Invitation', 'User', 'Identity', 'Proposed by', 'State', 'Expires / accepted'), invitations)),
      card('room-credentials-card', 'User credentials',
        h('p', { class: 'muted' }, 'Members issue user credentials offline (`consort member issue-credential`), so ' +
          'the server knows only the revoked ones; a member revokes one with `consort cleanroom revoke-credential`.'),
        signedWith,
        h('table', {}, head('Revoked credential', 'Revoked by', 'When'), revocations))),
    card('room-proposals-card', 'Proposals', signedOnly,
      h('table', {}, head('Proposal', 'Proposer', 'Actions', 'State', 'Votes', 'Created', 'Resolved'), proposals)),
    card('room-contracts-card', 'Contracts', h('table', {}, head('Contract', 'Version', 'State', 'Content', 'Proposal'), contracts)),
    card('room-documents-card', 'Documents',
      h('table', {}, head('Document', 'Kind', 'Owner', 'Version', 'State', 'What', 'Approvals', ''), documents)),
    card('room-consent-card', 'Consent',
      h('p', { class: 'muted' }, 'Each option is on only while every party has it on. Execution is on by default; ' +
        'logging and telemetry are off until every party turns them on. Withdrawing execution stops the runs that need it.'),
      h('table', {}, head('Subject', 'Parties', ...OPTIONS), consent)),
    card('room-runs-card', 'Runs', h('table', {}, head('Run', 'Query', 'State', 'Requested by', 'Backend', 'Rows read / written',
      'Asked', 'Ended'), runs)),
    runDetail,
    h('div', { class: 'card', id: 'room-ledger-card' },
      h('div', { class: 'toolbar' }, h('h2', {}, 'Audit trail (ledger)'), h('span', { class: 'spacer' }), ledgerSize),
      h('p', { class: 'muted' }, 'Verify checks a receipt here, in the browser: the root\'s Ed25519 signature with the clean ' +
        'room\'s public key, the entry\'s leaf hash and its inclusion proof (docs/ledger.md).'),
      h('table', {}, head('Seq', 'When', 'Kind', 'Body', 'Receipt'), ledger), olderEntries,
      h('h2', {}, 'Verify a receipt'), pasted, h('div', {}, verifyPasted), pastedResult));

  let me_user = null; // this principal's user id in the clean room, if it is one
  let publicKey = null;
  const key = async () => (publicKey ??= await apiText(`${base}/ledger/public-key`));
  const guarded = (f) => async (...a) => { try { await f(...a); } catch (e) { notify(e.message); } };

  const act = (...a) => action(notify, ...a);

  async function loadParties() {
    const [m, u] = await Promise.all([api('GET', `${base}/members`), api('GET', `${base}/users`)]);
    fill(members, m.items.map((x) => h('tr', { dataset: { member: x.id } }, h('td', {}, x.id), h('td', {}, badge(x.status)),
      h('td', {}, x.added_by || '—'), h('td', { class: 'muted', title: x.public_key_pem }, 'PEM'))));
    fill(users, u.items.map((x) => h('tr', { dataset: { user: x.id } }, h('td', {}, x.id), h('td', {}, x.principal),
      h('td', {}, badge(x.status)), h('td', {}, x.added_by || '—'))));
    // A credential names its user; a token or JWT is the user its principal was mapped to.
    const mine = u.items.find((x) => x.status === 'active' && (scope ? x.id === scope.user : x.principal === me.name));
    me_user = mine ? mine.id : null;
    role.textContent = !me_user ? 'you are not a user here: read only'
      : scope ? `you are user ${me_user} here, by credential ${scope.id}` : `you are user ${me_user} here`;
    role.dataset.user = me_user || '';
  }

  async function loadProposals() {
    const p = await api('GET', `${base}/proposals`);
    await loadInvitations(p.items);
    fill(proposals, p.items.map((x) => h('tr', { dataset: { proposal: x.id, state: x.state } },
      h('td', { title: x.id }, h('code', {}, short(x.id))), h('td', {}, x.proposer),
      h('td', {}, x.actions.map((a) => h('div', {}, describeAction(a)))), h('td', {}, badge(x.state)),
      h('td', {}, Object.keys(x.ballots).length ? ballots(Object.keys(x.ballots), x.ballots) : h('span', { class: 'muted' }, 'none yet')),
      h('td', {}, at(x.created_ms)), h('td', {}, at(x.resolved_ms)))));
  }

  /** The invitations made (pending, expired, accepted) and those in open proposals. */
  async function loadInvitations(proposalList) {
    const [made, revoked] = await Promise.all([api('GET', `${base}/invitations`), api('GET', `${base}/credentials/revocations`)]);
    const proposer = (id) => (proposalList.find((p) => p.id === id) || {}).proposer || '—';
    const now = Date.now();
    const rows = made.items.map((i) => ({ ...i, proposer: proposer(i.proposal_id),
      shown: i.state === 'Pending' && i.expires_ms <= now ? 'Expired' : i.state }));
    for (const p of proposalList.filter((x) => x.state === 'Open')) {
      for (const a of p.actions.filter((x) => x.action === 'invite_user')) {
        rows.push({ id: a.invitation_id, user_id: a.id, principal: a.principal, issuer: a.issuer, proposer: p.proposer,
          shown: 'Proposed', expires_ms: null, accepted_ms: null });
      }
    }
    fill(invitations, rows.map((i) => h('tr', { dataset: { invitation: i.id, state: i.shown } },
      h('td', {}, i.id), h('td', {}, i.user_id), h('td', {}, i.issuer ? `${i.principal} (${i.issuer})` : i.principal),
      h('td', {}, i.proposer), h('td', {}, badge(i.shown), i.shown === 'Proposed'
        ? h('div', { class: 'muted' }, 'its proposal is still open') : null),
      h('td', {}, i.shown === 'Accepted' ? `accepted ${at(i.accepted_ms)}` : until(i.expires_ms)))));
    if (rows.length === 0) invitations.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No invitations.')));
    fill(revocations, revoked.items.map((r) => h('tr', { dataset: { revoked: r.credential_id } },
      h('td', {}, h('code', {}, r.credential_id)), h('td', {}, r.by), h('td', {}, at(r.at_ms)))));
    if (revoked.items.length === 0) revocations.append(h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'None revoked.')));
  }

  async function loadContracts() {
    const c = await api('GET', `${base}/contracts`);
    fill(contracts, c.items.map((x) => h('tr', { dataset: { contract: x.id, state: x.state } },
      h('td', {}, x.id), h('td', {}, `v${x.version}`), h('td', {}, badge(x.state)), h('td', {}, h('code', {}, json(x.data))),
      h('td', { title: x.proposal_id || '' }, h('code', {}, short(x.proposal_id) || '—')))));
    return c.items;
  }

  async function loadDocuments() {
    const d = await api('GET', `${base}/documents`);
    const approvals = {};
    await Promise.all(d.items.filter((x) => x.body.kind === 'query' && x.state === 'Accepted').map(async (x) => {
      approvals[x.id] = (await api('GET', `${base}/documents/${seg(x.id)}/approval`)).items;
    }));
    const reload = () => Promise.all([loadDocuments(), loadConsent()]);
    fill(documents, d.items.map((x) => {
      const doc = `${base}/documents/${seg(x.id)}`;
      const buttons = [];
      if (me_user && x.owner === me_user && x.state === 'Draft') {
        buttons.push(act('Propose', 'propose', () => api('POST', `${doc}/propose`), reload));
      }
      if (me_user && x.state === 'Proposed' && x.approvers.includes(me_user) && !x.ballots[me_user]) {
        buttons.push(act('Accept', 'accept', () => api('POST', `${doc}/ballots`, { vote: 'accept' }), reload));
        buttons.push(act('Reject', 'reject', () => api('POST', `${doc}/ballots`, { vote: 'reject' }), reload,
          `Reject ${x.id}? One rejection rejects the document.`));
      }
      const standing = approvals[x.id];
      const mine = standing && standing.find((s) => s.approver === me_user);
      if (mine && mine.ballot === 'accept') {
        buttons.push(mine.withdrawn
          ? act('Give approval back', 'approve', () => api('PUT', `${doc}/approval`, { approve: true }), reload)
          : act('Withdraw approval', 'withdraw-approval', () => api('PUT', `${doc}/approval`, { approve: false }), reload,
            `Withdraw your approval of ${x.id}? Its running runs are revoked and killed.`));
      }
      const approvalCell = standing
        ? standing.map((s) => h('div', { dataset: { approver: s.approver, approved: String(s.approved) } },
          yes(s.approved, `${s.approver}${s.withdrawn ? ' (withdrawn)' : s.ballot ? '' : ' (not voted)'}`)))
        : ballots(x.approvers, x.ballots);
      return h('tr', { dataset: { document: x.id, state: x.state, kind: x.body.kind } },
        h('td', {}, x.id), h('td', {}, x.body.kind), h('td', {}, x.owner), h('td', {}, `v${x.version}`),
        h('td', {}, badge(x.state)), h('td', {}, describeBody(x.body)), h('td', {}, approvalCell), h('td', {}, buttons));
    }));
    return d.items;
  }

  async function consentRow(kind, id) {
    const path = `${base}/consent/${kind}/${seg(id)}`;
    const c = await api('GET', path);
    const party = me_user ? `user:${me_user}` : null;
    const row = h('tr', { dataset: { subject: `${kind}/${id}` } });
    const cells = c.options.map((o) => {
      const mineOn = party && !o.off_by.includes(party);
      const cell = h('td', { dataset: { option: o.option, enabled: String(o.enabled) } },
        badge(o.enabled ? 'on' : 'off'),
        o.off_by.length ? h('div', { class: 'muted' }, `off for ${o.off_by.join(', ')}`) : null);
      if (party && c.parties.includes(party)) {
        const box = h('input', { type: 'checkbox', checked: mineOn, dataset: { consent: `${kind}/${id}/${o.option}` } });
        box.addEventListener('change', async () => {
          const enabled = box.checked;
          if (o.option === 'execution' && !enabled
            && !confirm(`Withdraw execution consent on ${kind} ${id}? Runs that need it are revoked and killed.`)) {
            box.checked = true;
            return;
          }
          box.disabled = true;
          try {
            await api('PUT', `${path}/${o.option}`, { enabled });
            row.replaceWith(await consentRow(kind, id));
          } catch (e) {
            notify(`consent ${o.option} on ${kind} ${id}: ${e.message}`);
            box.checked = !enabled;
            box.disabled = false;
          }
        });
        cell.append(h('label', { class: 'mine' }, box, ' mine'));
      }
      return cell;
    });
    fill(row, h('td', {}, `${kind} ${id}`), h('td', { class: 'muted' }, c.parties.join(', ')), cells);
    return row;
  }

  async function loadConsent(contractList, documentList) {
    const c = contractList || (await api('GET', `${base}/contracts`)).items;
    const d = documentList || (await api('GET', `${base}/documents`)).items;
    const subjects = [...c.filter((x) => x.state === 'Accepted').map((x) => ['contract', x.id]),
      ...d.filter((x) => x.state === 'Accepted').map((x) => ['document', x.id])];
    fill(consent, await Promise.all(subjects.map(([kind, id]) => consentRow(kind, id))));
    if (subjects.length === 0) consent.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'Nothing accepted yet.')));
  }

  async function verifyInto(cell, receipt) {
    const result = await verifyReceipt(receipt, await key());
    cell.dataset.verified = String(result.ok);
    fill(cell, result.ok
      ? yes(true, `verified: entry ${result.seq} under the signed root of ${result.size} entries`)
      : yes(false, `not verified (${result.step}): ${result.reason}`));
    return result;
  }

  async function showRun(id) {
    if (!id) { runDetail.hidden = true; return; }
    const r = await api('GET', `${base}/runs/${seg(id)}`);
    const [approvals, subjects] = await Promise.all([
      api('GET', `${base}/documents/${seg(r.query)}/approval`).then((a) => a.items),
      Promise.all(r.consent.map(async (s) => [s, await api('GET', `${base}/consent/${s.kind}/${seg(s.id)}`)])),
    ]);
    const approvalChecks = r.approvers.map((who) => {
      const s = approvals.find((a) => a.approver === who);
      const ok = Boolean(s && s.approved);
      const why = !s ? 'no longer an approver' : s.withdrawn ? 'withdrawn' : s.ballot === 'accept' ? 'approved' : 'not approved';
      return h('li', { dataset: { check: `approval/${who}`, ok: String(ok) } }, yes(ok, `${who}: ${why}`));
    });
    const option = (c, name) => c.options.find((o) => o.option === name);
    const consentChecks = subjects.map(([s, c]) => {
      const exec = option(c, 'execution');
      const log = option(c, 'logging');
      return h('li', { dataset: { check: `consent/${s.kind}/${s.id}`, ok: String(exec.enabled) } },
        yes(exec.enabled, `execution on ${s.kind} ${s.id}${exec.enabled ? '' : ` (off for ${exec.off_by.join(', ')})`}`),
        h('span', { class: 'muted' }, `; logging ${log.enabled ? 'on' : `off (${log.off_by.join(', ')})`}`));
    });
    const holds = approvalChecks.concat(consentChecks).every((li) => li.dataset.ok === 'true');
    const receiptCell = h('span', { id: 'run-receipt-result' });
    const verify = r.receipt
      ? act('Verify the end\'s receipt', 'verify-run-receipt', () => verifyInto(receiptCell, r.receipt), async () => {})
      : h('span', { class: 'muted' }, 'no receipt until the run ends');
    runDetail.hidden = false;
    fill(runDetail,
      h('div', { class: 'toolbar' }, h('h2', {}, `Run ${r.id}`), badge(r.state)),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Query'), h('dd', {}, `${r.query} v${r.query_version}`),
        h('dt', {}, 'Requested by'), h('dd', {}, r.requested_by),
        h('dt', {}, 'Backend'), h('dd', {}, r.backend),
        h('dt', {}, 'Asked / started / ended'), h('dd', {}, `${at(r.created_ms)} / ${at(r.started_ms)} / ${at(r.ended_ms)}`),
        h('dt', {}, 'Rows'), h('dd', {}, `${r.rows_read} read, ${r.rows_written} written`),
        h('dt', {}, 'Output'), h('dd', {}, r.output || '—'),
        h('dt', {}, 'Failure'), h('dd', { class: 'error' }, r.failure || ''),
        h('dt', {}, 'Run policy'), h('dd', {}, h('code', {}, r.run_policy)),
        h('dt', {}, 'Scheduler run'), h('dd', {}, r.scheduler_run === null ? '—' : `#${r.scheduler_run}`),
        h('dt', {}, 'End receipt'), h('dd', {}, verify, ' ', receiptCell)),
      h('h2', {}, 'Checklist'),
      h('p', { class: 'muted', id: 'run-checklist-summary', dataset: { holds: String(holds) } }, holds
        ? 'Every approval and consent this run needs holds now.'
        : 'Not everything this run needs holds now: a running run is revoked; a new run is refused.'),
      h('h3', {}, 'Approvals (the owners of the query, its inputs and its sink)'), h('ul', { id: 'run-approvals' }, approvalChecks),
      h('h3', {}, 'Consent (the query, each input, the sink, the contract)'), h('ul', { id: 'run-consent' }, consentChecks));
  }

  async function loadRuns() {
    const list = (await api('GET', `${base}/runs`)).items;
    fill(runs, list.map((r) => {
      const tr = h('tr', { class: 'clickable' + (r.id === selectedRun ? ' selected' : ''), dataset: { run: r.id, state: r.state } },
        h('td', {}, h('code', {}, r.id)), h('td', {}, `${r.query} v${r.query_version}`), h('td', {}, badge(r.state)),
        h('td', {}, r.requested_by), h('td', {}, r.backend), h('td', {}, `${r.rows_read} / ${r.rows_written}`),
        h('td', {}, at(r.created_ms)), h('td', {}, at(r.ended_ms)));
      tr.addEventListener('click', guarded(async () => {
        selectedRun = r.id;
        history.replaceState(null, '', `#/rooms/${encodeURIComponent(name)}/runs/${encodeURIComponent(r.id)}`);
        for (const row of runs.querySelectorAll('tr')) row.classList.toggle('selected', row === tr);
        await showRun(r.id);
      }));
      return tr;
    }));
    if (list.length === 0) runs.append(h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No runs yet.')));
  }

  let ledgerFrom = null;
  async function loadLedger(older) {
    if (!older) {
      const { size } = await api('GET', `${base}/ledger?limit=1`);
      ledgerSize.textContent = `${size} entries`;
      ledgerSize.dataset.size = String(size);
      ledgerFrom = size;
      fill(ledger);
    }
    const from = Math.max(0, ledgerFrom - LEDGER_PAGE);
    const page = await api('GET', `${base}/ledger?from=${from}&limit=${ledgerFrom - from}`);
    ledger.append(...page.items.reverse().map((e) => {
      const cell = h('td', {});
      const verify = h('button', { type: 'button', dataset: { action: 'verify-receipt' } }, 'Verify');
      verify.addEventListener('click', async () => {
        verify.disabled = true;
        try {
          await verifyInto(cell, await api('GET', `${base}/ledger/receipts/${e.seq}`));
        } catch (err) {
          notify(`receipt of entry ${e.seq}: ${err.message}`);
        }
        verify.disabled = false;
      });
      const body = e.body.length > 160 ? `${e.body.slice(0, 160)}…` : e.body;
      return h('tr', { dataset: { seq: e.seq, kind: e.kind } }, h('td', {}, e.seq), h('td', {}, at(e.at_ms)),
        h('td', {}, e.kind), h('td', { title: e.body }, h('code', {}, body)), h('td', {}, verify, ' ', cell));
    }));
    ledgerFrom = from;
    olderEntries.hidden = from === 0;
  }

  olderEntries.addEventListener('click', guarded(() => loadLedger(true)));
  verifyPasted.addEventListener('click', guarded(async () => {
    let receipt;
    try {
      receipt = JSON.parse(pasted.value);
    } catch (e) {
      pastedResult.dataset.verified = 'false';
      fill(pastedResult, yes(false, `not JSON: ${e.message}`));
      return;
    }
    await verifyInto(pastedResult, receipt);
  }));

  await loadParties();
  const [contractList, documentList] = await Promise.all([loadContracts(), loadDocuments(), loadProposals()]);
  await Promise.all([loadConsent(contractList, documentList), loadRuns(), loadLedger(false)]);
  ready();
  await showRun(selectedRun).catch((e) => notify(e.message));
  return () => {};
}
