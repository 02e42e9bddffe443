// Campaigns: totals, the table, create/edit with a live preview, pre-flight summary, switcher, end, delete.

import { del, get, patch, post, put } from "./api.js";
import { busy, confirmDialog, el, every, field, money, number, openDialog, say, showError, showFieldError, switcher, when } from "./ui.js";

const REFRESH_MS = 2000;  // live progress while a campaign sends
const PREVIEW_DELAY_MS = 250;
const STATUS = { draft: "Draft", scheduled: "Scheduled", in_progress: "In Progress", completed: "Completed" };

export async function render(root, context) {
  const totals = el("section.totals", { "aria-label": "Totals" });
  const table = el("table.grid", {},
    el("caption.sr-only", {}, "Campaigns"),
    el("thead", {}, el("tr", {}, ["Name", "Status", "Sent", "Clicks", "Orders", "Revenue", "Actions"].map((h, i) => el(i >= 2 && i <= 5 ? "th.num" : "th", { scope: "col" }, h)))),
    el("tbody"));
  // Enabled once the segments are in: the popup's drop-down needs them.
  const create = el("button.primary", { type: "button", disabled: true }, "Create New Campaign");
  root.replaceChildren(
    el("div.page-head", {}, el("h1", {}, "Campaigns"), create),
    totals,
    el("div.table-wrap", {}, table),
  );
  let segments = [];
  const refresh = async () => {
    const page = await get("/campaigns?limit=200");
    drawTotals(totals, page.totals);
    drawRows(table.tBodies[0], page.items, { context, segments: () => segments, refresh });
  };
  create.addEventListener("click", () => editor(context, segments, null, refresh));
  [segments] = await Promise.all([loadSegments(), refresh()]);
  create.disabled = false;
  return every(REFRESH_MS, refresh);
}

async function loadSegments() {
  const { items } = await get("/segments");
  return items;
}

function drawTotals(root, totals) {
  const card = (label, value) => el("div.total", {}, el("span.label", {}, label), el("span.value", { "data-total": label.toLowerCase() }, value));
  root.replaceChildren(
    card("Sent", number(totals.sent)),
    card("Clicks", number(totals.clicks)),
    card("Orders", number(totals.orders)),
    card("Revenue", money(totals.revenue)),
  );
}

function progress(campaign) {
  const { planned, sent, skipped, failed } = campaign.stats;
  const done = sent + skipped + failed;
  if (campaign.status !== "in_progress") return null;
  return el("progress", { max: String(Math.max(planned, 1)), value: String(done), "aria-label": `${done} of ${planned} handled` });
}

const drawnRows = new WeakMap();  // tbody -> the campaigns it shows, as JSON

