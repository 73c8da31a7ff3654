// facs-rig studio page. Our own code; three.js (global THREE, r130) comes from the
// jupyter-threejs-sage wheel via /three.js. The server mixes (the library's mix / mix_frame);
// this page only plays the mixed target weights back at the display rate and morphs the mesh:
// position = base + sum(weight x delta) over the active targets (sparse per target).
"use strict";

const $ = (id) => document.getElementById(id);
const studio = (window.studio = {
  ready: false, client: 0, rig: null, state: null, pose: null,
  mode: "timeline", time: 0, playing: false, speed: 1,
  frameTimes: [], renderedFrames: 0, lastPoseLatency: null, poseSentAt: null,
  lastNotesLatency: null, notesSentAt: null, receivedBytes: 0, timeline: null,
  errors: [],
  // The state's `disk` (how many times the server's notes took the file's text) that the
  // editor's text was built on, sent with each notes message; and the notes messages sent
  // whose state has not come back.
  disk: 0, notesInFlight: 0,
});
window.addEventListener("error", (e) => studio.errors.push(String(e.message)));

// ---------------------------------------------------------------- helpers
// A binary state frame (facs_rig.studio.server.encode_state): header length (uint32 LE), the
// JSON header (padded to 4 bytes), then each block's float32 values (rows x columns).
function readStateFrame(buffer) {
  const length = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
  let offset = 4 + length;
  for (const block of header.blocks) {
    const count = block.rows * block.columns.length;
    block.values = new Float32Array(buffer, offset, count);
    offset += 4 * count;
  }
  return header;
}
// The page's copy of an array (frames x width), cut or padded with zeros to `frames` rows.
function resized(array, frames, width) {
  if (array.length === frames * width) return array;
  const out = new Float32Array(frames * width);
  out.set(array.subarray(0, Math.min(array.length, out.length)));
  return out;
}
// Which of an array's columns move at all (are above 0 in some frame).
function moving(data, frames, width) {
  const active = new Uint8Array(width);
  for (let c = 0; c < width; c++) {
    for (let f = 0; f < frames; f++) if (data[f * width + c] > 0) { active[c] = 1; break; }
  }
  return active;
}
// Write what changed (the frames and columns in `block`) into the timeline's arrays
// ({name: {data: Float32Array(frames x width), width, active: Uint8Array(width)}}).
function applyBlock(arrays, block, frames) {
  const width = block.width, n = block.columns.length, had = arrays[block.array];
  const fresh = block.reset || !had;
  const data = fresh ? new Float32Array(frames * width) : had.data;  // in place: no copy per keystroke
  for (let r = 0; r < block.rows; r++) {
    const row = (block.first + r) * width;
    for (let k = 0; k < n; k++) data[row + block.columns[k]] = block.values[r * n + k];
  }
  // Which columns move at all (the curves panel lists the moving targets): only the columns
  // the block wrote are looked at again.
  const active = fresh ? new Uint8Array(width) : had.active.slice();
  for (const c of fresh ? active.keys() : block.columns) {
    active[c] = 0;
    for (let f = 0; f < frames; f++) if (data[f * width + c] > 0) { active[c] = 1; break; }
  }
  arrays[block.array] = { data, width, active };
}
// The timeline's arrays, as the server sends what changed since the version the page has
// (`base`; null: everything). Returns false when they cannot be brought up to date (a change
// this page missed): the page then asks for the whole state again.
function updateTimeline(m) {
  const prev = studio.timeline;
  // Unchanged (or already had it); a whole state (base null) is always taken: a restarted
  // server numbers its versions from 1 again, and the page kept the old server's weights.
  if (prev && m.timeline === prev.version && m.base !== null) return true;
  if (!m.blocks || (m.base !== null && !(prev && m.base === prev.version))) return false;
  const arrays = m.base === null ? {} : { ...prev.arrays };
  for (const name of Object.keys(arrays)) {  // cut or padded to the new length (rows past
    const a = arrays[name];                  // the old end start at zero, as on the server)
    const data = resized(a.data, m.frames, a.width);
    // A cut can stop a column moving with no block to say so: look at every column again.
    arrays[name] = { ...a, data, active: m.frames < prev.frames ? moving(data, m.frames, a.width)
                                                              : a.active };
  }
  if (arrays.curves && prev.channels.join() !== m.channels.join()) {  // columns follow the AUs
    const a = arrays.curves, C = m.channels.length, data = new Float32Array(m.frames * C);
    m.channels.forEach((name, c) => {
      const old = prev.channels.indexOf(name);
      if (old >= 0) for (let f = 0; f < m.frames; f++) data[f * C + c] = a.data[f * a.width + old];
    });
    arrays.curves = { data, width: C, active: new Uint8Array(C) };
  }
  for (const block of m.blocks) applyBlock(arrays, block, m.frames);
  studio.timeline = { version: m.timeline, frames: m.frames, channels: m.channels, arrays };
  return true;
}
// Python's round(): halves go to the even neighbour (so 2.5 fps counts 2 frames, as the CLI).
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
function nominalRate(fps) { return Math.max(1, roundHalfEven(fps)); } // as facs_rig.core.timecode
function timecode(seconds, fps) {   // as facs_rig.core.timecode.format_timecode
  const rate = nominalRate(fps);
  const total = roundHalfEven(seconds * fps);
  const ff = total % rate, s = Math.floor(total / rate);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}:${p(ff)}`;
}

// ---------------------------------------------------------------- socket
let socket = null;
function send(message) {
  if (socket && socket.readyState === 1) socket.send(JSON.stringify(message));
}
function connect() {
  socket = new WebSocket(`ws://${location.host}/ws`);
  socket.onopen = () => { $("connection").textContent = "connected"; $("connection").className = "good"; };
  socket.onclose = () => {
    $("connection").textContent = "disconnected"; $("connection").className = "bad";
    setTimeout(connect, 1000);
  };
  socket.binaryType = "arraybuffer";  // state frames with float32 arrays
  socket.onmessage = (event) => {
    studio.receivedBytes += typeof event.data === "string" ? event.data.length : event.data.byteLength;
    onMessage(typeof event.data === "string" ? JSON.parse(event.data) : readStateFrame(event.data));
  };
}
function onMessage(m) {
  if (m.type === "hello") {
    studio.client = m.client; studio.notesInFlight = 0;
    // The server says whether it serves the coarser triangles: without them it would answer
    // 404, which the browser logs as an error.
    if (m.coarse) fetchCoarseOnce();
  }
  else if (m.type === "state") onState(m);
  else if (m.type === "pose") onPose(m);
  else if (m.type === "explain") showExplain(m);
  else if (m.type === "saved") {
    $("save-status").textContent = `saved ${m.path}`; $("save-status").className = "";
    showConflict(null);
  } else if (m.type === "disk_changed") showConflict(m.message);
  else if (m.type === "exported") { $("out-status").textContent = `wrote ${m.path} (${m.bytes} bytes)`; }
  else if (m.type === "export_exists") askOverwrite(m);
  else if (m.type === "osc") showOsc(m);
  else if (m.type === "error") {
    const where = m.request === "pose" || m.request === "insert" ? "pose-error" : "out-status";
    $(where).textContent = `facs-rig: error: ${m.message}`;
    if (m.request === "save" || m.request === "reload") {
      $("save-status").textContent = `facs-rig: error: ${m.message}`; $("save-status").className = "bad";
    }
  } else if (m.type === "refused") console.warn("refused:", m.reason);
}
// The notes file changed on disk under unsaved edits: the server's state (every state carries
// it, so a page opened after the change shows it too), with the two ways out. Save alone is
// refused by the server meanwhile: it would write over the other editor's change.
function showConflict(message) {
  $("disk-conflict").hidden = !message;
  $("disk-conflict-message").textContent = message || "";
}
$("overwrite").onclick = () => send({ type: "save", overwrite: true });
$("reload-disk").onclick = () => send({ type: "reload" });

