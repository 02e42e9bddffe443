// Settings: every shop setting; the API's validation message is shown next to the field it names.

import { get, patch } from "./api.js";
import { busy, el, field, say, showError, showFieldError } from "./ui.js";

const TEXTS = [
  ["welcome_text", "Welcome text (sent when someone joins)"],
  ["confirm_text", "Confirmation text"],
  ["stop_text", "Opt-out text (answer to STOP)"],
  ["help_text", "Help text (answer to HELP)"],
];

// The shop's numbers are the operator's (with each number's carrier rate): shown, never edited here.
function senderNumbers(settings, chooser) {
  if (!settings.numbers.length) {
    return el("fieldset", {}, el("legend", {}, "Sender numbers"),
      el("p.hint", { id: "sender-numbers-none" }, "No sender number yet: your provider assigns numbers to your shop."));
  }
  const rows = settings.numbers.map((n) => el("tr", {}, el("td", {}, n.number), el("td", {}, n.kind), el("td", {}, `${n.mps} MPS`)));
  return el("fieldset", {}, el("legend", {}, "Sender numbers"),
    el("table.sender-numbers", { "aria-label": "Sender numbers" },
      el("thead", {}, el("tr", {}, el("th", {}, "Number"), el("th", {}, "Kind"), el("th", {}, "Messages per second"))),
      el("tbody", {}, rows)),
    el("p.hint", {}, "Campaigns are spread over these numbers in proportion to each number's rate. Numbers and rates are set by your provider."),
    field("Primary number", chooser, "Inbox replies, keyword confirmations and welcome texts come from it."));
}

