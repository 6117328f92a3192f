// alviz map: a scatter of up to a few million points that lives in the browser.
//
// Python sends the coordinates once per layout and, after that, only what changed (a versioned delta of
// per-point color codes), as one binary frame (see alviz/mapframe.py for the layout). Points are drawn by a
// CPU raster into Canvas2D ImageData: measured here, that beats WebGL whenever the browser has no GPU
// (software WebGL), and stays around 10-30 ms a frame at 1M points. Lasso and box are resolved here over
// the typed arrays; the selection goes back as sorted uint32 ids or an N-bit mask, whichever is smaller.

const MAGIC = "AVZ1";
const FADED = 0.35; // weight of unselected points while a selection exists (drawn in a washed-out grey)
const PICKED = 2.0; // and of the selected ones (in their own color)
const RING_MAX = 5000;

function decodeFrame(bytes) {
  const head = new TextDecoder().decode(bytes.subarray(0, 4));
  if (head !== MAGIC) throw new Error("alviz map: not a map frame");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = dv.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  const data = (8 + hlen + 3) & ~3; // arrays start at the first 4-byte boundary after the header
  const arrays = {};
  for (const a of header.arrays || []) {
    const start = bytes.byteOffset + data + a.offset;
    const raw = bytes.buffer.slice(start, start + a.nbytes); // a copy: aligned, and owned by us
    const Kind = { f4: Float32Array, u4: Uint32Array, u1: Uint8Array }[a.dtype];
    arrays[a.name] = new Kind(raw);
  }
  return { header, arrays };
}

function hexToRgba(hex) {
  const h = hex.replace("#", "");
  const v = (i) => parseInt(h.slice(i, i + 2), 16);
  return [v(0), v(2), v(4), h.length >= 8 ? v(6) / 255 : 1];
}

function toBase64(u8) {
  let s = "";
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(s);
}

// The selection as the smaller of sorted uint32 ids and an N-bit mask (bit i of byte i>>3, LSB first).
function encodeSelection(mask, count, n) {
  if (count * 4 <= Math.ceil(n / 8)) {
    const ids = new Uint32Array(count);
    let j = 0;
    for (let i = 0; i < n; i++) if (mask[i]) ids[j++] = i;
    return { enc: "ids", b64: toBase64(new Uint8Array(ids.buffer)) };
  }
  const bits = new Uint8Array(Math.ceil(n / 8));
  for (let i = 0; i < n; i++) if (mask[i]) bits[i >> 3] |= 1 << (i & 7);
  return { enc: "bits", b64: toBase64(bits) };
}

// The renderer interface: resize(w, h) and draw(scene). This one rasterizes on the CPU into ImageData, which
// measured faster than WebGL whenever the browser has no GPU; a WebGL renderer for browsers with one (and for
// pools of many millions) would implement the same two methods.
class RasterRenderer {
  constructor(canvas) {
    this.canvas = canvas;
  }

  resize(w, h) {
    this.acc = new Float32Array(w * h * 4);
    this.image = this.canvas.getContext("2d").createImageData(w, h);
  }