// ---------------------------------------------------------------- three.js view
const canvas = $("view");
// Software WebGL (SwiftShader, llvmpipe: headless or GPU-less machines) rasterises on the CPU,
// where 4x multisampling costs more than it shows: ask for it only from a real GPU.
function softwareGL() {
  const gl = document.createElement("canvas").getContext("webgl2") || document.createElement("canvas").getContext("webgl");
  if (!gl) return true;
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const name = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : "";
  return /swiftshader|llvmpipe|software|softpipe/i.test(name);
}
studio.softwareGL = softwareGL();
const renderer = new THREE.WebGLRenderer({ canvas, antialias: !studio.softwareGL });
renderer.outputEncoding = THREE.sRGBEncoding;
const fullRatio = window.devicePixelRatio || 1;
renderer.setPixelRatio(fullRatio);
// "Adaptive": while playing, when frames take longer than the display rate allows, the page
// first draws the coarser triangles (a level of detail over the same vertices: fetchCoarse),
// then, on software WebGL, shades per vertex (MeshLambertMaterial copies of the rig's
// materials: the same colours, textures and sides, no specular), then the resolution drops
// (down to a third), so playback keeps time; paused, scrubbed or posed, stills render the full
// mesh at full resolution with the rig's materials.
studio.resolution = 1;
studio.fastShading = false;
studio.coarse = false;
function adaptResolution(interval) {
  if (!$("adaptive").checked) { setCoarse(false); setFastShading(false); return setResolution(1); }
  studio.intervalAvg = studio.intervalAvg ? 0.9 * studio.intervalAvg + 0.1 * interval : interval;
  if (studio.intervalAvg > 34 && !studio.coarse && studio.coarseReady()) setCoarse(true);
  else if (studio.intervalAvg > 34 && studio.softwareGL && !studio.fastShading) setFastShading(true);
  else if (studio.intervalAvg > 34 && studio.resolution > 0.34) setResolution(Math.max(0.33, studio.resolution * 0.85));
  else if (studio.intervalAvg < 20 && studio.resolution < 1) setResolution(Math.min(1, studio.resolution / 0.9));
}
function setFastShading(on) {
  if (on === studio.fastShading) return;
  studio.fastShading = on;
  studio.intervalAvg = 0;
  for (const view of views) {
    if (on && !view.fastMaterials) view.fastMaterials = view.materials.map(lambertCopy);
    view.mesh.material = on ? view.fastMaterials : view.materials;
  }
  if (neutralMesh) neutralMesh.material = views[0].mesh.material;
  dirty = true;
}
function setCoarse(on) {
  if (on === studio.coarse) return;
  studio.coarse = on;
  studio.intervalAvg = 0;
  for (const view of views) {
    view.mesh.geometry = on && view.coarseGeometry ? view.coarseGeometry : view.fullGeometry;
  }
  dirty = true;
}
function lambertCopy(m) {
  return new THREE.MeshLambertMaterial({
    color: m.color, vertexColors: m.vertexColors, map: m.map, emissive: m.emissive, side: m.side,
    transparent: m.transparent, opacity: m.opacity, alphaTest: m.alphaTest,
  });
}
function setResolution(r) {
  if (r === studio.resolution) return;
  studio.resolution = r;
  studio.intervalAvg = 0;
  renderer.setPixelRatio(fullRatio * r);
  renderer.setSize(canvas.clientWidth, canvas.clientHeight, false);
  dirty = true;
}
const scene = new THREE.Scene();
scene.background = new THREE.Color(0x2a2d33);
const camera = new THREE.PerspectiveCamera(30, 1, 0.01, 1000);
const controls = new THREE.OrbitControls(camera, canvas);
// Software WebGL shades every pixel on the CPU, and each directional light costs one more
// specular term per pixel there: the fill light is folded into the hemisphere light.
scene.add(new THREE.HemisphereLight(0xffffff, 0x404048, studio.softwareGL ? 0.8 : 0.65));
const key = new THREE.DirectionalLight(0xffffff, 0.75);
scene.add(key);
const fill = new THREE.DirectionalLight(0xffffff, 0.25);
if (!studio.softwareGL) scene.add(fill);
let dirty = true;
// One view per rig: the rig of the notes, and optionally a comparison rig (--compare) driven by
// the same AU curves through its own profile. Each: geometry, base positions, sparse targets.
const views = [];
let geometry = null, faceMesh = null, neutralMesh = null, targets = [];
studio.texturesPending = 0;

// The rig's glTF materials (facs_rig/studio/materials.py): one MeshStandardMaterial per look,
// base colour textures decoded by the browser from the server's /NAME-image-K (from memory).
const WRAPS = { repeat: THREE.RepeatWrapping, clamp: THREE.ClampToEdgeWrapping, mirror: THREE.MirroredRepeatWrapping };
function makeMaterials(rig, name) {
  const loader = new THREE.TextureLoader();
  const texture = (k, encoding) => {
    if (k < 0) return null;
    const t = rig.textures[k];
    studio.texturesPending++;
    const done = () => { studio.texturesPending--; dirty = true; };
    const tex = loader.load(`/${name}-image-${t.image}`, done, undefined, done);
    tex.flipY = false;  // glTF's UV origin is the image's top left (glTF 2.0 §3.8.4.1)
    tex.encoding = encoding;
    tex.wrapS = WRAPS[t.wrapS]; tex.wrapT = WRAPS[t.wrapT];
    return tex;
  };
  return rig.looks.map((look) => {
    const metalRough = texture(look.metalRoughMap, THREE.LinearEncoding);
    const material = new THREE.MeshStandardMaterial({
      name: look.name, color: new THREE.Color(...look.color), vertexColors: look.vertexColors,
      metalness: look.metalness, roughness: look.roughness, emissive: new THREE.Color(...look.emissive),
      side: look.doubleSided ? THREE.DoubleSide : THREE.FrontSide,
      map: texture(look.map, THREE.sRGBEncoding),
      // glTF packs roughness in G and metalness in B, which is what three.js reads.
      roughnessMap: metalRough, metalnessMap: metalRough,
      transparent: look.alphaMode === "BLEND", opacity: look.alphaMode === "BLEND" ? look.opacity : 1,
      alphaTest: look.alphaMode === "MASK" ? look.alphaCutoff : 0,
    });
    return material;
  });
}

