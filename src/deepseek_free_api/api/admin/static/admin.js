// The admin page's scripts: key creation and revocation, and the playground. No build step.
// Changes carry the page's CSRF token (X-Admin-CSRF) next to the SameSite=Strict session cookie.
"use strict";

const csrf = document.querySelector('meta[name="admin-csrf"]')?.content ?? "";

async function act(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Admin-CSRF": csrf },
    body: JSON.stringify(body ?? {}),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data?.error?.message ?? `HTTP ${response.status}`);
  return data;
}

function formObject(form) {
  return Object.fromEntries(new FormData(form).entries());
}

const createForm = document.getElementById("create-key");
if (createForm) {
  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = document.getElementById("new-key");
    const value = document.getElementById("new-key-value");
    try {
      const created = await act("/admin/api/keys", formObject(createForm));
      value.textContent = created.key;
      box.classList.remove("hidden", "error");
      createForm.reset();
    } catch (error) {
      value.textContent = error.message;
      box.classList.remove("hidden");
      box.classList.add("error");
    }
  });
}

for (const button of document.querySelectorAll("button.revoke")) {
  button.addEventListener("click", async () => {
    if (!window.confirm(`Revoke ${button.dataset.name}? It is refused at once.`)) return;
    try {
      await act(`/admin/api/keys/${encodeURIComponent(button.dataset.name)}/revoke`);
      window.location.reload();
    } catch (error) {
      window.alert(error.message);
    }
  });
}

const play = document.getElementById("playground");
if (play) {
  play.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = formObject(play);
    const status = document.getElementById("play-status");
    const output = document.getElementById("play-output");
    status.textContent = "sending…";
    delete status.dataset.done;
    output.textContent = "";
    const headers = { "Content-Type": "application/json" };
    if (fields.key) headers.Authorization = `Bearer ${fields.key}`;
    try {
      const response = await fetch("/v1/chat/completions", {
        method: "POST",
        headers,
        credentials: "omit",
        body: JSON.stringify({ model: fields.model, messages: [{ role: "user", content: fields.message }] }),
      });
      const data = await response.json().catch(() => ({}));
      status.textContent = String(response.status);
      output.textContent = response.ok
        ? data?.choices?.[0]?.message?.content ?? ""
        : data?.error?.message ?? JSON.stringify(data);
    } catch (error) {
      status.textContent = "failed";
      output.textContent = error.message;
    }
    status.dataset.done = "";  // the answer is shown (tests and screen readers wait for this)
  });
}

// Account actions. The page reloads to show the new state; the sentence saying what happened is
// carried over the reload in sessionStorage (never a token: answers hold none).
const notice = document.getElementById("account-action");
const NOTICE = "admin-account-notice";

function showNotice() {
  const saved = window.sessionStorage.getItem(NOTICE);
  if (!notice || saved === null) return;
  window.sessionStorage.removeItem(NOTICE);
  const { text, bad } = JSON.parse(saved);
  notice.textContent = text;
  notice.classList.remove("hidden");
  notice.classList.toggle("error", Boolean(bad));
  notice.dataset.done = "";
}
showNotice();

function reloadWith(text, bad) {
  window.sessionStorage.setItem(NOTICE, JSON.stringify({ text, bad }));
  window.location.reload();
}

function said(action, account, data) {
  if (action === "check") return data.message;
  if (action === "canary") return `Canary on ${account}: ${data.verdict}`;
  if (action === "enable") return `Account ${account} re-enabled (${data.condition})`;
  return `Account ${account} removed. ${data.note ?? ""}`.trim();
}

for (const button of document.querySelectorAll("button.account-action")) {
  button.addEventListener("click", async () => {
    const { action, account } = button.dataset;
    if (action === "remove" && !window.confirm(`Remove ${account}? Servers stop using it within seconds.`)) return;
    for (const other of document.querySelectorAll("button.account-action")) other.disabled = true;
    try {
      const data = await act(`/admin/api/accounts/${encodeURIComponent(account)}/${action}`);
      reloadWith(said(action, account, data), action === "check" && !data.ok);
    } catch (error) {
      reloadWith(`${action} ${account}: ${error.message}`, true);
    }
  });
}

const canaryAll = document.getElementById("canary-all");
if (canaryAll) {
  canaryAll.addEventListener("click", async () => {
    canaryAll.disabled = true;
    try {
      const data = await act("/admin/api/canary");
      reloadWith(data.runs.map((run) => `${run.account}: ${run.verdict}`).join("; ") || "No server accounts");
    } catch (error) {
      reloadWith(`canary: ${error.message}`, true);
    }
  });
}

const addForm = document.getElementById("add-account");
if (addForm) {
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const added = await act("/admin/api/accounts", formObject(addForm));
      addForm.reset();
      reloadWith(`Account ${added.id} added (${added.login}); servers sharing the store serve it within seconds`);
    } catch (error) {
      addForm.reset();  // the secrets typed in do not stay in the page
      reloadWith(`Adding the account failed: ${error.message}`, true);
    }
  });
}
