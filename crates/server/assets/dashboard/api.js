// The one way the page reaches the server: the authenticated API, with the token the user
// signed in with (kept in sessionStorage, so it ends with the tab).

const KEY = 'consort.token';

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

/** An API error: the server's `{"error": {code, message, param}}`, or the network's. */
export class ApiError extends Error {
  constructor(status, code, message, param) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

/** Calls the API; resolves to the JSON body, rejects with ApiError. */
export async function api(method, path, body) {
  const { json } = await call(method, path, body, 'application/json');
  return json;
}

/** GETs a text answer (a PEM key, a log); rejects with ApiError. */
export async function apiText(path) {
  const { text } = await call('GET', path, undefined, '*/*');
  return text;
}

async function call(method, path, body, accept) {
  const headers = { Accept: accept };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', `the server cannot be reached (${e.message})`);
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!response.ok) {
    const err = json && json.error ? json.error : {};
    throw new ApiError(response.status, err.code || String(response.status), err.message || text || response.statusText,
      err.param);
  }
  return { json, text };
}

/** Path segments encoded for a URL (group and name may hold any character but control ones). */
export function seg(...parts) {
  return parts.map(encodeURIComponent).join('/');
}