export async function render(root, context) {
  const settings = await get("/settings");
  const c = {
    shop_name: el("input", { type: "text", maxlength: "60", value: settings.shop_name }),
    timezone: el("input", { type: "text", list: "timezones", value: settings.timezone }),
    // The primary is chosen among the numbers the operator assigned; there is nothing to type.
    sender_number: el("select", {}, settings.numbers.map((n) =>
      el("option", { value: n.number, selected: n.number === settings.sender_number }, n.number))),
    opt_in_keyword: el("input", { type: "text", maxlength: "20", value: settings.opt_in_keyword }),
    opt_out_hint: el("input", { type: "checkbox", checked: settings.opt_out_hint }),
    attribution_window_days: el("input", { type: "number", min: "1", max: "30", value: String(settings.attribution_window_days) }),
    "quiet_hours.enabled": el("input", { type: "checkbox", checked: settings.quiet_hours.enabled }),
    "quiet_hours.start": el("input", { type: "time", value: settings.quiet_hours.start }),
    "quiet_hours.end": el("input", { type: "time", value: settings.quiet_hours.end }),
    "frequency_cap.enabled": el("input", { type: "checkbox", checked: Boolean(settings.frequency_cap) }),
    "frequency_cap.messages": el("input", { type: "number", min: "1", max: "100", value: settings.frequency_cap ? String(settings.frequency_cap.messages) : "4" }),
    "frequency_cap.days": el("input", { type: "number", min: "1", max: "90", value: settings.frequency_cap ? String(settings.frequency_cap.days) : "30" }),
    // ISO codes, comma separated: what the sign-up form offers and accepts.
    signup_countries: el("input", { type: "text", maxlength: "200", value: settings.signup_countries.join(", "), autocapitalize: "characters" }),
    signup_consent_text: el("textarea", { rows: "4", maxlength: "600" }),
  };
  c.signup_consent_text.value = settings.signup_consent_text;
  for (const [name] of TEXTS) { c[name] = el("textarea", { rows: "2", maxlength: "306" }); c[name].value = settings[name]; }
  for (const [name, control] of Object.entries(c)) { control.name = name; control.id = `setting-${name.replace(".", "-")}`; }
  const zones = el("datalist", { id: "timezones" }, (Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : []).map((z) => el("option", { value: z })));
  const check = (control, label) => {
    control.setAttribute("aria-describedby", `${control.id}-error`);
    return el("div.field", {}, el("label.inline", {}, control, label), el("p.field-error", { id: `${control.id}-error`, "aria-live": "polite" }));
  };
  const save = el("button.primary", { type: "submit" }, "Save Settings");
  const form = el("form.card", { novalidate: true },
    el("div.settings", {},
      field("Shop name", c.shop_name),
      field("Store timezone", c.timezone, "An IANA name, e.g. America/New_York. Schedules are in this timezone."),
      senderNumbers(settings, c.sender_number),
      field("Opt-in keyword", c.opt_in_keyword),
      field("Attribution window (days)", c.attribution_window_days),
      el("fieldset", {}, el("legend", {}, "Quiet hours"),
        check(c["quiet_hours.enabled"], "Hold campaign messages during quiet hours"),
        el("div.settings", {}, field("Start", c["quiet_hours.start"]), field("End", c["quiet_hours.end"])),
        el("p.hint", {}, "The legal window (8:00–21:00 in the subscriber's time) always holds, whatever you set.")),
      el("fieldset", {}, el("legend", {}, "Frequency cap"),
        check(c["frequency_cap.enabled"], "Limit how many campaign messages a subscriber gets"),
        el("div.settings", {}, field("Messages at most", c["frequency_cap.messages"]), field("Per days", c["frequency_cap.days"]))),
      el("fieldset", {}, el("legend", {}, "Compliance texts"),
        TEXTS.map(([name, label]) => field(label, c[name])),
        check(c.opt_out_hint, "Add “Reply STOP to opt out” to campaign messages")),
      el("fieldset", {}, el("legend", {}, "Sign-up form"),
        field("Countries", c.signup_countries, "ISO country codes, comma separated (e.g. US, CA): only numbers of these countries can sign up. Each one more is a country texts can be sent to."),
        field("Consent wording", c.signup_consent_text, "Shown under the phone field. {shop_name} is replaced by your shop name; it must say texts recur, that rates may apply and how to STOP.")),
    ),
    zones,
    el("div.actions", {}, save));
  root.replaceChildren(el("h1", {}, "Settings"), form);

  const num = (control) => (control.value.trim() === "" ? control.value : Number(control.value));
  const body = () => ({
    shop_name: c.shop_name.value,
    timezone: c.timezone.value.trim(),
    ...(c.sender_number.value ? { sender_number: c.sender_number.value } : {}),
    opt_in_keyword: c.opt_in_keyword.value.trim(),
    opt_out_hint: c.opt_out_hint.checked,
    attribution_window_days: num(c.attribution_window_days),
    quiet_hours: { enabled: c["quiet_hours.enabled"].checked, start: c["quiet_hours.start"].value, end: c["quiet_hours.end"].value },
    frequency_cap: c["frequency_cap.enabled"].checked ? { messages: num(c["frequency_cap.messages"]), days: num(c["frequency_cap.days"]) } : null,
    ...Object.fromEntries(TEXTS.map(([name]) => [name, c[name].value])),
    signup_countries: c.signup_countries.value.split(/[\s,]+/).filter(Boolean).map((code) => code.toUpperCase()),
    signup_consent_text: c.signup_consent_text.value,
  });
  const controlFor = (where) => c[where] || c[where.split(".")[0]] || null;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, "Saving…", async () => {
      for (const control of Object.values(c)) showFieldError(control, "");
      try {
        const saved = await patch("/settings", body());
        context.settings = saved;
        say("Settings saved");
      } catch (exc) {
        const problems = (exc.details && exc.details.problems) || (exc.details && exc.details.field ? [{ field: exc.details.field, message: exc.message }] : []);
        let first = null;
        for (const problem of problems) {
          const control = controlFor(problem.field);
          if (!control) continue;
          // The API's own words, next to the field they are about.
          const text = problems.length === 1 ? exc.message : `${problem.field}: ${problem.message}`;
          showFieldError(control, text);
          first = first || control;
        }
        if (first) first.focus(); else showError(exc);
      }
    });
  });
}
