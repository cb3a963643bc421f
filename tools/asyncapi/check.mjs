// Parse an AsyncAPI document with @asyncapi/parser (the reference parser, a pinned test
// dependency: package.json, package-lock.json) and print its diagnostics as JSON, one
// object each: {severity, code, message, path}. Severity: error, warning, info or hint.
// Used by tests/unit/test_asyncapi_parser.py; `node check.mjs FILE`.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const NAMES = { [DiagnosticSeverity.Error]: "error", [DiagnosticSeverity.Warning]: "warning",
                [DiagnosticSeverity.Information]: "info", [DiagnosticSeverity.Hint]: "hint" };

const text = await readFile(process.argv[2], "utf8");
const { document, diagnostics } = await new Parser().parse(text);
const out = diagnostics.map((d) => ({
  severity: NAMES[d.severity] ?? String(d.severity), code: String(d.code),
  message: d.message, path: d.path.join("/") }));
console.log(JSON.stringify({ parsed: document !== undefined,
                             version: document?.version() ?? null, diagnostics: out }));
