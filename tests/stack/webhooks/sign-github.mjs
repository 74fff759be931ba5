// Signs stdin with GitHub's signer (@octokit/webhooks-methods) and prints
// the X-Hub-Signature-256 value: node sign-github.mjs <secret> < body
import { sign } from "@octokit/webhooks-methods";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
process.stdout.write(await sign(process.argv[2], Buffer.concat(chunks).toString("utf8")));
