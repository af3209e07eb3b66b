// Reads JSON lines {"text": ...} on stdin and writes one JSON line per input
// {"text", "hashtags", "mentions"} as twitter-text extracts them: the same
// contract as `hashtag extract`, so the two can be diffed.
// With --bench, extracts the whole input ROUNDS times after a warm-up and
// prints the fastest pass's time instead (used by `cargo bench`, which
// times its own side the same way).
const twttr = require('twitter-text');
const readline = require('readline');

const bench = process.argv.includes('--bench');
const texts = [];
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => { if (line.trim()) texts.push(JSON.parse(line).text); });
rl.on('close', () => {
  if (bench) {
    let bytes = 0;
    for (const t of texts) bytes += Buffer.byteLength(t, 'utf8');
    const ROUNDS = 7;
    let entities = 0;
    const pass = () => {
      entities = 0;
      for (const t of texts) entities += twttr.extractHashtags(t).length + twttr.extractMentions(t).length;
    };
    pass(); // warm-up: lets the JIT compile the regexes
    const times = [];
    for (let i = 0; i < ROUNDS; i++) {
      const start = process.hrtime.bigint();
      pass();
      times.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({ captions: texts.length, bytes, seconds: times[0], entities }));
    return;
  }
  const out = [];
  for (const text of texts) {
    out.push(JSON.stringify({ text, hashtags: twttr.extractHashtags(text), mentions: twttr.extractMentions(text) }));
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
});
