// Reads JSON lines {"text": ...} on stdin and writes one JSON line per input
// {"text", "hashtags", "mentions"} as twitter-text extracts them: the same
// contract as `hashtag extract`, so the two can be diffed.
// With --bench, prints only timing for the whole input instead.
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
    let sink = 0;
    for (const t of texts) sink += twttr.extractHashtags(t).length + twttr.extractMentions(t).length; // warm-up
    const start = process.hrtime.bigint();
    for (const t of texts) sink += twttr.extractHashtags(t).length + twttr.extractMentions(t).length;
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(JSON.stringify({ captions: texts.length, bytes, seconds: secs, entities: sink }));
    return;
  }
  const out = [];
  for (const text of texts) {
    out.push(JSON.stringify({ text, hashtags: twttr.extractHashtags(text), mentions: twttr.extractMentions(text) }));
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
});