// Vertex normals kept up to date by faces: each face's (area-weighted) normal is added to its
// three corners, as three.js's computeVertexNormals does; when targets change, only the faces
// around the vertices they move are recomputed and their difference applied (playback), and
// every face from scratch when exactness matters (paused, posed, every few hundred frames).
function buildNormals(view) {
  const V = view.base.length / 3, faces = view.faces, F = faces.length / 3;
  const count = new Uint32Array(V + 1);
  for (let i = 0; i < faces.length; i++) count[faces[i] + 1]++;
  for (let v = 0; v < V; v++) count[v + 1] += count[v];
  const list = new Uint32Array(faces.length), fill = count.slice(0, V);
  for (let i = 0; i < faces.length; i++) list[fill[faces[i]]++] = (i / 3) | 0;
  // Per target, the faces around the vertices it moves (deduplicated).
  const seen = new Uint32Array(F);
  let stamp = 0;
  for (const t of view.targets) {
    stamp++;
    const out = [];
    for (const v of t.indices) {
      for (let k = count[v]; k < count[v + 1]; k++) {
        const f = list[k];
        if (seen[f] !== stamp) { seen[f] = stamp; out.push(f); }
      }
    }
    t.faces = Uint32Array.from(out);
  }
  view.faceNormals = new Float32Array(F * 3);
  view.normalSums = new Float32Array(V * 3);
  view.faceStamp = new Uint32Array(F);
  view.vertexStamp = new Uint32Array(V);
  view.stamp = 0;
}
function faceNormal(view, p, f, out) {
  const faces = view.faces, a = faces[3 * f] * 3, b = faces[3 * f + 1] * 3, c = faces[3 * f + 2] * 3;
  const cbx = p[c] - p[b], cby = p[c + 1] - p[b + 1], cbz = p[c + 2] - p[b + 2];
  const abx = p[a] - p[b], aby = p[a + 1] - p[b + 1], abz = p[a + 2] - p[b + 2];
  out[0] = cby * abz - cbz * aby; out[1] = cbz * abx - cbx * abz; out[2] = cbx * aby - cby * abx;
}
const _n = new Float32Array(3);
function normalise(view, from, to) {   // vertices [from, to) whose stamp is current (all: stamp 0)
  const normals = view.geometry.getAttribute("normal"), out = normals.array, sums = view.normalSums;
  for (let v = from; v < to; v++) {
    if (view.stamp && view.vertexStamp[v] !== view.stamp) continue;
    const x = sums[3 * v], y = sums[3 * v + 1], z = sums[3 * v + 2];
    const len = Math.sqrt(x * x + y * y + z * z) || 1;
    out[3 * v] = x / len; out[3 * v + 1] = y / len; out[3 * v + 2] = z / len;
  }
  uploadRange(normals, from, to);
}
function allNormals(view) {
  const p = view.geometry.getAttribute("position").array, F = view.faces.length / 3;
  const sums = view.normalSums, fn = view.faceNormals, faces = view.faces;
  sums.fill(0);
  for (let f = 0; f < F; f++) {
    faceNormal(view, p, f, _n);
    fn[3 * f] = _n[0]; fn[3 * f + 1] = _n[1]; fn[3 * f + 2] = _n[2];
    for (let k = 0; k < 3; k++) {
      const v = 3 * faces[3 * f + k];
      sums[v] += _n[0]; sums[v + 1] += _n[1]; sums[v + 2] += _n[2];
    }
  }
  view.stamp = 0;
  normalise(view, 0, sums.length / 3);
}
function changedNormals(view, changed, lo, hi) {
  const p = view.geometry.getAttribute("position").array, faces = view.faces;
  const sums = view.normalSums, fn = view.faceNormals, fs = view.faceStamp, vs = view.vertexStamp;
  const stamp = ++view.stamp;
  for (const t of changed) {
    const list = t.faces;
    for (let i = 0; i < list.length; i++) {
      const f = list[i];
      if (fs[f] === stamp) continue;
      fs[f] = stamp;
      faceNormal(view, p, f, _n);
      const dx = _n[0] - fn[3 * f], dy = _n[1] - fn[3 * f + 1], dz = _n[2] - fn[3 * f + 2];
      fn[3 * f] = _n[0]; fn[3 * f + 1] = _n[1]; fn[3 * f + 2] = _n[2];
      for (let k = 0; k < 3; k++) {
        const v = faces[3 * f + k];
        sums[3 * v] += dx; sums[3 * v + 1] += dy; sums[3 * v + 2] += dz;
        vs[v] = stamp;
        if (v < lo) lo = v;
        if (v >= hi) hi = v + 1;
      }
    }
  }
  normalise(view, lo, hi);
}
// Upload only vertices [from, to) of an attribute (the server puts moving vertices first):
// ranges are gathered while morphing and handed to three.js (updateRange) before drawing.
function uploadRange(attribute, from, to) {
  if (to <= from) return;
  const r = attribute.pending || (attribute.pending = [Infinity, -1]);
  r[0] = Math.min(r[0], from); r[1] = Math.max(r[1], to);
}
function flushUploads(view) {
  for (const key of ["position", "normal"]) {
    const attribute = view.geometry.getAttribute(key), r = attribute.pending;
    if (!r || r[1] < 0) continue;
    attribute.updateRange.offset = r[0] * 3;
    attribute.updateRange.count = (r[1] - r[0]) * 3;
    attribute.needsUpdate = true;
    r[0] = Infinity; r[1] = -1;
  }
}

