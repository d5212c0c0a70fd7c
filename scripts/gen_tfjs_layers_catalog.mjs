// Regenerates tfjsconv/readers/keras/tfjs_layers_catalog.json: which Keras class names the installed
// tfjs-layers registers, so the Python side can reject a model TF.js could not deserialize before
// writing anything.  The registry itself is the truth (not a hand-kept list): every class that
// tfjs-layers hands to `serialization.registerClass` is looked up by name at load time.
//
// Run after `npm ci` in tests/js (an optional argument writes elsewhere, e.g. for a freshness test):
//   node scripts/gen_tfjs_layers_catalog.mjs [out.json]
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'tests', 'js', 'package.json'));
const tf = require('@tensorflow/tfjs');
const layersVersion = require('@tensorflow/tfjs-layers/package.json').version;

// Group every registered class by the tfjs base class it derives from.
const kinds = {
  Layer: 'layers', Initializer: 'initializers', Regularizer: 'regularizers',
  Constraint: 'constraints', Activation: 'activations', Optimizer: 'optimizers',
};
const catalog = { tfjs_layers_version: layersVersion };
for (const kind of Object.values(kinds)) catalog[kind] = [];

const registry = tf.serialization.SerializationMap.getMap().classNameMap;
for (const [name, [cls]] of Object.entries(registry)) {
  let kind = null;
  for (let proto = Object.getPrototypeOf(cls); proto && proto.name; proto = Object.getPrototypeOf(proto)) {
    if (kinds[proto.name]) { kind = kinds[proto.name]; break; }
  }
  if (kind === null) throw new Error(`registered class ${name} has no known tfjs base class`);
  catalog[kind].push(name);
}
for (const kind of Object.values(kinds)) catalog[kind].sort();

const out = process.argv[2] || join(root, 'tfjsconv', 'readers', 'keras', 'tfjs_layers_catalog.json');
writeFileSync(out, JSON.stringify(catalog, null, 1) + '\n');
console.log(`wrote ${out}: ${catalog.layers.length} layer classes (tfjs-layers ${layersVersion})`);