  // scene: {n, x, y, codes, palette: [[r, g, b, a]], weights, view: {s, tx, ty}, zoom, mask, rings}
  draw(scene) {
    const W = this.canvas.width, H = this.canvas.height;
    if (!this.acc) return;
    const acc = this.acc;
    acc.fill(0);
    const { n, x, y, codes, palette: pal, weights: wts, mask } = scene;
    const { s, tx, ty } = scene.view;
    const nc = pal.length;
    // Density-aware weights: a point alone reads clearly at any N, piles stay readable at 1M (1 - e^-sum).
    const zoomGain = Math.max(1, Math.sqrt(scene.zoom));
    const base = Math.min(2.5, Math.max(0.35, 2.5 * Math.sqrt(20000 / n) * zoomGain));
    const radius = n <= 3000 ? 3 : n <= 30000 ? 2 : n <= 300000 ? 1 : 0;
    const r = Math.min(4, radius + (zoomGain > 2 ? 1 : 0));
    const stamp = [];
    for (let oy = -r; oy <= r; oy++) for (let ox = -r; ox <= r; ox++) if (ox * ox + oy * oy <= r * r + r) stamp.push(oy * W + ox);
    const cr = new Float32Array(nc), cg = new Float32Array(nc), cb = new Float32Array(nc), cw = new Float32Array(nc);
    const fr = new Float32Array(nc), fw = new Float32Array(nc); // the faded look: grey by luminance, lighter
    for (let c = 0; c < nc; c++) {
      cw[c] = pal[c][3] * (wts ? wts[c] : 1) * base;
      cr[c] = pal[c][0] * cw[c];
      cg[c] = pal[c][1] * cw[c];
      cb[c] = pal[c][2] * cw[c];
      const grey = 0.3 * pal[c][0] + 0.59 * pal[c][1] + 0.11 * pal[c][2];
      fw[c] = cw[c] * FADED;
      fr[c] = (grey * 0.5 + 200 * 0.5) * fw[c];
    }
    for (let i = 0; i < n; i++) {
      const px = (x[i] * s + tx) | 0, py = (ty - y[i] * s) | 0;
      if (px < r || py < r || px >= W - r || py >= H - r) continue;
      const c = codes[i];
      if (c >= nc) continue;
      let w = cw[c], rr = cr[c], gg = cg[c], bb = cb[c];
      if (mask) {
        if (mask[i]) {
          w *= PICKED;
          rr *= PICKED;
          gg *= PICKED;
          bb *= PICKED;
        } else {
          w = fw[c];
          rr = gg = bb = fr[c];
        }
      }
      const o = py * W + px;
      for (let k = 0; k < stamp.length; k++) {
        const j = (o + stamp[k]) * 4;
        acc[j] += rr;
        acc[j + 1] += gg;
        acc[j + 2] += bb;
        acc[j + 3] += w;
      }
    }
    const out = this.image.data;
    for (let p = 0, j = 0; p < W * H; p++, j += 4) {
      const a = acc[j + 3];
      if (a === 0) {
        out[j] = out[j + 1] = out[j + 2] = 255;
        out[j + 3] = 255;
        continue;
      }
      const alpha = 1 - Math.exp(-a);
      const k = alpha / a;
      out[j] = 255 * (1 - alpha) + acc[j] * k;
      out[j + 1] = 255 * (1 - alpha) + acc[j + 1] * k;
      out[j + 2] = 255 * (1 - alpha) + acc[j + 2] * k;
      out[j + 3] = 255;
    }
    const ctx = this.canvas.getContext("2d");
    ctx.putImageData(this.image, 0, 0);
    this.drawRings(ctx, scene);
  }

  drawRings(ctx, { x, y, view, rings }) {
    const { s, tx, ty } = view;
    for (const ring of rings) {
      if (!ring.rows) continue;
      ctx.strokeStyle = ring.color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      const m = Math.min(ring.rows.length, RING_MAX);
      for (let k = 0; k < m; k++) {
        const i = ring.rows[k];
        const px = x[i] * s + tx, py = ty - y[i] * s;
        ctx.moveTo(px + 6, py);
        ctx.arc(px, py, 6, 0, 2 * Math.PI);
      }
      ctx.stroke();
    }
  }
}

class AlvizMap {
  constructor(root) {
    this.root = root;
    this.canvas = root.querySelector("canvas.points");
    this.overlay = root.querySelector("canvas.overlay");
    this.renderer = new RasterRenderer(this.canvas);
    this.tip = root.querySelector(".tip");
    this.status = root.querySelector(".status");
    this.legendEl = root.querySelector(".legend");
    this.n = 0;
    this.layout = null;
    this.codesVer = -1;
    this.seq = -1;
    this.clearSeen = 0;
    this.selectToken = 0;
    this.mode = "lasso";
    this.view = null;
    this.mask = null;
    this.selected = 0;
    this.frames = 0;
    this.rings = [];
    this.ids = null;
    this.pending = false;
    this.bindUi();
    new ResizeObserver(() => this.resize()).observe(this.canvas.parentElement);
  }

