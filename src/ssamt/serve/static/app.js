// The search page: calls the JSON API under /api/ and draws the results.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { result: null, reranked: true };

function esc(text) {
  const div = document.createElement("div");
  div.textContent = text == null ? "" : String(text);
  return div.innerHTML;
}

async function api(path, params) {
  const url = path + "?" + new URLSearchParams(params).toString();
  const response = await fetch(url);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail)
      ? body.detail.map((d) => `${(d.loc || []).slice(-1)[0]}: ${d.msg}`).join("; ")
      : body.detail;
    throw new Error(detail || `HTTP ${response.status}`);
  }
  return body;
}

function showError(message) {
  const box = $("error");
  box.hidden = !message;
  box.textContent = message || "";
}

function pictureHtml(id, kind) {
  if (kind === "svg" || kind === "file") {
    return `<img alt="image ${esc(id)}" src="/api/images/${encodeURIComponent(id)}/picture">`;
  }
  return `<div class="noimage">image ${esc(id)}</div>`;
}

function moveHtml(hit) {
  const moved = hit.stage1_rank - hit.rank;
  if (moved > 0) return `<span class="up" title="up from ${hit.stage1_rank}">▲${moved}</span>`;
  if (moved < 0) return `<span class="down" title="down from ${hit.stage1_rank}">▼${-moved}</span>`;
  return `<span class="same">=</span>`;
}

function scoresHtml(hit) {
  const eq5 = hit.eq5 == null ? "–" : hit.eq5.toFixed(3);
  return `Eq.5 ${eq5} · cos ${hit.stage1_score.toFixed(3)}`;
}

function cardHtml(hit, mode, position) {
  const rank = state.reranked ? hit.rank : hit.stage1_rank;
  const head = `<div class="meta"><span class="rank">#${rank}</span>${moveHtml(hit)}` +
    `<span>${scoresHtml(hit)}</span></div>`;
  const why = `<button type="button" class="why" data-pos="${position}">why?</button>`;
  if (mode === "text") {
    const caps = hit.captions.slice(0, 2).map((c) => `<li>${esc(c)}</li>`).join("");
    return `<div class="card result">${pictureHtml(hit.id, hit.picture)}${head}` +
      `<div class="muted">${esc(hit.id)}</div><ul>${caps}</ul>${why}</div>`;
  }
  const own = String(hit.image_id) === String(state.result.query);
  return `<div class="card result${own ? " own" : ""}">${head}<p>${esc(hit.text)}</p>` +
    `<div class="muted">caption ${hit.id} of image ${esc(hit.image_id)}${own ? " (its own)" : ""}` +
    `</div>${why}</div>`;
}

function render() {
  const result = state.result;
  if (!result) return;
  const hits = state.reranked ? result.results : result.stage1_results;
  $("results").innerHTML = hits.map((h, n) => cardHtml(h, result.mode, n)).join("");
  $("toggle").textContent = state.reranked ? "re-ranked (Eq. 5)" : "dual encoder (stage 1)";
  $("toggle").setAttribute("aria-pressed", String(state.reranked));
  $("timing").textContent = `stage 1 ${(1000 * result.seconds.stage1).toFixed(1)} ms, ` +
    `stage 2 ${(1000 * result.seconds.stage2).toFixed(1)} ms`;
  $("controls").hidden = false;
  document.querySelectorAll("button.why").forEach((b) => b.addEventListener("click", () => {
    explain(hits[Number(b.dataset.pos)]);
  }));
}

async function search(event) {
  event.preventDefault();
  showError("");
  const mode = $("mode").value;
  const q = $("q").value.trim();
  const params = { k: $("k").value, rerank_k: $("rerank").value };
  try {
    if (mode === "text") {
      state.result = await api("/api/search/text", { q, ...params });
      $("query-image").innerHTML = "";
    } else {
      state.result = await api("/api/search/image", { id: q, ...params });
      const img = state.result.image;
      $("query-image").innerHTML = `<div class="card">${pictureHtml(img.id, img.picture)}` +
        `<div class="muted">query image ${esc(img.id)}</div></div>`;
    }
    render();
  } catch (err) {
    showError(err.message);
  }
}

function chip(part) {
  const classes = ["chip"];
  if (part.type === "stop word") classes.push("stop");
  if (part.mismatch) classes.push("flag");
  const score = part.score == null ? "not seen" : part.score.toFixed(3);
  const label = part.label == null ? "–" : (part.label ? "matched" : "mismatched");
  const style = part.type === "stop word" ? "" : ` style="background:${part.colour}"`;
  const small = part.kind === "phrase" && part.score != null ?
    `<small>${part.score.toFixed(2)}</small>` : "";
  return `<span class="${classes.join(" ")}"${style} title="${esc(part.type)}: ${score}; ` +
    `label rule: ${label}">${esc(part.text)}${small}</span>`;
}

async function explain(hit) {
  const result = state.result;
  const params = result.mode === "text" ?
    { image: hit.id, text: result.query } : { image: result.query, caption: hit.id };
  try {
    const e = await api("/api/explain", params);
    const words = e.parts.filter((p) => p.kind === "word").map(chip).join("");
    const phrases = e.parts.filter((p) => p.kind === "phrase").map(chip).join("");
    const terms = e.eq5_terms.map((t) =>
      `<tr><td>${esc(t.term)}</td><td class="num">${t.value.toFixed(4)}</td></tr>`).join("");
    const img = e.image;
    $("explain-body").innerHTML =
      `<div class="card">${pictureHtml(img.id, img.picture)}` +
      `<div class="muted">image ${esc(img.id)}</div></div>` +
      `<h3>Caption</h3><p class="words">${words}</p>` +
      `<h3>Phrases</h3><p class="phrases">${phrases || "(none)"}</p>` +
      `<p class="muted">Model verdict: ${esc(e.verdict.rule)}. Outlined: flagged as a mismatch.</p>` +
      `<h3>Eq. 5</h3><table>${terms}<tr><th>score</th><th class="num">` +
      `${e.scores.eq5.toFixed(4)}</th></tr></table>` +
      `<h3>The image's captions</h3><ul>${img.captions.map((c) => `<li>${esc(c)}</li>`).join("")}</ul>`;
    $("explain-page").href = "/api/explain/page?" + new URLSearchParams(params).toString();
    $("explain").hidden = false;
  } catch (err) {
    showError(err.message);
  }
}

async function init() {
  $("search").addEventListener("submit", search);
  $("toggle").addEventListener("click", () => { state.reranked = !state.reranked; render(); });
  $("explain-close").addEventListener("click", () => { $("explain").hidden = true; });
  $("mode").addEventListener("change", () => {
    $("q").placeholder = $("mode").value === "text" ? "two dogs catching a frisbee" :
      `an image id, e.g. ${state.info ? state.info.example_id : "0"}`;
  });
  try {
    state.info = await api("/api/info", {});
    $("info").textContent = `${state.info.num_images} images, ${state.info.num_captions} ` +
      `captions (${state.info.split}, ${state.info.kind} index)`;
  } catch (err) {
    showError(err.message);
  }
}

init();
