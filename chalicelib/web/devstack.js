// devstack's phone simulator: text the shop as any number, see what a number received. Offered only when
// the server has /devstack/* (devstack registers those routes; a deployment never does).

import { get, phonePath, post } from "./api.js";
import { busy, el, every, field, say, showError, showFieldError, when } from "./ui.js";

export async function render(root, context) {
  if (!context.devstack) {
    root.replaceChildren(el("h1", {}, "Phone simulator"), el("p", {}, "The phone simulator exists on devstack only."));
    return undefined;
  }
  const tz = context.settings.timezone;
  const phone = el("input", { type: "tel", value: sessionStorage.getItem("smscast.simPhone") || "+15551230000" });
  const text = el("textarea", { rows: "2" });
  const send = el("button.primary", { type: "submit" }, "Send Text");
  const show = el("button", { type: "button" }, "Show Received");
  const received = el("ol.messages", { "aria-label": "Messages this phone received", "aria-live": "polite" });
  root.replaceChildren(
    el("h1", {}, "Phone simulator"),
    el("p.hint", {}, `Texts go to the shop's number ${context.devstack.sender_number} like a real phone's would. devstack only.`),
    el("form.card", { novalidate: true, onsubmit: (e) => { e.preventDefault(); busy(send, "Sending…", sendText); } },
      field("This phone's number", phone), field("Text", text, "Try JOIN, STOP, HELP or any question."), el("div.actions", {}, show, send)),
    el("h2", {}, "Received"), received);
  const refresh = async () => {
    if (!phone.value.trim()) return;
    sessionStorage.setItem("smscast.simPhone", phone.value.trim());
    const inbox = await get(`/devstack/phone/${phonePath(phone.value.trim())}`);
    received.replaceChildren(...(inbox.messages.length ? inbox.messages.map((m) =>
      el("li.msg.outbound", {}, m.body, el("span.meta", {}, `From ${m.from_number} · ${when(m.at, tz)}`))) : [el("li.empty", {}, "Nothing received yet.")]));
  };
  const sendText = async () => {
    showFieldError(phone, ""); showFieldError(text, "");
    if (!text.value.trim()) { showFieldError(text, "Write a text first."); text.focus(); return; }
    try {
      await post("/devstack/phone/texts", { phone: phone.value.trim(), text: text.value });
      text.value = "";
      say("Text sent");
      await refresh();
    } catch (exc) {
      const where = exc.details && exc.details.field;
      if (where === "phone") showFieldError(phone, exc.message); else if (where === "text") showFieldError(text, exc.message); else showError(exc);
    }
  };
  show.addEventListener("click", () => busy(show, "Loading…", () => refresh().catch(showError)));
  await refresh().catch(showError);
  return every(3000, refresh);
}
