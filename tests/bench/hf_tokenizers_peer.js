// The peer for m1_tokenizer_bench: HF tokenizers (Rust, through its Node binding) on the same text,
// one thread, two ways: one encode() of the whole string, and the text cut into ~4 KB documents at
// line ends, encoded by encodeBatch (the per-document use a serving stack makes of it).
//   npm install --prefix /tmp/hftok tokenizers@0.23.2
//   build/tests/model/m1_tokenizer_bench --write /tmp/tokbench.txt
//   NODE_PATH=/tmp/hftok/node_modules TOKENIZERS_PARALLELISM=false node tests/bench/hf_tokenizers_peer.js /tmp/tokbench.txt
const { Tokenizer } = require('tokenizers');
const fs = require('fs');
const path = require('path');

const text = fs.readFileSync(process.argv[2], 'utf8');
const megabytes = Buffer.byteLength(text) / 1e6;
const documents = [];
let current = '';
for (const line of text.split(/(?<=\n)/)) {
  current += line;
  if (current.length >= 4096) { documents.push(current); current = ''; }
}
if (current) documents.push(current);

async function medianSeconds(run) {
  const times = [];
  let ids = 0;
  for (let i = 0; i < 3; i++) {
    const start = process.hrtime.bigint();
    ids = await run();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  times.sort((a, b) => a - b);
  return { seconds: times[1], ids };
}

(async () => {
  for (const name of ['gpt2', 'gpt4o', 'fallback']) {
    const tok = Tokenizer.fromFile(path.join(__dirname, '..', 'data', 'tokenizer', `${name}.tokenizer.json`));
    await tok.encode(text.slice(0, 1 << 20), null, { addSpecialTokens: false });  // warm-up
    const whole = await medianSeconds(async () =>
      (await tok.encode(text, null, { addSpecialTokens: false })).getIds().length);
    const perDocument = await medianSeconds(async () =>
      (await tok.encodeBatch(documents, { addSpecialTokens: false })).reduce((n, e) => n + e.getIds().length, 0));
    console.log(`${name}: whole string ${(megabytes / whole.seconds).toFixed(2)} MB/s (${whole.ids} ids); ` +
                `${documents.length} documents ${(megabytes / perDocument.seconds).toFixed(2)} MB/s (${perDocument.ids} ids)`);
  }
})();
