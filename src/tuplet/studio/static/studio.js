// tuplet studio: the page. Plain JS, no libraries, nothing loaded from another host.
// The server owns the piece; this file draws it, plays the server's WAV renders and sends
// actions (every POST carries the per-launch token from the page's <meta>).
"use strict";

const TOKEN = document.querySelector('meta[name="tuplet-token"]').content;
const $ = (id) => document.getElementById(id);

const S = {
  state: null,          // /api/state
  shown: null,          // the piece drawn and played: the current one or a candidate's
  source: "piece",      // "piece" or a candidate id
  candidates: [],       // [{id, label, report, withheld, piece}]
  tracks: [],           // per track of the current piece: {mute, solo, hide, sel}
  view: { beat0: 0, pxPerBeat: 24, pitchLow: 36, pitchHigh: 96 },
  selection: null,      // {start, end} in beats
  playhead: 0,          // beats
  job: null,
  drawnNotes: 0,
  audioKey: null,
};
window.studio = S;      // for tests and the curious

// ------------------------------------------------------------------ requests
async function api(method, url, body, raw) {
  const init = { method, headers: {} };
  if (method !== "GET") init.headers["X-Tuplet-Token"] = TOKEN;
  if (raw !== undefined) {
    init.body = raw;
    init.headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(url, init);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const err = new Error((data && data.error) || `${r.status} ${r.statusText}`);
    err.status = r.status;
    throw err;
  }
  return data;
}

// text from files (track names) and reports goes into HTML escaped
function esc(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
}

function say(text, ok) {
  const m = $("message");
  m.textContent = text || "";
  m.className = ok ? "ok" : "";
}

async function guarded(fn) {
  try { say(""); await fn(); } catch (e) { say(e.message); }
}

// ------------------------------------------------------------------ time
function beatToSec(piece, beat) {
  const t = piece.tempo; let sec = 0;
  for (let i = 0; i < t.length; i++) {
    const start = t[i][0], qpm = t[i][1];
    const end = i + 1 < t.length ? t[i + 1][0] : Infinity;
    if (beat <= start) break;
    sec += (Math.min(beat, end) - start) * 60 / qpm;
  }
  return sec + (beat < t[0][0] ? beat * 60 / t[0][1] : 0);
}

function secToBeat(piece, sec) {
  const t = piece.tempo; let left = sec;
  for (let i = 0; i < t.length; i++) {
    const start = t[i][0], qpm = t[i][1];
    const end = i + 1 < t.length ? t[i + 1][0] : Infinity;
    const span = (end - start) * 60 / qpm;
    if (left <= span) return start + left * qpm / 60;
    left -= span;
  }
  return 0;
}

// ------------------------------------------------------------------ colours
// a hue per instrument (program); tracks of one instrument (a choir's voices) differ in shade
function trackColour(track, alpha, index) {
  const shade = 34 + ((index || 0) % 4) * 9;
  if (track.is_drum) return `hsla(0,0%,${shade}%,${alpha})`;
  const hue = (track.program * 47 + 200) % 360;
  return `hsla(${hue},65%,${shade}%,${alpha})`;
}

