// The review page. Everything that comes from the server (content, context, notes, policy and
// category names) is hostile until proven otherwise: it is only ever put into the page as text
// (textContent / createTextNode), never as HTML, and the CSP forbids inline script anyway.

import type { MeJson, MyStatsJson, TaskJson, VerdictJson } from '../../api-types.js';
import { $, apiCall, cell, el, failure, InlineQuestion, show, showSignIn, status, wireSignIn } from '../shared/page.js';

const KEY_STORAGE = 'modtune.review.key';

interface State {
  key: string | null;
  task: TaskJson | null;
  selected: number;
  busy: boolean;
  leaseTimer: ReturnType<typeof setInterval> | null;
  leaseWarned: boolean;
  raw: boolean;
  revealed: boolean;
  lastDone: string | null;
}

const state: State = { key: sessionStorage.getItem(KEY_STORAGE), task: null, selected: 0, busy: false, leaseTimer: null, leaseWarned: false, raw: false, revealed: true, lastDone: null };

const REASONS = ['', 'appeal', 'flagged', 'confirm', 'uncertain', 'audit'];

/**
 * One key per category, in the policy's order: the digits, then letters no command uses (N, J, K, X,
 * S, R, E, C and U, B, V, Z, M stay free for commands). 23 categories one key press away; more with J / K.
 */
const CATEGORY_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', 'q', 'w', 't', 'y', 'i', 'o', 'p', 'a', 'd', 'f', 'g', 'h', 'l'];
/** The lease warning comes this long before it ends. */
const LEASE_WARNING_MS = 60_000;

const api = <T = unknown>(method: string, path: string, body?: unknown) => apiCall<T>(state.key, method, path, body);

function signedIn() {
  show('login', false);
  show('signout', true);
  idle('No task in hand.');
}

