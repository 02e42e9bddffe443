// Subscribers: the shareable sign-up link and its QR code, the list with search and filters, one subscriber's
// consent history, add one.

import { file, get, phonePath, post } from "./api.js";
import { busy, el, field, openDialog, say, showError, showFieldError, when } from "./ui.js";

const STATUS = { pending: "Pending", active: "Active", opted_out: "Opted out" };
const SOURCE = { checkout: "Checkout", keyword: "Keyword", import: "Import", api: "API", signup: "Sign-up form" };

export async function render(root, context) {
  const tz = context.settings.timezone;
  const search = el("input", { type: "search", placeholder: "Phone or name" });
  const status = el("select", {}, el("option", { value: "" }, "Any status"), Object.entries(STATUS).map(([v, l]) => el("option", { value: v }, l)));
  const source = el("select", {}, el("option", { value: "" }, "Any source"), Object.entries(SOURCE).map(([v, l]) => el("option", { value: v }, l)));
  const add = el("button.primary", { type: "button" }, "Add Subscriber");
  const exportCsv = el("button", { type: "button" }, "Export CSV");
  const importCsv = el("button", { type: "button" }, "Import CSV");
  const count = el("p.hint", { "aria-live": "polite" });
  const table = el("table.grid", {}, el("caption.sr-only", {}, "Subscribers"),
    el("thead", {}, el("tr", {}, ["Phone", "Name", "Status", "Source", "Joined", ""].map((h) => el("th", { scope: "col" }, h)))), el("tbody"));
  const share = el("section.card.share", { "aria-labelledby": "share-title" });
  const embed = el("section.card.share", { "aria-labelledby": "embed-title" });
  root.replaceChildren(
    el("div.page-head", {}, el("h1", {}, "Subscribers"), el("div.head-actions", {}, importCsv, exportCsv, add)),
    share,
    embed,
    el("div.filters", {}, field("Search", search), field("Status", status), field("Source", source)),
    count, el("div.table-wrap", {}, table));
  let items = [];
  let more = false;
  let latest = 0;
  const load = async () => {
    const mine = ++latest;  // answers can arrive out of order: only the newest request's may draw
    const query = new URLSearchParams({ limit: "200" });
    if (status.value) query.set("status", status.value);
    if (source.value) query.set("source", source.value);
    if (search.value.trim()) query.set("q", search.value.trim());  // searched by the API across every subscriber
    const page = await get(`/subscribers?${query}`);
    if (mine !== latest) return;
    items = page.items;
    more = Boolean(page.next_cursor);
    draw();
  };
  const draw = () => {
    const shown = items;
    count.textContent = `${shown.length} shown${more ? " (the first 200: narrow the search or the filters)" : ""}`;
    table.tBodies[0].replaceChildren(...(shown.length ? shown.map((s) => el("tr", {},
      el("th", { scope: "row", "data-label": "Phone" }, s.phone),
      el("td", { "data-label": "Name" }, s.name || "—"),
      el("td", { "data-label": "Status" }, STATUS[s.status]),
      el("td", { "data-label": "Source" }, SOURCE[s.source]),
      el("td", { "data-label": "Joined" }, when(s.joined_at, tz)),
      el("td", {}, el("button.link", { type: "button", onclick: () => detail(s.phone, tz) }, "Consent history")),
    )) : [el("tr", {}, el("td.empty", { colspan: "6" }, "No subscribers match."))]));
  };
  let typing = 0;
  search.addEventListener("input", () => {
    clearTimeout(typing);  // one request once the merchant pauses, not one per key
    typing = setTimeout(() => load().catch(showError), 250);
  });
  status.addEventListener("change", () => load().catch(showError));
  source.addEventListener("change", () => load().catch(showError));
  add.addEventListener("click", () => addOne(load));
  exportCsv.addEventListener("click", () => exportList(exportCsv, { status: status.value, source: source.value, q: search.value.trim() }));
  importCsv.addEventListener("click", () => importFile(load));
  await Promise.all([load(), shareLink(share), signupForm(embed)]);
}