  // ---------------------------------------------------------------- data from Python
  apply(bytes, api) {
    this.api = api;
    if (this.dragging) {
      this.deferred = bytes; // never move the points under a gesture in progress: apply it when released
      return;
    }
    const { header: h, arrays: a } = decodeFrame(bytes);
    if (h.seq === this.seq) return;
    this.resize(); // measure before fitting: the first frame can arrive before the resize observer fires
    if (a.x) {
      this.x = a.x;
      this.y = a.y;
      this.n = a.x.length;
      this.ids = a.ids ? new TextDecoder().decode(a.ids).split("\n") : null;
      if (!this.mask || this.mask.length !== this.n) {
        this.mask = new Uint8Array(this.n); // rows are items: the same pool on a new layout keeps its selection
        this.selected = 0;
      }
      const sameLayout = h.layout === this.layout && this.view;
      this.layout = h.layout;
      this.buildGrid();
      if (!sameLayout) this.fit();
    } else if (h.layout !== this.layout) {
      return this.resync("layout");
    }
    if (a.codes) {
      this.codes = a.codes;
    } else if (a.delta_rows) {
      if (this.codesVer !== h.codes_base || !this.codes) return this.resync("codes");
      const rows = a.delta_rows;
      const codes = a.delta_codes;
      for (let i = 0; i < rows.length; i++) this.codes[rows[i]] = codes[i];
    } else if (this.codesVer !== h.codes_ver) {
      return this.resync("codes");
    }
    this.codesVer = h.codes_ver;
    this.seq = h.seq;
    this.palette = h.palette.map(hexToRgba);
    this.weights = h.weights;
    this.rings = (h.rings || []).map((r, i) => ({ ...r, rows: a[`ring${i}`] }));
    if (h.clear_selection > this.clearSeen) {
      this.clearSeen = h.clear_selection;
      if (this.mask) this.mask.fill(0);
      this.selected = 0;
    }
    this.renderLegend(h.legend, h.colorbar);
    this.root.dataset.seq = String(h.seq);
    this.root.dataset.ack = String(h.ack || 0);
    this.root.dataset.codesVer = String(h.codes_ver);
    this.root.dataset.n = String(this.n);
    this.draw();
  }

  applyDeferred() {
    const bytes = this.deferred;
    this.deferred = null;
    if (bytes) this.apply(bytes, this.api);
  }

  resync(what) {
    this.root.dataset.resync = what;
    this.api.setTriggerValue("resync", { what, layout: this.layout, codes_ver: this.codesVer });
  }

  // ---------------------------------------------------------------- geometry
  resize() {
    const box = this.canvas.parentElement.getBoundingClientRect();
    const w = Math.max(200, Math.floor(box.width));
    const h = Math.max(200, Math.floor(box.height));
    if (w === this.canvas.width && h === this.canvas.height && this.sized) return;
    for (const c of [this.canvas, this.overlay]) {
      c.width = w;
      c.height = h;
    }
    this.renderer.resize(w, h);
    this.sized = true;
    if (this.view && this.lastSize) {
      this.view.tx += (w - this.lastSize[0]) / 2;
      this.view.ty += (h - this.lastSize[1]) / 2;
    }
    this.lastSize = [w, h];
    if (this.n && !this.view) this.fit();
    this.draw();
  }

