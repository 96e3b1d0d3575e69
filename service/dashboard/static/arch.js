// An architecture spec drawn block by block: input and time steps, the patch embedding and its
// token grid, each stage's blocks (token mixer, then channel MLP), the head, and the neuron.
// Built from DOM nodes with text content only.

import { el } from "./common.js";

const MIXER_NAMES = {
  stm: "spiking token mixer",
  ssa: "spiking self-attention",
  sdsa: "spike-driven self-attention",
  conv: "convolution",
  pool: "pooling",
  identity: "identity (no token mixing)",
};

function mixerText(mixer) {
  const kind = mixer.kind || "stm";
  const name = MIXER_NAMES[kind] || kind;
  const parts = [kind === "identity" ? name : `${kind.toUpperCase()}: ${name}`];
  if (["stm", "ssa", "sdsa"].includes(kind)) parts.push(`${mixer.heads ?? 1} heads`);
  if (["conv", "pool"].includes(kind) && mixer.kernel) parts.push(`kernel ${mixer.kernel}`);
  return { kind, text: parts.join(" · ") };
}

const arrow = () => el("div", { class: "arrow", "aria-hidden": "true" }, "↓");

export function drawArch(node, arch) {
  if (!arch || !Array.isArray(arch.stages)) {
    node.replaceChildren(el("p", { class: "muted" }, "No architecture recorded."));
    return;
  }
  const shape = (arch.input_shape || []).join("×");
  const down = arch.downsample || 1;
  const spatial = (arch.input_shape || []).slice(arch.input_shape?.length === 3 ? 1 : 0);
  const grid = spatial.map((s) => Math.floor(s / down)).join("×");
  const parts = [
    el(
      "div",
      { class: "node" },
      `input ${shape} · ${arch.time_steps ?? "?"} time steps · ` +
        `${arch.encoding || "direct"} encoding`,
    ),
    arrow(),
    el("div", { class: "node" }, `patch embedding ↓${down} → ${grid} tokens`),
  ];
  let index = 0;
  arch.stages.forEach((stage, s) => {
    const blocks = (stage.blocks || []).map((block) => {
      index += 1;
      const mixer = mixerText(block.mixer || {});
      return el(
        "div",
        { class: "block" },
        el("span", { class: "index" }, `${index}`),
        el("div", { class: `node mixer mixer-${mixer.kind}` }, mixer.text),
        el("div", { class: "node mlp" }, `MLP ×${block.mlp_ratio ?? "?"}`),
      );
    });
    parts.push(
      arrow(),
      el(
        "div",
        { class: "stage" },
        el(
          "div",
          { class: "stage-title" },
          `stage ${s + 1} · dim ${stage.dim ?? "?"} · ` +
            `${blocks.length} block${blocks.length === 1 ? "" : "s"}`,
        ),
        ...blocks,
      ),
    );
  });
  const neuron = arch.neuron || {};
  parts.push(
    arrow(),
    el("div", { class: "node" }, `head → ${arch.num_classes ?? "?"} classes (mean over time)`),
    el(
      "div",
      { class: "neuron" },
      `neuron ${(neuron.kind || "lif").toUpperCase()} τ=${neuron.tau ?? 2}` +
        ` · threshold ${neuron.v_threshold ?? 1}` +
        ` · reset ${neuron.v_reset === null ? "soft" : `hard to ${neuron.v_reset ?? 0}`}` +
        ` · surrogate ${neuron.surrogate || "sigmoid"} α=${neuron.alpha ?? 4}`,
    ),
  );
  node.replaceChildren(...parts);
}
