// Scores an exported Cifar model with onnxruntime-node, as any caller outside .NET would:
//   node score.mjs MODEL.onnx PIXELS.f32 N,C,H,W
// PIXELS.f32 holds N images as float32 little-endian, [N, C, H, W] RGB planes, 0-255 (the model's metadata says so).
// Prints JSON: the input and output names, the input's dimensions, and each image's probabilities and label.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [model, pixelsFile, shapeText] = process.argv.slice(2);
const shape = (shapeText ?? '').split(',').map(Number);
if (!model || !pixelsFile || shape.length !== 4 || !shape.every(d => Number.isInteger(d) && d > 0)) {
  console.error('usage: node score.mjs MODEL.onnx PIXELS.f32 N,C,H,W');
  process.exit(2);
}
const n = shape[0];
const bytes = readFileSync(pixelsFile);
const pixels = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
const session = await ort.InferenceSession.create(model);
const outputs = await session.run({ pixels: new ort.Tensor('float32', pixels, shape) });
const classes = outputs.probabilities.dims[1];
const probabilities = [];
for (let i = 0; i < n; i++) probabilities.push(Array.from(outputs.probabilities.data.slice(i * classes, (i + 1) * classes)));
console.log(JSON.stringify({
  inputNames: session.inputNames,
  outputNames: session.outputNames,
  probabilityDims: outputs.probabilities.dims,
  probabilities,
  labels: Array.from(outputs.label.data),
}));