// ------------------------------------------------------------------ the roll
function drawRoll(canvas, piece, opts) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  const v = opts.view;
  const rows = v.pitchHigh - v.pitchLow + 1;
  const rowH = H / rows;
  const x = (b) => (b - v.beat0) * v.pxPerBeat;
  const y = (p) => H - (p - v.pitchLow + 1) * rowH;
  ctx.fillStyle = "#fbfbfa"; ctx.fillRect(0, 0, W, H);
  for (let p = v.pitchLow; p <= v.pitchHigh; p++) {   // black keys shaded, C lines
    if ([1, 3, 6, 8, 10].includes(p % 12)) { ctx.fillStyle = "#f0efec"; ctx.fillRect(0, y(p), W, rowH); }
    if (p % 12 === 0 && opts.labels) {
      ctx.fillStyle = "#bbb"; ctx.fillRect(0, y(p) + rowH, W, 0.5);
      ctx.fillStyle = "#999"; ctx.font = "10px sans-serif"; ctx.fillText(`C${p / 12 - 1}`, 2, y(p) + rowH - 1);
    }
  }
  const beatsShown = W / v.pxPerBeat;
  if (v.pxPerBeat >= 6) {                               // beat grid
    ctx.fillStyle = "#e6e4df";
    for (let b = Math.ceil(v.beat0); b < v.beat0 + beatsShown; b++) ctx.fillRect(x(b), 0, 1, H);
  }
  ctx.fillStyle = "#b9b5ad";                            // bar grid
  piece.bars.forEach((b, i) => {
    if (b >= v.beat0 && b <= v.beat0 + beatsShown) {
      ctx.fillRect(x(b), 0, 1.5, H);
      if (opts.labels && v.pxPerBeat * 4 > 18) { ctx.fillStyle = "#888"; ctx.fillText(String(i + 1), x(b) + 3, 10); ctx.fillStyle = "#b9b5ad"; }
    }
  });
  if (opts.selection) {
    const s = opts.selection;
    ctx.fillStyle = "rgba(42,111,219,0.13)"; ctx.fillRect(x(s.start), 0, x(s.end) - x(s.start), H);
    ctx.fillStyle = "rgba(42,111,219,0.7)"; ctx.fillRect(x(s.start), 0, 1, H); ctx.fillRect(x(s.end), 0, 1, H);
  }
  const states = opts.tracks || [];
  const soloed = states.some((t) => t && t.solo);
  let drawn = 0;
  for (const n of piece.notes) {
    const [on, dur, pitch, vel, tr] = n;
    const st = states[tr];
    if (st && st.hide) continue;
    if (on + dur < v.beat0 || on > v.beat0 + beatsShown) continue;
    if (pitch < v.pitchLow || pitch > v.pitchHigh) continue;
    const silent = st && (st.mute || (soloed && !st.solo));
    ctx.fillStyle = trackColour(piece.tracks[tr] || { program: 0 }, silent ? 0.18 : 0.35 + 0.65 * vel / 127, tr);
    ctx.fillRect(x(on), y(pitch), Math.max(2, dur * v.pxPerBeat - 1), Math.max(2, rowH - 1));
    drawn++;
  }
  if (opts.cursor !== undefined && opts.cursor !== null) {
    ctx.fillStyle = "#d32f2f"; ctx.fillRect(x(opts.cursor) - 1, 0, 2, H);
  }
  return drawn;
}

function fitCanvas() {
  const c = $("roll");
  const w = Math.max(300, Math.floor(c.clientWidth));
  if (c.width !== w) c.width = w;
  c.height = 420;
}

function redraw() {
  if (!S.shown) return;
  fitCanvas();
  S.drawnNotes = drawRoll($("roll"), S.shown, {
    view: S.view, selection: S.selection, cursor: S.playhead,
    tracks: S.source === "piece" ? S.tracks : [], labels: true,
  });
  $("position").textContent = `beat ${S.playhead.toFixed(2)}`;
  $("selection-info").textContent = S.selection ? `selected beats ${S.selection.start}:${S.selection.end}` : "";
}

function pitchRange(piece) {            // the piece's pitches, with a margin, two octaves at least
  if (!piece.notes.length) return [36, 96];
  let lo = 127, hi = 0;
  for (const n of piece.notes) { lo = Math.min(lo, n[2]); hi = Math.max(hi, n[2]); }
  return [Math.max(0, lo - 3), Math.min(127, Math.max(hi + 3, lo + 24))];
}

function fitPitches(piece) { [S.view.pitchLow, S.view.pitchHigh] = pitchRange(piece); }

