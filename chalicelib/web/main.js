// The dashboard's shell: sign-in, navigation, the Inbox red dot, and devstack's extras when the server has them.

import { ApiError, clearApiKey, get, hasApiKey, setApiKey, useTokenSource } from "./api.js";
import { clearError, el, every, showError } from "./ui.js";

const PAGES = {
  campaigns: () => import("./campaigns.js"),
  inbox: () => import("./inbox.js"),
  subscribers: () => import("./subscribers.js"),
  settings: () => import("./settings.js"),
  phone: () => import("./devstack.js"),
};
const DOT_EVERY_MS = 3000;
const context = { settings: null, devstack: null };
let leavePage = () => {};
let stopDot = () => {};

async function insideShopify() {
  // App Bridge lives on Shopify's CDN: the server puts it first in <head> when the admin opened us (as Shopify
  // asks); loading it here is only the fallback for a page whose <head> did not have it.
  if (window.shopify) {
    useTokenSource(() => window.shopify.idToken());
    return;
  }
  await new Promise((resolve, reject) => {
    const script = el("script", { src: "https://cdn.shopify.com/shopifycloud/app-bridge.js" });
    script.addEventListener("load", resolve);
    script.addEventListener("error", () => reject(new Error("Shopify App Bridge could not be loaded")));
    document.head.prepend(script);
  });
  useTokenSource(() => window.shopify.idToken());  // a fresh session token for every call
}

async function start() {
  const params = new URLSearchParams(location.search);
  document.getElementById("sign-out").addEventListener("click", signOut);
  document.getElementById("sign-in").addEventListener("submit", signIn);
  window.addEventListener("hashchange", () => show(pageName()));
  if (params.get("host") && params.get("shop")) {
    try {
      await insideShopify();
    } catch (exc) {
      showError(exc);
      return;
    }
    await enter();
  } else if (hasApiKey()) {
    await enter();
  } else {
    showSignIn();
  }
}

function showSignIn(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("page").replaceChildren();
  const form = document.getElementById("sign-in");
  form.hidden = false;
  document.getElementById("sign-in-error").textContent = message || "";
  document.getElementById("api-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = document.getElementById("api-key");
  setApiKey(input.value.trim());
  input.value = "";
  await enter();
}

function signOut() {
  clearApiKey();
  stopDot();
  leavePage();
  showSignIn();
}

async function enter() {
  try {
    context.settings = await get("/settings");
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) {
      clearApiKey();
      showSignIn(`Sign-in failed: ${exc.message}`);
      return;
    }
    showError(exc);
    return;
  }
  document.getElementById("sign-in").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("sign-out").hidden = !hasApiKey();
  await detectDevstack();
  await refreshDot();
  stopDot = every(DOT_EVERY_MS, refreshDot);
  await show(pageName());
}

async function detectDevstack() {
  // Only devstack registers /devstack/*: a deployment answers an error and none of this is offered.
  try {
    context.devstack = await get("/devstack/status");
  } catch {
    context.devstack = null;
  }
  document.getElementById("nav-phone").hidden = !context.devstack;
  showClock();
}

export function showClock() {
  const clock = document.getElementById("clock");
  if (!context.devstack) { clock.hidden = true; return; }
  clock.hidden = false;
  clock.textContent = `devstack clock ${context.devstack.offset_label}`;
  clock.title = `devstack time ${context.devstack.now}`;
}

export async function refreshDevstack() {
  if (!context.devstack) return;
  context.devstack = await get("/devstack/status");
  showClock();
}

async function refreshDot() {
  const { unresolved } = await get("/inbox/unresolved-count");
  const dot = document.getElementById("inbox-dot");
  dot.hidden = unresolved === 0;
  dot.textContent = String(unresolved);
  dot.setAttribute("aria-label", `${unresolved} unresolved`);
  if (context.devstack) await refreshDevstack();
}

function pageName() {
  const name = location.hash.replace(/^#/, "").split("/")[0];
  return name in PAGES ? name : "campaigns";
}

async function show(name) {
  leavePage();
  leavePage = () => {};
  clearError();
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const root = document.getElementById("page");
  root.replaceChildren(el("p.loading", {}, "Loading…"));
  // aria-busy until the page has its data: assistive technology (and the browser tests) wait for it.
  root.setAttribute("aria-busy", "true");
  root.dataset.page = name;
  try {
    const page = await PAGES[name]();
    const cleanup = await page.render(root, context);
    leavePage = cleanup || (() => {});
  } catch (exc) {
    root.replaceChildren();
    showError(exc);
  } finally {
    if (root.dataset.page === name) root.removeAttribute("aria-busy");
  }
}

start();
