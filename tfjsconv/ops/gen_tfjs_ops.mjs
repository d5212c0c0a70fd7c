// Regenerates tfjsconv/ops/tfjs_ops.json from the op lists shipped with @tensorflow/tfjs-converter.
//
//   cd /work/main && node tfjsconv/ops/gen_tfjs_ops.mjs \
//       tests/js/node_modules/@tensorflow/tfjs-converter > tfjsconv/ops/tfjs_ops.json
//
// Every entry of dist/operations/op_list/*.js is kept (tfOpName, category, inputs, attrs, outputs).
// "mapped" says whether dist/operations/operation_mapper.js imports the entry's list: ops of lists
// it does not import (ragged, tfdf in 4.22) parse but fail at run time, so TF.js cannot run them.
import {readFileSync, readdirSync} from 'node:fs';
import {join} from 'node:path';

const root = process.argv[2];
if (!root) {
  console.error('usage: node gen_tfjs_ops.mjs <path to @tensorflow/tfjs-converter>');
  process.exit(2);
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const opsDir = join(root, 'dist', 'operations', 'op_list');
const mapperSource = readFileSync(join(root, 'dist', 'operations', 'operation_mapper.js'), 'utf8');
const imported = new Set([...mapperSource.matchAll(/from '\.\/op_list\/([a-z_]+)'/g)].map(m => m[1]));

// The lists are ES modules of the form `export const json = [ ...object literal... ];`.
function loadList(file) {
  const text = readFileSync(join(opsDir, file), 'utf8').replace(/\/\/# sourceMappingURL=.*$/m, '');
  const start = text.indexOf('export const json =');
  if (start < 0) throw new Error(`${file}: no 'export const json'`);
  const literal = text.slice(start + 'export const json ='.length).trim().replace(/;\s*$/, '');
  return new Function(`return (${literal});`)();
}

function pick(obj, keys) {
  const out = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

const ops = {};
for (const file of readdirSync(opsDir).filter(f => f.endsWith('.js')).sort()) {
  const list = file.replace(/\.js$/, '');
  for (const entry of loadList(file)) {
    if (ops[entry.tfOpName]) throw new Error(`duplicate op ${entry.tfOpName} in ${file}`);
    const op = {category: entry.category, list, mapped: imported.has(list)};
    op.inputs = (entry.inputs || []).map(i => pick(i, ['start', 'end', 'name', 'type', 'defaultValue',
                                                       'notSupported']));
    op.attrs = (entry.attrs || []).map(a => pick(a, ['tfName', 'name', 'type', 'defaultValue',
                                                     'notSupported', 'tfDeprecatedName']));
    if (entry.outputs) op.outputs = entry.outputs;
    ops[entry.tfOpName] = op;
  }
}
const sorted = {};
for (const name of Object.keys(ops).sort()) sorted[name] = ops[name];
process.stdout.write(JSON.stringify({tfjs_converter_version: pkg.version, ops: sorted}, null, 1) + '\n');
