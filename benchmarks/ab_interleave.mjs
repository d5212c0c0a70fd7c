// Times several TF.js graph models in ONE Node process, alternating single inferences (A, B, C, then
// B, C, A...): every side shares the process's JIT state, heap and the machine's load of the moment,
// which fresh-process A/Bs cannot control (ResNet50 on cpu swings 12-18 s between processes).
// Called by ab_interleave.py: node ab_interleave.mjs <tests/js dir> <backend> <rounds> <warmup> <url>...
// Prints one JSON line: [{url, wall_ms: [...], cpu_ms: [...]}] in the order given.
import { createRequire } from 'node:module';
import path from 'node:path';

const [jsDir, backend, roundsText, warmupText, ...urls] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(jsDir), 'package.json'));
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');
wasm.setWasmPaths(path.join(path.resolve(jsDir), 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep);
console.log = (...a) => process.stderr.write(a.join(' ') + '\n');  // stdout carries the result only

await tf.setBackend(backend);
await tf.ready();
const models = [];
for (const url of urls) models.push(await tf.loadGraphModel(url));

// One feed per model from its signature (unknown dims as 1), the same values for every model.
function feedOf(model) {
  const feed = {};
  for (const [i, input] of model.inputs.entries()) {
    const shape = input.shape.map((d) => (d == null || d < 0 ? 1 : d));
    const dtype = input.dtype === 'int32' ? 'int32' : 'float32';
    feed[input.name] = tf.randomUniform(shape, 0, dtype === 'int32' ? 8 : 1, dtype, 7 + i);
  }
  return feed;
}
const feeds = models.map(feedOf);

async function once(i) {
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  const outs = [].concat(models[i].execute(feeds[i]));
  await Promise.all(outs.map((t) => t.data()));
  outs.forEach((t) => t.dispose());
  const cpu = process.cpuUsage(cpu0);
  return [performance.now() - wall0, (cpu.user + cpu.system) / 1000];
}

for (let w = 0; w < Number(warmupText); w++) for (let i = 0; i < models.length; i++) await once(i);
const wall = urls.map(() => []);
const cpu = urls.map(() => []);
for (let r = 0; r < Number(roundsText); r++) {
  for (let k = 0; k < models.length; k++) {
    const i = (k + r) % models.length;
    const [w, c] = await once(i);
    wall[i].push(w);
    cpu[i].push(c);
  }
}
process.stdout.write(JSON.stringify(urls.map((url, i) => ({ url, wall_ms: wall[i], cpu_ms: cpu[i] }))) + '\n');