  fit() {
    if (!this.n || !this.canvas.width) return;
    this.fitBoundsOnly();
    const [x0, x1, y0, y1] = this.bounds;
    const w = this.canvas.width, h = this.canvas.height, pad = 16;
    const s = Math.min((w - 2 * pad) / (x1 - x0 || 1), (h - 2 * pad) / (y1 - y0 || 1));
    // screen = (x * s + tx, -y * s + ty)
    this.view = { s, tx: w / 2 - ((x0 + x1) / 2) * s, ty: h / 2 + ((y0 + y1) / 2) * s };
  }

  // A uniform grid over the data bounds, for hover and click look-ups in O(points per cell).
  buildGrid() {
    this.fitBoundsOnly();
    const [x0, x1, y0, y1] = this.bounds;
    const g = Math.max(16, Math.min(1024, Math.round(Math.sqrt(this.n / 4))));
    const cell = new Uint32Array(this.n);
    const count = new Uint32Array(g * g + 1);
    const fx = g / (x1 - x0 || 1), fy = g / (y1 - y0 || 1);
    for (let i = 0; i < this.n; i++) {
      const cx = Math.min(g - 1, ((this.x[i] - x0) * fx) | 0);
      const cy = Math.min(g - 1, ((this.y[i] - y0) * fy) | 0);
      cell[i] = cy * g + cx;
      count[cell[i] + 1]++;
    }
    for (let c = 1; c <= g * g; c++) count[c] += count[c - 1];
    const order = new Uint32Array(this.n);
    const fill = count.slice(0, g * g);
    for (let i = 0; i < this.n; i++) order[fill[cell[i]]++] = i;
    this.grid = { g, start: count, order, fx, fy, x0, y0 };
  }

  fitBoundsOnly() {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < this.n; i++) {
      const x = this.x[i], y = this.y[i];
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    this.bounds = [x0, x1, y0, y1];
  }

  nearest(px, py, radius) {
    if (!this.grid || !this.view) return -1;
    const { s, tx, ty } = this.view;
    const dx = (px - tx) / s, dy = (ty - py) / s, r = radius / s;
    const { g, start, order, fx, fy, x0, y0 } = this.grid;
    const cx0 = Math.max(0, ((dx - r - x0) * fx) | 0), cx1 = Math.min(g - 1, ((dx + r - x0) * fx) | 0);
    const cy0 = Math.max(0, ((dy - r - y0) * fy) | 0), cy1 = Math.min(g - 1, ((dy + r - y0) * fy) | 0);
    let best = -1, bestD = r * r;
    for (let cy = cy0; cy <= cy1; cy++) {
      for (let cx = cx0; cx <= cx1; cx++) {
        const c = cy * g + cx;
        for (let k = start[c]; k < start[c + 1]; k++) {
          const i = order[k];
          const d = (this.x[i] - dx) ** 2 + (this.y[i] - dy) ** 2;
          if (d <= bestD) {
            bestD = d;
            best = i;
          }
        }
      }
    }
    return best;
  }

  // ---------------------------------------------------------------- drawing
  draw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  render() {
    if (!this.n || !this.codes || !this.view) return;
    this.renderer.draw({
      n: this.n,
      x: this.x,
      y: this.y,
      codes: this.codes,
      palette: this.palette,
      weights: this.weights,
      view: this.view,
      zoom: this.view.s / this.fitScale(),
      mask: this.selected ? this.mask : null,
      rings: this.rings,
    });
    this.frames++;
    this.root.dataset.frames = String(this.frames);
    this.root.dataset.selected = String(this.selected);
    this.status.textContent = this.selected
      ? `${this.selected.toLocaleString()} selected · ${this.n.toLocaleString()} items`
      : `${this.n.toLocaleString()} items`;
  }

  fitScale() {
    const [x0, x1, y0, y1] = this.bounds;
    const W = this.canvas.width, H = this.canvas.height;
    return Math.min((W - 32) / (x1 - x0 || 1), (H - 32) / (y1 - y0 || 1));
  }