function buildView(rig, blob, name) {
  const L = rig.layout;
  const base = new Float32Array(blob, L.positions, L.vertices * 3);
  const faces = new Uint32Array(blob, L.faces, L.triangles * 3);
  const colours = new Float32Array(blob, L.colours, L.vertices * 3);
  const view = {
    rig, base, faces, shown: new Float32Array(rig.profile_targets.length),
    applied: new Float32Array(L.targets.length), steps: 0,
    targets: L.targets.map((t, j) => ({
      name: t.name, column: rig.columns[j],
      indices: new Uint32Array(blob, t.indices, t.count),
      deltas: new Float32Array(blob, t.deltas, t.count * 3),
    })),
  };
  view.geometry = new THREE.BufferGeometry();
  const position = new THREE.BufferAttribute(new Float32Array(base), 3);
  position.setUsage(THREE.DynamicDrawUsage);
  view.geometry.setAttribute("position", position);
  const normal = new THREE.BufferAttribute(new Float32Array(base.length), 3);
  normal.setUsage(THREE.DynamicDrawUsage);
  view.geometry.setAttribute("normal", normal);
  view.geometry.setAttribute("color", new THREE.BufferAttribute(colours, 3));
  if (L.uvs >= 0) view.geometry.setAttribute("uv", new THREE.BufferAttribute(new Float32Array(blob, L.uvs, L.vertices * 2), 2));
  view.geometry.setIndex(new THREE.BufferAttribute(faces, 1));
  // One draw call per look (the server grouped the triangles by material).
  for (const g of L.groups) view.geometry.addGroup(g.start, g.count, g.look);
  buildNormals(view);
  allNormals(view);
  view.fullGeometry = view.geometry;
  view.materials = makeMaterials(rig, name);
  view.mesh = new THREE.Mesh(view.geometry, view.materials);
  // Framing: the face (the box the software previews frame), or at least a little more than
  // half of the rig's height (a rig whose jaw moves most has only the lower face in that box).
  const [lo, hi] = rig.focus;
  view.centre = new THREE.Vector3((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2);
  view.size = Math.max(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2], 0.55 * (rig.bounds[1][1] - rig.bounds[0][1]));
  scene.add(view.mesh);
  return view;
}

// Playback's coarser triangles (/NAME-coarse.bin, facs_rig/studio/lod.py) over the same vertex
// buffers: one morph serves both, and every vertex a coarse frame draws is where the full mesh
// has it. Fetched after the page is up; until then (or if it fails) playback draws the full mesh.
async function fetchCoarse(view, name) {
  const response = await fetch(`/${name}-coarse.bin`);
  if (!response.ok) return;
  const words = new Uint32Array(await response.arrayBuffer());
  const G = words[0], geometry = new THREE.BufferGeometry();
  for (const key of ["position", "normal", "color", "uv"]) {
    const attribute = view.fullGeometry.getAttribute(key);
    if (attribute) geometry.setAttribute(key, attribute);
  }
  geometry.setIndex(new THREE.BufferAttribute(words.subarray(1 + 3 * G), 1));
  for (let g = 0; g < G; g++) geometry.addGroup(words[1 + 3 * g], words[2 + 3 * g], words[3 + 3 * g]);
  view.coarseGeometry = geometry;
  if (studio.coarse) view.mesh.geometry = geometry;
}
function fetchCoarseOnce() {
  if (studio.coarseAsked) return;
  studio.coarseAsked = true;
  views.forEach((view, k) => fetchCoarse(view, k ? "rig2" : "rig").catch((e) => console.warn("coarse:", e)));
}
studio.coarseReady = () => views.length > 0 && views.every((view) => view.coarseGeometry);

async function fetchRig(name) {
  const rig = await (await fetch(`/${name}.json`)).json();
  const blob = await (await fetch(`/${name}.bin`)).arrayBuffer();
  return [rig, blob];
}

async function loadRig() {
  const [rig, blob] = await fetchRig("rig");
  studio.rig = rig;
  const main = buildView(rig, blob, "rig");
  views.push(main);
  ({ geometry, mesh: faceMesh, targets } = main);
  const still = new THREE.BufferGeometry();
  still.setAttribute("position", new THREE.BufferAttribute(main.base, 3));
  for (const key of ["color", "uv"]) if (geometry.getAttribute(key)) still.setAttribute(key, geometry.getAttribute(key));
  still.setIndex(geometry.getIndex());
  for (const g of geometry.groups) still.addGroup(g.start, g.count, g.materialIndex);
  still.computeVertexNormals();
  neutralMesh = new THREE.Mesh(still, main.materials);
  neutralMesh.visible = false;
  scene.add(neutralMesh);
  if (rig.compare) {
    const [rig2, blob2] = await fetchRig("rig2");
    const second = buildView(rig2, blob2, "rig2");
    second.weightsKey = "weights2";
    views.push(second);
    studio.rig2 = rig2;
  }
  const centre = main.centre, size = main.size;
  controls.target.copy(centre);
  camera.position.set(centre.x + size * 0.35, centre.y + size * 0.1, centre.z + size * 2.6);
  camera.near = size / 100; camera.far = size * 100; camera.updateProjectionMatrix();
  key.position.set(centre.x + size, centre.y + size * 1.5, centre.z + size * 2);
  fill.position.set(centre.x - size * 2, centre.y, centre.z + size);
  controls.update();
  layoutViews();
  $("rig-name").textContent = `${rig.source} · rig ${rig.profile}` +
    (studio.rig2 ? `  |  beside: ${studio.rig2.source} · rig ${studio.rig2.profile}` : "");
  buildAuPanel(rig);
  const select = $("explain-target");
  for (const name of rig.profile_targets) select.add(new Option(name, name));
  for (const p of rig.osc_protocols) $("osc-protocol").add(new Option(p, p));
}

// Side by side around the first rig's face: [neutral] pose [comparison rig, scaled to match].
function layoutViews() {
  const main = views[0], step = main.size * 1.1;
  const items = [];
  if (neutralMesh.visible) items.push({ mesh: neutralMesh, view: main });
  items.push({ mesh: main.mesh, view: main });
  if (views[1]) items.push({ mesh: views[1].mesh, view: views[1] });
  const height = (view) => view.rig.bounds[1][1] - view.rig.bounds[0][1];
  items.forEach((item, k) => {
    // Another rig is scaled to the first one's height: heads of any unit side by side.
    const scale = item.view === main ? 1 : height(main) / height(item.view);
    const x = main.centre.x + (k - (items.length - 1) / 2) * step;
    item.mesh.scale.setScalar(scale);
    item.mesh.position.set(x - item.view.centre.x * scale, main.centre.y - item.view.centre.y * scale,
      main.centre.z - item.view.centre.z * scale);
  });
  // Step back (same direction) so that every head is in view.
  const offset = camera.position.clone().sub(controls.target);
  const across = 2 * Math.tan((camera.fov * Math.PI) / 360) * Math.max(0.5, camera.aspect);
  offset.setLength(Math.max(main.size * 2.6, (items.length * step) / across));
  camera.position.copy(controls.target).add(offset);
  controls.update();
  dirty = true;
}

