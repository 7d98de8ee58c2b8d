// Zion's web console: confirmations for the actions, the calls to the API
// they make (with the session's CSRF token), and the live stream that
// swaps the fragments of the page that changed. No framework, no build.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]');
  const message = document.getElementById("message");
  const dialog = document.getElementById("confirm");

  function say(text, isError) {
    if (!message) return;
    message.textContent = text;
    message.className = isError ? "error" : "ok";
  }

  // Asks through the page's <dialog>; resolves true on "Confirm".
  function confirmAction(text) {
    return new Promise((resolve) => {
      if (!dialog || typeof dialog.showModal !== "function") {
        resolve(window.confirm(text));
        return;
      }
      document.getElementById("confirm-text").textContent = text;
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
      document.getElementById("confirm-cancel").focus();
    });
  }

  async function run(button) {
    const ok = await confirmAction(button.dataset.confirm || "Are you sure?");
    if (!ok) return;
    let body = button.dataset.body ? JSON.parse(button.dataset.body) : {};
    if (button.dataset.comment) {
      const field = document.getElementById(button.dataset.comment);
      if (field && field.value.trim() !== "") body.comment = field.value.trim();
    }
    button.disabled = true;
    try {
      const response = await fetch(button.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "X-CSRF-Token": csrf ? csrf.content : "",
        },
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) {
        say(button.textContent.trim() + ": done.", false);
      } else {
        const e = answer.error || {};
        say(e.message || "refused (" + response.status + ")", true);
      }
    } catch (err) {
      say("The server could not be reached: " + err, true);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) {
      event.preventDefault();
      run(button);
    }
  });

  // The live stream: each event replaces one element, found by its id.
  const stream = document.body.dataset.stream;
  if (stream && typeof EventSource === "function") {
    const source = new EventSource(stream);
    source.addEventListener("fragment", (event) => {
      const { id, html } = JSON.parse(event.data);
      const old = document.getElementById(id);
      if (old) {
        old.outerHTML = html;
      } else {
        const list = document.getElementById("targets");
        if (list) list.insertAdjacentHTML("beforeend", html);
      }
    });
  }
})();
