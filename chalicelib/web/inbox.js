// Inbox: conversations by status, one thread, the reply editor (quiet hours aware), resolve, opt-out.

import { ApiError, get, phonePath, post } from "./api.js";
import { busy, confirmDialog, el, every, field, say, showError, showFieldError, when } from "./ui.js";

const REFRESH_MS = 3000;
const FILTERS = [["unresolved", "Unresolved"], ["resolved", "Resolved"], ["opted_out", "Opted out"], ["all", "All"]];
const STATUS = { unresolved: "Unresolved", resolved: "Resolved", opted_out: "Opted out" };

export async function render(root, context) {
  const tz = context.settings.timezone;
  const state = {
    filter: "unresolved",
    phone: decodeURIComponent(location.hash.split("/")[1] || "") || null,
    names: new Map(),
    drawnList: "",
    drawnThread: "",
  };
  const filterBar = el("div.seg", { role: "group", "aria-label": "Show" });
  const list = el("ul.conversations", { "aria-label": "Conversations" });
  const thread = el("section.thread", { "aria-label": "Conversation", "aria-live": "polite" }, el("p.empty", {}, "Choose a conversation."));
  root.replaceChildren(el("h1", {}, "Inbox"), filterBar, el("div.inbox", {}, list, thread));

  const drawFilters = () => filterBar.replaceChildren(...FILTERS.map(([value, label]) =>
    el("button", { type: "button", "aria-pressed": String(state.filter === value), onclick: () => { state.filter = value; drawFilters(); refreshList(); } }, label)));
  drawFilters();

  const loadNames = async () => {
    // Conversations carry the number only: names (checkout subscribers) come from the subscriber list.
    const { items } = await get("/subscribers?limit=200");
    state.names = new Map(items.filter((s) => s.name).map((s) => [s.phone, s.name]));
  };
  const refreshList = async () => {
    const statuses = state.filter === "all" ? ["unresolved", "resolved", "opted_out"] : [state.filter];
    const pages = await Promise.all(statuses.map((s) => get(`/inbox?status=${s}&limit=100`)));
    const items = pages.flatMap((p) => p.items).sort((a, b) => b.last_activity_at.localeCompare(a.last_activity_at));
    // Redraw only on a change: a redraw every few seconds would pull the keyboard focus out of the list.
    const drawn = JSON.stringify([items, state.phone, state.filter, [...state.names]]);
    if (drawn === state.drawnList) return;
    state.drawnList = drawn;
    if (!items.length) { list.replaceChildren(el("li.empty", {}, "Nothing here.")); return; }
    list.replaceChildren(...items.map((c) => el("li", {}, el("button", {
      type: "button", "aria-current": String(c.phone === state.phone), "data-phone": c.phone,
      onclick: () => { state.phone = c.phone; history.replaceState(null, "", `#inbox/${encodeURIComponent(c.phone)}`); refreshList(); openThread(true); },
    },
    el("span.who", {}, el("span", {}, state.names.get(c.phone) || c.phone), el("span.hint", {}, when(c.last_activity_at, tz))),
    el("span.last", {}, `${c.last_direction === "outbound" ? "You: " : ""}${c.last_message}`),
    state.filter === "all" ? el("span.hint", {}, STATUS[c.status]) : null))));
  };

  let editor = null;  // kept across refreshes so a half-written reply is not lost
  const openThread = async (fresh) => {
    if (!state.phone) return;
    const data = await get(`/inbox/${phonePath(state.phone)}?limit=100`);
    const drawn = JSON.stringify(data);
    if (!fresh && editor && editor.phone === state.phone && drawn === state.drawnThread) return;  // as the list
    state.drawnThread = drawn;
    if (fresh || !editor || editor.phone !== state.phone) editor = replyEditor(state.phone, tz, () => { openThread(false); refreshList(); });
    drawThread(thread, data, tz, editor, () => { openThread(false); refreshList(); });
  };

  await loadNames().catch(showError);
  await refreshList();
  if (state.phone) await openThread(true);
  return every(REFRESH_MS, async () => { await refreshList(); if (state.phone) await openThread(false); });
}