// The storefront form: the script tag a store pastes into its theme, and the wording the form will show.
async function signupForm(card) {
  const title = el("h2", { id: "embed-title" }, "Sign-up form");
  let form;
  try {
    form = await get("/signup/embed");
  } catch (exc) {
    if (exc.status !== 409) throw exc;
    card.replaceChildren(title, el("p.hint", {}, exc.message));  // no sender number yet
    return;
  }
  const tag = `<script src="${location.origin}/static/signup.js" data-smscast-shop="${form.shop}" async></script>`;
  const snippet = el("textarea.share-link", { readonly: true, rows: "3", "aria-label": "Code to paste into your store's theme" });
  snippet.value = tag;
  const copy = el("button", { type: "button" }, "Copy code");
  copy.addEventListener("click", async () => {
    snippet.select();
    try {
      await navigator.clipboard.writeText(tag);
      say("Code copied");
    } catch {
      say("Press Ctrl+C (or Cmd+C) to copy the selected code");
    }
  });
  card.replaceChildren(title,
    el("p.hint", {}, "Paste this before </body> in your store's theme (on Shopify, use the theme editor instead: the SMS sign-up popup app embed, or the SMS sign-up form block in a section). It shows a popup asking for a mobile number; add data-smscast-target=\"#id\" to show the form inside an element of your page."),
    el("div.copy-row", {}, snippet, copy),
    el("p.hint", {}, `Countries: ${form.countries.join(", ")}. The form shows: “${form.consent_text}” Change both in Settings.`),
    el("p.hint", {}, `Double opt-in: a number that signs up gets your confirmation text and joins only when it replies Y. Limits per hour: ${form.limits.per_ip} sign-ups per visitor, ${form.limits.per_phone} confirmation texts per number, ${form.limits.per_shop} sign-ups for your whole form.`));
}

