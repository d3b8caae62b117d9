// The run page's live parts: the log over Server-Sent Events, appended in batches once per frame
// with at most MAX_DOM lines in the page, and phases and reasons updated as they change.
(() => {
  const log = document.getElementById('log');
  if (!log) return;
  const MAX_DOM = 5000;
  const notice = document.getElementById('log-notice');
  const state = document.getElementById('log-state');
  const follow = document.getElementById('log-follow');
  const jobSelect = document.getElementById('log-job');
  const changed = document.getElementById('changed');
  const summary = document.querySelector('.summary');
  const OPEN = ['received', 'planning', 'running'];
  let pending = [];
  let scheduled = false;
  let notShown = 0; // lines taken out of the page to keep it light
  let dropped = 0; // lines Slipway no longer keeps (its 20,000-line cap)
  let filter = '';

  function showNotice() {
    const parts = [];
    if (dropped > 0) parts.push(`${dropped} earlier lines were dropped: Slipway keeps the last 20,000 lines of a run\u2019s log.`);
    if (notShown > 0)
      parts.push(`This page shows the last ${MAX_DOM} lines; ${notShown} earlier ones are not shown (the API has them: GET /api/runs/<id>/log).`);
    notice.textContent = parts.join(' ');
    notice.hidden = parts.length === 0;
  }

  function lineElement(l) {
    const div = document.createElement('div');
    div.className = `line ${l.stream}`;
    div.dataset.job = l.job;
    if (filter && l.job !== filter) div.hidden = true;
    const job = document.createElement('span');
    job.className = 'src';
    job.textContent = l.job;
    div.append(job, document.createTextNode(l.line));
    return div;
  }

  function flush() {
    scheduled = false;
    const batch = pending;
    pending = [];
    const skip = Math.max(0, batch.length - MAX_DOM);
    notShown += skip;
    const frag = document.createDocumentFragment();
    for (let i = skip; i < batch.length; i++) frag.append(lineElement(batch[i]));
    log.append(frag);
    const extra = log.childElementCount - MAX_DOM;
    if (extra > 0) {
      const range = document.createRange();
      range.setStartBefore(log.firstElementChild);
      range.setEndAfter(log.children[extra - 1]);
      range.deleteContents();
      notShown += extra;
    }
    showNotice();
    if (follow.checked) log.scrollTop = log.scrollHeight;
  }

  function queue(line) {
    pending.push(line);
    // A hidden tab gets no frames: keep only what could ever be shown.
    if (pending.length > 2 * MAX_DOM) {
      notShown += pending.length - MAX_DOM;
      pending = pending.slice(-MAX_DOM);
    }
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(flush);
    }
  }

  jobSelect.addEventListener('change', () => {
    filter = jobSelect.value;
    for (const el of log.children) el.hidden = filter !== '' && el.dataset.job !== filter;
  });

  function setPhase(container, phase, reason) {
    if (!container) return;
    const badge = container.querySelector('.phase');
    if (badge) {
      badge.className = `phase phase-${phase}`;
      badge.textContent = phase;
    }
    const why = container.querySelector('.reason');
    if (why) why.textContent = reason;
  }

  let first = true;
  const initialPhases = new Map();
  for (const el of document.querySelectorAll('[data-job]')) {
    const badge = el.querySelector('.phase');
    if (el.tagName === 'ARTICLE' && badge) initialPhases.set(el.dataset.job, badge.textContent);
  }
  const runWasOpen = summary && summary.dataset.open === 'true';

  function onStatus(s) {
    // The page was drawn before the plan was recorded: draw it again now that there are jobs to show.
    if (initialPhases.size === 0 && s.jobs.length > 0) {
      location.reload();
      return;
    }
    setPhase(summary, s.phase, s.reason);
    let actionsChanged = OPEN.includes(s.phase) !== runWasOpen;
    for (const j of s.jobs) {
      const el = document.querySelector(`article.job[data-job="${CSS.escape(j.name)}"]`);
      setPhase(el, j.phase, j.reason);
      const before = initialPhases.get(j.name);
      if (before !== undefined && before !== j.phase && (before === 'manual' || j.phase === 'manual')) actionsChanged = true;
    }
    if (!first && actionsChanged) changed.hidden = false;
    first = false;
  }

  const source = new EventSource(log.dataset.stream);
  source.onopen = () => {
    state.textContent = 'live';
  };
  source.onmessage = (e) => queue(JSON.parse(e.data));
  source.addEventListener('truncated', (e) => {
    dropped += JSON.parse(e.data).dropped;
    showNotice();
  });
  source.addEventListener('status', (e) => onStatus(JSON.parse(e.data)));
  source.addEventListener('end', (e) => {
    const d = JSON.parse(e.data);
    source.close();
    state.textContent = `run ${d.phase}: ${d.lines} lines`;
  });
  // EventSource reconnects by itself, sending Last-Event-ID: the stream resumes after the last line shown.
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) state.textContent = 'reconnecting\u2026';
  };
})();