function drawRows(tbody, campaigns, env) {
  const drawn = JSON.stringify(campaigns);
  if (drawn === drawnRows.get(tbody)) return;  // unchanged: leave the rows (and the focus) alone
  drawnRows.set(tbody, drawn);
  if (!campaigns.length) {
    tbody.replaceChildren(el("tr", {}, el("td.empty", { colspan: "7" }, "No campaigns yet. Create one to reach your subscribers.")));
    return;
  }
  // Rebuilt each refresh, but focus stays where it was: find the focused control again by its data-key.
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
  tbody.replaceChildren(...campaigns.map((c) => row(c, env)));
  if (focused) {
    const again = tbody.querySelector(`[data-key="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

function row(campaign, env) {
  const { refresh } = env;
  const actions = el("div.row-actions");
  const key = (what) => `${campaign.id}:${what}`;
  // The switcher moves a custom-date campaign between Draft (off) and Scheduled (on); Send Now has none.
  if ((campaign.status === "draft" || campaign.status === "scheduled") && campaign.send_at && campaign.send_at !== "now") {
    const toggle = switcher(`${campaign.name} on`, campaign.active, (on, button) =>
      busy(button, on ? "Turning on…" : "Turning off…", async () => {
        try {
          await put(`/campaigns/${campaign.id}/active`, { active: on });
          say(`${campaign.name} turned ${on ? "on" : "off"}`);
        } catch (exc) { showError(exc); }
        await refresh();
      }));
    toggle.dataset.key = key("switch");
    actions.append(toggle);
  }
  actions.append(el("button.link", { type: "button", "data-key": key("view"), onclick: () => view(campaign, env) }, "View"));
  if (campaign.status === "draft" || campaign.status === "scheduled") {
    actions.append(el("button.link", { type: "button", "data-key": key("edit"), onclick: () => editor(env.context, env.segments(), campaign, refresh) }, "Edit"));
  }
  if (campaign.status === "in_progress") {
    actions.append(el("button.danger.small", { type: "button", "data-key": key("end"), onclick: () => end(campaign, refresh) }, "End Campaign"));
  } else {
    actions.append(el("button.link.danger-text", { type: "button", "data-key": key("delete"), onclick: () => remove(campaign, refresh) }, "Delete"));
  }
  const status = el("span", { class: `badge ${campaign.status}` }, STATUS[campaign.status]);
  return el("tr", { "data-campaign": campaign.id },
    el("th", { scope: "row" }, campaign.name, campaign.send_at && campaign.status === "scheduled"
      ? el("span.sub", {}, `Sends ${when(campaign.send_at_utc, campaign.timezone)}`) : null),
    el("td", { "data-col": "status", "data-label": "Status" }, status, progress(campaign)),
    el("td.num", { "data-col": "sent", "data-label": "Sent" }, number(campaign.stats.sent)),
    el("td.num", { "data-col": "clicks", "data-label": "Clicks" }, number(campaign.stats.clicks)),
    el("td.num", { "data-col": "orders", "data-label": "Orders" }, number(campaign.stats.orders)),
    el("td.num", { "data-col": "revenue", "data-label": "Revenue" }, money(campaign.stats.revenue)),
    el("td", {}, actions),
  );
}

async function remove(campaign, refresh) {
  if (!(await confirmDialog("Delete campaign?", `“${campaign.name}” will be deleted. This cannot be undone.`, "Delete"))) return;
  try {
    await busy(null, "Deleting…", () => del(`/campaigns/${campaign.id}`));
    say(`${campaign.name} deleted`);
  } catch (exc) { showError(exc); }
  await refresh();
}

async function end(campaign, refresh) {
  if (!(await confirmDialog("End campaign?", `“${campaign.name}” stops now: nobody else gets it. This cannot be undone.`, "End Campaign"))) return;
  try {
    await busy(null, "Ending…", () => post(`/campaigns/${campaign.id}/end`));
    say(`${campaign.name} ended`);
  } catch (exc) { showError(exc); }
  await refresh();
}

function view(campaign, env) {
  const segment = env.segments().find((s) => s.id === campaign.segment_id);
  const s = campaign.stats;
  const rows = [
    ["Status", STATUS[campaign.status] + (campaign.ended_early ? ", ended early" : "")],
    ["Message", campaign.message],
    ["Image", campaign.media_url || "—"],
    ["Discount code", campaign.discount_code || "—"],
    ["Segment", segment ? segment.name : campaign.segment_id],
    ["Sends", campaign.send_at_utc ? `${when(campaign.send_at_utc, campaign.timezone)} (${campaign.timezone})` : campaign.send_at || "—"],
    ["Started", when(campaign.started_at, campaign.timezone)],
    ["Completed", when(campaign.completed_at, campaign.timezone)],
    ["Planned / Sent / Skipped / Failed", `${number(s.planned)} / ${number(s.sent)} / ${number(s.skipped)} / ${number(s.failed)}`],
    ["Delivered / Undelivered", `${number(s.delivered)} / ${number(s.undelivered)}`],
    ["Waiting for quiet hours", number(s.deferred)],
    ["Parts", number(s.parts)],
    ["Clicks (unique)", `${number(s.clicks)} (${number(s.unique_clicks)})`],
    ["Orders", number(s.orders)],
    ["Revenue", money(s.revenue)],
  ];
  const close = el("button.primary", { type: "button" }, "Close");
  const { close: doClose } = openDialog(campaign.name, el("dl.facts", {}, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])), [close]);
  close.addEventListener("click", doClose);
}

/** The create/edit popup; ``campaign`` null creates. */
function editor(context, segments, campaign, refresh) {
  const tz = context.settings.timezone;
  const name = el("input", { type: "text", maxlength: "100", required: true, value: campaign ? campaign.name : "" });
  const message = el("textarea", { rows: "4", maxlength: "1000", required: true });
  message.value = campaign ? campaign.message : "";
  const media = el("input", { type: "url", placeholder: "https://…", value: campaign && campaign.media_url ? campaign.media_url : "" });
  const code = el("input", { type: "text", maxlength: "50", value: campaign && campaign.discount_code ? campaign.discount_code : "" });
  const segment = el("select", {}, segments.map((s) => el("option", { value: s.id, selected: campaign ? s.id === campaign.segment_id : s.id === "all" }, s.name)));
  const scheduled = Boolean(campaign && campaign.send_at && campaign.send_at !== "now");
  const now = el("input", { type: "radio", name: "when", value: "now", checked: !scheduled });
  const later = el("input", { type: "radio", name: "when", value: "later", checked: scheduled });
  const date = el("input", { type: "datetime-local", value: scheduled ? campaign.send_at.slice(0, 16) : "" });
  const stats = el("div.preview", { "aria-live": "polite" }, "Type a message to see its length and cost.");
  const recipients = el("span.hint", { "aria-live": "polite" });
  const whenBox = el("fieldset.when", {},
    el("legend", {}, "When"),
    el("label.inline", {}, now, " Send Now"),
    el("label.inline", {}, later, " Custom Date"),
    field(`Date and time (${tz}, the store's timezone)`, date),
  );
  const fields = {
    name: field("Name", name),
    message: field("Message", message, "{first_name|there} puts in the subscriber's first name; {discount_code} the code."),
    media_url: field("Image (link to a picture, optional)", media),
    discount_code: field("Discount code (optional)", code),
    segment_id: field("Segment", segment),
  };
  const body = el("form.editor", { novalidate: true }, Object.values(fields), recipients, whenBox, stats);
  const cancel = el("button", { type: "button" }, "Cancel");
  const draft = el("button", { type: "button" }, "Save Draft");
  const schedule = el("button.primary", { type: "button" }, "Schedule Campaign");
  const { close } = openDialog(campaign ? `Edit ${campaign.name}` : "Create New Campaign", body, [cancel, draft, schedule]);
  cancel.addEventListener("click", close);
  const controls = { name, message, media_url: media, discount_code: code, segment_id: segment, send_at: date };

  const sendAt = () => (later.checked ? date.value : "now");
  const request = () => {
    const r = { message: message.value, segment_id: segment.value, send_at: sendAt() };
    if (media.value.trim()) r.media_url = media.value.trim();
    if (code.value.trim()) r.discount_code = code.value.trim();
    return r;
  };
  const payload = (isDraft) => {
    const r = { name: name.value.trim(), ...request(), draft: isDraft };
    if (campaign && !r.media_url) r.media_url = null;
    if (campaign && !r.discount_code) r.discount_code = null;
    return r;
  };

  let timer = 0;
  let latest = 0;
  const preview = async () => {
    if (!message.value.trim() || (later.checked && !date.value)) return null;
    const ticket = ++latest;
    try {
      const p = await post("/campaigns/preview", request());
      if (ticket !== latest) return p;
      showFieldError(message, "");
      const facts = [
        el("span", { "data-preview": "characters" }, `${number(p.characters)} characters`),
        el("span", { "data-preview": "encoding" }, p.encoding),
        el("span", { "data-preview": "parts" }, `${p.parts} ${p.parts === 1 ? "part" : "parts"}${p.channel === "mms" ? " (MMS)" : ""}`),
        el("span", { "data-preview": "cost" }, `Estimated cost ${money(p.estimated_cost)}`),
      ];
      if (p.max_parts > p.parts) {
        // An accented or emoji name turns the text to UCS-2 (70 characters a part, not 160): the true maximum.
        facts.push(el("span", { "data-preview": "max-parts" }, `up to ${p.max_parts} parts (${money(p.max_cost)}) with accented or emoji names`));
      }
      stats.replaceChildren(...facts);
      recipients.textContent = `${number(p.recipients)} recipients`;
      return p;
    } catch (exc) {
      if (ticket === latest) stats.replaceChildren(el("span.field-error", {}, exc.message));
      return null;
    }
  };
  const later_ = () => { clearTimeout(timer); timer = setTimeout(preview, PREVIEW_DELAY_MS); };
  for (const input of [message, media, code, segment, date, now, later]) input.addEventListener("input", later_);
  for (const input of [now, later]) input.addEventListener("change", () => { date.disabled = now.checked; later_(); });
  date.disabled = now.checked;
  segment.addEventListener("change", async () => {
    try {
      const { count } = await get(`/segments/${encodeURIComponent(segment.value)}/count`);
      recipients.textContent = `${number(count)} recipients`;
    } catch (exc) { recipients.textContent = exc.message; }
  });
  segment.dispatchEvent(new Event("change"));
  // Each option says how many it reaches, so the choice is made knowing the audience.
  for (const option of segment.options) {
    get(`/segments/${encodeURIComponent(option.value)}/count`)
      .then(({ count }) => { option.textContent = `${option.textContent.replace(/ \(.*\)$/, "")} (${number(count)})`; })
      .catch(() => {});  // the plain name is still right; the count under the drop-down shows any error
  }
  if (message.value) preview();

  const save = async (isDraft) => {
    for (const control of Object.values(controls)) showFieldError(control, "");
    try {
      const saved = campaign ? await patch(`/campaigns/${campaign.id}`, payload(isDraft)) : await post("/campaigns", payload(isDraft));
      close();
      say(isDraft ? `${saved.name} saved as a draft` : `${saved.name} scheduled`);
      await refresh();
    } catch (exc) {
      const where = exc.details && exc.details.field ? exc.details.field.split(".")[0] : null;
      if (where && controls[where]) { showFieldError(controls[where], exc.message); controls[where].focus(); } else showError(exc);
    }
  };
  draft.addEventListener("click", () => busy(draft, "Saving…", () => save(true)));
  schedule.addEventListener("click", () => busy(schedule, "Checking…", async () => {
    if (!name.value.trim()) { showFieldError(name, "Give the campaign a name."); name.focus(); return; }
    const p = await preview();
    if (!p) { showFieldError(message, message.value.trim() ? "Fix the message or date first." : "Write a message."); message.focus(); return; }
    if (await preflight(p, sendAt(), tz)) await busy(schedule, "Scheduling…", () => save(false));
  }));
}

/** The pre-flight summary before anything is sent; resolves true on "Confirm". */
function preflight(p, sendAt, tz) {
  const waves = p.waves.filter((w) => w.recipients > 0);
  const rows = [
    ["Recipients", number(p.recipients)],
    ["Sends", sendAt === "now" ? "Now" : `${sendAt.replace("T", " ")} (${tz})`],
    ["Held back by quiet hours", p.deferred ? `${number(p.deferred)}, sent when their quiet hours end` : "None"],
    ...waves.map((w) => [`${number(w.recipients)} go at`, when(w.release_at, tz)]),
    ["Parts per message", `${p.parts} (${p.encoding})${p.max_parts > p.parts ? `, up to ${p.max_parts} with accented or emoji names` : ""}`],
    ["Estimated cost", `${money(p.estimated_cost)}${p.max_parts > p.parts ? `, at most ${money(p.max_cost)}` : ""}`],
  ];
  return new Promise((resolve) => {
    let answer = false;
    const back = el("button", { type: "button" }, "Back");
    const go = el("button.primary", { type: "button" }, sendAt === "now" ? "Send Now" : "Confirm Schedule");
    const { close } = openDialog("Before you send", el("dl.facts", {}, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])), [back, go], { onClose: () => resolve(answer) });
    back.addEventListener("click", close);
    go.addEventListener("click", () => { answer = true; close(); });
    go.focus();
  });
}
