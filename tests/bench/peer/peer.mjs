// The peer script bench_dispatch compares against: what a user would write with the OpenAI
// Node SDK and p-limit — every row of a CSV sent as one chat completion, 32 at a time, the
// SDK's default retries (2, with its own backoff) — against the same loopback server.
//
//   node peer.mjs BASE_URL ROWS.csv [CONCURRENCY]
//
// Prints one JSON line: rows, completed, lost (rows whose request failed after the SDK's
// retries), wall_s. The server's counters say how many requests it answered 429.

import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import pLimit from 'p-limit';

const [baseURL, csvPath, concurrencyArg] = process.argv.slice(2);
if (!baseURL || !csvPath) {
    console.error('usage: node peer.mjs BASE_URL ROWS.csv [CONCURRENCY]');
    process.exit(2);
}
const concurrency = Number(concurrencyArg ?? 32);
// The bench's CSV: a header, then "id,text" with no quoting.
const texts = readFileSync(csvPath, 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => line.length > 0)
    .map((line) => line.slice(line.indexOf(',') + 1));

const client = new OpenAI({ apiKey: 'sk-bench-0000000000000000', baseURL });
const limit = pLimit(concurrency);
let completed = 0;
let lost = 0;
const started = performance.now();
await Promise.all(
    texts.map((text) =>
        limit(async () => {
            try {
                await client.chat.completions.create({
                    model: 'fake-model-1',
                    messages: [{ role: 'user', content: `Classify: ${text}` }],
                    max_completion_tokens: 64,
                });
                completed += 1;
            } catch {
                lost += 1;
            }
        }),
    ),
);
const wall = (performance.now() - started) / 1000;
console.log(JSON.stringify({ rows: texts.length, completed, lost, wall_s: Number(wall.toFixed(1)) }));