/** Checks the key and its role with the server before anything else happens. */
async function signIn(key: string) {
  state.key = key;
  status('Checking the key…');
  try {
    const me = await api<MeJson>('GET', '/v1/me');
    if (me.role !== 'moderator' && me.role !== 'admin') {
      signOut();
      status(`Key refused: the review page needs a moderator or admin key; this key (${me.name}) has the ${me.role} role.`, true);
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    signedIn();
    status(`Signed in as ${me.name}. Press N to claim a task.`);
  } catch (e) {
    signOut();
    status(`Key refused: ${failure(e).message}`, true);
  }
}

function signOut() {
  sessionStorage.removeItem(KEY_STORAGE);
  state.key = null;
  state.task = null;
  stopLeaseTimer();
  show('task', false);
  show('idle', false);
  showSignIn();
  status('Signed out.');
}

function idle(message: string) {
  state.task = null;
  stopLeaseTimer();
  void myStats();
  show('task', false);
  show('idle', true);
  $('idle-message').textContent = message;
  $('claim').focus();
}

/** The moderator's own numbers, under the claim button (best effort: a failure leaves the line empty). */
async function myStats() {
  if (!state.key) return;
  try {
    const s = await api<MyStatsJson>('GET', '/v1/review/stats/me');
    const median = s.median_handling_ms === null ? '—' : `${(s.median_handling_ms / 1000).toFixed(1)} s`;
    const agree = s.agreement_with_settled.rate === null ? '' : ` · on double-reviewed tasks your verdict matched the settled label on ${(100 * s.agreement_with_settled.rate).toFixed(0)}% of ${s.agreement_with_settled.cells} categories`;
    $('my-stats').textContent = `You: ${s.verdicts.last_24h} verdicts in the last 24 h, ${s.verdicts.last_7_days} in 7 days · median ${median} a task${agree}.`;
  } catch {
    $('my-stats').textContent = '';
  }
}

/** U: take back the last verdict (while training has not read it): the task comes back, leased to you. */
async function undo() {
  if (!state.lastDone || state.busy) return;
  state.busy = true;
  try {
    const task = await api<TaskJson>('POST', `/v1/review/tasks/${state.lastDone}/undo`);
    state.lastDone = null;
    render(task);
    status('Verdict taken back: the task is yours again.');
  } catch (e) {
    status(`Could not take the verdict back: ${failure(e).message}`, true);
  } finally {
    state.busy = false;
  }
}

/** Claims the next task; `done` says what was just done (kept in the status line with the claim). */
async function claim(done = '') {
  if (state.busy || !state.key) return;
  state.busy = true;
  status('Claiming…');
  try {
    const reason = $<HTMLSelectElement>('reason-filter').value;
    const { data } = await api<{ data: TaskJson[] }>('POST', '/v1/review/claim', { limit: 1, ...(reason ? { reasons: [reason] } : {}) });
    if (data.length === 0) {
      idle(reason ? `No ${reason} task is waiting. Press N to try again, or V to change the queue.` : 'The queue is empty. Press N to try again.');
      status(`${done}Queue empty.`);
    } else {
      render(data[0]);
      const ends = data[0].lease.expires_at;
      status(`${done}Task ${data[0].id.slice(-8)} claimed; lease until ${ends ? new Date(ends).toLocaleTimeString() : '—'}.`);
    }
  } catch (e) {
    const err = failure(e);
    if (done) status(done);
    if (err.status === 401) {
      signOut();
      status(`Key refused: ${err.message}`, true);
    } else {
      status(`Could not claim: ${err.message}`, true);
    }
  } finally {
    state.busy = false;
  }
}

// ---------------------------------------------------------------- the lease

function stopLeaseTimer() {
  if (state.leaseTimer) clearInterval(state.leaseTimer);
  state.leaseTimer = null;
}

/** The time left on the task's lease, shown every second; a warning a minute before; idle at the end. */
function startLeaseTimer(task: TaskJson) {
  stopLeaseTimer();
  state.leaseWarned = false;
  const ends = task.lease?.expires_at ? new Date(task.lease.expires_at).getTime() : null;
  const el = $('lease');
  if (!ends) {
    el.textContent = '';
    return;
  }
  const tick = () => {
    const left = ends - Date.now();
    if (left <= 0) {
      idle('Your lease on that task ran out, so it went back to the queue. Press N to claim the next task.');
      status('Lease ran out: the task went back to the queue.', true);
      return;
    }
    const s = Math.ceil(left / 1000);
    el.textContent = `lease ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')} left`;
    const warn = left <= LEASE_WARNING_MS;
    el.classList.toggle('warn', warn);
    if (warn && !state.leaseWarned) {
      state.leaseWarned = true;
      status('The lease on this task ends in less than a minute: submit (S) or give it back (R).', true);
    }
  };
  tick();
  state.leaseTimer = setInterval(tick, 1000);
}

/** A task that is no longer ours (leased to someone else, or already done): back to a state where N works. */
function lost(e: unknown, what: string): boolean {
  const err = failure(e);
  if (err.status === 409 && (err.code === 'not_leaseholder' || err.code === 'task_closed')) {
    idle(`${what}: ${err.message}. Press N to claim the next task.`);
    status(`${what}: the task is no longer yours.`, true);
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- hidden characters

/** Invisible format characters (bidi controls, zero-width joiners, BOM, tags) and control characters. */
const HIDDEN = /[\p{Cf}\p{Cc}]/gu;
const VISIBLE_CONTROLS = new Set(['\n', '\t', '\r']);
const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/u;

const codePoint = (ch: string) => `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/** What is hidden in `text`: how many direction controls and how many other invisible characters, and which. */
function hiddenIn(text: string | null | undefined) {
  const found = [...(text ?? '').matchAll(HIDDEN)].map((m) => m[0]).filter((ch) => !VISIBLE_CONTROLS.has(ch));
  const bidi = found.filter((ch) => BIDI.test(ch));
  return { bidi: bidi.length, other: found.length - bidi.length, kinds: [...new Set(found.map(codePoint))].slice(0, 8) };
}

/** The text with every hidden character shown as ⟦U+XXXX⟧ (still only ever text in the page). */
function rawView(text: string | null | undefined): string {
  return (text ?? '').replace(HIDDEN, (ch) => (VISIBLE_CONTROLS.has(ch) ? ch : `⟦${codePoint(ch)}⟧`));
}

/**
 * A text the model flagged for a category the policy marks graphic stays blurred until revealed (B or a
 * click); so do the subject's earlier items that were flagged (or settled) for one.
 */
function reveal(on: boolean) {
  state.revealed = on;
  for (const id of ['content', 'context']) $(id).classList.toggle('blurred', !on && Boolean(state.task?.graphic));
  show('graphic-note', !on && Boolean(state.task?.graphic));
  for (const q of document.querySelectorAll<HTMLElement>('#history q[data-graphic]')) q.classList.toggle('blurred', !on);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The text as text nodes, with the words the serving head's n-gram part leaned on marked (never markup
 * from the text: every piece is a text node or a <mark> holding one).
 */
function markedText(text: string, words: NonNullable<TaskJson['highlight']>): Node[] {
  const byWord = new Map(words.map((w) => [w.word.toLowerCase(), w]));
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(${words.map((w) => escapeRegExp(w.word)).join('|')})(?![\\p{L}\\p{N}])`, 'giu');
  const out: Node[] = [];
  let at = 0;
  for (const m of text.matchAll(pattern)) {
    if (m.index! > at) out.push(document.createTextNode(text.slice(at, m.index)));
    const w = byWord.get(m[0].toLowerCase());
    const mark = document.createElement('mark');
    mark.textContent = m[0];
    if (w) mark.title = `+${w.contribution.toFixed(2)} toward ${w.categories.join(', ')} (the head's word and character n-grams)`;
    out.push(mark);
    at = m.index! + m[0].length;
  }
  if (at < text.length) out.push(document.createTextNode(text.slice(at)));
  return out;
}

/** V: the next reason to take tasks of (all reasons, then each in the queue's priority order). */
function cycleFilter() {
  const f = $<HTMLSelectElement>('reason-filter');
  f.value = REASONS[(REASONS.indexOf(f.value) + 1) % REASONS.length];
  status(f.value ? `Taking ${f.value} tasks only.` : 'Taking tasks of every reason.');
}

function showRaw(on: boolean) {
  const t = state.task;
  if (!t) return;
  state.raw = on;
  const text = t.item.text_purged ? '[text purged by the retention policy]' : (t.item.text ?? '');
  if (!on && t.highlight?.length && !t.item.text_purged) $('content').replaceChildren(...markedText(text, t.highlight));
  else $('content').textContent = on ? rawView(text) : text;
  show('highlight-note', !on && Boolean(t.highlight?.length));
  $('context').textContent = on ? rawView(t.item.context ?? '') : (t.item.context ?? '');
  $('content').classList.toggle('raw', on);
  $('raw-toggle').textContent = on ? 'Show the text as displayed (C)' : 'Show raw code points (C)';
}

function render(task: TaskJson) {
  state.task = task;
  state.selected = 0;
  show('idle', false);
  show('task', true);
  const reason = $('reason');
  reason.textContent = task.reason;
  reason.className = `badge ${task.reason}`;
  $('meta-line').textContent =
    ` policy ${task.policy.name} (${task.policy.version}) · review ${task.reviews.done + 1} of ${task.reviews.required} · decided ${new Date(task.decision.created_at).toLocaleString()}`;
  show('appeal', Boolean(task.appeal_reason));
  $('appeal').textContent = task.appeal_reason ? `Appeal: ${task.appeal_reason}` : '';
  const earlier = task.earlier_reviews ?? [];
  show('earlier-block', earlier.length > 0);
  $('earlier').replaceChildren(
    ...earlier.map((r) => {
      const li = document.createElement('li');
      const flagged = Object.keys(r.categories).filter((c) => r.categories[c] === true);
      li.textContent = `${new Date(r.created_at).toLocaleString()} (${r.reason}): ${flagged.length ? flagged.join(', ') : 'nothing flagged'}`;
      if (r.notes) {
        const q = document.createElement('q');
        q.className = 'earlier-notes';
        q.textContent = r.notes;
        li.append(' — ', q);
      }
      return li;
    }),
  );
  $('why').textContent = task.why?.summary ?? task.reason;
  const subject = [
    task.item.external_id ? `post ${task.item.external_id}` : null,
    task.item.author_id ? `author ${task.item.author_id}` : null,
    task.item.thread_id ? `thread ${task.item.thread_id}` : null,
  ].filter((x): x is string => x !== null);
  show('subject', subject.length > 0);
  $('subject').textContent = subject.join(' · ');
  // Blurred (main text and graphic history items) until revealed, when anything here is graphic.
  state.revealed = !(task.graphic || (task.history ?? []).some((h) => h.graphic));
  renderHistory(task.history ?? []);
  renderComments(task.comments ?? []);
  show('escalation', Boolean(task.escalation));
  $('escalation').textContent = task.escalation
    ? `Escalated to a senior moderator by ${task.escalation.by ?? 'a moderator'} ${new Date(task.escalation.at).toLocaleString()}: ${task.escalation.comment ?? ''}`
    : '';
  show('context-block', Boolean(task.item.context));
  const hidden = hiddenIn(`${task.item.text ?? ''}${task.item.context ?? ''}`);
  show('hidden-warning', hidden.bidi + hidden.other > 0);
  $('hidden-text').textContent =
    hidden.bidi + hidden.other > 0
      ? `Hidden characters: ${[hidden.bidi ? `${hidden.bidi} that change the reading direction` : '', hidden.other ? `${hidden.other} invisible` : ''].filter(Boolean).join(' and ')} (${hidden.kinds.join(', ')}). The text may not read as it displays.`
      : '';
  showRaw(false);
  reveal(state.revealed);
  // A blind task shows none of the model's decision; every task starts where the API says (the model's
  // labels, nothing on a blind task, the previous verdict on an appeal).
  show('blind-note', task.blind);
  show('model-action-line', !task.blind);
  $('model-action').textContent = task.blind ? '' : String(task.decision.action);
  $<HTMLTextAreaElement>('notes').value = '';

  const body = $<HTMLTableElement>('categories').tBodies[0];
  body.replaceChildren();
  task.policy.categories.forEach((category, i) => {
    const tr = document.createElement('tr');
    tr.dataset.index = String(i);
    const key = CATEGORY_KEYS[i];
    tr.appendChild(cell(key ? key.toUpperCase() : ''));
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.name = 'category';
    box.value = category;
    box.checked = task.start[category] === true;
    box.addEventListener('change', () => markChanged(tr, box, category));
    box.addEventListener('focus', () => select(i));
    label.append(box, document.createTextNode(` ${category}`));
    const td = document.createElement('td');
    td.appendChild(label);
    tr.appendChild(td);
    const scoreTd = document.createElement('td');
    if (task.blind) {
      scoreTd.textContent = 'hidden';
    } else {
      const score = task.decision.category_scores?.[category] ?? 0;
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.round(score * 120)}px`;
      scoreTd.append(bar, document.createTextNode(score.toFixed(3)));
    }
    tr.appendChild(scoreTd);
    tr.appendChild(cell(task.blind ? 'hidden' : task.decision.categories?.[category] ? 'flagged' : '—'));
    body.appendChild(tr);
  });
  select(0);
  startLeaseTimer(task);
}

function renderHistory(history: TaskJson['history']) {
  show('history-block', history.length > 0);
  $('history').replaceChildren(
    ...history.map((h) => {
      const li = document.createElement('li');
      const verdict = h.verdict === null ? 'no verdict yet' : h.verdict.length ? `moderators: ${h.verdict.join(', ')}` : 'moderators: nothing';
      li.append(
        el('span', `${new Date(h.created_at).toLocaleString()} · same ${h.relation}${h.external_id ? ` · post ${h.external_id}` : ''} · ${verdict}${h.action ? ` · model: ${h.action}` : ''}`, 'history-meta'),
      );
      if (h.text) {
        const short = h.text.length > 200 ? `${h.text.slice(0, 200)}…` : h.text;
        const hidden = hiddenIn(short);
        // Hidden characters are shown as code points here (no toggle per item), and said.
        const q = el('q', hidden.bidi + hidden.other > 0 ? rawView(short) : short, 'history-text');
        if (h.graphic) {
          q.dataset.graphic = 'true';
          q.classList.toggle('blurred', !state.revealed);
          q.title = 'Flagged for a graphic category: press B (or click) to reveal';
          q.addEventListener('click', () => reveal(true));
        }
        li.append(' ', q);
        if (hidden.bidi + hidden.other > 0) li.append(' ', el('span', `(hidden characters: ${hidden.kinds.join(', ')})`, 'warning history-hidden'));
      }
      return li;
    }),
  );
}

function renderComments(comments: TaskJson['comments']) {
  show('comments-block', comments.length > 0);
  $('comments').replaceChildren(
    ...comments.map((c) => {
      const li = document.createElement('li');
      const about = c.about === 'this item' ? 'this item' : `the ${c.about}`;
      li.append(el('span', `${new Date(c.created_at).toLocaleString()} · ${c.moderator} on ${about}: `, 'history-meta'), el('q', c.text, 'comment-text'));
      return li;
    }),
  );
}

/** Comments (M) and escalations (Z) ask under the task. */
const question = new InlineQuestion('ask');

/** M: a comment on this task's subject (the item, its author, its thread); other tasks on them show it. */
async function addComment() {
  const t = state.task;
  if (!t || state.busy) return;
  const text = await question.ask('Comment on this item, its author and thread (other moderators see it):');
  if (text === null || !text.trim()) return;
  try {
    const c = await api<TaskJson['comments'][number]>('POST', `/v1/review/tasks/${t.id}/comments`, { comment: text.trim() });
    t.comments = [c, ...(t.comments ?? [])];
    renderComments(t.comments);
    status('Comment added.');
  } catch (e) {
    status(`Comment not added: ${failure(e).message}`, true);
  }
}

/** Z: send the task to a senior moderator, with why; then the next task. */
async function escalate() {
  const t = state.task;
  if (!t || state.busy) return;
  const text = await question.ask('Escalate to a senior moderator. Why?');
  if (text === null || !text.trim()) return;
  state.busy = true;
  try {
    await api('POST', `/v1/review/tasks/${t.id}/escalate`, { comment: text.trim() });
    state.busy = false;
    await claim(`Escalated to a senior moderator ("${text.trim().slice(0, 80)}"). `);
  } catch (e) {
    state.busy = false;
    if (!lost(e, 'Not escalated')) status(`Not escalated: ${failure(e).message}`, true);
  }
}

function rows() {
  return [...$<HTMLTableElement>('categories').tBodies[0].rows];
}

function select(i: number) {
  const all = rows();
  if (all.length === 0) return;
  state.selected = (i + all.length) % all.length;
  all.forEach((r, j) => r.classList.toggle('selected', j === state.selected));
  all[state.selected].scrollIntoView({ block: 'nearest' });
}

function markChanged(tr: HTMLTableRowElement, box: HTMLInputElement, category: string) {
  tr.classList.toggle('changed', box.checked !== (state.task?.start[category] === true));
}

function toggle(i: number) {
  const tr = rows()[i];
  if (!tr) return;
  const box = tr.querySelector('input');
  if (!box) return;
  box.checked = !box.checked;
  markChanged(tr, box, box.value);
  select(i);
}

async function submit() {
  const task = state.task;
  if (!task || state.busy) return;
  state.busy = true;
  const categories: Record<string, boolean> = {};
  for (const box of $('categories').querySelectorAll<HTMLInputElement>('input[type=checkbox]')) categories[box.value] = box.checked;
  const notes = $<HTMLTextAreaElement>('notes').value.trim();
  try {
    const out = await api<VerdictJson>('POST', `/v1/review/tasks/${task.id}/verdict`, { categories, ...(notes ? { notes } : {}) });
    state.lastDone = task.id;
    status(`Verdict saved${out.disagreements ? ` (${out.disagreements} disagreement${out.disagreements > 1 ? 's' : ''} with the model)` : ''}. U takes it back.`);
    state.busy = false;
    await claim();
  } catch (e) {
    state.busy = false;
    if (!lost(e, 'Verdict not saved')) status(`Verdict not saved: ${failure(e).message}`, true);
  }
}

async function release() {
  const task = state.task;
  if (!task || state.busy) return;
  state.busy = true;
  try {
    await api('POST', `/v1/review/tasks/${task.id}/release`);
    idle('Task given back. Press N to claim the next one.');
    status('Task given back to the queue.');
  } catch (e) {
    if (!lost(e, 'Could not give the task back')) status(`Could not give the task back: ${failure(e).message}`, true);
  } finally {
    state.busy = false;
  }
}

function onKey(e: KeyboardEvent) {
  const target = e.target;
  // An open question takes the keyboard: Escape cancels it wherever the focus went; any other key goes to its field.
  if (question.open) {
    if (e.key === 'Escape') {
      e.preventDefault();
      question.cancel();
    } else if (target !== question.input && !(target instanceof HTMLButtonElement)) {
      question.input.focus();
    }
    return;
  }
  const inText = target instanceof HTMLTextAreaElement || (target instanceof HTMLInputElement && target.type !== 'checkbox');
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && state.task) {
    e.preventDefault();
    void submit();
    return;
  }
  if (inText) {
    if (e.key === 'Escape') (target as HTMLElement).blur();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey || !state.key) return;
  const k = e.key;
  // Space on a focused checkbox or button is the browser's own toggle or click.
  if (k === ' ' && (target instanceof HTMLInputElement || target instanceof HTMLButtonElement)) return;
  if (k === '?') {
    // Shown where the moderator is looking: scrolled into view (it sits below the task).
    const help = $('help');
    help.classList.toggle('hidden');
    if (!help.classList.contains('hidden')) help.scrollIntoView({ block: 'nearest' });
  } else if (k === 'u' || k === 'U') {
    void undo();
  } else if (!state.task) {
    if (k === 'n' || k === 'N') void claim();
    else if (k === 'v' || k === 'V') cycleFilter();
    else return;
  } else if (k === 'j' || k === 'ArrowDown') {
    select(state.selected + 1);
  } else if (k === 'k' || k === 'ArrowUp') {
    select(state.selected - 1);
  } else if (k === 'x' || k === 'X' || k === ' ') {
    toggle(state.selected);
  } else if (CATEGORY_KEYS.includes(k.toLowerCase()) && CATEGORY_KEYS.indexOf(k.toLowerCase()) < rows().length) {
    toggle(CATEGORY_KEYS.indexOf(k.toLowerCase()));
  } else if (k === 's' || k === 'S') {
    void submit();
  } else if (k === 'r' || k === 'R') {
    void release();
  } else if (k === 'e' || k === 'E') {
    $('notes').focus();
  } else if (k === 'c' || k === 'C') {
    showRaw(!state.raw);
  } else if (k === 'b' || k === 'B') {
    reveal(!state.revealed);
  } else if (k === 'm' || k === 'M') {
    void addComment();
  } else if (k === 'z' || k === 'Z') {
    void escalate();
  } else {
    return;
  }
  e.preventDefault();
}

function start() {
  $('task').addEventListener('submit', (e) => {
    e.preventDefault();
    void submit();
  });
  $('claim').addEventListener('click', () => void claim());
  $('raw-toggle').addEventListener('click', () => showRaw(!state.raw));
  $('content').addEventListener('click', () => {
    if (!state.revealed) reveal(true);
  });
  $('release').addEventListener('click', () => void release());
  question.wire();
  $('signout').addEventListener('click', signOut);
  document.addEventListener('keydown', onKey);
  wireSignIn(state.key, (key) => void signIn(key));
}

start();