  renderLegend(legend, colorbar) {
    const key = JSON.stringify([legend, colorbar]);
    if (key === this.legendKey) return;
    this.legendKey = key;
    this.legendEl.replaceChildren();
    for (const item of legend || []) {
      const span = document.createElement("span");
      span.className = "item";
      const dot = document.createElement("i");
      dot.style.background = item.color;
      if (item.ring) {
        dot.className = "ring";
        dot.style.background = "transparent";
        dot.style.borderColor = item.color;
      }
      span.append(dot, document.createTextNode(item.label)); // text, never markup
      this.legendEl.append(span);
    }
    if (colorbar) {
      const bar = document.createElement("span");
      bar.className = "colorbar";
      const lo = document.createElement("span");
      lo.textContent = colorbar.min;
      const grad = document.createElement("i");
      grad.style.background = `linear-gradient(to right, ${colorbar.stops.join(",")})`;
      const hi = document.createElement("span");
      hi.textContent = colorbar.max;
      const name = document.createElement("b");
      name.textContent = colorbar.name;
      bar.append(name, lo, grad, hi);
      this.legendEl.append(bar);
    }
  }

  // ---------------------------------------------------------------- interaction
  bindUi() {
    const tools = this.root.querySelectorAll("button[data-mode]");
    const setMode = (m) => {
      this.mode = m;
      this.root.dataset.mode = m;
      tools.forEach((b) => b.classList.toggle("on", b.dataset.mode === m));
    };
    tools.forEach((b) => (b.onclick = () => setMode(b.dataset.mode)));
    setMode("lasso");
    this.root.querySelector("button.reset").onclick = () => {
      this.fit();
      this.draw();
    };
    this.root.querySelector("button.clear").onclick = () => this.setSelection(null, false);
    const ov = this.overlay;
    let drag = null;
    const pos = (e) => {
      const b = ov.getBoundingClientRect();
      return [e.clientX - b.left, e.clientY - b.top];
    };
    ov.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      ov.setPointerCapture(e.pointerId);
      const p = pos(e);
      const pan = this.mode === "pan" || e.altKey;
      drag = { start: p, path: [p], pan, add: e.shiftKey, view: { ...this.view } };
      this.dragging = true;
      this.tip.style.display = "none";
    });
    ov.addEventListener("pointermove", (e) => {
      const p = pos(e);
      if (!drag) return this.hover(p);
      drag.far = Math.max(drag.far || 0, Math.hypot(p[0] - drag.start[0], p[1] - drag.start[1]));
      if (drag.pan) {
        this.view.tx = drag.view.tx + p[0] - drag.start[0];
        this.view.ty = drag.view.ty + p[1] - drag.start[1];
        return this.draw();
      }
      drag.path.push(p);
      this.drawGesture(drag);
    });
    ov.addEventListener("pointerup", (e) => {
      if (!drag) return;
      const p = pos(e);
      const d = drag;
      drag = null;
      this.dragging = false;
      setTimeout(() => this.applyDeferred(), 0);
      this.overlay.getContext("2d").clearRect(0, 0, ov.width, ov.height);
      // a click is a press that never went far: a closed lasso also ends where it started
      const moved = Math.max(d.far || 0, Math.hypot(p[0] - d.start[0], p[1] - d.start[1]));
      if (moved < 4) return this.click(p);
      if (d.pan) return;
      d.path.push(p);
      const hit = this.mode === "box" ? this.boxMask(d.start, p) : this.lassoMask(d.path);
      this.setSelection(hit, d.add);
    });
    ov.addEventListener("pointercancel", () => {
      drag = null;
      this.dragging = false;
      this.overlay.getContext("2d").clearRect(0, 0, ov.width, ov.height);
      this.applyDeferred();
    });
    ov.addEventListener("pointerleave", () => (this.tip.style.display = "none"));
    ov.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        const [px, py] = pos(e);
        const f = Math.exp(-e.deltaY * 0.0015);
        const v = this.view;
        v.tx = px - (px - v.tx) * f;
        v.ty = py - (py - v.ty) * f;
        v.s *= f;
        this.draw();
      },
      { passive: false }
    );
  }

  drawGesture(d) {
    const ctx = this.overlay.getContext("2d");
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    ctx.strokeStyle = "#333";
    ctx.fillStyle = "rgba(60,60,60,0.08)";
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    if (this.mode === "box") {
      const [a, b] = [d.start, d.path[d.path.length - 1]];
      ctx.rect(a[0], a[1], b[0] - a[0], b[1] - a[1]);
    } else {
      d.path.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath();
    }
    ctx.fill();
    ctx.stroke();
  }

  boxMask(a, b) {
    const { s, tx, ty } = this.view;
    const xa = (Math.min(a[0], b[0]) - tx) / s, xb = (Math.max(a[0], b[0]) - tx) / s;
    const ya = (ty - Math.max(a[1], b[1])) / s, yb = (ty - Math.min(a[1], b[1])) / s;
    const hit = new Uint8Array(this.n);
    for (let i = 0; i < this.n; i++) {
      const x = this.x[i], y = this.y[i];
      if (x >= xa && x <= xb && y >= ya && y <= yb) hit[i] = 1;
    }
    return hit;
  }

  // The lasso is filled into an offscreen canvas; a point is inside when its pixel is: O(N), any polygon.
  lassoMask(path) {
    const W = this.canvas.width, H = this.canvas.height;
    const off = new OffscreenCanvas(W, H);
    const ctx = off.getContext("2d", { willReadFrequently: true });
    ctx.beginPath();
    path.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fillStyle = "#000";
    ctx.fill();
    const px = ctx.getImageData(0, 0, W, H).data;
    const { s, tx, ty } = this.view;
    const hit = new Uint8Array(this.n);
    for (let i = 0; i < this.n; i++) {
      const X = Math.round(this.x[i] * s + tx), Y = Math.round(ty - this.y[i] * s);
      if (X >= 0 && Y >= 0 && X < W && Y < H && px[(Y * W + X) * 4 + 3] > 127) hit[i] = 1;
    }
    return hit;
  }

  setSelection(hit, add) {
    if (!this.mask) return;
    if (!add || !hit) this.mask.fill(0);
    let count = 0;
    if (hit) for (let i = 0; i < this.n; i++) if (hit[i]) this.mask[i] = 1;
    for (let i = 0; i < this.n; i++) count += this.mask[i];
    this.selected = count;
    this.draw();
    this.selectToken++;
    const payload = { token: this.selectToken, n: this.n, count, layout: this.layout };
    Object.assign(payload, count ? encodeSelection(this.mask, count, this.n) : { enc: "ids", b64: "" });
    this.root.dataset.sent = String(this.selectToken);
    this.api.setTriggerValue("select", payload);
  }

  label(i) {
    const id = this.ids ? this.ids[i] : null;
    return id ? `${id} (row ${i})` : `row ${i}`;
  }

  hover([px, py]) {
    const i = this.nearest(px, py, 6);
    if (i < 0) {
      this.tip.style.display = "none";
      return;
    }
    this.tip.textContent = `${this.label(i)} · click for details`;
    this.tip.style.left = `${px + 12}px`;
    this.tip.style.top = `${py + 12}px`;
    this.tip.style.display = "block";
  }

  click(p) {
    const i = this.nearest(p[0], p[1], 6);
    if (i >= 0) this.api.setTriggerValue("pick", { row: i, layout: this.layout });
  }
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".alviz-map");
  if (!root.__alviz) root.__alviz = new AlvizMap(root);
  const map = root.__alviz;
  if (data instanceof Uint8Array && data.length) {
    try {
      map.apply(data, { setTriggerValue });
    } catch (err) {
      root.dataset.error = String(err);
      console.error(err);
    }
  }
}