function fitTime(piece) {
  fitCanvas();
  S.view.beat0 = 0;
  S.view.pxPerBeat = Math.max(4, Math.min(60, $("roll").width / Math.max(8, piece.shown_beats)));
}

// ------------------------------------------------------------------ state
function setState(state, keepView) {
  const first = !S.state;
  S.state = state;
  const piece = state.piece;
  if (S.tracks.length !== piece.tracks.length) S.tracks = piece.tracks.map(() => ({ mute: false, solo: false, hide: false, sel: false }));
  showPiece(piece, "piece");
  if (!keepView || first) { fitPitches(piece); fitTime(piece); }
  renderTracks(); renderHistory();
  $("undo").disabled = !state.history.can_undo;
  $("redo").disabled = !state.history.can_redo;
  $("piece-info").textContent = `${piece.notes.length} notes · ${piece.tracks.length} tracks · ${piece.meter[0]}/${piece.meter[1]} · ${piece.seconds.toFixed(1)} s`;
  if (first) {
    const m = state.model;
    $("model-info").textContent = `model: ${m.name} (${m.encoding} encoding${m.can_fill ? "" : ", cannot rewrite or add parts"})`;
    $("instrument-names").innerHTML = m.instruments.map((n) => `<option value="${esc(n)}">`).join("");
  }
  redraw();
}

function showPiece(piece, source) {
  S.shown = piece; S.source = source;
  $("source").textContent = source === "piece" ? "current piece"
    : source === "draft" ? "drafting…" : `candidate ${candidateNumber(source)}`;
  document.querySelectorAll(".candidate").forEach((el) => el.classList.toggle("auditioning", el.dataset.id === source));
  if (S.playhead > piece.shown_beats) S.playhead = 0;
}

function candidateNumber(id) { return S.candidates.findIndex((c) => c.id === id) + 1; }

function renderTracks() {
  const ul = $("tracks"); ul.innerHTML = "";
  S.state.piece.tracks.forEach((t, i) => {
    const st = S.tracks[i];
    const li = document.createElement("li");
    li.innerHTML = `<input type="checkbox" class="sel" title="rewrite this track">
      <span class="swatch"></span>
      <span class="name" title="${esc(t.name)} (${esc(t.instrument || "not in this model")})">${esc(t.name)}</span>
      <button class="mute">M</button><button class="solo">S</button><button class="hide">H</button>`;
    li.querySelector(".swatch").style.background = trackColour(t, 1, i);  // (CSP: no inline styles)
    li.querySelector(".sel").checked = st.sel;
    li.querySelector(".sel").onchange = (e) => { st.sel = e.target.checked; };
    for (const k of ["mute", "solo", "hide"]) {
      const b = li.querySelector("." + k);
      b.classList.toggle("on", st[k]);
      b.onclick = () => { st[k] = !st[k]; b.classList.toggle("on", st[k]); if (k !== "hide") S.audioKey = null; redraw(); };
    }
    ul.appendChild(li);
  });
  if (!S.state.piece.tracks.length) ul.innerHTML = '<li class="hint">no notes yet: open a file, pick an example or generate</li>';
}

function renderHistory() {
  const h = S.state.history; const ol = $("history"); ol.innerHTML = "";
  h.entries.forEach((label, i) => {
    const li = document.createElement("li"); li.textContent = label;
    li.className = i === h.position ? "current" : i > h.position ? "future" : "";
    ol.appendChild(li);
  });
}

// ------------------------------------------------------------------ playback
function audioUrl() {
  if (S.source !== "piece") return `/api/audio/candidates/${S.source}.wav`;
  const soloed = S.tracks.some((t) => t.solo);
  const playing = S.tracks.map((t, i) => (!t.mute && (!soloed || t.solo) ? i : -1)).filter((i) => i >= 0);
  const all = playing.length === S.tracks.length;
  return "/api/audio/piece.wav?v=" + S.state.history.position + (all ? "" : "&tracks=" + (playing.join(",") || "none"));
}

