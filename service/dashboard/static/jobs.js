// The jobs page: keeps the table live and submits the form to POST /api/jobs, showing the
// API's own messages when it refuses (each names the field), so the page and the API can
// never disagree about what a valid job is.

import { byId, el, messages, request, setupToken } from "./common.js";

const REFRESH_MS = 3000;
const form = byId("submit-form");
const errors = byId("form-errors");
const status = byId("submit-status");

// Which form control shows a field of the API's error location (["body", "budget", "epochs"]).
const CONTROLS = {
  "dataset.path": "dataset_path",
  dataset: "dataset",
  "budget.epochs": "epochs",
  "budget.batch_size": "batch_size",
  "budget.lr": "lr",
  budget: "epochs",
};

// A number when the text is one; the text itself otherwise, so that the API names the field
// and says what it expected; nothing when empty, so that the API's default applies (or it
// says the field is required).
function numberOrText(value) {
  const trimmed = value.trim();
  if (trimmed === "") return undefined;
  const number = Number(trimmed);
  return Number.isFinite(number) ? number : trimmed;
}

function jobBody() {
  const f = form.elements;
  const dataset =
    f.dataset.value === "npz" ? { name: "npz", path: f.dataset_path.value } : { name: "digits" };
  const body = {
    name: f.name.value,
    dataset,
    n_trials: numberOrText(f.n_trials.value),
    max_concurrent: numberOrText(f.max_concurrent.value),
    budget: {
      epochs: numberOrText(f.epochs.value),
      batch_size: numberOrText(f.batch_size.value),
      lr: numberOrText(f.lr.value),
    },
    sampler: f.sampler.value,
    objectives: [...form.querySelectorAll('input[name="objectives"]:checked')].map((c) => c.value),
    seed: numberOrText(f.seed.value),
  };
  const space = f.space.value.trim();
  if (space) body.space = JSON.parse(space); // a SyntaxError is reported by the caller
  return body;
}

function markInvalid(loc) {
  const path = loc.filter((part) => part !== "body");
  for (let n = path.length; n > 0; n--) {
    const key = path.slice(0, n).join(".");
    const name = CONTROLS[key] || (n === 1 ? key : null);
    const control = name && (form.elements[name] || form.querySelector(`[name="${name}"]`));
    if (control) {
      const target = control instanceof RadioNodeList ? control[0].closest("fieldset") : control;
      target.classList.add("invalid");
      return;
    }
  }
}

function showErrors(lines) {
  errors.replaceChildren(...lines.map((line) => el("li", {}, line)));
}

async function submit(event) {
  event.preventDefault();
  form.querySelectorAll(".invalid").forEach((c) => c.classList.remove("invalid"));
  showErrors([]);
  status.textContent = "";
  let body;
  try {
    body = jobBody();
  } catch (error) {
    form.elements.space.classList.add("invalid");
    showErrors([`space: not valid JSON (${error.message})`]);
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const response = await request("/api/jobs", { method: "POST", body });
    if (response.status === 201) {
      const job = response.body;
      status.replaceChildren(
        "Submitted ",
        el("a", { href: `/jobs/${job.id}`, id: "submitted-link" }, `job ${job.id}`),
        ".",
      );
      await refresh();
      return;
    }
    if (response.status === 422 && Array.isArray(response.body?.detail)) {
      response.body.detail.forEach((e) => markInvalid(e.loc || []));
    }
    if (response.status === 401) byId("token")?.focus();
    showErrors(messages(response));
  } catch (error) {
    showErrors([`could not reach the server: ${error.message}`]);
  } finally {
    button.disabled = false;
  }
}

async function refresh() {
  const { limit, offset } = document.body.dataset;
  const response = await request(`/dashboard/jobs/rows?limit=${limit}&offset=${offset}`);
  if (!response.ok) return;
  // Rows are rendered and escaped by the server, as on the first load of this page.
  byId("job-rows").innerHTML = response.body.html;
  byId("job-count").textContent = response.body.count;
}

function toggleDataset() {
  const npz = form.elements.dataset.value === "npz";
  form.querySelector(".npz-only").hidden = !npz;
}

setupToken(document.body.dataset.auth === "1");
form.addEventListener("submit", submit);
form.elements.dataset.addEventListener("change", toggleDataset);
toggleDataset();
setInterval(() => refresh().catch(() => {}), REFRESH_MS);
document.body.dataset.ready = "1";
