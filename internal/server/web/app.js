// Duplex web client, served at / by `duplex serve`: a chat room on /ws/chat that speaks
// docs/chat-protocol.md, and an echo tester on /ws/echo. Plain browser WebSocket API, no
// build step, no dependencies, nothing fetched from outside the server.
//
// Stable hooks, for people and for internal/server/browser_test.go (ids unless noted):
//
//   Tabs        #chat-tab, #echo-tab (role=tab, aria-selected) → #chat-panel, #echo-panel;
//               the page opens on the echo tester when the URL fragment is #echo.
//   Join        #join-form, #name (nickname), #room (defaults to "lobby"), #join, #leave,
//               #join-error (why the last join was refused). ?name= and ?room= prefill.
//   State       #status with data-state = idle | connecting | connected | reconnecting |
//               disconnected, and its text in #status-text ("Connected", "Reconnecting in
//               3 s", "Disconnected: 1008 policy violation — slow consumer"); #retry-now.
//   Room        #room-name, #room-sub ("You are ada · 2 online" once joined).
//   Messages    #messages holds one <li> per entry, with data-testid:
//                 "message"  data-from=NAME, class "own" for our own; .from, .text, <time>
//                 "notice"   joins, leaves, connection events
//                 "error"    an error sent by the server
//   Members     #members holds <li data-testid="member" data-name=NAME>; #member-count.
//   Composer    #send-form, #text (textarea, Enter sends, Shift+Enter new line, at most
//               2000 characters), #send, #char-count.
//   Echo        #echo-status (data-state as above), #echo-status-text, #echo-connect,
//               #echo-form, #echo-text, #echo-binary, #echo-send, #echo-sent,
//               #echo-received, #echo-rtt (last round trip, "0.4 ms"), #echo-avg,
//               #echo-clear, #echo-log with <li data-testid="echo-reply">.
"use strict";