async function play() {
  if (S.source === "draft") throw new Error("still drawing: listen when the candidates arrive");
  const a = $("audio");
  const url = audioUrl();
  if (S.audioKey !== url) {
    a.src = url; S.audioKey = url;
    try {
      await new Promise((ok, bad) => { a.onloadedmetadata = ok; a.onerror = bad; });
    } catch (e) {                                    // ask again for the server's reason
      S.audioKey = null;
      await api("GET", url);
      throw new Error("no audio for this piece");
    }
  }
  a.currentTime = beatToSec(S.shown, S.playhead);
  await a.play();
  tick();
}

function stop() { $("audio").pause(); }

function tick() {
  const a = $("audio");
  if (a.paused) return;
  let beat = secToBeat(S.shown, a.currentTime);
  if ($("loop-sel").checked && S.selection && beat >= S.selection.end) {
    a.currentTime = beatToSec(S.shown, S.selection.start); beat = S.selection.start;
  }
  S.playhead = beat;
  const v = S.view, visible = $("roll").width / v.pxPerBeat;   // follow the cursor
  if (beat > v.beat0 + visible * 0.9 || beat < v.beat0) v.beat0 = Math.max(0, beat - visible * 0.1);
  redraw();
  requestAnimationFrame(tick);
}

// ------------------------------------------------------------------ roll interaction
function beatAt(evt) {
  const r = $("roll").getBoundingClientRect();
  const px = (evt.clientX - r.left) * ($("roll").width / r.width);
  return Math.max(0, S.view.beat0 + px / S.view.pxPerBeat);
}

let drag = null;
$("roll").addEventListener("mousedown", (e) => { drag = { from: beatAt(e), x: e.clientX, moved: false }; });
window.addEventListener("mousemove", (e) => {
  if (!drag) return;
  if (Math.abs(e.clientX - drag.x) > 4) drag.moved = true;
  if (drag.moved) {
    const a = Math.floor(Math.min(drag.from, beatAt(e))), b = Math.ceil(Math.max(drag.from, beatAt(e)));
    S.selection = { start: a, end: Math.max(b, a + 1) };
    redraw();
  }
});
window.addEventListener("mouseup", (e) => {
  if (!drag) return;
  if (!drag.moved) {                                   // a click seeks
    S.playhead = beatAt(e);
    const a = $("audio");
    if (S.audioKey && !a.paused) a.currentTime = beatToSec(S.shown, S.playhead);
    if (!e.shiftKey) S.selection = null;
    redraw();
  }
  drag = null;
});
$("roll").addEventListener("wheel", (e) => {
  e.preventDefault();
  const v = S.view;
  if (e.ctrlKey || e.metaKey) zoomTime(e.deltaY < 0 ? 1.25 : 0.8);
  else if (e.shiftKey) scrollPitch(e.deltaY > 0 ? -2 : 2);
  else { v.beat0 = Math.max(0, v.beat0 + (e.deltaY + e.deltaX) / v.pxPerBeat); redraw(); }
}, { passive: false });

function zoomTime(f) { S.view.pxPerBeat = Math.max(2, Math.min(200, S.view.pxPerBeat * f)); redraw(); }
function zoomPitch(f) {
  const v = S.view, mid = (v.pitchLow + v.pitchHigh) / 2;
  const half = Math.max(6, Math.min(64, (v.pitchHigh - v.pitchLow) / 2 * f));
  v.pitchLow = Math.max(0, Math.round(mid - half)); v.pitchHigh = Math.min(127, Math.round(mid + half)); redraw();
}
function scrollPitch(d) {
  const v = S.view;
  if (v.pitchLow + d < 0 || v.pitchHigh + d > 127) return;
  v.pitchLow += d; v.pitchHigh += d; redraw();
}