function setNeutralBeside(on) {
  neutralMesh.visible = on;
  layoutViews();
}

// Morph on the CPU over the sparse deltas of the targets whose weight changed: any number of
// targets (three r130's shader morphing takes 8 at most). While playing, each frame adds
// (new - applied weight) x delta for the changed targets only; paused or posed (exact = true),
// and every 240 frames, the sum is made from the rest positions as facs_rig.core.deform does.
function morph(weights, view = views[0], exact = true) {
  const positions = view.geometry.getAttribute("position");
  const out = positions.array, applied = view.applied;
  const changed = [];
  for (let j = 0; j < view.targets.length; j++) {
    const t = view.targets[j];
    const w = t.column < 0 ? 0 : weights[t.column];
    if (w !== applied[j]) changed.push(j);
  }
  if (!changed.length && !(exact && view.inexact)) return;
  let lo = Infinity, hi = -1;
  if (exact || ++view.steps >= 240) {
    view.steps = 0;
    view.inexact = false;
    out.set(view.base);
    for (let j = 0; j < view.targets.length; j++) {
      const t = view.targets[j];
      const w = t.column < 0 ? 0 : weights[t.column];
      applied[j] = w;
      if (!w) continue;
      addTarget(out, t, w);
    }
    uploadRange(positions, 0, out.length / 3);
    allNormals(view);
    return;
  }
  const moved = [];
  view.inexact = true;  // sums of differences: made exact again once paused
  for (const j of changed) {
    const t = view.targets[j];
    const w = t.column < 0 ? 0 : weights[t.column];
    const dw = w - applied[j];
    applied[j] = w;
    if (!t.indices.length) continue;
    addTarget(out, t, dw);
    moved.push(t);
    if (t.indices[0] < lo) lo = t.indices[0];
    if (t.indices[t.indices.length - 1] + 1 > hi) hi = t.indices[t.indices.length - 1] + 1;
  }
  if (!moved.length) return;
  uploadRange(positions, lo, hi);
  changedNormals(view, moved, lo, hi);
}
function addTarget(out, t, w) {
  const idx = t.indices, d = t.deltas;
  for (let k = 0; k < idx.length; k++) {
    const v = idx[k] * 3, e = k * 3;
    out[v] += w * d[e]; out[v + 1] += w * d[e + 1]; out[v + 2] += w * d[e + 2];
  }
}

function resize() {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.floor(w * renderer.getPixelRatio()) || canvas.height !== Math.floor(h * renderer.getPixelRatio())) {
    renderer.setSize(w, h, false);
    camera.aspect = w / Math.max(1, h); camera.updateProjectionMatrix();
    dirty = true;
  }
}
controls.addEventListener("change", () => { dirty = true; });

// ---------------------------------------------------------------- what is shown
function timelineWeightsAt(t, view = views[0]) {
  const s = studio.state;
  const T = view.rig.profile_targets.length;
  const out = new Float32Array(T);
  const W = view.weightsKey ? s && s.weights2Array : s && s.weightsArray;
  if (!s || !W || s.frames === 0 || W.length < s.frames * T) return out;
  const x = Math.min(Math.max(t * s.fps, 0), s.frames - 1);
  const i = Math.floor(x), f = x - i, j = Math.min(i + 1, s.frames - 1);
  for (let c = 0; c < T; c++) {
    const a = W[i * T + c];
    out[c] = f === 0 ? a : a + (W[j * T + c] - a) * f;  // exact at frame times
  }
  return out;
}
function currentWeights(view = views[0]) {
  if (studio.mode === "pose" && studio.pose) return Float32Array.from(view.weightsKey ? studio.pose.weights2 : studio.pose.weights);
  return timelineWeightsAt(studio.time, view);
}
studio.weights = (k = 0) => {   // profile target -> weight, as shown (tests; k = 1: comparison rig)
  const out = {};
  views[k].rig.profile_targets.forEach((n, i) => { out[n] = views[k].shown[i]; });
  return out;
};
studio.seek = (t) => { studio.mode = "timeline"; studio.time = t; studio.playing = false; updateTransport(); dirty = true; };

let lastShownSent = -1;
function frame(now) {
  requestAnimationFrame(frame);
  if (!studio.ready) return;
  resize();
  const s = studio.state;
  if (studio.playing && s) {
    const dt = studio.lastNow ? (now - studio.lastNow) / 1000 : 0;
    studio.time += dt * studio.speed;
    if (studio.time > s.duration) {
      if ($("loop").checked && s.duration > 0) studio.time = studio.time % s.duration;
      else { studio.time = s.duration; studio.playing = false; }
    }
    updateTransport();
    dirty = true;
    if (studio.lastNow) adaptResolution(now - studio.lastNow);
  } else if (studio.resolution !== 1 || studio.fastShading || studio.coarse) {
    studio.playResolution = studio.resolution; studio.playFast = studio.fastShading;
    studio.playCoarse = studio.coarse;
    setResolution(1); setFastShading(false); setCoarse(false);
  }
  studio.lastNow = now;
  if (!dirty) return;
  dirty = false;
  for (const view of views) {
    const w = currentWeights(view);
    let changed = false;
    for (let i = 0; i < w.length; i++) if (w[i] !== view.shown[i]) { changed = true; break; }
    if (changed || (view.inexact && !studio.playing)) { view.shown.set(w); morph(w, view, !studio.playing); }
    flushUploads(view);
  }
  renderer.render(scene, camera);
  studio.renderedFrames++;
  if (studio.playing) {
    studio.frameTimes.push(now);
    if (studio.frameTimes.length > 120) studio.frameTimes.shift();
    if (studio.frameTimes.length > 10) {
      const n = studio.frameTimes.length - 1;
      studio.measuredFps = (1000 * n) / (studio.frameTimes[n] - studio.frameTimes[0]);
      $("fps-readout").textContent = `${studio.measuredFps.toFixed(0)} fps` +
        (studio.resolution < 1 ? ` at ${Math.round(100 * studio.resolution)}% resolution` : "") +
        (studio.fastShading ? ", vertex shading" : "");
    }
  }
  if (studio.poseSentAt !== null && studio.mode === "pose" && studio.poseArrived) {
    studio.lastPoseLatency = performance.now() - studio.poseSentAt;
    studio.poseSentAt = null; studio.poseArrived = false;
  }
  if (studio.notesSentAt !== null && studio.notesArrived) {  // keystroke to the face drawn
    studio.lastNotesLatency = performance.now() - studio.notesSentAt;
    studio.notesSentAt = null; studio.notesArrived = false;
  }
  studio.shownTime = studio.time;
  if (studio.oscOn && studio.mode === "timeline" && studio.time !== lastShownSent) {
    lastShownSent = studio.time; send({ type: "shown", time: studio.time });
  }
  drawCurves();
}

