// Gemini playground page: live message list over server-sent events, composers, clicks, files.
"use strict";
(() => {
  const config = JSON.parse(document.getElementById("config").textContent);
  const items = new Map(); // key -> item from the server (msg, status)
  const view = { channel: config.first, thread: null };
  const $ = (id) => document.getElementById(id);
  const panes = {
    main: { box: $("messages"), els: new Map() },
    thread: { box: $("thread-messages"), els: new Map() },
  };
  const SUGGESTIONS = [
    "what can you do?", "search the latest Gemini news", "draw a sunset",
    "compare Slack and email in a table", "tell me a long story",
  ];

  // -- routing ------------------------------------------------------------------------------
  function readHash() {
    const [channel, thread] = decodeURIComponent(location.hash.slice(1)).split("/");
    view.channel = config.channels[channel] ? channel : config.first;
    view.thread = thread || null;
  }
  function writeHash() {
    const hash = "#" + view.channel + (view.thread ? "/" + view.thread : "");
    if (location.hash !== hash) history.replaceState(null, "", hash);
  }
  window.addEventListener("hashchange", () => { readHash(); render(true); });

  // -- live feed ----------------------------------------------------------------------------
  function connect() {
    const source = new EventSource("/events");
    source.onmessage = (e) => {
      const update = JSON.parse(e.data);
      if (update.reset) items.clear();
      for (const item of update.items) {
        if (item.kind === "gone") items.delete(item.key);
        else items.set(item.key, item);
      }
      render(false);
    };
    source.onerror = () => { document.body.classList.add("offline-feed"); };
    source.onopen = () => { document.body.classList.remove("offline-feed"); };
  }

  // -- rendering ----------------------------------------------------------------------------
  const byTs = (a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0);
  function channelItems() {
    return [...items.values()]
      .filter((i) => i.kind === "msg" && i.channel === view.channel && !i.thread)
      .sort(byTs);
  }
  function threadItems() {
    const parent = items.get(view.channel + "/" + view.thread);
    const replies = [...items.values()]
      .filter((i) => i.kind === "msg" && i.channel === view.channel && i.thread === view.thread)
      .sort(byTs);
    return parent ? [parent, ...replies] : replies;
  }
  function escapeText(text) {
    const div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }
  function nearBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 80; }

  function threadLink(item) {
    const status = items.get(`status/${item.channel}/${item.ts}`);
    const busy = status ? `<div class="status">${escapeText(status.text)}</div>` : "";
    if (!item.replies) return busy;
    const n = item.replies === 1 ? "1 reply" : item.replies + " replies";
    return `<button type="button" class="thread-link" data-open-thread="${item.ts}">` +
      `<span class="avatar bot mini">G</span>${n}<span class="last">View thread</span></button>` + busy;
  }

  function elementFor(pane, item, inChannel) {
    let el = pane.els.get(item.key);
    if (!el) {
      el = document.createElement("div");
      el.className = "msg" + (item.ephemeral ? " ephemeral" : "");
      el.dataset.key = item.key;
      pane.els.set(item.key, el);
    }
    const link = inChannel ? threadLink(item) : "";
    const html = item.html + link;
    if (el._html !== html) {
      el._html = html;
      el.innerHTML = item.html;
      if (link) (el.querySelector(".msg-main") || el).insertAdjacentHTML("beforeend", link);
      el.dataset.ts = item.ts;
      el.dataset.channel = item.channel;
      el.classList.toggle("streaming", !!item.streaming);
      fillTimes(el);
    }
    return el;
  }

  function paint(pane, list, inChannel) {
    const stick = pane.stick;
    const wanted = [];
    const keys = new Set();
    for (const [index, item] of list.entries()) {
      keys.add(item.key);
      wanted.push(elementFor(pane, item, inChannel));
      if (!inChannel && index === 0 && list.length > 1) {
        if (!pane.divider) { pane.divider = document.createElement("div"); pane.divider.className = "reply-divider"; }
        const replies = list.filter((other, n) => n > 0 && !other.ephemeral).length;
        pane.divider.textContent = replies === 1 ? "1 reply" : `${replies} replies`;
        wanted.push(pane.divider);
      }
    }
    for (const [key, el] of pane.els) {
      if (!keys.has(key)) { el.remove(); pane.els.delete(key); }
    }
    for (const child of [...pane.box.children]) {
      if (!wanted.includes(child)) child.remove();
    }
    wanted.forEach((el, i) => {
      const at = pane.box.children[i];
      if (at !== el) pane.box.insertBefore(el, at || null);
    });
    if (stick) pane.box.scrollTop = pane.box.scrollHeight;
  }

  function emptyState() {
    const box = panes.main.box;
    if (box.querySelector(".empty")) return;
    const ch = config.channels[view.channel];
    const prefix = ch.im ? "" : "@gemini ";
    const where = ch.im ? "your direct messages with <b>gemini</b>" : `<b>#${ch.name}</b>`;
    const div = document.createElement("div");
    div.className = "empty";
    div.innerHTML = `<p>This is the very beginning of ${where}. ` +
      (ch.im ? "Ask anything; no mention needed." : "Mention <b>@gemini</b> to ask it something.") +
      "</p><div class=\"blk actions\">" + SUGGESTIONS.map((s) =>
        `<button type="button" class="btn" data-suggest="${prefix}${s}">${prefix}${s}</button>`).join("") +
      "</div>";
    box.appendChild(div);
  }

  function render(navigated) {
    const ch = config.channels[view.channel];
    $("channel-title").textContent = ch.im ? "gemini" : "# " + ch.name;
    $("channel-sub").textContent = ch.im ? "Direct message with the bot" :
      "Mention @gemini to ask; replies in its threads continue the conversation";
    const main = $("composer-main").querySelector("textarea");
    main.placeholder = ch.im ? "Message gemini" : `Message #${ch.name} — mention @gemini to ask`;
    for (const a of document.querySelectorAll(".nav-item")) {
      a.classList.toggle("active", a.dataset.channel === view.channel);
      if (a.dataset.channel === view.channel) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    if (navigated) {
      for (const pane of Object.values(panes)) { pane.box.innerHTML = ""; pane.els.clear(); }
    }
    const list = channelItems();
    paint(panes.main, list, true);
    if (!list.length) emptyState();
    const thread = $("thread");
    thread.hidden = !view.thread;
    if (view.thread) {
      $("thread-sub").textContent = ch.im ? "gemini" : "#" + ch.name;
      paint(panes.thread, threadItems(), false);
      const status = items.get(`status/${view.channel}/${view.thread}`);
      $("thread-status").textContent = status ? status.text : "";
    }
    writeHash();
  }

  function fillTimes(root) {
    for (const t of root.querySelectorAll("time[data-ts]")) {
      const d = new Date(parseFloat(t.dataset.ts) * 1000);
      t.textContent = d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
      t.dateTime = d.toISOString();
    }
  }

  function openThread(ts, focus) {
    view.thread = ts;
    panes.thread.box.innerHTML = "";
    panes.thread.els.clear();
    panes.thread.stick = true;
    render(false);
    panes.thread.box.scrollTop = panes.thread.box.scrollHeight;
    if (focus) $("composer-thread").querySelector("textarea").focus();
  }

  // -- posting ------------------------------------------------------------------------------
  async function postJSON(url, body) {
    const resp = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const data = await resp.json().catch(() => ({ ok: false, error: `HTTP ${resp.status}` }));
    if (!data.ok) throw new Error(data.error || `HTTP ${resp.status}`);
    return data;
  }

  function showError(form, text) {
    let el = form.querySelector(".error");
    if (!text) { if (el) el.remove(); return; }
    if (!el) { el = document.createElement("div"); el.className = "error"; el.setAttribute("role", "alert"); form.appendChild(el); }
    el.textContent = text;
  }

  function setupComposer(form, inThread) {
    const area = form.querySelector("textarea");
    const input = form.querySelector("input[type=file]");
    const chips = form.querySelector(".chips");
    form._files = [];
    const grow = () => { area.style.height = "auto"; area.style.height = Math.min(area.scrollHeight, 200) + "px"; };
    area.addEventListener("input", grow);
    area.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
    });
    input.addEventListener("change", () => { attach(form, [...input.files]); input.value = ""; });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = area.value;
      const files = form._files.filter((f) => f.id).map((f) => f.id);
      if (form._files.some((f) => !f.id)) { showError(form, "Wait for the upload to finish."); return; }
      if (!text.trim() && !files.length) return;
      const body = { channel: view.channel, text, files, thread_ts: inThread ? view.thread : null };
      try {
        const data = await postJSON("/api/messages", body);
        area.value = ""; grow(); form._files = []; chips.innerHTML = ""; showError(form, "");
        const ch = config.channels[view.channel];
        if (!inThread && data.ts && (ch.im || /@gemini\b/i.test(text))) openThread(data.ts, false);
      } catch (err) {
        showError(form, err.message);
      }
    });
    form._chips = chips;
  }

  function attach(form, files) {
    for (const file of files) {
      const entry = { name: file.name, id: null };
      form._files.push(entry);
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.innerHTML = `<span>📄</span><span class="chip-name"></span><button type="button" aria-label="Remove attachment">×</button>`;
      chip.querySelector(".chip-name").textContent = file.name + " (uploading…)";
      chip.querySelector("button").onclick = () => {
        form._files = form._files.filter((f) => f !== entry); chip.remove();
      };
      form._chips.appendChild(chip);
      const data = new FormData();
      data.append("file", file, file.name);
      fetch("/api/files", { method: "POST", body: data })
        .then((r) => r.json().catch(() => ({
          ok: false, error: r.status === 413 ? "it is larger than 100 MB" : `HTTP ${r.status}`,
        })))
        .then((res) => {
          if (!res.ok) throw new Error(res.error);
          entry.id = res.file.id;
          chip.querySelector(".chip-name").textContent = file.name;
          chip.dataset.fileId = res.file.id;
        })
        .catch((err) => {
          form._files = form._files.filter((f) => f !== entry); chip.remove();
          showError(form, `Could not attach ${file.name}: ${err.message}`);
        });
    }
    form.querySelector("textarea").focus();
  }

  // -- clicks -------------------------------------------------------------------------------
  document.addEventListener("click", async (e) => {
    const suggest = e.target.closest("[data-suggest]");
    if (suggest) {
      const area = $("composer-main").querySelector("textarea");
      area.value = suggest.dataset.suggest; area.focus();
      return;
    }
    const opener = e.target.closest("[data-open-thread]");
    if (opener) { openThread(opener.dataset.openThread, true); return; }
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    const msg = button.closest(".msg");
    const action = JSON.parse(button.dataset.action);
    button.disabled = true;
    try {
      await postJSON("/api/actions", { channel: msg.dataset.channel, ts: msg.dataset.ts, action });
      if (action.type === "feedback_buttons") button.classList.add("pressed");
    } catch (err) {
      alert(err.message);
    } finally {
      setTimeout(() => { button.disabled = false; }, 800);
    }
  });
  $("thread-close").addEventListener("click", () => { view.thread = null; render(false); });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && view.thread) { view.thread = null; render(false); }
  });
  for (const a of document.querySelectorAll(".nav-item")) {
    a.addEventListener("click", (e) => {
      e.preventDefault();
      view.channel = a.dataset.channel; view.thread = null;
      render(true);
      $("composer-main").querySelector("textarea").focus();
    });
  }

  // -- drag and drop ------------------------------------------------------------------------
  let dragDepth = 0;
  window.addEventListener("dragenter", (e) => { if (e.dataTransfer.types.includes("Files")) { dragDepth++; $("drop-hint").hidden = false; } });
  window.addEventListener("dragleave", () => { dragDepth = Math.max(0, dragDepth - 1); if (!dragDepth) $("drop-hint").hidden = true; });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => {
    e.preventDefault(); dragDepth = 0; $("drop-hint").hidden = true;
    const files = [...(e.dataTransfer.files || [])];
    if (!files.length) return;
    const inThread = view.thread && e.target.closest && e.target.closest("#thread");
    attach($(inThread ? "composer-thread" : "composer-main"), files);
  });

  for (const pane of Object.values(panes)) {
    // Follow new messages while the reader is at the bottom, also when images finish loading.
    pane.stick = true;
    pane.box.addEventListener("scroll", () => { pane.stick = nearBottom(pane.box); });
    pane.box.addEventListener("load", () => {
      if (pane.stick) pane.box.scrollTop = pane.box.scrollHeight;
    }, true);
  }
  setupComposer($("composer-main"), false);
  setupComposer($("composer-thread"), true);
  readHash();
  render(true);
  connect();
  $("composer-main").querySelector("textarea").focus();
})();