// ------------------------------------------------------------------ actions
function modeChanged() {
  const mode = $("mode").value;
  document.querySelectorAll("#actions-panel [data-for]").forEach((el) => { el.hidden = !el.dataset.for.split(" ").includes(mode); });
  const hints = {
    generate: "A new piece of the given length; keeping one replaces the current piece.",
    continue: "Goes on from the playhead (click the roll to move it).",
    rewrite: "Drag across the roll to select beats; tick tracks to rewrite only those.",
    "add-part": "A new part over the whole piece, fitted to the others.",
    loop: "A seamless loop: of the piece's first bars, or new when the piece is empty.",
  };
  $("mode-hint").textContent = hints[mode];
}

function actionBody() {
  const mode = $("mode").value;
  const body = { mode, n: Number($("n").value), bars: Number($("bars").value), adventurous: Number($("adventurous").value) };
  if ($("meter").value && (mode === "generate" || mode === "loop")) body.meter = $("meter").value.split("/").map(Number);
  const seed = $("seed").value; if (seed !== "") body.seed = Number(seed);
  const inst = $("instruments").value.split(",").map((s) => s.trim()).filter(Boolean);
  if (inst.length && (mode === "generate" || mode === "loop")) body.instruments = inst;
  if (mode === "continue") body.from_beat = S.playhead;
  if (mode === "rewrite") {
    if (!S.selection) throw new Error("select a span first: drag across the roll");
    body.start_beat = S.selection.start; body.end_beat = S.selection.end;
    body.tracks = S.tracks.map((t, i) => (t.sel ? i : -1)).filter((i) => i >= 0);
  }
  if (mode === "add-part") body.instrument = $("part-instrument").value.trim();
  return body;
}

async function go() {
  const job = await api("POST", "/api/actions", actionBody());
  S.job = job.id;
  $("go").disabled = true; $("job").hidden = false;
  try {
    for (;;) {
      const j = await api("GET", `/api/jobs/${job.id}`);
      $("job-status").textContent = j.status === "queued" ? `waiting (${j.waited_seconds.toFixed(0)} s)…`
        : `${j.kind}: ${j.running_seconds.toFixed(0)} s, ${j.notes_drawn} notes drawn…`;
      if (j.draft && j.status === "running") {             // a new piece, as it is drawn
        const first = S.source !== "draft";
        showPiece(j.draft, "draft");
        if (first && !S.state.piece.notes.length) fitPitches(j.draft);
        redraw();
      }
      if (j.status === "done") { showCandidates([...S.candidates, ...j.candidates]); say(`${j.candidates.length} idea(s): listen, then keep one`, true); break; }
      if (j.status === "failed") { say(j.error); break; }
      if (j.status === "cancelled") { say("cancelled", true); break; }
      await new Promise((ok) => setTimeout(ok, 300));
    }
  } finally {
    S.job = null; $("go").disabled = false; $("job").hidden = true;
    if (S.source === "draft") { showPiece(S.state.piece, "piece"); redraw(); }
  }
}

