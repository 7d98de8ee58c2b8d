// The audit log page's Verify button: runs the API's verification
// (GET /api/v1/audit/verify, with the session's cookie) and shows its
// answer as the API gives it. Values are set as text, never as markup.
"use strict";

(function () {
  const button = document.getElementById("verify-run");
  const out = document.getElementById("verify-result");
  if (!button || !out) return;

  function row(list, name, value) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }

  function show(answer) {
    out.replaceChildren();
    const head = document.createElement("p");
    const list = document.createElement("dl");
    if (answer.ok === true) {
      const tree = answer.latest_checkpoint || null;
      out.dataset.ok = "true";
      out.dataset.entries = String(answer.entries);
      out.dataset.size = tree ? String(tree.size) : "";
      out.dataset.root = answer.root;
      out.className = "ok";
      head.textContent = "Verified: every entry, the root and every kept checkpoint.";
      row(list, "Entries", String(answer.entries));
      row(list, "Root hash", answer.root);
      if (tree) {
        row(list, "Signed tree head", "size " + tree.size + ", root " + tree.root);
        row(list, "Signatures", "OK (" + answer.checkpoints + " checkpoints checked)");
      } else {
        row(list, "Signed tree head", "none yet");
      }
      row(list, "Verified from entry", String(answer.verified_from_entry));
    } else if (answer.ok === false) {
      out.dataset.ok = "false";
      out.className = "error";
      head.textContent = "The audit log does not verify.";
      if (answer.index !== null && answer.index !== undefined) {
        out.dataset.index = String(answer.index);
        row(list, "First bad entry", String(answer.index));
      }
      row(list, "Reason", answer.error);
    } else {
      const e = answer.error || {};
      out.dataset.ok = "false";
      out.className = "error";
      head.textContent = e.message || "The verification could not run.";
    }
    out.append(head, list);
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    delete out.dataset.ok;
    out.className = "";
    out.textContent = "Verifying…";
    try {
      const response = await fetch(button.dataset.url, { credentials: "same-origin" });
      show(await response.json().catch(() => ({ error: { message: "refused (" + response.status + ")" } })));
    } catch (err) {
      show({ error: { message: "The server could not be reached: " + err } });
    } finally {
      button.disabled = false;
    }
  });
})();