// ---------------------------------------------------------------- transport
function updateTransport() {
  const s = studio.state;
  if (!s) return;
  const frameNo = Math.round(studio.time * s.fps);
  $("scrub").max = String(Math.max(0, s.frames - 1));
  $("scrub").value = String(frameNo);
  $("timecode").textContent = timecode(studio.time + (s.start || 0), s.fps);  // from a 'start' header
  $("play").textContent = studio.playing ? "⏸" : "▶";
  $("mode").textContent = studio.mode === "pose"
    ? `pose ${studio.pose && studio.pose.code ? studio.pose.code : "(neutral)"} — play or scrub for the timeline`
    : `timeline · frame ${frameNo} of ${s.frames} at ${s.fps} fps`;
}
function togglePlay() {
  const s = studio.state;
  if (!s) return;
  studio.mode = "timeline";
  if (!studio.playing && studio.time >= s.duration) studio.time = 0;
  studio.playing = !studio.playing;
  // Playing again starts at the resolution the last playback settled at (adaptive).
  if (studio.playing && $("adaptive").checked && studio.playResolution) {
    setResolution(studio.playResolution); setFastShading(!!studio.playFast); setCoarse(!!studio.playCoarse);
  }
  studio.frameTimes = [];
  updateTransport(); dirty = true;
}
function stepFrames(n) {
  const s = studio.state;
  studio.mode = "timeline"; studio.playing = false;
  const f = Math.min(Math.max(Math.round(studio.time * s.fps) + n, 0), s.frames - 1);
  studio.time = f / s.fps; updateTransport(); dirty = true;
}
$("play").onclick = togglePlay;
$("step-back").onclick = () => stepFrames(-1);
$("step-fwd").onclick = () => stepFrames(1);
$("speed").onchange = () => { studio.speed = parseFloat($("speed").value); };
$("scrub").oninput = () => { studio.seek(parseInt($("scrub").value, 10) / studio.state.fps); };
$("show-neutral").onchange = () => setNeutralBeside($("show-neutral").checked);
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "TEXTAREA" || e.target.tagName === "INPUT") {
    if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); send({ type: "save" }); }
    return;
  }
  if (e.key === " ") { e.preventDefault(); togglePlay(); }
  else if (e.key === "ArrowLeft") stepFrames(-1);
  else if (e.key === "ArrowRight") stepFrames(1);
});

// ---------------------------------------------------------------- notes editor
const notes = $("notes");
function renderGutter(text, errorLine) {
  const count = text.split("\n").length;
  const gutter = $("gutter");
  gutter.innerHTML = "";
  for (let i = 1; i <= count; i++) {
    const span = document.createElement("span");
    span.textContent = String(i);
    if (i === errorLine) span.className = "error";
    gutter.appendChild(span);
    gutter.appendChild(document.createTextNode("\n"));
  }
  gutter.scrollTop = notes.scrollTop;
}
notes.addEventListener("scroll", () => { $("gutter").scrollTop = notes.scrollTop; });
notes.addEventListener("input", () => {
  renderGutter(notes.value, 0);
  // Typed while the server is away (restarting, stopped): kept, and sent when it is back,
  // instead of being replaced by the server's text on reconnection.
  if (!socket || socket.readyState !== 1) studio.unsent = true;
  studio.notesSentAt = performance.now(); studio.notesArrived = false;
  sendNotes();
});
// The base lets the server tell an edit made before the file's new text reached this page
// (a conflict: saving it would write over the other editor's change) from one made after.
function sendNotes() {
  if (socket && socket.readyState === 1) studio.notesInFlight += 1;
  send({ type: "notes", text: notes.value, base: studio.disk });
}
$("save").onclick = () => send({ type: "save" });

function onState(m) {
  const first = !studio.state;
  if (m.origin === studio.client && studio.notesInFlight > 0) studio.notesInFlight -= 1;
  if (!updateTimeline(m)) { send({ type: "resync" }); return; }
  const arrays = studio.timeline.arrays;
  m.weightsArray = arrays.weights.data; m.weights2Array = studio.rig2 ? arrays.weights2.data : null;
  m.curvesArray = arrays.curves.data; m.weightsActive = arrays.weights.active;
  studio.state = m;
  showStem(m.stem);
  // The sender's own edits are already in its editor (it may have typed on since).
  if (studio.unsent && !first) {
    studio.unsent = false;
    if (notes.value !== m.text) sendNotes();
  } else if (m.reloaded && !first && studio.notesInFlight > 0) {
    // The file's text came while edits built on the text before were on their way: the server
    // keeps them as edits over a changed file (the conflict, in their state), and so does this
    // editor (taking the file's text here showed it while Overwrite would write the edits).
  } else if (m.origin !== studio.client || first) {
    if (notes.value !== m.text) notes.value = m.text;
  }
  // The editor holds the server's text: built on the file's text of this state (a conflict
  // over an older one is the server's, in `conflict`, until Overwrite or Reload from disk).
  if (notes.value === m.text) studio.disk = m.disk;
  if (m.reloaded) { $("save-status").textContent = "reloaded: the file changed on disk"; $("save-status").className = ""; }
  else if (m.unsaved && $("save-status").className !== "bad") $("save-status").textContent = "unsaved edits";
  showConflict(m.conflict);
  const err = $("notes-error");
  if (m.error) {
    err.className = "bad";
    err.textContent = `facs-rig: error: ${m.error}`;
    err.dataset.line = String(m.line); err.dataset.column = String(m.column);
  } else if (m.warnings.length) {
    // Notes that parse but may not play as meant (a duration that cuts a beat short): said
    // where "ok" is, as the CLI says them on its "facs-rig: note:" lines.
    err.className = "warn"; err.textContent = m.warnings.map((w) => `facs-rig: note: ${w}`).join("\n");
    err.dataset.line = "0"; err.dataset.column = "0";
  } else {
    err.className = "ok"; err.textContent = "ok";
    err.dataset.line = "0"; err.dataset.column = "0";
  }
  renderGutter(notes.value, m.error ? m.line : 0);
  $("notes-path").textContent = m.path;
  $("notes-info").textContent = `${m.title ? m.title + " · " : ""}${m.duration.toFixed(3)} s at ${m.fps} fps, ` +
    `${m.frames} frames, channels ${m.channels.join(" ") || "none"}`;
  if (studio.time > m.duration) studio.time = m.duration;
  if (!m.error && !first && m.origin === studio.client) studio.mode = "timeline";
  if (m.origin === studio.client && studio.notesSentAt !== null) studio.notesArrived = true;
  showOsc(m.osc);
  updateTransport();
  dirty = true;
}

