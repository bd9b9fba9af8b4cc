// Starts `archdsl lsp` for the YAML files matching `archdsl.specs`. Plain JavaScript: no build step;
// `npm install` in this folder fetches vscode-languageclient.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

exports.activate = function activate() {
  const config = vscode.workspace.getConfiguration("archdsl");
  const server = { command: config.get("command"), args: config.get("args") };
  const documentSelector = config.get("specs").map((pattern) => ({ scheme: "file", language: "yaml", pattern }));
  client = new LanguageClient("archdsl", "archdsl", server, { documentSelector });
  return client.start();
};

exports.deactivate = function deactivate() {
  return client ? client.stop() : undefined;
};
