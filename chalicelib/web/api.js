// The one way the dashboard talks to the API: same origin, bearer token, errors turned into words.

const KEY = "smscast.apiKey";
let tokenSource = () => sessionStorage.getItem(KEY);

/** An API refusal: the server's code and message, and the field it names (if any). */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export function setApiKey(key) { sessionStorage.setItem(KEY, key); }
export function clearApiKey() { sessionStorage.removeItem(KEY); }
export function hasApiKey() { return Boolean(sessionStorage.getItem(KEY)); }
/** Inside the Shopify admin every call asks App Bridge for a fresh session token instead. */
export function useTokenSource(source) { tokenSource = source; }

// The request with the credential; an answer that is not ok becomes an ApiError (the server's own when it says one).
async function send(method, path, body, accept) {
  const headers = { Accept: accept };
  const token = await tokenSource();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (exc) {
    throw new ApiError(0, "network", `Could not reach smscast (${exc.message}). Check your connection and try again.`);
  }
  if (response.ok) return response;
  let data = null;
  try { data = JSON.parse(await response.text()); } catch { data = null; }
  const error = data && data.error;
  if (error) throw new ApiError(response.status, error.code, error.message, error.details);
  throw new ApiError(response.status, "http_" + response.status, `smscast answered ${response.status} ${response.statusText}`);
}

export async function api(method, path, body) {
  const response = await send(method, path, body, "application/json");
  if (response.status === 204) return null;
  const text = await response.text();
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

/** A file the API answers with (a QR code image) as a Blob, asked for by its media type. */
export async function file(path, accept) {
  return (await send("GET", path, undefined, accept)).blob();
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? undefined : body);
export const patch = (path, body) => api("PATCH", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);
/** A phone as a path segment (E.164's + must be encoded). */
export const phonePath = (phone) => encodeURIComponent(phone);