// ---------------------------------------------------------------- AU panel
const sliders = {};  // channel name -> {input, readout}
// The letter of a 0-1 value by the scale's bands, as facs_rig's Scale.value_to_letter: none at
// or below the floor, else the first letter whose upper bound holds it (0.3 is C), above the
// top band E. The same small tolerance, so a letter's own value maps back to it.
function letterOf(v) {
  const bands = studio.rig.bands, tolerance = 1e-6;
  if (v <= studio.rig.band_floor + tolerance) return "";
  for (const [letter, upper] of Object.entries(bands)) if (v <= upper + tolerance) return letter;
  return "E";
}
// "snap to A–E": the value of the letter whose band holds the slider (0.3 -> C, 0.55), 0 below
// the first band; so the slider, its readout and the pose's code always agree.
function snapValue(v) {
  if (!$("snap").checked) return v;
  const letter = letterOf(v);
  return letter ? studio.rig.letters[letter] : 0;
}
function buildAuPanel(rig) {
  const panel = $("au-panel");
  const regions = {};
  for (const au of rig.aus) (regions[au.region] = regions[au.region] || []).push(au);
  for (const [region, aus] of Object.entries(regions)) {
    const box = document.createElement("div");
    box.className = "region";
    box.innerHTML = `<h4>${region}</h4>`;
    for (const au of aus) {
      const row = document.createElement("div");
      row.className = "au";
      const label = document.createElement("div");
      label.className = "label";
      label.title = au.muscles.join(", ");
      label.innerHTML = `AU${au.au} ${au.name}<small>${au.muscles.join(", ")}</small>`;
      const group = document.createElement("div");
      group.className = "sliders";
      for (const side of au.sided ? ["", "L", "R"] : [""]) {
        const name = `AU${String(au.au).padStart(2, "0")}${side ? "_" + side : ""}`;
        const line = document.createElement("div");
        line.className = "row";
        const input = document.createElement("input");
        Object.assign(input, { type: "range", min: "0", max: "1", step: "0.01", value: "0" });
        input.dataset.channel = name;
        const readout = document.createElement("span");
        readout.textContent = side || "both";
        input.addEventListener("input", () => {
          input.value = String(snapValue(parseFloat(input.value)));
          readout.textContent = `${side || "both"} ${letterOf(parseFloat(input.value))}`;
          sendPose();
        });
        line.append(input, readout);
        group.appendChild(line);
        sliders[name] = { input, readout, side };
      }
      row.append(label, group);
      box.appendChild(row);
    }
    panel.appendChild(box);
  }
}
function sendPose() {
  const values = {};
  for (const [name, s] of Object.entries(sliders)) {
    const v = parseFloat(s.input.value);
    if (v > 0) values[name] = v;
  }
  studio.mode = "pose"; studio.playing = false;
  studio.poseSentAt = performance.now(); studio.poseArrived = false;
  send({ type: "pose", values });
}
function onPose(m) {
  studio.pose = m;
  $("pose-error").textContent = "";
  if (document.activeElement !== $("pose-code")) $("pose-code").value = m.code;
  for (const [name, s] of Object.entries(sliders)) {
    if (document.activeElement === s.input) continue;
    const v = m.values[name] || 0;
    s.input.value = String(v);
    s.readout.textContent = `${s.side || "both"} ${letterOf(v)}`;
  }
  if (studio.poseSentAt !== null) { studio.poseArrived = true; studio.mode = "pose"; }
  updateTransport();
  dirty = true;
}
$("pose-apply").onclick = () => { studio.mode = "pose"; studio.poseSentAt = performance.now(); send({ type: "pose", code: $("pose-code").value }); };
$("pose-code").addEventListener("keydown", (e) => { if (e.key === "Enter") $("pose-apply").onclick(); });
$("pose-clear").onclick = () => { for (const s of Object.values(sliders)) s.input.value = "0"; sendPose(); };
$("pose-insert").onclick = () => {
  const code = (studio.pose && studio.pose.code) || $("pose-code").value;
  if (code) send({ type: "insert", code, time: studio.time });
};

// ---------------------------------------------------------------- explain
function requestExplain() {
  const target = $("explain-target").value;
  send({ type: "explain", target, time: studio.mode === "pose" ? null : studio.time });
}
$("explain-target").onchange = requestExplain;
function fmt(x) { return x.toFixed(3); }
function showExplain(m) {   // the layout of `facs-rig explain`
  const lines = [`${m.target} on ${m.rig}`];
  if (!m.targets.length) lines.push("", `${m.target} = 0.000   (no AU drives it in this frame)`);
  for (const t of m.targets) {
    lines.push("", `${t.target} = ${fmt(t.value)}   (combine: ${t.combine})`);
    for (const c of t.contributions) {
      const au = (c.au + (c.side ? ` [${c.side} entry]` : "")).padEnd(18);
      const full = c.without_full_at;   // present only where a fade is complete below 1
      const faded = Object.entries(c.without || {}).map(([g, b]) => full === undefined
        ? ` x (1 - ${g} ${fmt(b)})` : ` x (1 - min(1, ${g} ${fmt(b)} / ${full}))`).join("");
      lines.push(`  ${au} ${fmt(c.input)}${c.curve ? " after curve" : ""} x ${c.weight}${faded} = ${fmt(c.value)}` +
        (c.kept ? "" : "   within the chain's largest (not added)"));
    }
    if (t.contributions.length > 1) lines.push(`  combined (${t.combine}) = ${fmt(t.combined)}`);
    for (const r of t.rules) {
      lines.push(`  ${r.rule}: ${r.description}` + (r.before !== r.after ? `   ${fmt(r.before)} -> ${fmt(r.after)}` : ""));
    }
  }
  if (m.unshown.length) lines.push("", `${m.rig} cannot show: ${m.unshown.join(", ")}`);
  $("explain-out").textContent = lines.join("\n");
}
// Click the face: the driven mesh target that moves the clicked vertex most.
const raycaster = new THREE.Raycaster();
let downAt = null;
canvas.addEventListener("pointerdown", (e) => { downAt = [e.clientX, e.clientY]; });
canvas.addEventListener("pointerup", (e) => {
  if (!downAt || Math.hypot(e.clientX - downAt[0], e.clientY - downAt[1]) > 3) return;
  const r = canvas.getBoundingClientRect();
  raycaster.setFromCamera({ x: ((e.clientX - r.left) / r.width) * 2 - 1, y: -((e.clientY - r.top) / r.height) * 2 + 1 }, camera);
  const hit = raycaster.intersectObject(faceMesh)[0];
  if (!hit) return;
  const vertex = hit.face.a;
  // Whole-head targets (head turns, AU51-58) move every vertex: they are never "the one here".
  // What moves this vertex now wins over what could move it.
  const n = views[0].base.length / 3;
  let best = null, bestSize = 0;
  for (const t of targets) {
    if (t.column < 0 || t.indices.length > 0.5 * n) continue;
    const k = t.indices.indexOf(vertex);
    if (k < 0) continue;
    const w = views[0].shown[t.column];
    const size = Math.hypot(t.deltas[3 * k], t.deltas[3 * k + 1], t.deltas[3 * k + 2]) * (w > 0 ? 1 + 10 * w : 1);
    if (size > bestSize) { bestSize = size; best = t; }
  }
  if (!best) return;
  $("explain-target").value = studio.rig.profile_targets[best.column];
  selectTab("explain");
  requestExplain();
});

