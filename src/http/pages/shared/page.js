// What the review page and the dashboard share: element lookup, show/hide, the status line, and API
// calls with the signed-in key. Served next to each page (/review/page.js, /dashboard/page.js).

export const $ = (id) => document.getElementById(id);

export function show(id, visible) {
  $(id).hidden = !visible;
}

export function status(message, isError = false) {
  const s = $('status');
  s.textContent = message;
  s.classList.toggle('error', isError);
}

/** Calls the API with `key`; a non-2xx answer throws an Error carrying the server's message, `status` and `code`. */
export async function apiCall(key, method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data?.error?.message ?? `HTTP ${res.status}`);
    err.status = res.status;
    err.code = data?.error?.code ?? null;
    throw err;
  }
  return data;
}