// The link and its QR code come from the API, which asks for a credential: fetched with it, then shown from
// data the page holds (the CSP lets an <img> load data: URLs, and a download link may point at a blob:).
async function shareLink(card) {
  const title = el("h2", { id: "share-title" }, "Sign-up link");
  let shared;
  try {
    shared = await get("/signup/link");
  } catch (exc) {
    if (exc.status !== 409) throw exc;
    card.replaceChildren(title, el("p.hint", {}, exc.message));  // no number or keyword yet: say which
    return;
  }
  const [svg, png] = await Promise.all([file("/signup/qr.svg", "image/svg+xml"), file("/signup/qr.png", "image/png")]);
  const link = el("input.share-link", { type: "text", readonly: true, value: shared.link, "aria-label": "Link to share" });
  const copy = el("button", { type: "button" }, "Copy link");
  copy.addEventListener("click", async () => {
    link.select();
    try {
      await navigator.clipboard.writeText(shared.link);
      say("Link copied");
    } catch {
      say("Press Ctrl+C (or Cmd+C) to copy the selected link");  // no clipboard permission: the text is selected
    }
  });
  const image = el("img.share-qr", { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(await svg.text())}`,
    alt: `QR code: scanning it texts ${shared.keyword} to ${shared.number}`, width: "160", height: "160" });
  const download = el("a.button", { href: URL.createObjectURL(png), download: `signup-qr-${shared.keyword.toLowerCase()}.png` }, "Download PNG");
  card.replaceChildren(title,
    el("p.hint", {}, `Customers who open this link on their phone, or scan the QR code, get a text to ${shared.number} with ${shared.keyword} typed: sending it subscribes them.`),
    el("div.share-body", {}, image, el("div.share-actions", {}, el("div.copy-row", {}, link, copy), download)));
}

async function detail(phone, tz) {
  const s = await get(`/subscribers/${phonePath(phone)}`).catch((exc) => { showError(exc); return null; });
  if (!s) return;
  const history = el("table.grid", {}, el("thead", {}, el("tr", {}, ["When", "What", "How", "Text shown"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, s.consent_history.map((r) => el("tr", {}, el("td", { "data-label": "When" }, when(r.at, tz)), el("td", { "data-label": "What" }, r.action),
      el("td", { "data-label": "How" }, r.source), el("td", { "data-label": "Text" }, r.text, r.page_url ? el("span.hint", {}, ` (on ${r.page_url})`) : null)))));
  const close = el("button.primary", { type: "button" }, "Close");
  const { close: doClose } = openDialog(s.name ? `${s.name} (${s.phone})` : s.phone, el("div", {},
    el("p", {}, `${STATUS[s.status]} · ${SOURCE[s.source]} subscriber since ${when(s.joined_at, tz)}`),
    s.profile_url ? el("p", {}, el("a", { href: s.profile_url, target: "_blank", rel: "noopener" }, "Shopify customer profile")) : null,
    el("h3", {}, "Consent history"), el("div.table-wrap", {}, history)), [close]);
  close.addEventListener("click", doClose);
}

function addOne(reload) {
  const phone = el("input", { type: "tel", required: true, placeholder: "+1 555 123 4567" });
  const name = el("input", { type: "text", maxlength: "100" });
  const source = el("select", {}, el("option", { value: "import" }, "Import (they agreed elsewhere)"), el("option", { value: "api" }, "API"));
  const consent = el("textarea", { rows: "2", maxlength: "500", placeholder: "What they agreed to, word for word" });
  const cancel = el("button", { type: "button" }, "Cancel");
  const save = el("button.primary", { type: "button" }, "Add");
  const controls = { phone, name, source, consent_text: consent };
  const { close } = openDialog("Add subscriber", el("form", { novalidate: true },
    field("Phone", phone), field("Name (optional)", name), field("Source", source), field("Consent text (optional)", consent)), [cancel, save]);
  cancel.addEventListener("click", close);
  save.addEventListener("click", () => busy(save, "Adding…", async () => {
    for (const control of Object.values(controls)) showFieldError(control, "");
    const body = { phone: phone.value.trim(), source: source.value };
    if (name.value.trim()) body.name = name.value.trim();
    if (consent.value.trim()) body.consent_text = consent.value.trim();
    try {
      await post("/subscribers", body);
      close();
      say(`${body.phone} added`);
      await reload();
    } catch (exc) {
      const where = (exc.details && exc.details.field) || (exc.code === "invalid_phone" ? "phone" : null);
      if (where && controls[where]) { showFieldError(controls[where], exc.message); controls[where].focus(); } else showError(exc);
    }
  }));
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Export CSV: a job on the server (POST answers 202), polled until its file is written, then downloaded through
// its link (a navigation, which the page's CSP allows; the file comes from the exports bucket).
function exportList(button, filters) {
  const body = {};
  for (const [name, value] of Object.entries(filters)) if (value) body[name] = value;
  return busy(button, "Exporting…", async () => {
    try {
      let job = await post("/subscribers/exports", body);
      while (job.status !== "done" && job.status !== "failed") {
        await sleep(1000);
        job = await get(`/subscribers/exports/${encodeURIComponent(job.id)}`);
      }
      if (job.status === "failed") { say("The export failed; try again"); return; }
      say(`${job.rows} subscribers exported`);
      el("a", { href: job.url, download: job.name }).click();
    } catch (exc) { showError(exc); }
  });
}

// Import CSV: create the import, upload the file with its presigned form straight to the bucket, start it, and
// show its progress until the report is there.
function importFile(reload) {
  const input = el("input", { type: "file", accept: ".csv,text/csv", required: true });
  const bar = el("progress", { max: "1", value: "0", hidden: true });
  const summary = el("p", { "aria-live": "polite" });
  const cancel = el("button", { type: "button" }, "Close");
  const start = el("button.primary", { type: "button" }, "Import");
  const { close } = openDialog("Import subscribers from CSV", el("div", {},
    el("p.hint", {}, "Columns: phone, name (or first_name and last_name), consent_date, consent_source, tags. At most 100,000 rows and 20 MB. Opted-out numbers are never subscribed again."),
    field("CSV file", input), bar, summary), [cancel, start]);
  cancel.addEventListener("click", close);
  start.addEventListener("click", () => busy(start, "Importing…", async () => {
    const chosen = input.files && input.files[0];
    if (!chosen) { showFieldError(input, "Choose a CSV file"); return; }
    showFieldError(input, "");
    try {
      const created = await post("/subscribers/imports", { file_name: chosen.name.slice(0, 200) });
      const form = new FormData();
      for (const [name, value] of Object.entries(created.upload.fields)) form.append(name, value);
      form.append("file", chosen);
      // no-cors: the form goes straight to S3 (the page's CSP names its origin) without asking the bucket for CORS;
      // the answer is opaque, so whether S3 took the file is asked of the API: start answers 409 when it did not.
      await fetch(created.upload.url, { method: "POST", body: form, mode: "no-cors" });
      let job;
      try {
        job = await post(`/subscribers/imports/${encodeURIComponent(created.id)}/start`);
      } catch (exc) {
        if (exc.code !== "upload_missing") throw exc;
        summary.textContent = `The upload was refused: files of up to ${created.upload.max_bytes / 1048576} MB`;
        return;
      }
      bar.hidden = false;
      while (job.status !== "done" && job.status !== "failed") {
        bar.value = job.progress;
        summary.textContent = `${job.counts.read} of ${job.rows_total || "?"} rows read`;
        await sleep(1000);
        job = await get(`/subscribers/imports/${encodeURIComponent(created.id)}`);
      }
      bar.value = 1;
      if (job.status === "failed") { summary.textContent = job.error ? job.error.message : "The import failed"; return; }
      const c = job.counts;
      summary.replaceChildren(`${c.imported} imported, ${c.merged} merged, ${c.rejected} rejected of ${c.read} rows. `,
        job.report_url ? el("a", { href: job.report_url, download: `import-report.csv` }, "Download report") : "");
      await reload();
    } catch (exc) { showError(exc); }
  }));
}