// ---------------------------------------------------------------- curves
const curveCanvas = $("curves");
const palette = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
  "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3"];
let curveCache = null;  // {key, image}: the curves drawn once per state and width; frames add the playhead
function drawCurves() {
  const s = studio.state;
  const ctx = curveCanvas.getContext("2d");
  const W = curveCanvas.clientWidth, H = curveCanvas.height;
  if (curveCanvas.width !== W) curveCanvas.width = W;
  if (!s || s.frames < 1) return;
  const key = `${s.timeline}:${W}`;  // drawn again when the timeline changed, not per keystroke
  if (!curveCache || curveCache.key !== key) curveCache = { key, image: plotCurves(s, W, H) };
  ctx.drawImage(curveCache.image, 0, 0);
  const F = s.frames;
  const px = F > 1 ? (Math.min(studio.time * s.fps, F - 1) / (F - 1)) * (W - 1) : 0;
  ctx.strokeStyle = "#fff"; ctx.beginPath(); ctx.moveTo(px, 0); ctx.lineTo(px, H); ctx.stroke();
}
function plotCurves(s, W, H) {
  const image = document.createElement("canvas");
  image.width = W; image.height = H;
  const ctx = image.getContext("2d");
  ctx.fillStyle = "#121316"; ctx.fillRect(0, 0, W, H);
  const F = s.frames, C = s.channels.length, T = studio.rig.profile_targets.length;
  const x = (f) => (F > 1 ? (f / (F - 1)) * (W - 1) : 0);
  const half = H / 2 - 4;
  // At most ~2 points per pixel: an hour-long timeline still draws at once.
  const stride = Math.max(1, Math.floor(F / (2 * W)));
  // Top: AU envelopes; bottom: the target weights that move (the mixing's result).
  const legend = [];
  for (let c = 0; c < C; c++) {
    ctx.strokeStyle = palette[c % palette.length]; ctx.beginPath();
    for (let f = 0; f < F; f += stride) {
      const y = 2 + half * (1 - s.curvesArray[f * C + c]);
      f ? ctx.lineTo(x(f), y) : ctx.moveTo(x(f), y);
    }
    ctx.stroke();
    legend.push(`<span style="color:${palette[c % palette.length]}">${s.channels[c]}</span>`);
  }
  const active = [];
  for (let t = 0; t < T; t++) if (s.weightsActive[t]) active.push(t);
  ctx.globalAlpha = 0.8;
  active.forEach((t, k) => {
    ctx.strokeStyle = palette[(k + 7) % palette.length]; ctx.beginPath();
    for (let f = 0; f < F; f += stride) {
      const y = H / 2 + 2 + half * (1 - s.weightsArray[f * T + t]);
      f ? ctx.lineTo(x(f), y) : ctx.moveTo(x(f), y);
    }
    ctx.stroke();
  });
  ctx.globalAlpha = 1;
  ctx.fillStyle = "#777"; ctx.font = "10px sans-serif";
  ctx.fillText("AU envelopes", 4, 12);
  ctx.fillText(`target weights (${active.length} moving: ${active.map((t) => studio.rig.profile_targets[t]).slice(0, 12).join(" ")})`, 4, H / 2 + 12);
  $("curve-legend").innerHTML = legend.join(" ");
  return image;
}
curveCanvas.addEventListener("pointerdown", (e) => {
  const s = studio.state;
  if (!s) return;
  const r = curveCanvas.getBoundingClientRect();
  const f = Math.round(((e.clientX - r.left) / r.width) * (s.frames - 1));
  studio.seek(Math.min(Math.max(f, 0), s.frames - 1) / s.fps);
});

// ---------------------------------------------------------------- out
// Exports are named after the notes file (scene.notes: scene.glb) until the name is edited, so
// two scenes in one folder do not share one name. The server writes over an existing file only
// when the export says `overwrite`: otherwise it answers `export_exists` and the page asks
// (Overwrite, Keep both: the free name the server found, or Cancel).
studio.stemEdited = false;
$("out-stem").addEventListener("input", () => { studio.stemEdited = true; });
function showStem(stem) {
  if (!studio.stemEdited && typeof stem === "string" && $("out-stem").value !== stem) $("out-stem").value = stem;
}
function exportAs(name, overwrite) {
  $("out-confirm").hidden = true;
  $("out-status").textContent = `writing ${name}…`;
  send({ type: "export", name, time: studio.exportTime, overwrite });
}
for (const b of document.querySelectorAll("#out-buttons button")) {
  b.onclick = () => {
    studio.exportTime = studio.time;  // a confirmed export writes the frame it was asked for
    exportAs($("out-stem").value.trim() + b.dataset.ext, false);
  };
}
function askOverwrite(m) {
  studio.exportAsked = m;
  $("out-confirm-message").textContent = `${m.name} exists in the notes folder.`;
  $("out-keep").textContent = `Keep both: write ${m.free}`;
  $("out-confirm").hidden = false;
  $("out-status").textContent = `${m.name} not written yet`;
}
$("out-overwrite").onclick = () => exportAs(studio.exportAsked.name, true);
$("out-keep").onclick = () => exportAs(studio.exportAsked.free, false);
$("out-cancel").onclick = () => {
  $("out-confirm").hidden = true;
  $("out-status").textContent = `${studio.exportAsked.name}: nothing written`;
};
function showOsc(info) {
  if (!info) return;
  studio.oscOn = !!info.on;
  $("osc-on").checked = studio.oscOn;
  $("osc-status").textContent = info.on ? `streaming ${info.protocol} to ${info.to}` : "not streaming";
}
$("osc-on").onchange = () => {
  send({ type: "osc", on: $("osc-on").checked, protocol: $("osc-protocol").value, to: $("osc-to").value });
};

// ---------------------------------------------------------------- tabs and start
function selectTab(name) {
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("on", b.dataset.tab === name);
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("on", t.id === `tab-${name}`);
}
for (const b of document.querySelectorAll("nav button")) b.onclick = () => selectTab(b.dataset.tab);

loadRig().then(() => {
  connect();
  studio.ready = true;
  requestAnimationFrame(frame);
});
