// Small DOM helpers shared by the pages: elements, popups, formatting, messages.

/** el("button.primary", {type: "button", onclick}, "Save") — children may be strings, nodes or arrays. */
export function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag);
  if (classes.length) node.className = classes.join(" ");
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A labelled field: <label for> + control + the place its error is shown. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const error = el("p.field-error", { id: `${id}-error`, "aria-live": "polite" });
  control.setAttribute("aria-describedby", `${id}-error`);
  return el("div.field", {}, el("label", { for: id }, label), control, hint ? el("p.hint", {}, hint) : null, error);
}

export function showFieldError(control, message) {
  const error = document.getElementById(`${control.id}-error`);
  if (error) error.textContent = message || "";
  control.toggleAttribute("aria-invalid", Boolean(message));
}

/** A modal popup: focus goes in, Escape closes it, focus returns to what opened it. */
export function openDialog(title, body, actions, { onClose } = {}) {
  const opener = document.activeElement;
  const heading = el("h2", { id: `dlg-${Date.now()}` }, title);
  const dialog = el("dialog.popup", { "aria-labelledby": heading.id }, heading, body, el("div.actions", {}, actions));
  const close = () => {
    if (!dialog.open) return;
    dialog.close();
  };
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (onClose) onClose();
    if (opener && opener.isConnected) opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();  // native: focus moves in, Escape closes, the rest of the page is inert
  const first = dialog.querySelector("input, textarea, select, button.primary, button");
  if (first) first.focus();
  return { dialog, close };
}

/** "Are you sure?" as a popup; resolves true only on the confirming button. */
export function confirmDialog(title, text, confirmLabel, { danger = true } = {}) {
  return new Promise((resolve) => {
    let answer = false;
    const cancel = el("button", { type: "button" }, "Cancel");
    const ok = el(danger ? "button.danger" : "button.primary", { type: "button" }, confirmLabel);
    const { close } = openDialog(title, el("p", {}, text), [cancel, ok], { onClose: () => resolve(answer) });
    cancel.addEventListener("click", close);
    ok.addEventListener("click", () => { answer = true; close(); });
    cancel.focus();  // the safe choice first
  });
}

let statusTimer = 0;
/** A short message read out by screen readers (progress, "Saved"). */
export function say(text) {
  const status = document.getElementById("status");
  status.textContent = text;
  clearTimeout(statusTimer);
  if (text) statusTimer = setTimeout(() => { status.textContent = ""; }, 5000);
}

/** An error in words at the top of the page, until dismissed or replaced. */
export function showError(error) {
  const alert = document.getElementById("alert");
  alert.replaceChildren(
    el("span", {}, error && error.message ? error.message : String(error)),
    el("button.link", { type: "button", onclick: () => { alert.hidden = true; } }, "Dismiss"),
  );
  alert.hidden = false;
}

export function clearError() { document.getElementById("alert").hidden = true; }

/** Runs ``action`` with ``button`` disabled and a busy label; errors are shown, never swallowed. */
export async function busy(button, label, action) {
  const original = button ? button.textContent : "";
  if (button) { button.disabled = true; button.textContent = label; button.setAttribute("aria-busy", "true"); }
  say(label);
  try {
    return await action();
  } finally {
    if (button && button.isConnected) { button.disabled = false; button.textContent = original; button.removeAttribute("aria-busy"); }
  }
}

export function money(value) {
  if (!value) return "—";
  const currency = value.currency || "USD";
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value.amount / 10 ** digits);
}

export const number = (n) => new Intl.NumberFormat().format(n || 0);

export function when(iso, timeZone) {
  if (!iso) return "—";
  const options = { dateStyle: "medium", timeStyle: "short" };
  if (timeZone) options.timeZone = timeZone;
  return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
}

/** A <button role=switch>: the on/off switcher. */
export function switcher(label, on, onToggle) {
  const button = el("button.switch", { type: "button", role: "switch", "aria-checked": String(on), "aria-label": label },
    el("span.knob", { "aria-hidden": "true" }));
  button.addEventListener("click", () => onToggle(button.getAttribute("aria-checked") !== "true", button));
  return button;
}

/** Repeats ``fn`` every ``ms`` until ``stop()``; a failing run shows its error once and keeps trying. */
export function every(ms, fn) {
  let timer = 0;
  let stopped = false;
  const run = async () => {
    try { await fn(); } catch (exc) { showError(exc); }
    if (!stopped) timer = setTimeout(run, ms);
  };
  timer = setTimeout(run, ms);
  return () => { stopped = true; clearTimeout(timer); };
}
