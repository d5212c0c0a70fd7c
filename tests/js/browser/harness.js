// In-page half of the browser harness: run_browser.mjs calls window.tfjsconvHandle(request) with
// the same request objects tests/js/run_models.mjs reads from stdin, and gets the same answers
// back.  Numeric tensors travel as base64 of their little-endian typed arrays.
'use strict';

(function () {
  // Weights, wasm binaries and models all come from this page's origin.
  tf.wasm.setWasmPaths(new URL('tfjs/', window.location.href).href);

  const TYPED = { float32: Float32Array, int32: Int32Array, bool: Uint8Array, complex64: Float32Array };

  function b64ToBytes(text) {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function bytesToB64(bytes) {
    let raw = '';
    const step = 0x8000; // String.fromCharCode takes a bounded number of arguments
    for (let i = 0; i < bytes.length; i += step) {
      raw += String.fromCharCode.apply(null, bytes.subarray(i, i + step));
    }
    return btoa(raw);
  }

  async function useBackend(name) {
    if (tf.engine().backendName === name) return;
    const ok = await tf.setBackend(name);
    if (!ok || tf.engine().backendName !== name) {
      throw new Error(`could not initialise the TF.js '${name}' backend`);
    }
    await tf.ready();
  }

  function decodeTensor(spec) {
    const { name, dtype, shape } = spec;
    if (dtype === 'string') return tf.tensor(spec.data, shape, 'string');
    const Typed = TYPED[dtype];
    if (Typed === undefined) throw new Error(`input '${name}': unsupported dtype '${dtype}'`);
    const bytes = b64ToBytes(spec.data_b64);
    const values = new Typed(bytes.buffer, 0, bytes.length / Typed.BYTES_PER_ELEMENT);
    if (dtype === 'complex64') {
      const real = values.filter((_, i) => i % 2 === 0);
      const imag = values.filter((_, i) => i % 2 === 1);
      return tf.complex(tf.tensor(real, shape, 'float32'), tf.tensor(imag, shape, 'float32'));
    }
    return tf.tensor(values, shape, dtype);
  }

  async function encodeTensor(name, t) {
    const out = { name, dtype: t.dtype, shape: t.shape };
    const values = await t.data();
    if (t.dtype === 'string') {
      out.data = Array.from(values);
    } else {
      const Typed = TYPED[t.dtype];
      if (Typed === undefined) throw new Error(`output '${name}': unsupported dtype '${t.dtype}'`);
      const typed = values instanceof Typed ? values : Typed.from(values);
      out.data_b64 = bytesToB64(new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength));
    }
    return out;
  }

  function asList(result) {
    if (result instanceof tf.Tensor) return [result];
    if (Array.isArray(result)) return result;
    throw new Error(`model returned ${typeof result}, expected a tensor or a list of tensors`);
  }

  // One inference as a user would time it: run the graph and wait for every output's values, so
  // the time includes the GPU work webgl queues (tensor.data() waits for it).
  async function inferOnce(model, feed, names, sync) {
    const outs = asList(sync ? model.execute(feed, names) : await model.executeAsync(feed, names));
    try {
      await Promise.all(outs.map((t) => t.data()));
    } finally {
      outs.forEach((t) => t.dispose());
    }
  }

  // execute() is the fast path; graphs with control flow or dynamic ops need executeAsync().
  async function pickSync(model, feed, names) {
    try {
      await inferOnce(model, feed, names, true);
      return true;
    } catch (err) {
      await inferOnce(model, feed, names, false);
      return false;
    }
  }

  async function timeRuns(model, feed, names, timing) {
    const sync = await pickSync(model, feed, names);
    // Warm-up: at least `warmup` inferences and `warmup_ms` of them (JIT, shader compiles, caches).
    const warmStart = performance.now();
    for (let i = 1; i < (timing.warmup || 1) || performance.now() - warmStart < (timing.warmup_ms || 0); i++) {
      await inferOnce(model, feed, names, sync);
    }
    // Each sample averages `inner` inferences: a browser's clock ticks in 0.1 ms steps.  With
    // `sample_ms`, inner is chosen so that one sample lasts about that long.
    let inner = Math.max(1, timing.inner || 1);
    if (timing.sample_ms) {
      const start = performance.now();
      await inferOnce(model, feed, names, sync);
      const once = Math.max(performance.now() - start, 0.01);
      inner = Math.min(1000, Math.max(inner, Math.ceil(timing.sample_ms / once)));
    }
    const times = [];
    for (let i = 0; i < timing.runs; i++) {
      const start = performance.now();
      for (let j = 0; j < inner; j++) await inferOnce(model, feed, names, sync);
      times.push((performance.now() - start) / inner);
    }
    return { times_ms: times, inner, execute: sync ? 'execute' : 'executeAsync' };
  }

  async function runGraph(req, inputs) {
    const model = await tf.loadGraphModel(req.url);
    try {
      const feed = {};
      req.inputs.forEach((s, i) => { feed[s.name] = inputs[i]; });
      const names = req.outputs && req.outputs.length ? req.outputs : model.outputNodes;
      const extra = req.timing ? await timeRuns(model, feed, names, req.timing) : {};
      const outs = asList(await model.executeAsync(feed, names));
      if (outs.length !== names.length) throw new Error(`asked for ${names.length} outputs, got ${outs.length}`);
      try {
        return Object.assign({ outputs: await Promise.all(outs.map((t, i) => encodeTensor(names[i], t))) }, extra);
      } finally {
        outs.forEach((t) => t.dispose());
      }
    } finally {
      model.dispose();
    }
  }

  async function runLayers(req, inputs) {
    const model = await tf.loadLayersModel(req.url);
    try {
      const outs = asList(model.predict(inputs.length === 1 ? inputs[0] : inputs));
      const names = model.outputNames || outs.map((_, i) => `output_${i}`);
      try {
        return { outputs: await Promise.all(outs.map((t, i) => encodeTensor(names[i], t))) };
      } finally {
        outs.forEach((t) => t.dispose());
      }
    } finally {
      model.dispose();
    }
  }

  window.tfjsconvHandle = async function (req) {
    try {
      if (req.ping) {
        return { pong: true, tfjs: tf.version.tfjs, backend: tf.engine().backendName || null,
          userAgent: navigator.userAgent };
      }
      await useBackend(req.backend || 'webgl');
      const info = {};
      if (tf.engine().backendName === 'webgl') {
        const gl = tf.backend().gpgpu.gl;
        const ext = gl.getExtension('WEBGL_debug_renderer_info');
        info.renderer = gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
        info.float32 = tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED');
      }
      const inputs = (req.inputs || []).map(decodeTensor);
      try {
        const kind = req.kind;
        if (kind !== 'graph' && kind !== 'layers') throw new Error(`unknown model kind '${kind}'`);
        const answer = kind === 'graph' ? await runGraph(req, inputs) : await runLayers(req, inputs);
        return Object.assign(answer, { backend: tf.engine().backendName, info });
      } finally {
        inputs.forEach((t) => t.dispose());
      }
    } catch (err) {
      const message = err && err.message ? err.message : String(err);
      return { error: message, stack: err && err.stack ? String(err.stack) : '' };
    }
  };
  window.tfjsconvReady = true;
}());
