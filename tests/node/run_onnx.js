// node run_onnx.js model.onnx feeds.json: runs the model in onnxruntime-node, prints its outputs as JSON.
const ort = require('onnxruntime-node');
const fs = require('fs');
(async () => {
  const [model, inputPath] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model);
  const spec = JSON.parse(fs.readFileSync(inputPath));
  const feeds = {};
  for (const [name, t] of Object.entries(spec)) {
    const Typed = t.type === 'int32' ? Int32Array : Float32Array;
    feeds[name] = new ort.Tensor(t.type, Typed.from(t.data), t.dims);
  }
  const results = await session.run(feeds);
  const out = {};
  for (const [name, t] of Object.entries(results)) out[name] = {dims: t.dims, data: Array.from(t.data)};
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e.message); process.exit(1); });