function showCandidates(cands) {
  S.candidates = cands;
  const box = $("candidates"); box.innerHTML = "";
  $("candidates-panel").hidden = !cands.length;
  cands.forEach((c, i) => {
    const r = c.report, o = r.originality;
    const div = document.createElement("div");
    div.className = "candidate"; div.dataset.id = c.id;
    const orig = !o ? "not available (no index of the model's corpus here)"
      : o.originality === null ? "too few notes to score"
      : `${o.originality.toFixed(2)} (${o.verdict}; closest: ${esc(o.closest)})`;
    div.innerHTML = `<strong>${i + 1}. ${esc(c.label)}</strong><canvas width="500" height="90"></canvas>
      <dl class="facts"><dt>notes</dt><dd>${r.notes} (${r.new_notes} new)</dd>
      <dt>instruments</dt><dd>${esc(r.instruments.join(", ") || "none")}</dd>
      <dt>seed</dt><dd>${r.seed}</dd><dt>time</dt><dd>${r.generation_seconds} s</dd>
      <dt>originality</dt><dd>${orig}</dd></dl>
      ${c.withheld ? `<p class="withheld">withheld: ${esc(c.withheld)}</p>` : ""}
      <details class="report"><summary>Report</summary><pre>${esc(JSON.stringify(r, null, 1))}</pre></details>
      <div class="buttons"><button class="audition">Listen (B)</button><button class="current">Current (A)</button>
      <button class="keep" ${c.withheld ? "disabled" : ""}>Keep</button><button class="discard">Discard</button>
      ${c.withheld ? "" : `<a class="button" href="/api/download/candidates/${c.id}.mid" download title="this candidate's MIDI">MIDI</a>`}</div>`;
    const cv = div.querySelector("canvas");
    const [lo, hi] = pitchRange(c.piece);
    const v = { beat0: 0, pxPerBeat: 500 / Math.max(8, c.piece.shown_beats), pitchLow: lo, pitchHigh: hi };
    box.appendChild(div);
    drawRoll(cv, c.piece, { view: v });
    div.querySelector(".audition").onclick = () => guarded(() => audition(c.id));
    div.querySelector(".current").onclick = () => guarded(() => audition("piece"));
    div.querySelector(".keep").onclick = () => guarded(() => keep(c.id));
    div.querySelector(".discard").onclick = () => guarded(() => discard(c.id));
  });
}

async function audition(id) {               // A/B: switch at the same place in the music
  const a = $("audio"); const wasPlaying = !a.paused;
  const piece = id === "piece" ? S.state.piece : S.candidates.find((c) => c.id === id).piece;
  showPiece(piece, id);
  if (!S.state.piece.notes.length) { fitPitches(piece); fitTime(piece); }  // nothing to compare with: show it all
  redraw();
  if (wasPlaying) { stop(); await play(); }
}

async function keep(id) {
  stop();
  const state = await api("POST", `/api/candidates/${id}/keep`);
  showCandidates([]); S.audioKey = null;
  setState(state, true);
  say("kept", true);
}

async function discard(id) {
  await api("POST", `/api/candidates/${id}/discard`);
  if (S.source === id) { stop(); showPiece(S.state.piece, "piece"); }
  showCandidates(S.candidates.filter((c) => c.id !== id));
  redraw();
}

async function openFile(file, name) {
  if (!file) return;
  name = name || file.name;
  stop();
  if (/\.(wav|flac|ogg|mp3)$/i.test(name)) say(`transcribing ${name}…`, true);
  const instrument = encodeURIComponent($("rec-instrument").value);
  const url = `/api/open?name=${encodeURIComponent(name)}&instrument=${instrument}`;
  const state = await api("POST", url, undefined, file);
  S.selection = null; S.playhead = 0; S.audioKey = null; showCandidates([]);
  S.tracks = [];
  setState(state);
  say(state.transcribed ? `opened ${name}: ${state.transcribed}` : `opened ${name}`, true);
}

// ------------------------------------------------------------------ record an idea
// The microphone's samples are kept as they come (no compression) and sent as a 16-bit WAV
// file, which the server transcribes as it does an opened recording.
const REC = { stream: null, ctx: null, node: null, chunks: [], rate: 44100 };

async function startRecording() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("this browser cannot record here");
  }
  const constraints = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
  REC.stream = await navigator.mediaDevices.getUserMedia({ audio: constraints });
  REC.ctx = new AudioContext();
  REC.rate = REC.ctx.sampleRate;
  REC.chunks = [];
  const source = REC.ctx.createMediaStreamSource(REC.stream);
  REC.node = REC.ctx.createScriptProcessor(4096, 1, 1);
  REC.node.onaudioprocess = (e) => REC.chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  source.connect(REC.node);
  REC.node.connect(REC.ctx.destination);
  $("record").textContent = "Stop recording";
  $("record").classList.add("on");
  say("recording: play, sing or hum your idea, then press Stop recording", true);
}

