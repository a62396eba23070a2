// Sandbox chat page: draws the sandbox user's chat from /sandbox/api/state (long polling) and turns input into
// the same user actions the tests use. Message HTML arrives sanitised by the server; everything else is set as
// text. No framework, no build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const messagesEl = $("messages");
  const input = $("composer-input");
  const fileInput = $("file-input");
  const asDocument = $("as-document");
  const state = {
    since: 0,
    nodes: new Map(),         // message id -> element
    albums: new Map(),        // media_group_id -> album grid element
    seenAnswers: new Set(),   // callback ids already shown
    pending: new Map(),       // callback id -> {button, timer}
    commands: [],
    actionTimer: null,
    replyKeyboard: null,
  };
  const language = () => (navigator.language || "en");

  // ---- talking to the emulator -------------------------------------------------------------------
  async function post(path, body) {
    const isForm = body instanceof FormData;
    const response = await fetch(path, {
      method: "POST",
      // X-Sandbox: the API refuses calls without it, so other web pages cannot act as the sandbox user
      headers: isForm ? { "X-Sandbox": "1" } : { "Content-Type": "application/json", "X-Sandbox": "1" },
      body: isForm ? body : JSON.stringify({ ...body, language: language() }),
    });
    const data = await response.json().catch(() => ({ ok: false, error: response.statusText }));
    if (!response.ok || !data.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  async function pollForever() {
    for (;;) {
      try {
        const wait = state.since ? 20 : 0;
        const response = await fetch(`/sandbox/api/state?since=${state.since}&wait=${wait}`, {
          cache: "no-store", headers: { "X-Sandbox": "1" },
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        apply(await response.json());
        setConnection("ok");
      } catch (err) {
        setConnection("down");
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  function setConnection(kind) {
    const el = $("connection");
    el.className = `connection ${kind}`;
    el.dataset.state = kind;
  }

  // ---- applying a state delta --------------------------------------------------------------------
  function apply(delta) {
    if (delta.full) {
      state.nodes.clear();
      state.albums.clear();
      messagesEl.querySelectorAll(".msg").forEach((node) => node.remove());
    }
    $("bot-name").textContent = delta.bot.name;
    $("bot-avatar").textContent = (delta.bot.name || "B").trim().charAt(0).toUpperCase();
    document.title = `${delta.bot.name} — sandbox`;
    const nearBottom = messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 120;
    let appended = false;
    for (const message of delta.messages) appended = renderMessage(message) || appended;
    $("empty").hidden = state.nodes.size > 0;
    for (const answer of delta.answers) showAnswer(answer);
    showAction(delta.action);
    renderCommands(delta.commands || []);
    renderReplyKeyboard(delta.reply_keyboard);
    renderNotice(delta.notice);
    state.since = delta.seq;
    if (appended || nearBottom) scrollToBottom();
  }

  function scrollToBottom() {
    messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  // ---- messages -----------------------------------------------------------------------------------
  function el(tag, className, attrs = {}) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    return node;
  }

  function timeOf(epoch) {
    const d = new Date(epoch * 1000);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function humanSize(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  // Returns true when a new element was appended.
  // The host (e.g. `python main.py --sandbox`) can pin a line above the chat: missing weights and how to fetch them.
  function renderNotice(text) {
    const el = $("notice");
    el.textContent = text || "";
    el.hidden = !text;
  }

  function renderMessage(message) {
    const existing = state.nodes.get(message.id);
    if (message.deleted) {
      if (existing) removeMessageNode(existing, message);
      state.nodes.delete(message.id);
      return false;
    }
    const fresh = buildMessage(message);
    if (existing) {
      existing.replaceWith(fresh);
    } else if (message.media_group_id && message.photo) {
      albumFor(message).appendChild(fresh);
    } else {
      messagesEl.appendChild(fresh);
    }
    state.nodes.set(message.id, fresh);
    return !existing;
  }

  function removeMessageNode(node, message) {
    const album = node.closest(".msg.album-wrapper");
    node.remove();
    if (album && !album.querySelector(".album-item")) {
      album.remove();
      state.albums.delete(message.media_group_id);
    }
  }

  function albumFor(message) {
    let grid = state.albums.get(message.media_group_id);
    if (!grid) {
      const wrapper = el("div", `msg album-wrapper ${message.outgoing ? "bot" : "user"}`, {
        "data-testid": "album", "data-media-group-id": message.media_group_id,
      });
      const bubble = el("div", "bubble media");
      grid = el("div", "album");
      bubble.appendChild(grid);
      wrapper.appendChild(bubble);
      messagesEl.appendChild(wrapper);
      state.albums.set(message.media_group_id, grid);
    }
    return grid;
  }

  function buildMessage(message) {
    const inAlbum = message.media_group_id && message.photo;
    const root = el(inAlbum ? "figure" : "div", inAlbum ? "album-item" : `msg ${message.outgoing ? "bot" : "user"}`, {
      "data-testid": "message",
      "data-message-id": String(message.id),
      "data-outgoing": String(message.outgoing),
      "data-kind": message.kind,
    });
    const bubble = inAlbum ? root : el("div", "bubble");
    if (!inAlbum) root.appendChild(bubble);
    const hasMedia = message.photo || message.sticker;
    if (hasMedia && !inAlbum) bubble.classList.add("media");

    if (message.reply_to) {
      const quote = el("div", "reply-quote", { "data-testid": "reply-quote" });
      quote.textContent = message.reply_to.text || `[${message.reply_to.kind}]`;
      bubble.appendChild(quote);
    }
    if (message.photo) {
      const img = el("img", "photo", {
        "data-testid": "message-photo", src: message.photo.url, alt: "photo",
        width: String(message.photo.width), height: String(message.photo.height),
        "data-width": String(message.photo.width), "data-height": String(message.photo.height),
      });
      img.addEventListener("load", () => { if (messagesEl.scrollHeight - messagesEl.scrollTop < messagesEl.clientHeight + 600) scrollToBottom(); });
      img.addEventListener("click", () => openLightbox(message.photo.url));
      bubble.appendChild(img);
    }
    if (message.sticker) {
      bubble.appendChild(el("img", "sticker", { "data-testid": "message-sticker", src: message.sticker.url,
                                                alt: message.sticker.emoji }));
    }
    if (message.document) {
      const link = el("a", "document", { "data-testid": "message-document", href: message.document.url,
                                         download: message.document.name });
      const icon = el("span", "file-icon");
      icon.innerHTML = '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><path d="M7 3h7l5 5v13H7z' +
        'M14 3v5h5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/></svg>';
      const info = el("span", "file-info");
      const name = el("div", "file-name");
      name.textContent = message.document.name;
      const size = el("div", "file-size");
      size.textContent = `${humanSize(message.document.size)} · ${message.document.mime}`;
      info.append(name, size);
      link.append(icon, info);
      bubble.appendChild(link);
    }
    if (message.video) {
      const chip = el("div", "video-chip", { "data-testid": "message-video" });
      const icon = el("span", "file-icon");
      icon.textContent = "\u25B6";
      const size = el("span", "file-size");
      size.textContent = `${message.video.name} · ${humanSize(message.video.size)}`;
      chip.append(icon, size);
      bubble.appendChild(chip);
    }
    if (message.html) {
      const text = el("div", "text", { "data-testid": "message-text" });
      text.innerHTML = message.html;   // sanitised server-side (botapi.formatting.safe_html)
      text.querySelectorAll(".spoiler").forEach((s) => s.addEventListener("click", () => s.classList.add("shown")));
      bubble.appendChild(text);
    }
    const meta = el("div", "meta");
    if (message.edited) {
      const edited = el("span", "edited", { "data-testid": "message-edited" });
      edited.textContent = "edited";
      meta.appendChild(edited);
    }
    meta.appendChild(document.createTextNode(timeOf(message.date)));
    bubble.appendChild(meta);
    if (message.buttons && message.buttons.length) root.appendChild(buildKeyboard(message));
    return root;
  }

  function buildKeyboard(message) {
    const keyboard = el("div", "keyboard", { "data-testid": "inline-keyboard" });
    for (const row of message.buttons) {
      const rowEl = el("div", "row");
      for (const button of row) {
        const b = el("button", "inline-button", { type: "button", "data-testid": "inline-button" });
        b.textContent = button.text;
        b.title = button.text;
        if (button.callback_data !== undefined) {
          b.dataset.callbackData = button.callback_data;
          b.addEventListener("click", () => press(message.id, button.callback_data, b));
        } else if (button.url) {
          b.classList.add("url");
          b.dataset.url = button.url;
          b.addEventListener("click", () => window.open(button.url, "_blank", "noopener"));
        } else {
          b.disabled = true;
          b.title = "This button type is not emulated";
        }
        rowEl.appendChild(b);
      }
      keyboard.appendChild(rowEl);
    }
    return keyboard;
  }

  // ---- actions ------------------------------------------------------------------------------------
  async function press(messageId, data, button) {
    button.classList.add("loading");
    try {
      const result = await post("/sandbox/api/press", { message_id: messageId, callback_data: data });
      const timer = setTimeout(() => {
        button.classList.remove("loading");
        button.classList.add("unanswered");
        toast("The bot did not answer this button press (answerCallbackQuery). Telegram would keep a spinner.",
              true);
      }, 10000);
      state.pending.set(result.callback_id, { button, timer });
    } catch (err) {
      button.classList.remove("loading");
      toast(err.message, true);
    }
  }

  async function sendText(text) {
    text = text.trim();
    if (!text) return;
    try {
      await post("/sandbox/api/send_text", { text });
    } catch (err) {
      toast(err.message, true);
    }
  }

  async function sendFiles(files) {
    if (!files.length) return;
    const form = new FormData();
    for (const file of files) form.append("file", file, file.name);
    form.append("caption", input.value);
    form.append("as_document", asDocument.checked ? "1" : "0");
    form.append("language", language());
    input.value = "";
    try {
      await post("/sandbox/api/send_files", form);
    } catch (err) {
      toast(err.message, true);
    }
  }

  // ---- answers, toasts, status --------------------------------------------------------------------
  let toastTimer = null;
  function toast(text, isError = false) {
    const node = $("toast");
    node.textContent = text;
    node.classList.toggle("error", isError);
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.hidden = true; }, isError ? 5000 : 2500);
  }

  function showAnswer(answer) {
    if (state.seenAnswers.has(answer.id)) return;
    state.seenAnswers.add(answer.id);
    const pending = state.pending.get(answer.id);
    if (pending) {
      clearTimeout(pending.timer);
      pending.button.classList.remove("loading");
      state.pending.delete(answer.id);
    }
    const text = answer.text || (answer.url ? `Open: ${answer.url}` : "");
    if (!text) return;
    if (answer.show_alert) {
      $("alert-text").textContent = text;
      $("alert").hidden = false;
    } else {
      toast(text);
    }
  }

  const ACTIONS = {
    typing: "typing…", upload_photo: "sending a photo…", upload_document: "sending a file…",
    upload_video: "sending a video…", record_video: "recording a video…", choose_sticker: "choosing a sticker…",
  };
  function showAction(action) {
    const status = $("bot-status");
    clearTimeout(state.actionTimer);
    if (action) {
      status.textContent = ACTIONS[action] || `${action.replace(/_/g, " ")}…`;
      status.classList.add("active");
      status.dataset.action = action;
      state.actionTimer = setTimeout(() => showAction(null), 5000);
    } else {
      status.textContent = "bot";
      status.classList.remove("active");
      delete status.dataset.action;
    }
  }

  function renderCommands(commands) {
    state.commands = commands;
    $("commands-button").hidden = commands.length === 0;
    const menu = $("commands-menu");
    menu.replaceChildren();
    for (const command of commands) {
      const item = el("button", "command-item", { type: "button", "data-testid": "command-item",
                                                  "data-command": command.command });
      const name = el("span", "command");
      name.textContent = `/${command.command}`;
      const description = el("span", "description");
      description.textContent = command.description;
      item.append(name, description);
      item.addEventListener("click", () => {
        menu.hidden = true;
        sendText(`/${command.command}`);
      });
      menu.appendChild(item);
    }
    if (!commands.length) menu.hidden = true;
  }

  function renderReplyKeyboard(markup) {
    const container = $("reply-keyboard");
    const key = JSON.stringify(markup);
    if (key === state.replyKeyboard) return;
    state.replyKeyboard = key;
    container.replaceChildren();
    if (!markup || !markup.keyboard) {
      container.hidden = true;
      return;
    }
    for (const row of markup.keyboard) {
      const rowEl = el("div", "row");
      for (const button of row) {
        const b = el("button", "reply-button", { type: "button", "data-testid": "reply-keyboard-button" });
        b.textContent = button.text;
        b.addEventListener("click", () => {
          if (markup.one_time_keyboard) container.hidden = true;
          sendText(button.text);
        });
        rowEl.appendChild(b);
      }
      container.appendChild(rowEl);
    }
    if (markup.input_field_placeholder) input.placeholder = markup.input_field_placeholder;
    container.hidden = false;
  }

  function openLightbox(url) {
    $("lightbox-image").src = url;
    $("lightbox").hidden = false;
  }

  // ---- wiring -------------------------------------------------------------------------------------
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    sendText(text);
  });
  $("start-button").addEventListener("click", () => sendText("/start"));
  $("commands-button").addEventListener("click", () => { $("commands-menu").hidden = !$("commands-menu").hidden; });
  fileInput.addEventListener("change", () => {
    const files = Array.from(fileInput.files || []);
    fileInput.value = "";
    sendFiles(files);
  });
  $("alert-ok").addEventListener("click", () => { $("alert").hidden = true; });
  $("lightbox").addEventListener("click", () => { $("lightbox").hidden = true; });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      $("lightbox").hidden = true;
      $("alert").hidden = true;
      $("commands-menu").hidden = true;
    }
  });
  const app = $("app");
  app.addEventListener("dragover", (event) => { event.preventDefault(); app.classList.add("dragging"); });
  app.addEventListener("dragleave", (event) => { if (event.target === app) app.classList.remove("dragging"); });
  app.addEventListener("drop", (event) => {
    event.preventDefault();
    app.classList.remove("dragging");
    sendFiles(Array.from(event.dataTransfer.files || []));
  });

  pollForever();
  input.focus();
})();
