// The review panel: show an item, resolve or skip it with the keyboard, then show the next one
// without leaving the page. Showing does not claim: the first action on an item (a key, a field,
// a button) claims it, and skipping or leaving the page gives it back. Every answer carries the
// queue's counts, so the figures at the top stay current. Every POST carries the CSRF token.
(function () {
  "use strict";
  const panel = document.getElementById("review-panel");
  if (!panel) return;
  const status = document.getElementById("review-status");
  const csrf = document.body.dataset.csrf;
  const skipped = [];
  let busy = false;
  let claimedId = null; // the shown item, once this page has claimed it
  let claiming = null; // the claim request in flight

  function url(kind, id) {
    return panel.dataset[kind + "Url"].replace("/0/", "/" + id + "/");
  }

  function say(message, kind) {
    status.textContent = message;
    status.className = "flash " + (kind || "ok");
    status.hidden = !message;
  }

  async function post(target, body) {
    const resp = await fetch(target, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json"},
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {message: "unexpected answer (" + resp.status + ")"}; }
    if (!resp.ok) {
      if (resp.status === 401) { window.location.reload(); }
      throw new Error(data.message || ("request failed (" + resp.status + ")"));
    }
    return data;
  }

  function current() { return panel.querySelector(".review-item"); }

  function figures(data) {
    const f = data && data.figures;
    if (!f) return;
    for (const key of ["open", "claimed", "resolved"]) {
      const el = document.getElementById(key + "-count");
      if (el) el.textContent = f[key];
    }
  }

  // Claim the shown item once, on the first action; false (and the next item) when someone else has it.
  function ensureClaimed() {
    const item = current();
    if (!item) return Promise.resolve(false);
    const id = String(item.dataset.item);
    if (claimedId === id) return Promise.resolve(true);
    if (!claiming) {
      claiming = post(url("claim", id))
        .then((data) => { claimedId = id; figures(data); return true; })
        .catch(async (e) => {
          skipped.push(Number(id));
          await loadNext();
          say(e.message + " Showing the next item.", "error");
          return false;
        })
        .finally(() => { claiming = null; });
    }
    return claiming;
  }

  function releaseClaimed(keepalive) {
    if (claimedId === null) return Promise.resolve();
    const id = claimedId;
    claimedId = null;
    if (keepalive) {
      // the page is going away: a keepalive request outlives it
      fetch(url("release", id), {
        method: "POST", credentials: "same-origin", keepalive: true, body: "{}",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json"},
      }).catch(() => {});
      return Promise.resolve();
    }
    return post(url("release", id)).then(figures).catch(() => {});
  }

  function show(data) {
    claimedId = null;
    figures(data);
    panel.innerHTML = data.html;
    // keys act on the new item, not on whatever button was pressed to get here
    if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
  }

  async function loadNext() {
    busy = true;
    try {
      show(await post(panel.dataset.nextUrl, {skip: skipped}));
    } catch (e) {
      panel.innerHTML = "";
      say(e.message, "error");
    } finally {
      busy = false;
    }
  }

  async function openItem(id) {
    const item = current();
    if (item && String(item.dataset.item) !== String(id)) await releaseClaimed(false);
    try { show(await post(url("open", id))); say(""); } catch (e) { say(e.message, "error"); }
  }

  async function resolve(intent, queue) {
    const item = current();
    if (!item || busy) return;
    if (!(await ensureClaimed())) return;
    busy = true;
    const note = item.querySelector("#resolve-note").value;
    try {
      const done = await post(url("resolve", item.dataset.item), {intent: intent, queue: queue, note: note});
      claimedId = null;
      figures(done);
      say(done.message, "ok");
      const row = document.querySelector('tr[data-item="' + item.dataset.item + '"]');
      if (row && done.status === "resolved") row.classList.add("done");
      busy = false;
      await loadNext();
    } catch (e) {
      say(e.message, "error");
      busy = false;
    }
  }

  function confirmModel() {
    const item = current();
    if (item) resolve(item.dataset.intent, item.dataset.queue);
  }

  function saveChosen() {
    const item = current();
    if (!item) return;
    resolve(item.querySelector("#resolve-intent").value.trim(), item.querySelector("#resolve-queue").value);
  }

  async function skip() {
    const item = current();
    if (!item || busy) return;
    skipped.push(Number(item.dataset.item));
    await releaseClaimed(false);
    say("Skipped item " + item.dataset.item + ".", "ok");
    await loadNext();
  }

  function pickAlternative(n) {
    const item = current();
    const alt = item && item.querySelector('.alternatives li[data-key="' + n + '"]');
    if (!alt) return;
    item.querySelector("#resolve-intent").value = alt.dataset.intent;
    if (alt.dataset.queue) item.querySelector("#resolve-queue").value = alt.dataset.queue;
    item.querySelectorAll(".alternatives li").forEach((li) => li.classList.toggle("chosen", li === alt));
  }

  panel.addEventListener("click", (ev) => {
    if (ev.target.closest("#confirm-button")) { ev.preventDefault(); confirmModel(); }
    else if (ev.target.closest("#skip-button")) { ev.preventDefault(); skip(); }
    else {
      const alt = ev.target.closest(".alternatives li[data-key]");
      if (alt) { ensureClaimed(); pickAlternative(alt.dataset.key); }
    }
  });
  // Working a field is an action: it claims the item.
  panel.addEventListener("focusin", (ev) => {
    if (ev.target.closest && ev.target.closest("#resolve-form input, #resolve-form select")) ensureClaimed();
  });
  window.addEventListener("pagehide", () => releaseClaimed(true));
  panel.addEventListener("submit", (ev) => { ev.preventDefault(); saveChosen(); });
  document.querySelectorAll("button.open-item").forEach((b) => {
    b.addEventListener("click", () => openItem(b.dataset.item));
  });

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const inField = ev.target.closest && ev.target.closest("input, select, textarea");
    if (ev.key === "Escape") { if (inField) ev.target.blur(); return; }
    if (inField) {
      if (ev.key === "Enter" && ev.target.closest("#resolve-form") && ev.target.tagName === "SELECT") {
        ev.preventDefault();
        saveChosen();
      }
      return;
    }
    const item = current();
    if (!item) return;
    const focus = (id) => { ev.preventDefault(); item.querySelector(id).focus(); };
    switch (ev.key) {
      case "c": ev.preventDefault(); confirmModel(); break;
      case "s": case "Enter": ev.preventDefault(); saveChosen(); break;
      case "n": ev.preventDefault(); skip(); break;
      case "1": case "2": case "3": ev.preventDefault(); ensureClaimed(); pickAlternative(ev.key); break;
      case "i": focus("#resolve-intent"); break;
      case "q": focus("#resolve-queue"); break;
      case "o": focus("#resolve-note"); break;
      default: break;
    }
  });

  loadNext();
})();
