// Long-lived TF.js runner used by the pytest harness (tests/tfjs_runner.py).
//
// Protocol: one JSON request per line on stdin, one JSON response per line on stdout.
//   request:  {"url": "http://127.0.0.1:PORT/dir/model.json", "kind": "layers"|"graph",
//              "backend": "cpu"|"wasm", "inputs": [{"name", "dtype", "shape", "data_b64"|"data"}],
//              "outputs": [names] (graph models only; optional),
//              "timing": {"runs": N, "warmup": W} (graph models only; optional)}
//   response: {"outputs": [{"name", "dtype", "shape", "data_b64"|"data"}], "backend": "...",
//              "times_ms": [N wall times, when timing was asked], "cpu_times_ms": [N process CPU
//              times], "inner": inferences per sample, "execute": "execute"|"executeAsync"}
//             or {"error": "message", "stack": "..."}
// Numeric tensors travel as base64 of their little-endian typed array; string tensors as a
// JSON list of strings ("data"). Anything TF.js itself prints goes to stderr, because stdout
// carries the protocol and a stray log line there would corrupt it.

import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const protocolOut = process.stdout.write.bind(process.stdout);
const toStderr = (...args) => {
  process.stderr.write(args.map((a) => (typeof a === 'string' ? a : String(a))).join(' ') + '\n');
};
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;
console.debug = toStderr;

// The CommonJS node builds are loaded on purpose: tfjs and tfjs-backend-wasm then share the
// single tfjs-core instance in node_modules (two cores would mean two backend registries).
const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');

const here = path.dirname(fileURLToPath(import.meta.url));
const wasmDir = path.join(here, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep;
// Node loads the .wasm binaries from disk; the prefix must be a file path ending with a separator.
wasm.setWasmPaths(wasmDir);

const TYPED = {
  float32: Float32Array,
  int32: Int32Array,
  bool: Uint8Array,
  // complex64 travels as interleaved (real, imag) float32 pairs.
  complex64: Float32Array,
};

// tf.getBackend() would initialise the highest-priority backend (wasm, in Node) as a side effect,
// so the current backend is read from the engine instead.
const currentBackend = () => tf.engine().backendName;

async function useBackend(name) {
  if (currentBackend() === name) return;
  const ok = await tf.setBackend(name);
  if (!ok || currentBackend() !== name) {
    throw new Error(`could not initialise the TF.js '${name}' backend`);
  }
  await tf.ready();
}

function decodeTensor(spec) {
  const { name, dtype, shape } = spec;
  if (dtype === 'string') {
    return tf.tensor(spec.data, shape, 'string');
  }
  const Typed = TYPED[dtype];
  if (Typed === undefined) throw new Error(`input '${name}': unsupported dtype '${dtype}'`);
  const buf = Buffer.from(spec.data_b64, 'base64');
  // Copy into a fresh, aligned ArrayBuffer: Buffer slices may share an unaligned pool.
  const bytes = new Uint8Array(buf.length);
  bytes.set(buf);
  const values = new Typed(bytes.buffer, 0, buf.length / Typed.BYTES_PER_ELEMENT);
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
    out.data_b64 = Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength).toString('base64');
  }
  return out;
}

function asList(result) {
  if (result instanceof tf.Tensor) return [result];
  if (Array.isArray(result)) return result;
  throw new Error(`model returned ${typeof result}, expected a tensor or a list of tensors`);
}

async function runLayers(url, inputs) {
  const model = await tf.loadLayersModel(url);
  try {
    const feed = inputs.length === 1 ? inputs[0] : inputs;
    const outs = asList(model.predict(feed));
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

// One inference as a user would time it: run the graph, then wait for every output's values.
async function inferOnce(model, feed, names, sync) {
  const outs = asList(sync ? model.execute(feed, names) : await model.executeAsync(feed, names));
  try {
    await Promise.all(outs.map((t) => t.data()));
  } finally {
    outs.forEach((t) => t.dispose());
  }
}

// execute() is the fast path; graphs with control flow or dynamic ops need executeAsync().
async function timeRuns(model, feed, names, timing) {
  let sync = true;
  try {
    await inferOnce(model, feed, names, true);
  } catch (err) {
    sync = false;
    await inferOnce(model, feed, names, false);
  }
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
  // Wall time, and this process's CPU time: the cpu and wasm backends compute on this thread, so
  // CPU time is the model's cost even when other processes preempt this one.
  const times = [];
  const cpuTimes = [];
  for (let i = 0; i < timing.runs; i++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    for (let j = 0; j < inner; j++) await inferOnce(model, feed, names, sync);
    const cpu = process.cpuUsage(cpuStart);
    times.push((performance.now() - start) / inner);
    cpuTimes.push((cpu.user + cpu.system) / 1000 / inner);
  }
  return { times_ms: times, cpu_times_ms: cpuTimes, inner, execute: sync ? 'execute' : 'executeAsync' };
}

async function runGraph(url, inputs, specs, outputNames, timing) {
  const model = await tf.loadGraphModel(url);
  try {
    // Keyed by signature input key (or node name): GraphExecutor.mapInputs/mapOutputs translate
    // signature keys to tensor names, so both spellings work.
    const feed = {};
    specs.forEach((s, i) => { feed[s.name] = inputs[i]; });
    const names = outputNames && outputNames.length ? outputNames : model.outputNodes;
    const extra = timing ? await timeRuns(model, feed, names, timing) : {};
    // executeAsync handles control flow (Switch/Merge/loops) that execute() refuses.
    const outs = asList(await model.executeAsync(feed, names));
    if (outs.length !== names.length) {
      throw new Error(`asked for ${names.length} outputs, got ${outs.length}`);
    }
    try {
      return { outputs: await Promise.all(outs.map((t, i) => encodeTensor(names[i], t))), ...extra };
    } finally {
      outs.forEach((t) => t.dispose());
    }
  } finally {
    model.dispose();
  }
}

async function handle(req) {
  await useBackend(req.backend || 'cpu');
  const inputs = (req.inputs || []).map(decodeTensor);
  try {
    if (req.kind === 'layers') return await runLayers(req.url, inputs);
    if (req.kind === 'graph') return await runGraph(req.url, inputs, req.inputs, req.outputs, req.timing);
    throw new Error(`unknown model kind '${req.kind}'`);
  } finally {
    inputs.forEach((t) => t.dispose());
  }
}

function reply(obj) {
  protocolOut(JSON.stringify(obj) + '\n');
}

// Requests are handled strictly one after another: the Python side waits for each answer.
const lines = readline.createInterface({ input: process.stdin, terminal: false });
let queue = Promise.resolve();
lines.on('line', (line) => {
  if (!line.trim()) return;
  queue = queue.then(async () => {
    let req;
    try {
      req = JSON.parse(line);
    } catch (err) {
      reply({ error: `bad request JSON: ${err.message}` });
      return;
    }
    if (req.ping) {
      reply({ pong: true, tfjs: tf.version.tfjs, backend: currentBackend() || null,
        numTensors: currentBackend() ? tf.memory().numTensors : 0 });
      return;
    }
    try {
      const answer = await handle(req);
      reply({ ...answer, backend: currentBackend() });
    } catch (err) {
      const message = err && err.message ? err.message : String(err);
      reply({ error: message, stack: err && err.stack ? String(err.stack) : '' });
    }
  });
});
lines.on('close', () => {
  queue.then(() => process.exit(0));
});