(() => {
  const SUBPROTOCOL = "duplex.chat.v1";
  const MAX_TEXT = 2000; // characters (code points), as the server counts them
  const RETRY_BASE_MS = 500;
  const RETRY_CAP_MS = 10000;
  const NAME_RE = /^[\p{L}\p{M}\p{N} _.-]{1,32}$/u;
  const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;

  const $ = (id) => document.getElementById(id);

  // wsURL returns the WebSocket URL of path on this page's server: ws: for http:, wss: for
  // https:, so the page works behind TLS without configuration.
  function wsURL(path, params) {
    const u = new URL(path, location.href);
    u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
    return u.href;
  }

  // Close codes of RFC 6455 §7.4.1 that a person may meet here, in words.
  const CLOSE_NAMES = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1006: "connection lost",
    1007: "invalid data",
    1008: "policy violation",
    1009: "message too big",
    1011: "server error",
    1012: "service restart",
    1013: "try again later",
  };

  function describeClose(code, reason) {
    let s = String(code);
    if (CLOSE_NAMES[code]) s += " " + CLOSE_NAMES[code];
    if (reason) s += " — " + reason;
    return s;
  }

  function setStatus(el, textEl, state, text) {
    el.dataset.state = state;
    textEl.textContent = text;
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
  const fullTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

  function timeEl(ts) {
    const d = new Date(typeof ts === "number" ? ts : Date.now());
    const t = document.createElement("time");
    t.dateTime = d.toISOString();
    t.textContent = timeFormat.format(d);
    t.title = fullTimeFormat.format(d);
    return t;
  }

  // hue picks a stable color for a name, so that a member keeps theirs everywhere.
  function hue(name) {
    let h = 0;
    for (const c of name) h = (h * 31 + c.codePointAt(0)) >>> 0;
    return h % 360;
  }

  function avatar(name) {
    const a = document.createElement("span");
    a.className = "avatar";
    a.style.setProperty("--hue", hue(name));
    a.textContent = [...name.trim()][0]?.toUpperCase() || "?";
    a.setAttribute("aria-hidden", "true");
    return a;
  }

  // ---- tabs ----------------------------------------------------------------------------

  const tabs = [$("chat-tab"), $("echo-tab")];

  function selectTab(tab, focus) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
    if (tab.id === "echo-tab") {
      history.replaceState(null, "", "#echo");
      echo.open();
    } else {
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  for (const t of tabs) {
    t.addEventListener("click", () => selectTab(t, false));
    t.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(t);
      let next = null;
      if (e.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      else if (e.key === "ArrowLeft") next = tabs[(i + tabs.length - 1) % tabs.length];
      else if (e.key === "Home") next = tabs[0];
      else if (e.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        e.preventDefault();
        selectTab(next, true);
      }
    });
  }

  // ---- chat ----------------------------------------------------------------------------

  const chat = {
    socket: null,
    gen: 0, // incremented on every join and leave; stale callbacks compare it
    wanted: false, // the user asked to be in the room and has not left
    name: "",
    room: "",
    session: "", // "room\x00name" of the last successful welcome
    welcomed: false, // the current socket received its welcome
    attempt: 0, // failed attempts since the last welcome
    retryTimer: 0,
    tickTimer: 0,
    retryAt: 0,
    lastFrom: "",
    lastTs: 0,
    unread: 0,
  };

  const ui = {
    form: $("join-form"),
    name: $("name"),
    room: $("room"),
    join: $("join"),
    leave: $("leave"),
    joinError: $("join-error"),
    status: $("status"),
    statusText: $("status-text"),
    retryNow: $("retry-now"),
    roomName: $("room-name"),
    roomSub: $("room-sub"),
    messages: $("messages"),
    empty: $("empty"),
    members: $("members"),
    membersEmpty: $("members-empty"),
    memberCount: $("member-count"),
    sendForm: $("send-form"),
    text: $("text"),
    send: $("send"),
    charCount: $("char-count"),
  };

  function chatStatus(state, text) {
    setStatus(ui.status, ui.statusText, state, text);
    ui.retryNow.hidden = state !== "reconnecting";
  }

  function setJoined(inRoom) {
    ui.name.disabled = ui.room.disabled = inRoom;
    ui.join.hidden = inRoom;
    ui.leave.hidden = !inRoom;
    ui.form.classList.toggle("joined", inRoom);
  }

  function setComposer(enabled) {
    ui.text.disabled = !enabled;
    ui.send.disabled = !enabled;
    ui.text.placeholder = enabled
      ? "Message #" + chat.room
      : chat.wanted ? "Waiting for the connection…" : "Join a room to chat";
  }

  function showJoinError(msg) {
    ui.joinError.textContent = msg;
    ui.joinError.hidden = !msg;
    ui.name.setAttribute("aria-invalid", msg ? "true" : "false");
  }

  function append(li) {
    const log = ui.messages;
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 40;
    log.append(li);
    ui.empty.hidden = true;
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function addNotice(text, ts, kind) {
    const li = document.createElement("li");
    li.className = "notice" + (kind ? " " + kind : "");
    li.dataset.testid = "notice";
    const span = document.createElement("span");
    span.className = "notice-text";
    span.textContent = text;
    li.append(span, timeEl(ts));
    append(li);
    chat.lastFrom = "";
  }

  function addError(text, ts) {
    const li = document.createElement("li");
    li.className = "server-error";
    li.dataset.testid = "error";
    li.setAttribute("role", "alert");
    const span = document.createElement("span");
    span.className = "notice-text";
    span.textContent = text;
    li.append(span, timeEl(ts));
    append(li);
    chat.lastFrom = "";
  }

  function addMessage(from, text, ts) {
    const own = from === chat.name;
    const li = document.createElement("li");
    li.className = "msg" + (own ? " own" : "");
    li.dataset.testid = "message";
    li.dataset.from = from;
    // Consecutive messages of one member within two minutes form a group: the name and
    // avatar are shown once.
    const grouped = chat.lastFrom === from && ts - chat.lastTs < 120000;
    if (grouped) li.classList.add("cont");
    chat.lastFrom = from;
    chat.lastTs = ts;

    if (!own) li.append(avatar(from));
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    const meta = document.createElement("div");
    meta.className = "meta";
    const who = document.createElement("span");
    who.className = "from";
    who.textContent = own ? "You" : from;
    meta.append(who, timeEl(ts));
    const body = document.createElement("p");
    body.className = "text";
    body.textContent = text; // textContent: nothing a member sends can inject markup
    bubble.append(meta, body);
    li.append(bubble);
    append(li);

    if (document.hidden && !own) {
      chat.unread++;
      document.title = "(" + chat.unread + ") Duplex";
    }
  }

  function setMembers(list) {
    const names = Array.isArray(list) ? list : [];
    ui.members.replaceChildren(
      ...names.map((n) => {
        const li = document.createElement("li");
        li.dataset.testid = "member";
        li.dataset.name = n;
        const label = document.createElement("span");
        label.className = "member-name";
        label.textContent = n;
        li.append(avatar(n), label);
        if (n === chat.name) {
          const you = document.createElement("span");
          you.className = "you";
          you.textContent = "you";
          li.append(you);
        }
        return li;
      }),
    );
    ui.memberCount.textContent = String(names.length);
    ui.membersEmpty.hidden = names.length > 0;
    if (chat.welcomed) ui.roomSub.textContent = "You are " + chat.name + " · " + names.length + " online";
  }

  function clearRetry() {
    clearTimeout(chat.retryTimer);
    clearInterval(chat.tickTimer);
    chat.retryTimer = chat.tickTimer = 0;
  }

  function join() {
    const name = ui.name.value.trim();
    const room = ui.room.value.trim() || "lobby";
    ui.name.value = name;
    ui.room.value = room;
    if (!name) return refuse("Choose a nickname first.");
    if (!NAME_RE.test(name) || !name.replace(/ /g, ""))
      return refuse("A nickname has 1 to 32 letters, digits, spaces, or _ - . characters.");
    if (!ROOM_RE.test(room))
      return refuse("A room name has 1 to 64 letters, digits, or _ - . characters.");
    showJoinError("");
    try {
      localStorage.setItem("duplex.name", name);
      localStorage.setItem("duplex.room", room);
    } catch {
      // Storage may be disabled; remembering the fields is only a convenience.
    }

    const session = room + "\x00" + name;
    if (session !== chat.session) {
      ui.messages.replaceChildren();
      ui.empty.hidden = false;
      chat.lastFrom = "";
    }
    chat.gen++;
    chat.wanted = true;
    chat.name = name;
    chat.room = room;
    chat.attempt = 0;
    ui.roomName.textContent = room;
    ui.roomSub.textContent = "Joining as " + name + "…";
    setJoined(true);
    setComposer(false);
    connect();
  }

  function refuse(msg) {
    showJoinError(msg);
    ui.name.focus();
  }

  function leave() {
    chat.gen++;
    chat.wanted = false;
    clearRetry();
    const s = chat.socket;
    chat.socket = null;
    if (s) {
      s.close(1000, "leave");
      if (chat.welcomed) addNotice("You left #" + chat.room + ".", Date.now());
    }
    chat.welcomed = false;
    setJoined(false);
    setComposer(false);
    setMembers([]);
    ui.roomSub.textContent = "Not joined";
    chatStatus("idle", "Not connected");
    ui.join.focus();
  }

  function connect() {
    clearRetry();
    const gen = chat.gen;
    chatStatus("connecting", chat.attempt ? "Reconnecting…" : "Connecting…");
    let sock;
    try {
      sock = new WebSocket(wsURL("/ws/chat", { room: chat.room, name: chat.name }), [SUBPROTOCOL]);
    } catch (err) {
      stop("Cannot connect: " + err.message);
      return;
    }
    chat.socket = sock;
    chat.welcomed = false;
    let opened = false;
    sock.onopen = () => {
      opened = true;
    };
    sock.onmessage = (e) => {
      if (sock === chat.socket) receive(e.data);
    };
    sock.onerror = () => {
      // The API gives no detail here by design; onclose follows with the code.
    };
    sock.onclose = (e) => {
      if (sock !== chat.socket || gen !== chat.gen) return;
      chat.socket = null;
      closed(e, opened, gen);
    };
  }

  function receive(data) {
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    if (!m || typeof m !== "object") return;
    const ts = typeof m.ts === "number" ? m.ts : Date.now();
    switch (m.type) {
      case "welcome": {
        const again = chat.session === m.room + "\x00" + m.name;
        chat.name = m.name;
        chat.room = m.room;
        chat.session = m.room + "\x00" + m.name;
        chat.welcomed = true;
        chat.attempt = 0;
        showJoinError("");
        ui.roomName.textContent = m.room;
        setMembers(m.members);
        chatStatus("connected", "Connected");
        ui.status.title = "";
        setComposer(true);
        addNotice(again ? "Reconnected to #" + m.room + "." : "You joined #" + m.room + " as " + m.name + ".", ts, "self");
        if (document.activeElement === document.body || document.activeElement === ui.leave) ui.text.focus();
        break;
      }
      case "message":
        if (typeof m.from === "string" && typeof m.text === "string") addMessage(m.from, m.text, ts);
        break;
      case "join":
        setMembers(m.members);
        if (m.name !== chat.name) addNotice(m.name + " joined.", ts);
        break;
      case "leave":
        setMembers(m.members);
        if (m.name !== chat.name) addNotice(m.name + " left.", ts);
        break;
      case "error":
        addError(String(m.error || "The server refused that."), ts);
        break;
    }
  }

  // closed decides what follows the end of a connection the user did not end.
  function closed(e, opened, gen) {
    const wasWelcomed = chat.welcomed;
    chat.welcomed = false;
    setComposer(false);
    if (e.code === 1008) {
      // A policy violation (rate limit, slow consumer, too many invalid messages): trying
      // again at once would only repeat it.
      stop("Disconnected: " + describeClose(e.code, e.reason));
      return;
    }
    if (!opened) {
      // The handshake failed. The browser hides the HTTP status, so ask the server why.
      probe(gen);
      return;
    }
    if (wasWelcomed) addNotice("Connection closed (" + describeClose(e.code, e.reason) + ").", Date.now(), "warn");
    retry(describeClose(e.code, e.reason));
  }

  // probe repeats the refused request as plain HTTP: the server checks the room and name
  // before the upgrade and answers 400 or 409 with the reason; 426 (upgrade required) means
  // they were fine and the failure was transient.
  async function probe(gen) {
    let res = null;
    let reason = "";
    try {
      res = await fetch(new URL("/ws/chat?" + new URLSearchParams({ room: chat.room, name: chat.name }), location.href), { cache: "no-store" });
      // "chat: the name "ada" is taken in room "lobby"" → "The name "ada" is taken …"
      reason = (await res.text()).trim().replace(/^chat: /, "");
      reason = reason.charAt(0).toUpperCase() + reason.slice(1);
    } catch {
      // Unreachable: the server is down or restarting.
    }
    if (gen !== chat.gen || !chat.wanted) return;
    if (res && res.status === 409 && chat.session === chat.room + "\x00" + chat.name) {
      // Our previous connection may still hold the name until the server notices it is gone.
      retry("name still held by the previous connection");
      return;
    }
    if (res && res.status >= 400 && res.status < 500 && ![408, 426, 429].includes(res.status)) {
      stop("Refused: " + (reason || "HTTP " + res.status), reason || "The server refused to join (HTTP " + res.status + ").");
      return;
    }
    retry(res ? "HTTP " + res.status : "server unreachable");
  }

  // stop ends the session for good after an error, keeping the log on screen.
  function stop(status, joinError) {
    chat.gen++;
    chat.wanted = false;
    clearRetry();
    setJoined(false);
    setComposer(false);
    setMembers([]);
    ui.roomSub.textContent = "Not joined";
    chatStatus("disconnected", status);
    // A refused join is explained next to the form; an ended session in the log as well.
    if (joinError) showJoinError(joinError);
    else addNotice(status + ".", Date.now(), "bad");
  }

  // retry schedules the next attempt with exponential backoff and jitter: the ceiling
  // doubles from RETRY_BASE_MS up to RETRY_CAP_MS and the wait is drawn from its upper half,
  // so that many pages dropped at once by a restart do not come back in lockstep.
  function retry(why) {
    clearRetry();
    const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** chat.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    chat.attempt++;
    chat.retryAt = Date.now() + delay;
    ui.status.title = "Last failure: " + why;
    const tick = () => {
      const s = Math.max(1, Math.ceil((chat.retryAt - Date.now()) / 1000));
      chatStatus("reconnecting", "Reconnecting in " + s + " s");
    };
    tick();
    chat.tickTimer = setInterval(tick, 250);
    chat.retryTimer = setTimeout(connect, delay);
  }

  function sendText() {
    const text = ui.text.value.trim();
    if (!text) return;
    if ([...text].length > MAX_TEXT) {
      addError("A message has at most " + MAX_TEXT + " characters.", Date.now());
      return;
    }
    const s = chat.socket;
    if (!s || s.readyState !== WebSocket.OPEN || !chat.welcomed) return;
    s.send(JSON.stringify({ type: "message", text }));
    ui.text.value = "";
    updateComposer();
    ui.text.focus();
  }

  function updateComposer() {
    const n = [...ui.text.value].length;
    ui.charCount.textContent = n > MAX_TEXT - 200 ? n + " / " + MAX_TEXT : "";
    ui.charCount.classList.toggle("over", n > MAX_TEXT);
    // Grow with the text, up to the limit in the style sheet.
    ui.text.style.height = "auto";
    ui.text.style.height = ui.text.scrollHeight + "px";
  }

  ui.form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!chat.wanted) join();
  });
  ui.leave.addEventListener("click", leave);
  ui.retryNow.addEventListener("click", () => {
    if (chat.wanted && chat.retryTimer) connect();
  });
  ui.sendForm.addEventListener("submit", (e) => {
    e.preventDefault();
    sendText();
  });
  // Enter sends and Shift+Enter adds a line. Cancelling keydown normally stops the line
  // break, but a key sent without its text (as DevTools input does) still delivers it, so
  // the line break that follows a sending Enter is cancelled too.
  let sentOnEnter = false;
  ui.text.addEventListener("keydown", (e) => {
    sentOnEnter = false;
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sentOnEnter = true;
      sendText();
    }
  });
  ui.text.addEventListener("beforeinput", (e) => {
    if (sentOnEnter && (e.inputType === "insertLineBreak" || e.inputType === "insertParagraph")) e.preventDefault();
  });
  ui.text.addEventListener("keyup", () => {
    sentOnEnter = false;
  });
  ui.text.addEventListener("input", updateComposer);
  ui.name.addEventListener("input", () => showJoinError(""));
  ui.room.addEventListener("input", () => {
    showJoinError("");
    if (!chat.wanted) ui.roomName.textContent = ui.room.value.trim() || "lobby";
  });
  window.addEventListener("online", () => {
    if (chat.wanted && chat.retryTimer) connect();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      chat.unread = 0;
      document.title = "Duplex";
    }
  });

  // ---- echo tester ---------------------------------------------------------------------

  const echo = {
    socket: null,
    pending: [], // {t0, text, binary} in send order; the echo answers in order
    queued: null, // a message typed while disconnected, sent once connected
    sent: 0,
    received: 0,
    total: 0, // sum of round trips, ms
    opened: false,
    el: {
      status: $("echo-status"),
      statusText: $("echo-status-text"),
      connect: $("echo-connect"),
      form: $("echo-form"),
      text: $("echo-text"),
      binary: $("echo-binary"),
      sent: $("echo-sent"),
      received: $("echo-received"),
      rtt: $("echo-rtt"),
      avg: $("echo-avg"),
      log: $("echo-log"),
      clear: $("echo-clear"),
    },

    // open connects the first time the tester is shown.
    open() {
      if (!this.opened) {
        this.opened = true;
        this.connect();
      }
    },

    connect() {
      if (this.socket) return;
      const el = this.el;
      setStatus(el.status, el.statusText, "connecting", "Connecting…");
      el.connect.textContent = "Disconnect";
      const s = new WebSocket(wsURL("/ws/echo"));
      s.binaryType = "arraybuffer";
      this.socket = s;
      this.pending = [];
      s.onopen = () => {
        if (s !== this.socket) return;
        setStatus(el.status, el.statusText, "connected", "Connected");
        const q = this.queued;
        this.queued = null;
        if (q) this.sendNow(q.text, q.binary);
      };
      s.onmessage = (e) => {
        if (s === this.socket) this.reply(e.data);
      };
      s.onerror = () => {};
      s.onclose = (e) => {
        if (s !== this.socket) return;
        this.socket = null;
        this.queued = null;
        el.connect.textContent = "Connect";
        const text = e.code === 1000 || e.code === 1005 ? "Disconnected" : "Disconnected: " + describeClose(e.code, e.reason);
        setStatus(el.status, el.statusText, "disconnected", text);
      };
    },

    disconnect() {
      const s = this.socket;
      this.socket = null;
      this.queued = null;
      if (s) s.close(1000, "done");
      this.el.connect.textContent = "Connect";
      setStatus(this.el.status, this.el.statusText, "idle", "Not connected");
    },

    send() {
      const text = this.el.text.value;
      if (!text) return;
      const binary = this.el.binary.checked;
      this.el.text.select();
      const s = this.socket;
      if (!s || s.readyState !== WebSocket.OPEN) {
        this.queued = { text, binary };
        this.connect();
        return;
      }
      this.sendNow(text, binary);
    },

    sendNow(text, binary) {
      this.pending.push({ t0: performance.now(), text, binary });
      this.socket.send(binary ? new TextEncoder().encode(text) : text);
      this.sent++;
      this.el.sent.textContent = String(this.sent);
    },

    reply(data) {
      const t1 = performance.now();
      const p = this.pending.shift();
      const binary = data instanceof ArrayBuffer;
      const text = binary ? new TextDecoder().decode(data) : String(data);
      this.received++;
      const el = this.el;
      el.received.textContent = String(this.received);
      const li = document.createElement("li");
      li.dataset.testid = "echo-reply";
      const body = document.createElement("span");
      body.className = "echo-text";
      body.textContent = text;
      const kind = document.createElement("span");
      kind.className = "tag";
      kind.textContent = binary ? "binary" : "text";
      li.append(kind, body);
      if (p) {
        const rtt = t1 - p.t0;
        this.total += rtt;
        el.rtt.textContent = ms(rtt);
        el.avg.textContent = ms(this.total / this.received);
        const r = document.createElement("span");
        r.className = "rtt";
        r.textContent = ms(rtt);
        li.append(r);
        if (p.text !== text || p.binary !== binary) {
          li.classList.add("mismatch");
          li.title = "The reply differs from what was sent.";
        }
      }
      el.log.prepend(li);
      while (el.log.children.length > 200) el.log.lastChild.remove();
    },

    clear() {
      this.sent = this.received = this.total = 0;
      this.el.sent.textContent = this.el.received.textContent = "0";
      this.el.rtt.textContent = this.el.avg.textContent = "–";
      this.el.log.replaceChildren();
    },
  };

  function ms(v) {
    // Browsers round performance.now() to 0.1 ms or coarser: one decimal is all there is.
    return (v < 100 ? v.toFixed(1) : Math.round(v).toString()) + " ms";
  }

  echo.el.form.addEventListener("submit", (e) => {
    e.preventDefault();
    echo.send();
  });
  echo.el.connect.addEventListener("click", () => (echo.socket ? echo.disconnect() : echo.connect()));
  echo.el.clear.addEventListener("click", () => echo.clear());

  // ---- start ---------------------------------------------------------------------------

  const params = new URLSearchParams(location.search);
  let savedName = "";
  let savedRoom = "";
  try {
    savedName = localStorage.getItem("duplex.name") || "";
    savedRoom = localStorage.getItem("duplex.room") || "";
  } catch {
    // No storage: start empty.
  }
  ui.name.value = params.get("name") || savedName;
  ui.room.value = params.get("room") || savedRoom || "lobby";
  ui.roomName.textContent = ui.room.value;
  setMembers([]);
  setComposer(false);
  updateComposer();
  if (location.hash === "#echo") selectTab($("echo-tab"), false);
  else if (!ui.name.value) ui.name.focus();
})();