async function stopRecording() {
  REC.node.disconnect();
  REC.stream.getTracks().forEach((t) => t.stop());
  await REC.ctx.close();
  REC.stream = null;
  $("record").textContent = "Record";
  $("record").classList.remove("on");
  const wav = new Blob([wavBytes(REC.chunks, REC.rate)], { type: "audio/wav" });
  REC.chunks = [];
  await openFile(wav, "recording.wav");
}

function wavBytes(chunks, rate) {
  const n = chunks.reduce((total, c) => total + c.length, 0);
  const v = new DataView(new ArrayBuffer(44 + 2 * n));
  const text = (at, s) => { for (let i = 0; i < s.length; i++) v.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); text(8, "WAVE");
  text(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true);
  v.setUint16(34, 16, true); text(36, "data"); v.setUint32(40, 2 * n, true);
  let at = 44;
  for (const c of chunks) {
    for (let i = 0; i < c.length; i++, at += 2) v.setInt16(at, Math.max(-1, Math.min(1, c[i])) * 32767, true);
  }
  return v.buffer;
}

async function change(url, body) {
  stop();
  const state = await api("POST", url, body);
  S.audioKey = null; S.tracks = []; S.selection = null;
  setState(state, url === "/api/undo" || url === "/api/redo");
}

// ------------------------------------------------------------------ wiring
$("record").onclick = () => guarded(() => (REC.stream ? stopRecording() : startRecording()));
$("open").onchange = (e) => guarded(() => openFile(e.target.files[0]).finally(() => { e.target.value = ""; }));
$("example").onchange = (e) => guarded(async () => {
  if (!e.target.value) return;
  await change("/api/example", { id: e.target.value });
  say(`opened ${e.target.value}`, true); e.target.value = "";
});
$("new").onclick = () => guarded(() => change("/api/new", { meter: ($("meter").value || "4/4").split("/").map(Number) }));
$("undo").onclick = () => guarded(() => change("/api/undo"));
$("redo").onclick = () => guarded(() => change("/api/redo"));
$("play").onclick = () => guarded(play);
$("stop").onclick = () => stop();
$("zoom-in").onclick = () => zoomTime(1.25);
$("zoom-out").onclick = () => zoomTime(0.8);
$("pitch-in").onclick = () => zoomPitch(0.8);
$("pitch-out").onclick = () => zoomPitch(1.25);
$("go").onclick = () => guarded(go);
$("cancel").onclick = () => guarded(async () => { if (S.job) await api("POST", `/api/jobs/${S.job}/cancel`); });
$("discard-all").onclick = () => guarded(async () => { for (const c of [...S.candidates]) await discard(c.id); });
$("mode").onchange = modeChanged;
$("adventurous").oninput = () => { $("adventurous-out").textContent = $("adventurous").value; };
window.addEventListener("resize", redraw);
window.addEventListener("keydown", (e) => {
  if (["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName)) return;
  if (e.key === " ") { e.preventDefault(); if ($("audio").paused) guarded(play); else stop(); }
  else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); guarded(() => change(e.shiftKey ? "/api/redo" : "/api/undo")); }
});
let dragDepth = 0;
window.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth++; $("drop").hidden = false; });
window.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; $("drop").hidden = true; } });
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => {
  e.preventDefault(); dragDepth = 0; $("drop").hidden = true;
  guarded(() => openFile(e.dataTransfer.files[0]));
});

(async () => {
  modeChanged();
  await guarded(async () => setState(await api("GET", "/api/state")));
  const ex = await api("GET", "/api/examples").catch(() => ({ examples: [] }));
  for (const x of ex.examples) {
    const o = document.createElement("option"); o.value = x.id; o.textContent = x.title; $("example").appendChild(o);
  }
  document.body.dataset.ready = "1";
})();
