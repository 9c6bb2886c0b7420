// Run by tests/protocol/node.py: decodes each frame of the JSON array in argv[2] with
// server/web/protocol.js's decodeServer and writes [{message} | {error}] to argv[3].
import { readFileSync, writeFileSync } from "node:fs";

const P = await import(process.env.PDV_PROTOCOL_JS);
const frames = JSON.parse(readFileSync(process.argv[2], "utf-8"));
const out = frames.map((frame) => {
  try {
    return { message: P.decodeServer(frame) };
  } catch (error) {
    return { error: `${error.code ?? error.name}: ${error.message}` };
  }
});
writeFileSync(process.argv[3], JSON.stringify(out), "utf-8");