function drawThread(root, data, tz, editor, changed) {
  const { subscriber: s, conversation: c } = data;
  const name = s.name || s.phone;
  const actions = el("div.row-actions");
  if (c.status === "unresolved") actions.append(action("Resolve", () => post(`/inbox/${phonePath(s.phone)}/resolve`), changed));
  if (c.status === "resolved") actions.append(action("Unresolve", () => post(`/inbox/${phonePath(s.phone)}/unresolve`), changed));
  if (c.status !== "opted_out") {
    actions.append(el("button.danger-text.link", { type: "button", onclick: async () => {
      if (!(await confirmDialog("Opt out subscriber?", `${name} will get no more messages from your store. Only they can join again, by texting your keyword.`, "Opt-out"))) return;
      try { await post(`/inbox/${phonePath(s.phone)}/opt-out`); say(`${name} opted out`); } catch (exc) { showError(exc); }
      changed();
    } }, "Opt-out"));
  }
  const head = el("div.thread-head", {},
    el("div", {},
      el("h2", {}, name, s.quiet_hours_now ? el("span.quiet", { title: "In quiet hours" }, " 💤") : null),
      el("span.hint", {}, [s.name ? s.phone : null, `${s.source} subscriber`, STATUS[c.status]].filter(Boolean).join(" · ")),
      s.profile_url ? el("a", { href: s.profile_url, target: "_blank", rel: "noopener" }, " Shopify customer profile") : null,
      s.quiet_hours_now ? el("p.quiet", {}, `💤 Quiet hours for this subscriber until ${when(s.quiet_until, tz)}`) : null),
    actions);
  const items = data.messages.map((m) => el("li", { class: `msg ${m.direction}` },
    m.body, m.media_urls.map((u) => el("a", { href: u, target: "_blank", rel: "noopener" }, el("img", { src: u, alt: "Picture sent with the message" }))),
    el("span.meta", {}, `${m.direction === "inbound" ? "Received" : "Sent"} ${when(m.at, tz)}${m.kind && m.kind !== "reply" && m.kind !== "inbound" ? ` · ${m.kind}` : ""}`)));
  const scheduled = data.scheduled_replies.filter((r) => r.state === "scheduled").map((r) => el("li.msg.outbound.scheduled", { "data-reply": r.id },
    r.text, el("span.meta", {}, `Scheduled for ${when(r.send_at, tz)}`)));
  const list = el("ol.messages", {}, items, scheduled);
  editor.update(s.quiet_hours_now && c.status !== "opted_out", c.status === "opted_out");
  // The editor node stays put: moving it would take the focus out of a half-written reply.
  if (root.lastChild !== editor.node || root.children.length !== 3) root.replaceChildren(el("div"), el("div"), editor.node);
  root.children[0].replaceWith(head);
  root.children[1].replaceWith(list);
  list.scrollTop = list.scrollHeight;
}

function action(label, call, changed) {
  const button = el("button", { type: "button" });
  button.textContent = label;
  button.addEventListener("click", () => busy(button, `${label}…`, async () => {
    try { await call(); say(`${label}d`); } catch (exc) { showError(exc); }
    changed();
  }));
  return button;
}

function replyEditor(phone, tz, changed) {
  const text = el("textarea", { rows: "3", maxlength: "1600" });
  const media = el("input", { type: "url", placeholder: "https://…" });
  const code = el("input", { type: "text", maxlength: "50" });
  const buttons = el("div.actions");
  const note = el("p.hint", { "aria-live": "polite" });
  const node = el("form.reply", { novalidate: true, onsubmit: (e) => e.preventDefault() },
    field("Reply", text), el("div.two", {}, field("Image (link, optional)", media), field("Discount code (optional)", code)), note, buttons);
  let quiet = null;
  const send = (choice, button, label) => busy(button, label, async () => {
    showFieldError(text, "");
    if (!text.value.trim()) { showFieldError(text, "Write a reply first."); text.focus(); return; }
    const body = { text: text.value, quiet_hours: choice };
    if (media.value.trim()) body.media_url = media.value.trim();
    if (code.value.trim()) body.discount_code = code.value.trim();
    try {
      const reply = await post(`/inbox/${phonePath(phone)}/replies`, body);
      text.value = ""; media.value = ""; code.value = "";
      say(reply.state === "scheduled" ? `Reply scheduled for ${when(reply.send_at, tz)}` : "Reply sent");
    } catch (exc) {
      if (exc instanceof ApiError && exc.code === "quiet_hours") {
        note.textContent = `💤 ${exc.message}`;
        update(true, false);
        buttons.querySelector("button").focus();
        return;
      }
      const where = exc.details && exc.details.field;
      if (where === "text") showFieldError(text, exc.message);
      else if (where === "media_url") showFieldError(media, exc.message);
      else if (where === "discount_code") showFieldError(code, exc.message);
      else showError(exc);
      return;
    }
    changed();
  });
  const update = (isQuiet, optedOut) => {
    if (optedOut) { node.hidden = true; return; }
    node.hidden = false;
    if (quiet === isQuiet) return;  // keep focus and busy state across refreshes
    quiet = isQuiet;
    if (isQuiet) {
      const now = el("button", { type: "button" }, "Send Reply Now");
      const later = el("button.primary", { type: "button" }, "Schedule Sending");
      now.addEventListener("click", () => send("send_now", now, "Sending…"));
      later.addEventListener("click", () => send("schedule", later, "Scheduling…"));
      buttons.replaceChildren(now, later);
    } else {
      note.textContent = "";
      const one = el("button.primary", { type: "button" }, "Send Reply");
      one.addEventListener("click", () => send("ask", one, "Sending…"));
      buttons.replaceChildren(one);
    }
  };
  return { node, phone, update };
}
