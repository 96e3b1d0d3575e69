// What the dashboard's pages share: requests with the API token, the API's error messages,
// DOM building that never parses strings as HTML, and number formats.

const TOKEN_KEY = "spikenas-token";

export const byId = (id) => document.getElementById(id);

// performance.mark, once per name: benchmarks/dashboard_load.py reads where a load's time went.
export function mark(name) {
  if (!performance.getEntriesByName(name, "mark").length) performance.mark(name);
}

// Plotly loads async (4.8 MB to parse) while the page fetches its data; charts wait for it.
let plotlyLoaded = null;
export function whenPlotly() {
  if (window.Plotly) {
    mark("plotly-loaded");
    return Promise.resolve(window.Plotly);
  }
  plotlyLoaded ??= new Promise((resolve, reject) => {
    const script = byId("plotly-script");
    script.addEventListener("load", () => {
      mark("plotly-loaded");
      resolve(window.Plotly);
    });
    script.addEventListener("error", () => reject(new Error("could not load Plotly")));
  });
  return plotlyLoaded;
}

// The token lives in this tab's sessionStorage: it is needed only when the server has one set
// (SPIKENAS_API_TOKEN), and then only for writes and downloads.
export function setupToken(needed) {
  const label = document.querySelector(".token");
  if (!needed || !label) return;
  label.hidden = false;
  const input = byId("token");
  input.value = sessionStorage.getItem(TOKEN_KEY) || "";
  input.addEventListener("change", () => sessionStorage.setItem(TOKEN_KEY, input.value.trim()));
}

export function authHeaders(headers = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
}

// fetch, resolved with {status, ok, body, etag}; body is parsed JSON when the server sent JSON.
export async function request(url, { method = "GET", body, etag, headers = {} } = {}) {
  const init = { method, headers: authHeaders(headers), cache: "no-store" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  // An explicit If-None-Match with no-store caching: a 304 reaches this code as a 304.
  if (etag) init.headers["If-None-Match"] = etag;
  const response = await fetch(url, init);
  const type = response.headers.get("content-type") || "";
  let parsed = null;
  if (response.status !== 304 && type.includes("json")) parsed = await response.json();
  return {
    status: response.status,
    ok: response.ok,
    body: parsed,
    etag: response.headers.get("etag"),
  };
}

// The API's error body as lines: a 422 lists one message per field, each naming it.
export function messages(response) {
  const detail = response.body && response.body.detail;
  if (Array.isArray(detail)) return detail.map((e) => e.msg || JSON.stringify(e));
  if (typeof detail === "string") return [detail];
  return [`the server answered ${response.status}`];
}

// An element with properties and children; strings become text nodes, never markup.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) {
      node.setAttribute(key, value);
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// For the few places a library reads HTML from a string (Plotly's hover labels).
export function escapeHtml(value) {
  return String(value)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

export const LABELS = {
  accuracy: "validation accuracy",
  params: "parameters",
  spike_rate: "spike rate",
  energy: "energy (pJ)",
  sops: "synaptic operations",
  flops: "FLOPs",
  energy_ann: "energy as an ANN (pJ)",
  test_accuracy: "test accuracy",
  duration_s: "training time (s)",
  epochs_trained: "epochs trained",
};

export const label = (name) => LABELS[name] || name;

export function formatValue(name, value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (["params", "energy", "sops", "flops", "energy_ann"].includes(name)) {
    if (value >= 1e9) return `${(value / 1e9).toFixed(2)}G`;
    if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
    if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
    return String(Math.round(value));
  }
  if (name === "epochs_trained") return String(Math.round(value));
  if (name === "duration_s") return `${value.toFixed(1)} s`;
  if (typeof value === "boolean") return value ? "yes" : "no";
  return Number(value).toFixed(4);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  return `${Math.floor(s / 86400)} d ${pad(Math.floor((s % 86400) / 3600))} h`;
}

// A download that carries the API token when one is set; a plain link otherwise.
export function guardDownload(link) {
  link.addEventListener("click", async (event) => {
    if (!sessionStorage.getItem(TOKEN_KEY)) return;
    event.preventDefault();
    const response = await fetch(link.href, { headers: authHeaders() });
    if (!response.ok) {
      alert(messages({ status: response.status, body: await response.json() }).join("\n"));
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const temporary = el("a", { href: url, download: link.getAttribute("download") || "" });
    document.body.append(temporary);
    temporary.click();
    temporary.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
}
