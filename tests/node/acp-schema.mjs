// Checks what an ACP agent writes against the JSON Schema the protocol's
// TypeScript SDK ships: every message as some agent message, and
// notifications, requests and responses (matched to the request they
// answer) as their own type.
import fs from "node:fs";
import path from "node:path";

// What each of the editor's requests is answered with.
const responseOf = {
  initialize: "InitializeResponse",
  "session/new": "NewSessionResponse",
  "session/load": "LoadSessionResponse",
  "session/list": "ListSessionsResponse",
  "session/resume": "ResumeSessionResponse",
  "session/close": "CloseSessionResponse",
  "session/prompt": "PromptResponse",
  "session/set_mode": "SetSessionModeResponse",
};
// What each of the agent's messages to the editor carries.
const paramsOf = {
  "session/update": "SessionNotification",
  "session/request_permission": "RequestPermissionRequest",
};

export async function schemaChecker(sdkDir) {
  const modules = path.join(sdkDir, "node_modules");
  const Ajv2020 = (await import(path.join(modules, "ajv/dist/2020.js"))).default;
  const schema = JSON.parse(
    fs.readFileSync(path.join(modules, "@agentclientprotocol/sdk/schema/v1/schema.json"), "utf8"),
  );
  // Number formats (int64, uint32, ...) are not JSON Schema formats: not checked.
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  ajv.addSchema(schema, "acp");
  const anyAgentMessage = ajv.compile({ $ref: "acp#/anyOf/0" });
  const sentMethods = new Map();
  const refused = [];
  let checked = 0;
  return {
    refused,
    checked: () => checked,
    /** Notes a line the editor wrote, to match the response to it. */
    sent(line) {
      const message = JSON.parse(line);
      if (message.method && message.id !== undefined) sentMethods.set(message.id, message.method);
    },
    /** Checks a line the agent wrote. */
    received(line) {
      let message;
      try {
        message = JSON.parse(line);
      } catch {
        refused.push({ line, why: "not JSON" });
        return;
      }
      checked += 1;
      const problems = [];
      if (!anyAgentMessage(message)) problems.push(ajv.errorsText(anyAgentMessage.errors));
      const specific = message.method
        ? paramsOf[message.method]
        : "result" in message
          ? responseOf[sentMethods.get(message.id)]
          : null;
      if (specific) {
        const validator = ajv.getSchema(`acp#/$defs/${specific}`);
        const params = message.method ? message.params : message.result;
        if (!validator(params)) problems.push(`${specific}: ${ajv.errorsText(validator.errors)}`);
      }
      if (problems.length) refused.push({ message, problems });
    },
  };
}
