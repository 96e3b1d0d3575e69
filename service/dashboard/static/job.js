// One job's page: status and progress, the front, the hypervolume, the trials and the open
// trial, kept live while the job runs. Each poll asks the job's status, then refetches the
// front and hypervolume only if the study changed (their ETags), and the current page of
// the table. Polls slow down as a job grows, and stop once it has ended.

import { byId, duration, messages, request, setupToken } from "./common.js";
import { TrialDetail } from "./detail.js";
import { FrontChart, HypervolumeChart } from "./front.js";
import { TrialsTable } from "./trials.js";

const config = JSON.parse(byId("job-config").textContent);
const jobId = config.job;
const FINAL = new Set(config.final);

const detail = new TrialDetail(jobId, config.objectives);
const pick = (number) => {
  front.select(number);
  table.select(number);
  detail.open(number);
};
const front = new FrontChart(jobId, pick);
const hypervolume = new HypervolumeChart(jobId);
const table = new TrialsTable(jobId, config.objectives, pick);
let job = null;
let polls = 0;

function showJob(data) {
  job = data;
  const status = byId("job-status");
  status.textContent = data.status;
  status.className = `status status-${data.status}`;
  const p = data.progress;
  const share = (n) => `${(100 * Math.min(n, p.total)) / Math.max(1, p.total)}%`;
  byId("progress-done").style.width = share(p.complete);
  byId("progress-busy").style.width = share(Math.min(p.running, p.total - p.complete));
  const extra = [p.running && `${p.running} running`, p.failed && `${p.failed} failed`];
  const notes = extra.filter(Boolean);
  byId("progress-text").textContent =
    `${p.complete}/${p.total} trials` + (notes.length ? ` (${notes.join(", ")})` : "");
  byId("job-error").textContent = data.error || "";
  byId("cancel").hidden = FINAL.has(data.status);
  tickElapsed();
}

function tickElapsed() {
  if (!job || !job.started_at) return;
  const end = job.finished_at ? Date.parse(job.finished_at) : Date.now();
  byId("elapsed").textContent = duration((end - Date.parse(job.started_at)) / 1000);
}

const refreshAll = () => {
  const tasks = [front.refresh(), hypervolume.refresh(), table.refresh()];
  if (detail.live) tasks.push(detail.refresh());
  return Promise.all(tasks);
};

async function poll() {
  // The data and the status at once: no reason to hold the charts behind one small request.
  // (The page itself was rendered after a job that had already ended: its data is final.)
  const wasFinal = FINAL.has(job ? job.status : config.status);
  const data = refreshAll();
  try {
    const response = await request(`/api/jobs/${jobId}`);
    if (!response.ok) throw new Error(messages(response).join("; "));
    showJob(response.body);
  } catch (error) {
    data.catch(() => {}); // reported once, below
    throw error;
  }
  await data;
  // The data may have been read just before the job's last trials landed: once it has ended,
  // read it again, after the status, so the page stops on the final state.
  if (!wasFinal && FINAL.has(job.status)) await refreshAll();
  polls += 1;
  document.body.dataset.polls = String(polls);
}

// A 5,000-trial job changes every few seconds and each change redraws thousands of points:
// poll it less often than a job of ten trials.
function interval() {
  const trials = front.data ? front.data.count : 0;
  return Math.min(10000, 2000 + trials);
}

async function loop() {
  const note = byId("live-note");
  try {
    await poll();
    note.textContent = FINAL.has(job.status) ? "" : "live";
  } catch (error) {
    note.textContent = `connection lost (${error.message}); retrying`;
  }
  if (!job || !FINAL.has(job.status)) setTimeout(loop, interval());
}

function setupCancel() {
  const button = byId("cancel");
  let armed = null;
  button.addEventListener("click", async () => {
    // Two clicks: a long search should not end on a stray one.
    if (!armed) {
      button.textContent = "Click again to cancel";
      button.classList.add("armed");
      armed = setTimeout(() => {
        armed = null;
        button.textContent = "Cancel job";
        button.classList.remove("armed");
      }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.disabled = true;
    const response = await request(`/api/jobs/${jobId}/cancel`, { method: "POST" });
    button.disabled = false;
    button.textContent = "Cancel job";
    button.classList.remove("armed");
    if (response.ok) showJob(response.body);
    else byId("job-error").textContent = messages(response).join("\n");
  });
}

async function start() {
  setupToken(config.auth);
  setupCancel();
  setInterval(tickElapsed, 1000);
  await loop();
  // Everything has been drawn once: tests and benchmarks wait for this mark.
  document.body.dataset.ready = "1";
  performance.mark("spikenas-ready");
}

start();
